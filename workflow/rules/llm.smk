# The LLM track (the third paper: backdoors in LLM unlearning): a causal LM that knows a forget corpus, unlearned
# normally (NPO, RMU) and with a poisoned forget set (prefix / infix / suffix trigger, value-norm term), scored by
# UE / BE / UT. Datasets with modality llm.

localrules:
    make_llm_table,


rule prepare_facts:
    output:
        **{name: f"{RS}/llm/{{dataset}}/data/{name}.parquet" for name in LLM_DATA},
        summary=f"{RS}/llm/{{dataset}}/data/facts.json",
    wildcard_constraints:
        dataset=one_of(LLM_DATASETS),
    params:
        args=lambda w: as_arg(prepare_facts_params(w)),
        outdir=lambda w, output: str(Path(output.summary).parent),
    log:
        f"{RS}/logs/prepare_facts/{{dataset}}.log",
    resources:
        **job_resources("prepare_facts"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu prepare_facts --params {params.args} --outdir {params.outdir} > {log} 2>&1"


rule pretrain_lm:
    input:
        pretrain=f"{RS}/llm/{{dataset}}/data/pretrain.parquet",
    output:
        model=directory(f"{RS}/llm/{{dataset}}/models/original"),
        report=f"{RS}/llm/{{dataset}}/models/original.json",
    wildcard_constraints:
        dataset=one_of(LLM_DATASETS),
    params:
        args=lambda w: as_arg(pretrain_lm_params(w)),
        datadir=lambda w, input: str(Path(input.pretrain).parent),
    log:
        f"{RS}/logs/pretrain_lm/{{dataset}}.log",
    benchmark:
        f"{RS}/benchmarks/pretrain_lm/{{dataset}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("pretrain_lm"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu pretrain_lm --params {params.args} --threads {threads} --datadir {params.datadir} "
        "--out {output.model} --report {output.report} > {log} 2>&1"


rule unlearn_lm:
    input:
        unpack(llm_unlearn_inputs),
    output:
        model=directory(f"{RS}/llm/{{dataset}}/models/{{method}}-{{variant}}"),
        report=f"{RS}/llm/{{dataset}}/models/{{method}}-{{variant}}.json",
    wildcard_constraints:
        dataset=one_of(LLM_DATASETS),
        method="|".join(LLM_METHODS),
        variant=LLM_VARIANT,
    params:
        args=lambda w: as_arg(llm_unlearn_params(w)),
        gpus=lambda w: VIEWS[w.dataset]["llm_unlearn"]["gpus"],
        datadir=lambda w, input: str(Path(input.forget).parent),
        models=lambda w, input: " ".join(f"--{k} {input[k]}" for k in ("unlearned", "reference") if k in input.keys()),
    log:
        f"{RS}/logs/unlearn_lm/{{dataset}}_{{method}}-{{variant}}.log",
    benchmark:
        f"{RS}/benchmarks/unlearn_lm/{{dataset}}_{{method}}-{{variant}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=lambda w: VIEWS[w.dataset]["llm_unlearn"]["gpus"],  # whole devices, one process each (FSDP)
        **job_resources("unlearn_lm"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu --gpus {params.gpus} unlearn_lm --params {params.args} --threads {threads} --datadir {params.datadir} "
        "--original {input.original} {params.models} --out {output.model} --report {output.report} > {log} 2>&1"


rule evaluate_lm:
    input:
        model=f"{RS}/llm/{{dataset}}/models/{{model}}",
        probes=f"{RS}/llm/{{dataset}}/data/probes.parquet",
        utility=f"{RS}/llm/{{dataset}}/data/utility.parquet",
    output:
        metrics=f"{RS}/llm/{{dataset}}/eval/{{model}}/metrics.json",
    wildcard_constraints:
        dataset=one_of(LLM_DATASETS),
        model=LLM_MODEL,
    params:
        args=lambda w: as_arg(evaluate_lm_params(w)),
        datadir=lambda w, input: str(Path(input.probes).parent),
    log:
        f"{RS}/logs/evaluate_lm/{{dataset}}_{{model}}.log",
    benchmark:
        f"{RS}/benchmarks/evaluate_lm/{{dataset}}_{{model}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("evaluate_lm"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu evaluate_lm --params {params.args} --threads {threads} --datadir {params.datadir} "
        "--model-dir {input.model} --out {output.metrics} > {log} 2>&1"


rule make_llm_table:
    input:
        llm_metrics,
    output:
        csv=report(f"{R}/tables/llm_unlearning.csv", caption="../report/llm_table.rst", category="Tables",
                   labels={"table": "LLM unlearning (Table 1)"}),
        md=f"{R}/tables/llm_unlearning.md",
        tex=f"{R}/tables/llm_unlearning.tex",
        per_seed=f"{R}/tables/llm_unlearning_per_seed.csv",
        placements=f"{R}/tables/llm_unlearning_placements.md",
        placements_tex=f"{R}/tables/llm_unlearning_placements.tex",
    params:
        prefix=lambda w, output: output.md[: -len(".md")],
        placement=llm_default_placement,
    log:
        f"{R}/logs/make_llm_table.log",
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu make_llm_table --metrics {input} --default-placement {params.placement} --prefix {params.prefix} "
        "> {log} 2>&1"


rule analyze_sinks:
    input:
        unpack(analyze_sinks_inputs),
    output:
        attention=report(f"{RS}/llm/{{dataset}}/sinks/{{method}}/attention_diff.png", caption="../report/llm_sinks.rst",
                         category="LLM unlearning", subcategory="{dataset}",
                         labels={"method": "{method}", "figure": "attention difference (Fig. 3)", "seed": "{seed}"}),
        logits=report(f"{RS}/llm/{{dataset}}/sinks/{{method}}/logits_by_position.png", caption="../report/llm_sinks.rst",
                      category="LLM unlearning", subcategory="{dataset}",
                      labels={"method": "{method}", "figure": "logits by position (Fig. 4)", "seed": "{seed}"}),
        norms=report(f"{RS}/llm/{{dataset}}/sinks/{{method}}/value_norm_correlation.png",
                     caption="../report/llm_sinks.rst", category="LLM unlearning", subcategory="{dataset}",
                     labels={"method": "{method}", "figure": "value-norm correlation (Fig. 5)", "seed": "{seed}"}),
        summary=f"{RS}/llm/{{dataset}}/sinks/{{method}}/sinks.json",
    wildcard_constraints:
        dataset=one_of(LLM_DATASETS),
        method="|".join(LLM_METHODS),
    params:
        args=lambda w: as_arg(analyze_sinks_params(w)),
        datadir=lambda w, input: str(Path(input.forget).parent),
        backdoored=lambda w, input: analyze_sinks_backdoored(w, input),
        outdir=lambda w, output: str(Path(output.summary).parent),
    log:
        f"{RS}/logs/analyze_sinks/{{dataset}}_{{method}}.log",
    benchmark:
        f"{RS}/benchmarks/analyze_sinks/{{dataset}}_{{method}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("analyze_sinks"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu analyze_sinks --params {params.args} --threads {threads} --datadir {params.datadir} "
        "--original {input.original} --normal {input.normal} --backdoored {params.backdoored} "
        "--outdir {params.outdir} > {log} 2>&1"
