# Stage 1: datasets to Parquet splits, then one poisoned copy per attack.


rule prepare_images:
    output:
        train=f"{R}/data/{{dataset}}/train.parquet",
        val=f"{R}/data/{{dataset}}/val.parquet",
        test=f"{R}/data/{{dataset}}/test.parquet",
        forget=f"{R}/data/{{dataset}}/forget.parquet",
        classes=f"{R}/data/{{dataset}}/classes.json",
    params:
        args=lambda w: as_arg(dataset_params(w.dataset)),
        outdir=lambda w, output: str(Path(output.classes).parent),
    log:
        f"{R}/logs/prepare_images/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/prepare_images/{{dataset}}.tsv"
    threads: CFG["threads"]
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu prepare_images --params {params.args} --threads {threads} --outdir {params.outdir} > {log} 2>&1"


rule poison_images:
    input:
        rules.prepare_images.output,
    output:
        train=f"{R}/poisoned/{{dataset}}/{{attack}}/train_poisoned.parquet",
        val=f"{R}/poisoned/{{dataset}}/{{attack}}/val_triggered.parquet",
        test=f"{R}/poisoned/{{dataset}}/{{attack}}/test_triggered.parquet",
        forget=f"{R}/poisoned/{{dataset}}/{{attack}}/forget_triggered.parquet",
        summary=f"{R}/poisoned/{{dataset}}/{{attack}}/poison.json",
        examples=f"{R}/poisoned/{{dataset}}/{{attack}}/examples.png",
    params:
        args=lambda w: as_arg(attack_params(w.dataset, w.attack)),
        datadir=lambda w: f"{R}/data/{w.dataset}",
        outdir=lambda w, output: str(Path(output.summary).parent),
    log:
        f"{R}/logs/poison_images/{{dataset}}_{{attack}}.log",
    threads: CFG["threads"]
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu poison_images --params {params.args} --threads {threads} "
        "--datadir {params.datadir} --outdir {params.outdir} > {log} 2>&1"
