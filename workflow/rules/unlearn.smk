# Stage 3b: unlearning with any method on any model adapter (GA, NPO, RGA, ReTrain, TBAR on the forget set),
# and the backdoored model's reference metrics.


rule evaluate_backdoored:
    input:
        unpack(model_inputs),
        unpack(eval_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
    output:
        f"{RS}/unlearn/{{dataset}}/{{attack}}/backdoored/metrics.json",
    params:
        args=lambda w: as_arg(eval_params(w)),
        model=lambda w: as_arg(model_spec(w)),
    log:
        f"{RS}/logs/evaluate_backdoored/{{dataset}}_{{attack}}.log",
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("evaluate_backdoored"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu evaluate_backdoored --params {params.args} --threads {threads} --model {params.model} "
        "--backdoored {input.backdoored} --classes {input.classes} --test {input.test} "
        "--test-triggered {input.test_triggered} --test-pacc {input.test_pacc} --out {output} > {log} 2>&1"


rule retrain_oracle:
    input:
        unpack(model_inputs),
        data=f"{RS}/data/{{dataset}}/train.parquet",
    output:
        weights=model_weights(f"{RS}/models/{{dataset}}/oracle/model.safetensors"),
        history=f"{RS}/models/{{dataset}}/oracle/history.json",
    params:
        args=lambda w: as_arg(oracle_params(w)),
        model=lambda w: as_arg(model_spec(w)),
    log:
        f"{RS}/logs/retrain_oracle/{{dataset}}.log",
    benchmark:
        f"{RS}/benchmarks/retrain_oracle/{{dataset}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("retrain_oracle"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu finetune_backdoor --params {params.args} --threads {threads} --model {params.model} "
        "--data {input.data} --out {output.weights} --history {output.history} > {log} 2>&1"


rule unlearn:
    input:
        unpack(model_inputs),
        unpack(eval_inputs),
        unpack(unlearn_inputs),
        data=f"{RS}/poisoned/{{dataset}}/{{attack}}/train_poisoned.parquet",
    output:
        metrics=f"{RS}/unlearn/{{dataset}}/{{attack}}/{{method}}/metrics.json",
        history=f"{RS}/unlearn/{{dataset}}/{{attack}}/{{method}}/history.csv",
        weights=model_weights(f"{RS}/unlearn/{{dataset}}/{{attack}}/{{method}}/model.safetensors"),
    params:
        args=lambda w: as_arg(unlearn_params(w)),
        model=lambda w: as_arg(model_spec(w)),
        optional=lambda w, input: optional_args(input, "backdoored", "flags", "val", "val_triggered", "oracle",
                                                  "oracle_history"),
        outdir=lambda w, output: str(Path(output.metrics).parent),
    log:
        f"{RS}/logs/unlearn/{{dataset}}_{{attack}}_{{method}}.log",
    benchmark:
        f"{RS}/benchmarks/unlearn/{{dataset}}_{{attack}}_{{method}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("unlearn"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu unlearn --params {params.args} --threads {threads} --model {params.model} "
        "--data {input.data} {params.optional} --classes {input.classes} "
        "--test {input.test} --test-triggered {input.test_triggered} --test-pacc {input.test_pacc} "
        "--outdir {params.outdir} > {log} 2>&1"
