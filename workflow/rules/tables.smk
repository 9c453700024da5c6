# Stage 5: paper-style tables (CSV, Markdown, LaTeX).


rule make_table:
    input:
        expand(f"{R}/seed{{seed}}/eval/{{dataset}}/{{attack}}/metrics.json", seed=SEEDS, dataset=DATASETS, attack=ATTACKS),
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
