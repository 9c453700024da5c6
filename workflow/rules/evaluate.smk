# Stage 4: test-set CA / ASR of the zero-shot, backdoored and unlearned models.


rule evaluate:
    input:
        unpack(model_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
        tau=trigger_vector,
        alpha=rules.search_alpha.output.alpha,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        test=f"{RS}/data/{{dataset}}/test.parquet",
        test_triggered=rules.poison_images.output.test,
    output:
        f"{RS}/eval/{{dataset}}/{{attack}}/metrics.json",
    params:
        args=lambda w: as_arg(eval_params(w)),
        model=lambda w: as_arg(model_spec(w)),
    log:
        f"{RS}/logs/evaluate/{{dataset}}_{{attack}}.log",
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("evaluate"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu evaluate --params {params.args} --threads {threads} --model {params.model} "
        "--backdoored {input.backdoored} --tau {input.tau} --alpha {input.alpha} "
        "--classes {input.classes} --test {input.test} --test-triggered {input.test_triggered} "
        "--out {output} > {log} 2>&1"
