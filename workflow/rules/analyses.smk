# Stage 3c: TBAR's analyses on the image track (issue 12), each on when datasets.<name>.analyses names it:
# weight disentanglement, forget-set mixtures and sizes, trigger-vector transfer, merged models (helpers: common.smk).


rule measure_disentanglement:
    input:
        unpack(model_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
        tau=trigger_vector,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        search=rules.search_alpha.output.csv,
        val=f"{RS}/data/{{dataset}}/val.parquet",
        val_triggered=rules.poison_images.output.val,
    output:
        csv=f"{RS}/tbar/{{dataset}}/{{attack}}/disentanglement.csv",
        json=f"{RS}/tbar/{{dataset}}/{{attack}}/disentanglement.json",
        png=report(f"{RS}/tbar/{{dataset}}/{{attack}}/disentanglement.png", caption="../report/disentanglement.rst",
                   category="TBAR analyses", subcategory="weight disentanglement", labels={"dataset": "{dataset}", "attack": "{attack}", "seed": "{seed}"}),
    params:
        args=lambda w: as_arg(disentanglement_params(w)),
        model=lambda w: as_arg(model_spec(w)),
        outdir=lambda w, output: str(Path(output.csv).parent),
    log:
        f"{RS}/logs/measure_disentanglement/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/measure_disentanglement/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("measure_disentanglement"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu measure_disentanglement --params {params.args} --threads {threads} --model {params.model} "
        "--backdoored {input.backdoored} --tau {input.tau} --classes {input.classes} --alpha-search {input.search} "
        "--val {input.val} --val-triggered {input.val_triggered} --outdir {params.outdir} > {log} 2>&1"


rule sweep_forget_variant:
    input:
        unpack(model_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        forget_clean=f"{RS}/data/{{dataset}}/forget.parquet",
        forget_triggered=rules.poison_images.output.forget,
        val=f"{RS}/data/{{dataset}}/val.parquet",
        val_triggered=rules.poison_images.output.val,
        test=f"{RS}/data/{{dataset}}/test.parquet",
        test_triggered=rules.poison_images.output.test,
    output:
        csv=f"{RS}/tbar_forget/{{dataset}}/{{attack}}/{{variant}}/alpha_search.csv",
        png=f"{RS}/tbar_forget/{{dataset}}/{{attack}}/{{variant}}/alpha_search.png",
        alpha=f"{RS}/tbar_forget/{{dataset}}/{{attack}}/{{variant}}/alpha.json",
        metrics=f"{RS}/tbar_forget/{{dataset}}/{{attack}}/{{variant}}/metrics.json",
    wildcard_constraints:
        variant=r"mix[0-9.]+|size[0-9]+",
    params:
        args=lambda w: as_arg(forget_variant_params(w)),
        model=lambda w: as_arg(model_spec(w)),
        outdir=lambda w, output: str(Path(output.metrics).parent),
    log:
        f"{RS}/logs/sweep_forget_variant/{{dataset}}_{{attack}}_{{variant}}.log",
    benchmark:
        f"{RS}/benchmarks/sweep_forget_variant/{{dataset}}_{{attack}}_{{variant}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("sweep_forget_variant"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu sweep_forget_variant --params {params.args} --threads {threads} --model {params.model} "
        "--backdoored {input.backdoored} --classes {input.classes} --forget-clean {input.forget_clean} "
        "--forget-triggered {input.forget_triggered} --val {input.val} --val-triggered {input.val_triggered} "
        "--test {input.test} --test-triggered {input.test_triggered} --outdir {params.outdir} > {log} 2>&1"


# seconds of matplotlib / pandas: in the main process on SLURM
localrules:
    plot_forget_variants,
    make_transfer_table,
    make_merging_table,


rule plot_forget_variants:
    input:
        lambda w: [f"{R}/seed{w.seed}/tbar_forget/{w.dataset}/{w.attack}/{v}/metrics.json"
                   for v in forget_variants(w.dataset, w.attack, w.kind)],
    output:
        png=report(f"{RS}/tbar_forget/{{dataset}}/{{attack}}/{{kind}}.png", caption="../report/forget_variants.rst",
                   category="TBAR analyses", subcategory="forget-set {kind}", labels={"dataset": "{dataset}", "attack": "{attack}", "seed": "{seed}"}),
        csv=f"{RS}/tbar_forget/{{dataset}}/{{attack}}/{{kind}}.csv",
    wildcard_constraints:
        kind="mixtures|sizes",
    params:
        kind=lambda w: "mix" if w.kind == "mixtures" else "size",
        dirs=lambda w, input: " ".join(str(Path(p).parent) for p in input),
        title=lambda w: f"{w.dataset} / {w.attack}: TBAR with forget-set {w.kind}",
    log:
        f"{RS}/logs/plot_forget_variants/{{dataset}}_{{attack}}_{{kind}}.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu plot_forget_variants --kind {params.kind} --variants {params.dirs} --title {params.title:q} "
        "--png {output.png} --csv {output.csv} > {log} 2>&1"


rule search_transfer_alpha:
    input:
        unpack(model_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
        tau=transfer_vector,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        val_triggered=rules.poison_images.output.val,
    output:
        csv=f"{RS}/tbar_transfer/{{dataset}}/{{attack}}/alpha_search.csv",
        plot=f"{RS}/tbar_transfer/{{dataset}}/{{attack}}/alpha_search.png",
        alpha=f"{RS}/tbar_transfer/{{dataset}}/{{attack}}/alpha.json",
    params:
        args=lambda w: as_arg(search_alpha_params(w)),
        model=lambda w: as_arg(model_spec(w)),
        outdir=lambda w, output: str(Path(output.alpha).parent),
    log:
        f"{RS}/logs/search_transfer_alpha/{{dataset}}_{{attack}}.log",
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


rule evaluate_transfer:
    input:
        unpack(model_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
        tau=transfer_vector,
        alpha=rules.search_transfer_alpha.output.alpha,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        test=f"{RS}/data/{{dataset}}/test.parquet",
        test_triggered=rules.poison_images.output.test,
    output:
        f"{RS}/tbar_transfer/{{dataset}}/{{attack}}/metrics.json",
    params:
        args=lambda w: as_arg(eval_params(w)),
        model=lambda w: as_arg(model_spec(w)),
    log:
        f"{RS}/logs/evaluate_transfer/{{dataset}}_{{attack}}.log",
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


rule make_transfer_table:
    input:
        metrics=[f"{R}/seed{s}/tbar_transfer/{d}/{a}/metrics.json" for s in SEEDS for d, a in analysis_pairs("transfer_from")],
        own=[f"{R}/seed{s}/eval/{d}/{a}/metrics.json" for s in SEEDS for d, a in analysis_pairs("transfer_from")],
        source_classes=[f"{R}/seed{s}/data/{analysis(d, 'transfer_from')}/classes.json" for s in SEEDS
                        for d, a in analysis_pairs("transfer_from")],
        target_classes=[f"{R}/seed{s}/data/{d}/classes.json" for s in SEEDS for d, a in analysis_pairs("transfer_from")],
    output:
        csv=report(f"{R}/tables/tbar_transfer.csv", caption="../report/transfer_table.rst", category="Tables",
                   labels={"table": "TBAR Table 4 (transfer)"}),
        md=f"{R}/tables/tbar_transfer.md",
        tex=f"{R}/tables/tbar_transfer.tex",
        per_seed=f"{R}/tables/tbar_transfer_per_seed.csv",
    params:
        sources=" ".join(analysis(d, "transfer_from") for s in SEEDS for d, a in analysis_pairs("transfer_from")),
        prefix=lambda w, output: output.csv[: -len(".csv")],
    log:
        f"{R}/logs/make_analysis_table/transfer.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu make_analysis_table --kind transfer --metrics {input.metrics} --own {input.own} "
        "--source-classes {input.source_classes} --target-classes {input.target_classes} --sources {params.sources} "
        "--prefix {params.prefix} > {log} 2>&1"


rule merge_models:
    input:
        unpack(model_inputs),
        backdoored=rules.finetune_backdoor.output.weights,
        clean=lambda w: [f"{R}/seed{w.seed}/models/{d}/oracle/model.safetensors" for d in analysis(w.dataset, "merging")["with"]],
    output:
        weights=model_weights(f"{RS}/merged/{{dataset}}/{{attack}}/{{merger}}/model.safetensors"),
        report=f"{RS}/merged/{{dataset}}/{{attack}}/{{merger}}/merge.json",
    wildcard_constraints:
        merger="|".join(MERGERS),
    params:
        args=lambda w: as_arg(merge_params(w)),
        model=lambda w: as_arg(model_spec(w)),
    log:
        f"{RS}/logs/merge_models/{{dataset}}_{{attack}}_{{merger}}.log",
    threads: CFG["threads"]
    resources:
        **job_resources("merge_models"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu merge_models --params {params.args} --threads {threads} --model {params.model} "
        "--backdoored {input.backdoored} --clean {input.clean} --out {output.weights} --report {output.report} > {log} 2>&1"


rule estimate_merged_trigger_vector:
    input:
        unpack(model_inputs),
        backdoored=rules.merge_models.output.weights,
        forget=rules.poison_images.output.forget,
    output:
        tau=f"{RS}/merged/{{dataset}}/{{attack}}/{{merger}}/trigger_vector.safetensors",
        history=f"{RS}/merged/{{dataset}}/{{attack}}/{{merger}}/trigger_vector.json",
    wildcard_constraints:
        merger="|".join(MERGERS),
    params:
        args=lambda w: as_arg(trigger_vector_params(w)),
        model=lambda w: as_arg(model_spec(w)),
    log:
        f"{RS}/logs/estimate_merged_trigger_vector/{{dataset}}_{{attack}}_{{merger}}.log",
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


rule search_merged_alpha:
    input:
        unpack(model_inputs),
        backdoored=rules.merge_models.output.weights,
        tau=rules.estimate_merged_trigger_vector.output.tau,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        val_triggered=rules.poison_images.output.val,
    output:
        csv=f"{RS}/merged/{{dataset}}/{{attack}}/{{merger}}/alpha_search.csv",
        plot=f"{RS}/merged/{{dataset}}/{{attack}}/{{merger}}/alpha_search.png",
        alpha=f"{RS}/merged/{{dataset}}/{{attack}}/{{merger}}/alpha.json",
    wildcard_constraints:
        merger="|".join(MERGERS),
    params:
        args=lambda w: as_arg(search_alpha_params(w)),
        model=lambda w: as_arg(model_spec(w)),
        outdir=lambda w, output: str(Path(output.alpha).parent),
    log:
        f"{RS}/logs/search_merged_alpha/{{dataset}}_{{attack}}_{{merger}}.log",
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


rule evaluate_merged:
    input:
        unpack(model_inputs),
        backdoored=rules.merge_models.output.weights,
        tau=rules.estimate_merged_trigger_vector.output.tau,
        alpha=rules.search_merged_alpha.output.alpha,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        test=f"{RS}/data/{{dataset}}/test.parquet",
        test_triggered=rules.poison_images.output.test,
    output:
        f"{RS}/merged/{{dataset}}/{{attack}}/{{merger}}/metrics.json",
    wildcard_constraints:
        merger="|".join(MERGERS),
    params:
        args=lambda w: as_arg(eval_params(w)),
        model=lambda w: as_arg(model_spec(w)),
    log:
        f"{RS}/logs/evaluate_merged/{{dataset}}_{{attack}}_{{merger}}.log",
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


rule make_merging_table:
    input:
        [f"{R}/seed{s}/merged/{d}/{a}/{m}/metrics.json" for s in SEEDS for d, a, m in merge_pairs()],
    output:
        csv=report(f"{R}/tables/tbar_merging.csv", caption="../report/merging_table.rst", category="Tables",
                   labels={"table": "TBAR Table 5 (merged models)"}),
        md=f"{R}/tables/tbar_merging.md",
        tex=f"{R}/tables/tbar_merging.tex",
        per_seed=f"{R}/tables/tbar_merging_per_seed.csv",
    params:
        mergers=" ".join(m for s in SEEDS for d, a, m in merge_pairs()),
        prefix=lambda w, output: output.csv[: -len(".csv")],
    log:
        f"{R}/logs/make_analysis_table/merging.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu make_analysis_table --kind merging --metrics {input} --mergers {params.mergers} "
        "--prefix {params.prefix} > {log} 2>&1"
