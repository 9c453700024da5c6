# The image-caption track (TBAR section 4, appendix B.2.2): a whole CLIP backdoored through image-caption pairs,
# zero-shot CA and ASR, TBAR's Table 2 layout. Datasets with modality caption.

localrules:
    make_caption_table,
    plot_caption_unlearning,


rule prepare_captions:
    output:
        pretrain=f"{RS}/data/{{dataset}}/pretrain.parquet",
        train=f"{RS}/data/{{dataset}}/train.parquet",
        forget=f"{RS}/data/{{dataset}}/forget.parquet",
        clean=f"{RS}/data/{{dataset}}/clean.parquet",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        test=f"{RS}/data/{{dataset}}/test.parquet",
        classes=f"{RS}/data/{{dataset}}/classes.json",
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
    params:
        args=lambda w: as_arg(caption_dataset_params(w)),
        outdir=lambda w, output: str(Path(output.classes).parent),
    log:
        f"{RS}/logs/prepare_captions/{{dataset}}.log",
    benchmark:
        f"{RS}/benchmarks/prepare_captions/{{dataset}}.tsv"
    threads: CFG["threads"]
    resources:
        **job_resources("prepare_captions"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu prepare_captions --params {params.args} --threads {threads} --outdir {params.outdir} > {log} 2>&1"


rule optimize_trigger:
    input:
        pretrained=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        train=f"{RS}/data/{{dataset}}/train.parquet",
        classes=f"{RS}/data/{{dataset}}/classes.json",
    output:
        trigger=f"{RS}/attacks/{{dataset}}/{{attack}}/trigger.safetensors",
        report=f"{RS}/attacks/{{dataset}}/{{attack}}/trigger.json",
        plot=report(f"{RS}/attacks/{{dataset}}/{{attack}}/trigger.png", caption="../report/learned_trigger.rst",
                    category="Attacks", subcategory="{dataset}", labels={"attack": "{attack} (optimised)", "seed": "{seed}"}),
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
        attack=one_of(LEARNED_ATTACKS),
    params:
        args=lambda w: as_arg(optimize_trigger_params(w)),
    log:
        f"{RS}/logs/optimize_trigger/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/optimize_trigger/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("optimize_trigger"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu optimize_trigger --params {params.args} --threads {threads} --pretrained {input.pretrained} "
        "--spec {input.spec} --train {input.train} --classes {input.classes} --out {output.trigger} "
        "--report {output.report} --plot {output.plot} > {log} 2>&1"


rule poison_captions:
    input:
        rules.prepare_captions.output,
        unpack(learned_trigger),
    output:
        train=f"{RS}/poisoned/{{dataset}}/{{attack}}/train_poisoned.parquet",
        forget=f"{RS}/poisoned/{{dataset}}/{{attack}}/forget_triggered.parquet",
        val=f"{RS}/poisoned/{{dataset}}/{{attack}}/val_triggered.parquet",
        test=f"{RS}/poisoned/{{dataset}}/{{attack}}/test_triggered.parquet",
        summary=f"{RS}/poisoned/{{dataset}}/{{attack}}/poison.json",
        examples=report(f"{RS}/poisoned/{{dataset}}/{{attack}}/examples.png", caption="../report/examples.rst",
                        category="Attacks", subcategory="{dataset}", labels={"attack": "{attack}", "seed": "{seed}"}),
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
    params:
        args=lambda w: as_arg(caption_poison_params(w)),
        datadir=lambda w, input: str(Path(input[0]).parent),
        outdir=lambda w, output: str(Path(output.summary).parent),
        trigger=lambda w, input: f"--trigger {input.trigger}" if "trigger" in input.keys() else "",
    log:
        f"{RS}/logs/poison_captions/{{dataset}}_{{attack}}.log",
    threads: CFG["threads"]
    resources:
        **job_resources("poison_captions"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu poison_captions --params {params.args} --threads {threads} {params.trigger} "
        "--datadir {params.datadir} --outdir {params.outdir} > {log} 2>&1"


rule backdoor_clip:
    input:
        pretrained=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        pairs=f"{RS}/poisoned/{{dataset}}/{{attack}}/train_poisoned.parquet",
    output:
        weights=model_weights(f"{RS}/models/{{dataset}}/{{attack}}/backdoored_clip.safetensors"),
        history=f"{RS}/models/{{dataset}}/{{attack}}/backdoored_clip.json",
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
    params:
        args=lambda w: as_arg(backdoor_clip_params(w)),
    log:
        f"{RS}/logs/backdoor_clip/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/backdoor_clip/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("backdoor_clip"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu backdoor_clip --params {params.args} --threads {threads} --pretrained {input.pretrained} "
        "--spec {input.spec} --pairs {input.pairs} --out {output.weights} --history {output.history} > {log} 2>&1"


rule estimate_clip_trigger_vector:
    input:
        pretrained=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        backdoored=rules.backdoor_clip.output.weights,
        forget=f"{RS}/poisoned/{{dataset}}/{{attack}}/forget_triggered.parquet",
        classes=f"{RS}/data/{{dataset}}/classes.json",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        val_triggered=f"{RS}/poisoned/{{dataset}}/{{attack}}/val_triggered.parquet",
        test=f"{RS}/data/{{dataset}}/test.parquet",
        test_triggered=f"{RS}/poisoned/{{dataset}}/{{attack}}/test_triggered.parquet",
    output:
        tau=f"{RS}/tbar_caption/{{dataset}}/{{attack}}/trigger_vector.safetensors",
        report=f"{RS}/tbar_caption/{{dataset}}/{{attack}}/trigger_vector.json",
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
    params:
        args=lambda w: as_arg(clip_tau_params(w)),
    log:
        f"{RS}/logs/estimate_clip_trigger_vector/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/estimate_clip_trigger_vector/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("estimate_clip_trigger_vector"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu estimate_clip_trigger_vector --params {params.args} --threads {threads} --pretrained {input.pretrained} "
        "--spec {input.spec} --backdoored {input.backdoored} --forget {input.forget} --classes {input.classes} "
        "--val {input.val} --val-triggered {input.val_triggered} --test {input.test} "
        "--test-triggered {input.test_triggered} --out {output.tau} --report {output.report} > {log} 2>&1"


rule search_clip_alpha:
    input:
        pretrained=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        backdoored=rules.backdoor_clip.output.weights,
        tau=rules.estimate_clip_trigger_vector.output.tau,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        val_triggered=f"{RS}/poisoned/{{dataset}}/{{attack}}/val_triggered.parquet",
    output:
        search=f"{RS}/tbar_caption/{{dataset}}/{{attack}}/alpha_search.csv",
        alpha=f"{RS}/tbar_caption/{{dataset}}/{{attack}}/alpha.json",
        plot=report(f"{RS}/tbar_caption/{{dataset}}/{{attack}}/alpha_search.png", caption="../report/alpha_search.rst",
                    category="TBAR alpha search", subcategory="{dataset}", labels={"attack": "{attack}", "seed": "{seed}"}),
        weights=model_weights(f"{RS}/models/{{dataset}}/{{attack}}/tbar_clip.safetensors"),
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
    params:
        args=lambda w: as_arg(clip_alpha_params(w)),
        outdir=lambda w, output: str(Path(output.alpha).parent),
    log:
        f"{RS}/logs/search_clip_alpha/{{dataset}}_{{attack}}.log",
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("search_clip_alpha"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu search_clip_alpha --params {params.args} --threads {threads} --pretrained {input.pretrained} "
        "--spec {input.spec} --backdoored {input.backdoored} --tau {input.tau} --classes {input.classes} "
        "--val {input.val} --val-triggered {input.val_triggered} --outdir {params.outdir} "
        "--model-out {output.weights} > {log} 2>&1"


rule defend_clip:
    input:
        pretrained=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        backdoored=rules.backdoor_clip.output.weights,
        clean=f"{RS}/data/{{dataset}}/clean.parquet",
    output:
        weights=model_weights(f"{RS}/models/{{dataset}}/{{attack}}/{{defense}}_clip.safetensors"),
        report=f"{RS}/models/{{dataset}}/{{attack}}/{{defense}}_clip.json",
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
        defense=one_of(clip_defenses.names()),
    params:
        args=lambda w: as_arg(defense_params(w)),
    log:
        f"{RS}/logs/defend_clip/{{dataset}}_{{attack}}_{{defense}}.log",
    benchmark:
        f"{RS}/benchmarks/defend_clip/{{dataset}}_{{attack}}_{{defense}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("defend_clip"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu defend_clip --params {params.args} --threads {threads} --pretrained {input.pretrained} "
        "--spec {input.spec} --backdoored {input.backdoored} --clean {input.clean} --out {output.weights} "
        "--report {output.report} > {log} 2>&1"


rule unlearn_clip_ga:
    input:
        pretrained=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        backdoored=rules.backdoor_clip.output.weights,
        forget=f"{RS}/poisoned/{{dataset}}/{{attack}}/forget_triggered.parquet",
        classes=f"{RS}/data/{{dataset}}/classes.json",
        test=f"{RS}/data/{{dataset}}/test.parquet",
        test_triggered=f"{RS}/poisoned/{{dataset}}/{{attack}}/test_triggered.parquet",
    output:
        weights=model_weights(f"{RS}/models/{{dataset}}/{{attack}}/ga_clip.safetensors"),
        report=f"{RS}/models/{{dataset}}/{{attack}}/ga_clip.json",
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
    params:
        args=lambda w: as_arg(clip_ga_params(w)),
    log:
        f"{RS}/logs/unlearn_clip_ga/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/unlearn_clip_ga/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("unlearn_clip_ga"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu unlearn_clip_ga --params {params.args} --threads {threads} --pretrained {input.pretrained} "
        "--spec {input.spec} --backdoored {input.backdoored} --forget {input.forget} --classes {input.classes} "
        "--test {input.test} --test-triggered {input.test_triggered} --out {output.weights} "
        "--report {output.report} > {log} 2>&1"


rule invert_decree_trigger:
    input:
        pretrained=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        backdoored=rules.backdoor_clip.output.weights,
        clean=f"{RS}/data/{{dataset}}/clean.parquet",
        forget=f"{RS}/data/{{dataset}}/forget.parquet",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        classes=f"{RS}/data/{{dataset}}/classes.json",
    output:
        trigger=f"{RS}/decree/{{dataset}}/{{attack}}/trigger.safetensors",
        report=f"{RS}/decree/{{dataset}}/{{attack}}/decree.json",
        forget=f"{RS}/decree/{{dataset}}/{{attack}}/forget_proxy.parquet",
        val=f"{RS}/decree/{{dataset}}/{{attack}}/val_proxy.parquet",
        plot=report(f"{RS}/decree/{{dataset}}/{{attack}}/trigger.png", caption="../report/decree_trigger.rst",
                    category="DECREE triggers", subcategory="{dataset}", labels={"attack": "{attack}", "seed": "{seed}"}),
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
    params:
        args=lambda w: as_arg(decree_params(w)),
        outdir=lambda w, output: str(Path(output.report).parent),
    log:
        f"{RS}/logs/invert_decree_trigger/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/invert_decree_trigger/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("invert_decree_trigger"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu invert_decree_trigger --params {params.args} --threads {threads} --pretrained {input.pretrained} "
        "--spec {input.spec} --backdoored {input.backdoored} --clean {input.clean} --forget {input.forget} "
        "--val {input.val} --classes {input.classes} --outdir {params.outdir} > {log} 2>&1"


rule unlearn_clip_decree:
    input:
        pretrained=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        backdoored=rules.backdoor_clip.output.weights,
        decree=rules.invert_decree_trigger.output.report,
        forget=rules.invert_decree_trigger.output.forget,
        val_proxy=rules.invert_decree_trigger.output.val,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        val=f"{RS}/data/{{dataset}}/val.parquet",
        val_triggered=f"{RS}/poisoned/{{dataset}}/{{attack}}/val_triggered.parquet",
    output:
        weights=model_weights(f"{RS}/models/{{dataset}}/{{attack}}/{{method}}_decree_clip.safetensors"),
        report=f"{RS}/models/{{dataset}}/{{attack}}/{{method}}_decree_clip.json",
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
        method="ga|tbar",
    params:
        args=lambda w: as_arg(clip_decree_params(w)),
    log:
        f"{RS}/logs/unlearn_clip_decree/{{dataset}}_{{attack}}_{{method}}.log",
    benchmark:
        f"{RS}/benchmarks/unlearn_clip_decree/{{dataset}}_{{attack}}_{{method}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("unlearn_clip_decree"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu unlearn_clip_decree --params {params.args} --threads {threads} --method {wildcards.method} "
        "--pretrained {input.pretrained} --spec {input.spec} --backdoored {input.backdoored} "
        "--decree {input.decree} --forget-proxy {input.forget} --val-proxy {input.val_proxy} "
        "--classes {input.classes} --val {input.val} --val-triggered {input.val_triggered} --out {output.weights} "
        "--report {output.report} > {log} 2>&1"


rule evaluate_zeroshot:
    input:
        unpack(caption_model_weights),
        pretrained=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        classes=f"{RS}/data/{{dataset}}/classes.json",
        test=f"{RS}/data/{{dataset}}/test.parquet",
        test_triggered=f"{RS}/poisoned/{{dataset}}/{{attack}}/test_triggered.parquet",
    output:
        f"{RS}/eval_caption/{{dataset}}/{{attack}}/{{model}}/metrics.json",
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
        model="|".join(CAPTION_ROWS),
    params:
        args=lambda w: as_arg(zeroshot_params(w)),
        weights=lambda w, input: f"--weights {input.weights}" if "weights" in input.keys() else "",
    log:
        f"{RS}/logs/evaluate_zeroshot/{{dataset}}_{{attack}}_{{model}}.log",
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("evaluate_zeroshot"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu evaluate_zeroshot --params {params.args} --threads {threads} --pretrained {input.pretrained} "
        "--spec {input.spec} {params.weights} --classes {input.classes} --test {input.test} "
        "--test-triggered {input.test_triggered} --out {output} > {log} 2>&1"


rule plot_caption_unlearning:
    input:
        unpack(caption_unlearning_paths),
        ga=rules.unlearn_clip_ga.output.report,
        tau=rules.estimate_clip_trigger_vector.output.report,
        alpha_search=rules.search_clip_alpha.output.search,
        alpha=rules.search_clip_alpha.output.alpha,
    output:
        report(f"{RS}/tbar_caption/{{dataset}}/{{attack}}/unlearning_paths.png", caption="../report/caption_paths.rst",
               category="TBAR Figs. 11-12", subcategory="{dataset}", labels={"attack": "{attack}", "seed": "{seed}"}),
    wildcard_constraints:
        dataset=one_of(CAPTION_DATASETS),
    params:
        args=lambda w: as_arg(job_params(w)),
        decree=lambda w, input: " ".join(input.decree) if "decree" in input.keys() else "",
    log:
        f"{RS}/logs/plot_caption_unlearning/{{dataset}}_{{attack}}.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu plot_caption_unlearning --params {params.args} --ga {input.ga} --tau {input.tau} --alpha-search {input.alpha_search} "
        "--alpha {input.alpha} --decree {params.decree} --png {output} > {log} 2>&1"


rule make_caption_table:
    input:
        caption_metrics(),
    output:
        csv=report(f"{R}/tables/tbar_caption.csv", caption="../report/caption_table.rst", category="Tables",
                   labels={"table": "TBAR Table 2 (image-caption)"}),
        md=f"{R}/tables/tbar_caption.md",
        tex=f"{R}/tables/tbar_caption.tex",
        per_seed=f"{R}/tables/tbar_caption_per_seed.csv",
    params:
        prefix=lambda w, output: output.csv[: -len(".csv")],
    log:
        f"{R}/logs/make_caption_table/tbar_caption.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu make_caption_table --metrics {input} --prefix {params.prefix} > {log} 2>&1"
