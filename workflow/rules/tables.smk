# Stage 5: paper-style tables (CSV, Markdown, LaTeX).


rule make_table:
    input:
        expand(f"{R}/eval/{{dataset}}/{{attack}}/metrics.json", dataset=DATASETS, attack=ATTACKS),
    output:
        csv=f"{R}/tables/tbar.csv",
        md=f"{R}/tables/tbar.md",
        tex=f"{R}/tables/tbar.tex",
    log:
        f"{R}/logs/make_table/tbar.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu make_table --metrics {input} --csv {output.csv} --md {output.md} --tex {output.tex} > {log} 2>&1"
