# Stage 5: paper-style tables (CSV, Markdown, LaTeX) and plots.

# seconds of pandas / matplotlib each: on SLURM they run in the main process instead of waiting in the queue
localrules:
    make_table,
    make_unlearning_table,
    plot_poison_loss,
    plot_finetune_loss,
    plot_tradeoff,



rule make_table:
    input:
        [f"{R}/seed{s}/eval/{d}/{a}/metrics.json" for s in SEEDS for d, a in tbar_pairs()],
    output:
        csv=report(f"{R}/tables/tbar.csv", caption="../report/tbar_table.rst", category="Tables", labels={"table": "TBAR Table 1"}),
        md=f"{R}/tables/tbar.md",
        tex=f"{R}/tables/tbar.tex",
        per_seed=f"{R}/tables/tbar_per_seed.csv",
    log:
        f"{R}/logs/make_table/tbar.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu make_table --metrics {input} --csv {output.csv} --md {output.md} --tex {output.tex} "
        "--per-seed {output.per_seed} > {log} 2>&1"


rule make_unlearning_table:
    input:
        metrics=unlearning_metrics(),
        detections=cube_reports(),
    output:
        csv=report(f"{R}/tables/unlearn.csv", caption="../report/unlearn_table.rst", category="Tables",
                   labels={"table": "RGA Table 2 (unlearning)"}),
        md=f"{R}/tables/unlearn.md",
        tex=f"{R}/tables/unlearn.tex",
        per_seed=f"{R}/tables/unlearn_per_seed.csv",
        cube_csv=report(f"{R}/tables/cube.csv", caption="../report/cube_table.rst", category="Tables",
                        labels={"table": "RGA Table 7 (CUBE)"}),
        cube_md=f"{R}/tables/cube.md",
        cube_tex=f"{R}/tables/cube.tex",
    params:
        prefix=lambda w, output: output.csv[: -len(".csv")],
        cube_prefix=lambda w, output: output.cube_csv[: -len(".csv")],
        plugins=" ".join(shlex.quote(p) for p in CFG["plugins"]),
    log:
        f"{R}/logs/make_unlearning_table/unlearn.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu make_unlearning_table --metrics {input.metrics} --detections {input.detections} "
        "--prefix {params.prefix} --cube-prefix {params.cube_prefix} --plugins {params.plugins} > {log} 2>&1"


rule plot_poison_loss:
    input:
        lambda w: [f"{R}/seed{w.seed}/unlearn/{w.dataset}/{w.attack}/{m}/history.csv" for m in gradient_methods(w.dataset)],
    output:
        png=report(f"{RS}/unlearn/{{dataset}}/{{attack}}/poison_loss.png", caption="../report/poison_loss.rst",
                   category="Forget-set loss (Fig. 4)", subcategory="{dataset}", labels={"attack": "{attack}", "seed": "{seed}"}),
        csv=f"{RS}/unlearn/{{dataset}}/{{attack}}/poison_loss.csv",
    params:
        title=lambda w: f"{w.dataset} / {w.attack}: forget-set loss during unlearning",
        labels=lambda w: as_arg(method_labels(gradient_methods(w.dataset))),
    log:
        f"{RS}/logs/plot_poison_loss/{{dataset}}_{{attack}}.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu plot_poison_loss --histories {input} --title {params.title:q} --png {output.png} --csv {output.csv} "
        "--labels {params.labels} > {log} 2>&1"


rule plot_finetune_loss:
    input:
        reports=lambda w: [f"{R}/seed{w.seed}/models/{w.dataset}/{a}/backdoored.json" for a in VIEWS[w.dataset]["attacks"]],
        oracle=lambda w: [f"{R}/seed{w.seed}/models/{w.dataset}/oracle/history.json"] if uses_oracle(w.dataset) else [],
    output:
        png=report(f"{RS}/models/{{dataset}}/finetune_loss.png", caption="../report/finetune_loss.rst",
                   category="Backdoor fine-tuning", labels={"dataset": "{dataset}", "seed": "{seed}"}),
        csv=f"{RS}/models/{{dataset}}/finetune_loss.csv",
    params:
        title=lambda w: f"{w.dataset}: backdoor fine-tuning loss",
        oracle=lambda w, input: f"--oracle {input.oracle[0]}" if input.oracle else "",
    log:
        f"{RS}/logs/plot_finetune_loss/{{dataset}}.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu plot_finetune_loss --reports {input.reports} {params.oracle} --title {params.title:q} "
        "--png {output.png} --csv {output.csv} > {log} 2>&1"


rule plot_tradeoff:
    input:
        f"{R}/tables/{{table}}.csv",
    output:
        report(f"{R}/tables/{{table}}_ca_vs_asr.png", caption="../report/tradeoff.rst", category="Tables",
               labels={"table": "{table}: CA vs ASR"}),
    params:
        labels=lambda w: as_arg(method_labels(study_methods()) if w.table == "unlearn" else {}),
    wildcard_constraints:
        table="tbar|unlearn",
    log:
        f"{R}/logs/plot_tradeoff/{{table}}.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu plot_tradeoff --table {input} --png {output} --labels {params.labels} > {log} 2>&1"
