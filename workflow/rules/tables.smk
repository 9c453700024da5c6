# Stage 5: paper-style tables (CSV, Markdown, LaTeX) and plots.

# seconds of pandas / matplotlib each: on SLURM they run in the main process instead of waiting in the queue
localrules:
    make_table,
    make_unlearning_table,
    plot_poison_loss,



rule make_table:
    input:
        [f"{R}/seed{s}/eval/{d}/{a}/metrics.json" for s in SEEDS for d, a in tbar_pairs()],
    output:
        csv=f"{R}/tables/tbar.csv",
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
        csv=f"{R}/tables/unlearn.csv",
        md=f"{R}/tables/unlearn.md",
        tex=f"{R}/tables/unlearn.tex",
        per_seed=f"{R}/tables/unlearn_per_seed.csv",
        cube_csv=f"{R}/tables/cube.csv",
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
        png=f"{RS}/unlearn/{{dataset}}/{{attack}}/poison_loss.png",
        csv=f"{RS}/unlearn/{{dataset}}/{{attack}}/poison_loss.csv",
    params:
        title=lambda w: f"{w.dataset} / {w.attack}: forget-set loss during unlearning",
    log:
        f"{RS}/logs/plot_poison_loss/{{dataset}}_{{attack}}.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu plot_poison_loss --histories {input} --title {params.title:q} --png {output.png} --csv {output.csv} > {log} 2>&1"
