# Stage 1: datasets to Parquet splits, then one poisoned copy per attack (images and texts).


rule prepare_images:
    output:
        train=f"{RS}/data/{{dataset}}/train.parquet",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        test=f"{RS}/data/{{dataset}}/test.parquet",
        forget=f"{RS}/data/{{dataset}}/forget.parquet",
        classes=f"{RS}/data/{{dataset}}/classes.json",
    wildcard_constraints:
        dataset=one_of(IMAGE_DATASETS),
    params:
        args=lambda w: as_arg(dataset_params(w)),
        outdir=lambda w, output: str(Path(output.classes).parent),
    log:
        f"{RS}/logs/prepare_images/{{dataset}}.log",
    benchmark:
        f"{RS}/benchmarks/prepare_images/{{dataset}}.tsv"
    threads: CFG["threads"]
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu prepare_images --params {params.args} --threads {threads} --outdir {params.outdir} > {log} 2>&1"


rule poison_images:
    input:
        rules.prepare_images.output,
        attack_inputs,
    output:
        train=f"{RS}/poisoned/{{dataset}}/{{attack}}/train_poisoned.parquet",
        val=f"{RS}/poisoned/{{dataset}}/{{attack}}/val_triggered.parquet",
        test=f"{RS}/poisoned/{{dataset}}/{{attack}}/test_triggered.parquet",
        forget=f"{RS}/poisoned/{{dataset}}/{{attack}}/forget_triggered.parquet",
        summary=f"{RS}/poisoned/{{dataset}}/{{attack}}/poison.json",
        examples=report(f"{RS}/poisoned/{{dataset}}/{{attack}}/examples.png", caption="../report/examples.rst",
                        category="Attacks", subcategory="{dataset}", labels={"attack": "{attack}", "seed": "{seed}"}),
    wildcard_constraints:
        dataset=one_of(IMAGE_DATASETS),
    params:
        args=lambda w: as_arg(poison_params(w)),
        datadir=lambda w: f"{R}/seed{w.seed}/data/{w.dataset}",
        outdir=lambda w, output: str(Path(output.summary).parent),
    log:
        f"{RS}/logs/poison_images/{{dataset}}_{{attack}}.log",
    threads: CFG["threads"]
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu poison_images --params {params.args} --threads {threads} "
        "--datadir {params.datadir} --outdir {params.outdir} > {log} 2>&1"


# downloads run in the main process: compute nodes of a cluster often have no network
localrules:
    fetch_data,


rule fetch_data:
    output:
        "{fetched}",
    wildcard_constraints:
        fetched=one_of([re.escape(p) for p in FETCHED]),
    params:
        base_url=CFG["fetch"]["base_url"],
    log:
        f"{R}/logs/fetch_data/{{fetched}}.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu fetch_data --out {output} --base-url {params.base_url:q} > {log} 2>&1"


rule prepare_text:
    input:
        tsv_inputs,
    output:
        train=f"{RS}/data/{{dataset}}/train.parquet",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        test=f"{RS}/data/{{dataset}}/test.parquet",
        classes=f"{RS}/data/{{dataset}}/classes.json",
    wildcard_constraints:
        dataset=one_of(TEXT_DATASETS),
    params:
        args=lambda w: as_arg(dataset_params(w)),
        outdir=lambda w, output: str(Path(output.classes).parent),
    log:
        f"{RS}/logs/prepare_text/{{dataset}}.log",
    threads: 1
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu prepare_text --params {params.args} --threads {threads} --outdir {params.outdir} > {log} 2>&1"


rule poison_text:
    input:
        rules.prepare_text.output,
        attack_inputs,
    output:
        train=f"{RS}/poisoned/{{dataset}}/{{attack}}/train_poisoned.parquet",
        val=f"{RS}/poisoned/{{dataset}}/{{attack}}/val_triggered.parquet",
        test=f"{RS}/poisoned/{{dataset}}/{{attack}}/test_triggered.parquet",
        pacc=f"{RS}/poisoned/{{dataset}}/{{attack}}/test_pacc.parquet",
        summary=f"{RS}/poisoned/{{dataset}}/{{attack}}/poison.json",
    wildcard_constraints:
        dataset=one_of(TEXT_DATASETS),
    params:
        args=lambda w: as_arg(poison_params(w)),
        datadir=lambda w: f"{R}/seed{w.seed}/data/{w.dataset}",
        outdir=lambda w, output: str(Path(output.summary).parent),
    log:
        f"{RS}/logs/poison_text/{{dataset}}_{{attack}}.log",
    threads: 1
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu poison_text --params {params.args} --threads {threads} "
        "--datadir {params.datadir} --outdir {params.outdir} > {log} 2>&1"
