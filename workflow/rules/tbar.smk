# Stage 3: TBAR unlearning - trigger vector (eq. 2) and the alpha grid search (eq. 3).


rule estimate_trigger_vector:
    input:
        unpack(model_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
        forget=rules.poison_images.output.forget,
    output:
        tau=f"{RS}/tbar/{{dataset}}/{{attack}}/trigger_vector.safetensors",
        history=f"{RS}/tbar/{{dataset}}/{{attack}}/trigger_vector.json",
    params:
        args=lambda w: as_arg(trigger_vector_params(w)),
        model=lambda w: as_arg(model_spec(w)),
    log:
        f"{RS}/logs/estimate_trigger_vector/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/estimate_trigger_vector/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("estimate_trigger_vector"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu estimate_trigger_vector --params {params.args} --threads {threads} --model {params.model} "
        "--backdoored {input.backdoored} --forget {input.forget} "
        "--out {output.tau} --history {output.history} > {log} 2>&1"


rule search_alpha:
    input:
        unpack(model_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
        tau=trigger_vector,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        val_triggered=rules.poison_images.output.val,
    output:
        csv=f"{RS}/tbar/{{dataset}}/{{attack}}/alpha_search.csv",
        plot=report(f"{RS}/tbar/{{dataset}}/{{attack}}/alpha_search.png", caption="../report/alpha_search.rst",
                    category="TBAR alpha search", subcategory="{dataset}", labels={"attack": "{attack}", "seed": "{seed}"}),
        alpha=f"{RS}/tbar/{{dataset}}/{{attack}}/alpha.json",
    params:
        args=lambda w: as_arg(search_alpha_params(w)),
        model=lambda w: as_arg(model_spec(w)),
        outdir=lambda w, output: str(Path(output.alpha).parent),
    log:
        f"{RS}/logs/search_alpha/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/search_alpha/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("search_alpha"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu search_alpha --params {params.args} --threads {threads} --model {params.model} "
        "--backdoored {input.backdoored} --tau {input.tau} --classes {input.classes} "
        "--val {input.val} --val-triggered {input.val_triggered} --outdir {params.outdir} > {log} 2>&1"
