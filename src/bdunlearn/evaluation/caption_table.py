"""TBAR Tables 2 / 6 / 8 from the image-caption track's metrics (rule ``make_caption_table``).

Rows are grouped as the paper groups them (zero-shot, backdoored, clean-data fine-tuning, true unlearning,
reverse-engineered unlearning), one block per dataset; the columns are CA and ASR per attack. With several seeds
the CSV holds the mean and the Markdown and LaTeX tables ``mean ± std`` (population std); the per-seed CSV keeps
every run.
"""

from __future__ import annotations

import pandas as pd

from bdunlearn import attacks
from bdunlearn.methods import clip_defenses

# model (the metrics' "model") -> (group, label), in table order; later rows join their group
ROWS = {
    "zeroshot": ("Zero-shot", "CLIP (pretrained)"),
    "backdoored": ("Backdoored", "Backdoored"),
    **{d.name: ("Clean-data fine-tuning", d.label) for d in clip_defenses.DEFENSES.values()},
    "ga": ("True unlearning", "GA"),
    "tbar": ("True unlearning", "TBAR"),
    "ga_decree": ("Reverse-engineered unlearning", "GA+DECREE"),
    "tbar_decree": ("Reverse-engineered unlearning", "TBAR+DECREE"),
}
GROUP_ORDER = ["Zero-shot", "Backdoored", "Clean-data fine-tuning", "True unlearning", "Reverse-engineered unlearning"]


def long_table(metrics: list[dict]) -> pd.DataFrame:
    """One row per metrics file: dataset, attack, model, seed, ca, asr."""
    return pd.DataFrame([{k: m[k] for k in ("dataset", "attack", "model", "seed", "ca", "asr")} for m in metrics])


def aggregate(per_seed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and population std over seeds per (dataset, attack, model), in first-seen order, with ``n_seeds``."""
    groups = per_seed.groupby(["dataset", "attack", "model"], sort=False)
    mean = groups[["ca", "asr"]].mean().reset_index()
    std = groups[["ca", "asr"]].std(ddof=0).reset_index()
    mean["n_seeds"] = std["n_seeds"] = groups.size().to_numpy()
    return mean, std


def _layout(mean: pd.DataFrame):
    """Per dataset: its attacks (config order) and its models (grouped, in :data:`ROWS` order)."""
    for dataset, block in mean.groupby("dataset", sort=False):
        atts = list(dict.fromkeys(block["attack"]))
        models = sorted(dict.fromkeys(block["model"]), key=lambda m: (GROUP_ORDER.index(ROWS[m][0]), list(ROWS).index(m)))
        yield dataset, atts, models


def _cell(mean, std, dataset, attack, model, col, pm):
    sel = (mean["dataset"] == dataset) & (mean["attack"] == attack) & (mean["model"] == model)
    if not sel.any():
        return "-"
    m, s = float(mean.loc[sel, col].iloc[0]), float(std.loc[sel, col].iloc[0])
    return f"{m:.2f}" if int(mean.loc[sel, "n_seeds"].iloc[0]) == 1 else f"{m:.2f} {pm} {s:.2f}"


def to_markdown(mean: pd.DataFrame, std: pd.DataFrame) -> str:
    out = []
    for dataset, atts, models in _layout(mean):
        labels = [attacks.get(a).label for a in atts]
        out += [f"### {dataset}", "", "| | | " + " | ".join(f"{lab} CA ↑ | {lab} ASR ↓" for lab in labels) + " |",
                "|---|---|" + "---:|---:|" * len(atts)]
        previous = None
        for model in models:
            group, label = ROWS[model]
            cells = [_cell(mean, std, dataset, a, model, c, "±") for a in atts for c in ("ca", "asr")]
            out.append(f"| {group if group != previous else ''} | {label} | " + " | ".join(cells) + " |")
            previous = group
        out.append("")
    return "\n".join(out)


def to_latex(mean: pd.DataFrame, std: pd.DataFrame) -> str:
    out = []
    for dataset, atts, models in _layout(mean):
        labels = [attacks.get(a).label for a in atts]
        out += [r"\begin{tabular}{ll" + "rr" * len(atts) + "}", r"\toprule",
                f"\\multicolumn{{{2 + 2 * len(atts)}}}{{l}}{{{dataset}}} \\\\",
                " & & " + " & ".join(f"\\multicolumn{{2}}{{c}}{{{lab}}}" for lab in labels) + r" \\",
                " & & " + " & ".join(["CA $\\uparrow$ & ASR $\\downarrow$"] * len(atts)) + r" \\", r"\midrule"]
        previous = None
        for model in models:
            group, label = ROWS[model]
            cells = [_cell(mean, std, dataset, a, model, c, r"$\pm$") for a in atts for c in ("ca", "asr")]
            out.append(f"{group if group != previous else ''} & {label} & " + " & ".join(cells) + r" \\")
            previous = group
        out += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(out)
