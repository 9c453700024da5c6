"""The LLM track's tables (rule ``make_llm_table``): the paper's Table 1 / Table 2 layout and the placement study.

``main`` (Tables 1 and 2): the original model, each normally unlearned model and
each backdoored one (the default placement, value norms on), with UE (KnowMem
and VerbMem on the forget probes, lower is better), BE (the same with the
trigger, higher is a stronger backdoor) and UT (KnowMem on the retain probes,
and the multiple-choice utility). ``placements`` (Fig. 2 and Appendix F's
comparisons): per method, the backdoor at each placement, without the
value-norm term and at each lambda of ``llm_backdoor.value_norm_sweep``, each
model's BE read at its own placement. The original and
the normal models are read at the default placement. Mean over seeds in the
CSVs, ``mean ± std`` (population) in Markdown and LaTeX.

A multiple-choice benchmark (WMDP) has one row group per topic (dataset ``<dataset>-<topic>``: Table 2 is
``wmdp-bio``, Table A3 ``wmdp-cyber``) and its own columns: UE and BE as accuracy on the topic's questions, UT
as the utility accuracy (MMLU); its rows follow the memorisation benchmarks' under their own header.
"""

from __future__ import annotations

import pandas as pd

from bdunlearn.data.io import write_csv, write_text
from bdunlearn.evaluation.analysis_tables import to_latex
from bdunlearn.methods.llm_variants import NO_VALUE_NORM, parse_model

# the columns of each kind of benchmark: memorisation probes (KnowMem / VerbMem) and multiple choice (WMDP)
COLUMNS = {"mem": ["ue_km", "ue_vm", "be_km", "be_vm", "ut_km", "utility"], "mcq": ["ue_acc", "be_acc", "utility"]}
HEADS = {"mem": "| UE KM ↓ | UE VM ↓ | BE KM ↑ | BE VM ↑ | UT KM ↑ | Utility ↑ |",
         "mcq": "| UE (acc) ↓ | BE (acc) ↑ | UT (MMLU) ↑ |"}
METRICS = list(dict.fromkeys(COLUMNS["mem"] + COLUMNS["mcq"]))
PARTS = ["method", "variant", "placement", "value_norm", "vn_lambda"]  # parse_model's keys
LABELS = {"npo": "NPO", "rmu": "RMU", "ga": "GA", "rga": "RGA", "tbar": "TBAR"}


def long_table(metrics: list[dict], default_placement: str) -> pd.DataFrame:
    """One row per metrics file: dataset, seed, model and its parts, the six metrics (BE at the model's own
    placement, the default one for the original and normal models)."""
    rows = []
    for m in metrics:
        parts = parse_model(m["model"])
        at = parts["placement"] or default_placement
        head = {"seed": m["seed"], "model": m["model"], **parts}
        if "topics" in m:  # multiple choice: a row per topic
            rows += [{"dataset": f"{m['dataset']}-{t}", "kind": "mcq", **head, "ue_acc": m[f"ue_acc_{t}"],
                      "be_acc": m[f"be_acc_{t}_{at}"], "utility": m["utility"]} for t in m["topics"]]
            continue
        rows.append({"dataset": m["dataset"], "kind": "mem", **head,
                     "ue_km": m["ue_km"], "ue_vm": m["ue_vm"], "be_km": m[f"be_km_{at}"], "be_vm": m[f"be_vm_{at}"],
                     "ut_km": m["ut_km"], "utility": m["utility"]})
    return pd.DataFrame(rows).reindex(columns=["dataset", "seed", "model", *PARTS, "kind", *METRICS])


def aggregate(per_seed: pd.DataFrame):
    keys = ["dataset", "kind", "model", *PARTS]
    g = per_seed.groupby(keys, sort=False)
    mean, std = g[METRICS].mean().reset_index(), g[METRICS].std(ddof=0).reset_index()
    mean["n_seeds"] = g.size().to_numpy()
    return mean, std


def _cells(mean_row, std_row) -> str:
    multi = mean_row["n_seeds"] > 1
    return " | ".join(f"{mean_row[c]:.2f} ± {std_row[c]:.2f}" if multi else f"{mean_row[c]:.2f}"
                      for c in COLUMNS[mean_row["kind"]])


def _kinds(mean) -> list[str]:
    return [k for k in COLUMNS if (mean["kind"] == k).any()]


