# Stage 3a: CUBE detection of the poisoned training rows with the backdoored model (any model adapter).


rule detect_cube:
    input:
        unpack(model_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
        data=f"{RS}/poisoned/{{dataset}}/{{attack}}/train_poisoned.parquet",
    output:
        flags=f"{RS}/cube/{{dataset}}/{{attack}}/flags.parquet",
        report=f"{RS}/cube/{{dataset}}/{{attack}}/detection.json",
        plot=report(f"{RS}/cube/{{dataset}}/{{attack}}/scatter.png", caption="../report/cube_scatter.rst", category="CUBE",
                    subcategory="{dataset}", labels={"attack": "{attack}", "seed": "{seed}"}),
    params:
        args=lambda w: as_arg(cube_params(w)),
        model=lambda w: as_arg(model_spec(w)),
        outdir=lambda w, output: str(Path(output.report).parent),
    log:
        f"{RS}/logs/detect_cube/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/detect_cube/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("detect_cube"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu detect_cube --params {params.args} --threads {threads} --model {params.model} "
        "--backdoored {input.backdoored} --data {input.data} --outdir {params.outdir} > {log} 2>&1"