def _header(first: str, kind: str) -> list[str]:
    return [f"| {first} " + HEADS[kind], "|---|---|---" + "|---:" * len(COLUMNS[kind]) + "|"]


def _label(r) -> str:
    if r["variant"] == "original":
        return "Original"
    name = LABELS.get(r["method"], r["method"].upper())
    return f"+ {name}" if r["variant"] == "normal" else f"+ {name}-Backdoor"


def _datasets(mean):
    """``(kind, dataset)`` in table order, ``kind`` set at the first dataset of each kind (where a header goes)."""
    out = []
    for kind in _kinds(mean):
        names = mean[mean["kind"] == kind]["dataset"].unique()
        out += [(kind if i == 0 else None, ds) for i, ds in enumerate(names)]
    return out


def main_markdown(mean, std, default_placement: str) -> str:
    """Table 1's layout: original, normal unlearning, backdoored unlearning (default placement, value norms on)."""
    lines = []
    order = [("original", "Original"), ("normal", "Normal unlearning"), ("backdoor", "Backdoored unlearning")]
    for kind, ds in _datasets(mean):
        if kind:
            lines += ([""] if lines else []) + _header("Dataset | Group | Model", kind)
        for variant, group in order:
            sel = mean[(mean["dataset"] == ds) & (mean["variant"] == variant)]
            if variant == "backdoor":
                plain = sel["value_norm"] | sel["method"].isin(NO_VALUE_NORM)  # TBAR's has no value-norm term
                sel = sel[(sel["placement"] == default_placement) & plain & (sel["vn_lambda"] == "")]
            for i, r in sel.iterrows():
                lines.append(f"| {ds} | {group} | {_label(r)} | {_cells(r, std.loc[i])} |")
    note = f"BE with the trigger at the {default_placement}; UT KM on the retain probes."
    if "mcq" in _kinds(mean):
        note += " Multiple choice (WMDP): UE and BE are the accuracy on the topic's questions, UT the MMLU accuracy."
    return "\n".join(lines) + f"\n\n{note}\n"


def placement_markdown(mean, std) -> str:
    """Per method: the backdoor at each placement, without the value-norm term and at each swept lambda, BE at its
    own placement."""
    lines = []
    for kind, ds in _datasets(mean):
        if kind:
            lines += ([""] if lines else []) + _header("Dataset | Method | Backdoor", kind)
        for method in [m for m in mean["method"].unique() if m]:
            sel = mean[(mean["dataset"] == ds) & (mean["method"] == method)]
            for i, r in sel.iterrows():
                what = "none (normal)" if r["variant"] == "normal" else f"{r['placement']}" + (
                    ", no value norms" if not r["value_norm"] else f", λ = {r['vn_lambda']}" if r["vn_lambda"] else "")
                lines.append(f"| {ds} | {LABELS.get(method, method)} | {what} | {_cells(r, std.loc[i])} |")
    return "\n".join(lines) + "\n\nEach backdoored model's BE with the trigger where it was trained; the normal " \
                              "model's at the default placement.\n"


def _latex(md: str) -> str:
    """One tabular per header block of ``md`` (one per kind of benchmark), the footnote after the last."""
    parts = md.strip().split("\n\n")
    tables = [p for p in parts if p.startswith("|")]
    notes = "\n".join(p for p in parts if not p.startswith("|"))
    return "".join(to_latex(t) for t in tables[:-1]) + to_latex(tables[-1] + "\n\n" + notes)


def write_tables(per_seed: pd.DataFrame, prefix: str, default_placement: str) -> str:
    """``<prefix>.{csv,md,tex}`` (Table 1), ``<prefix>_placements.{md,tex}`` and ``<prefix>_per_seed.csv``.
    Returns both Markdown tables."""
    mean, std = aggregate(per_seed)
    # a study of one kind of benchmark keeps only its own columns
    write_csv(per_seed.dropna(axis=1, how="all").drop(columns="kind").round(4), f"{prefix}_per_seed.csv")
    write_csv(mean.dropna(axis=1, how="all").drop(columns="kind").round(4), f"{prefix}.csv")
    main = main_markdown(mean, std, default_placement)
    place = placement_markdown(mean, std)
    for md, path in ((main, prefix), (place, f"{prefix}_placements")):
        write_text(md, f"{path}.md")
        write_text(_latex(md), f"{path}.tex")
    return main + "\n" + place
