"""TBAR paper Table 1 from the per-(dataset, attack) metrics: the long table, mean and std over seeds, and its
Markdown and LaTeX forms (rule ``make_table``).
"""

from __future__ import annotations

import pandas as pd

from bdunlearn import attacks
from bdunlearn.evaluation.metrics import removal, retention

# alpha_lo / alpha_hi: the grid interval around alpha whose val CA stays within alpha_search.sensitivity_band points
# of the chosen alpha's (bdunlearn.methods.alpha_strategies.sensitivity); in the CSV, not in the paper's layout
COLUMNS = ["dataset", "attack", "ca_zeroshot", "ca_backdoored", "asr_backdoored", "alpha", "alpha_lo", "alpha_hi",
           "ca_tbar", "asr_tbar", "ca_retention", "asr_removal"]


AVERAGED = ["ca_zeroshot", "ca_backdoored", "asr_backdoored", "alpha", "alpha_lo", "alpha_hi", "ca_tbar", "asr_tbar"]


def build_table(metrics: list[dict]) -> pd.DataFrame:
    """One row per metrics file (dataset, attack, seed), in the given order."""
    rows = []
    for m in metrics:
        rows.append({
            "dataset": m["dataset"], "attack": m["attack"], "seed": m.get("seed", 0), "ca_zeroshot": m["ca_zeroshot"],
            "ca_backdoored": m["ca_backdoored"], "asr_backdoored": m["asr_backdoored"], "alpha": m["alpha"],
            **{k: float("nan") if m.get(k) is None else m[k] for k in ("alpha_lo", "alpha_hi")},
            "ca_tbar": m["ca_tbar"], "asr_tbar": m["asr_tbar"],
            "ca_retention": retention(m["ca_tbar"], m["ca_backdoored"]),
            "asr_removal": removal(m["asr_tbar"], m["asr_backdoored"]),
        })
    return pd.DataFrame(rows, columns=COLUMNS[:2] + ["seed"] + COLUMNS[2:])


def aggregate(per_seed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean over seeds in the CSV's columns, and the std of the rates (0 with one seed)."""
    groups = per_seed.groupby(["dataset", "attack"], sort=False)
    mean = groups[AVERAGED].mean().reset_index()
    mean["ca_retention"] = [retention(a, b) for a, b in zip(mean["ca_tbar"], mean["ca_backdoored"])]
    mean["asr_removal"] = [removal(a, b) for a, b in zip(mean["asr_tbar"], mean["asr_backdoored"])]
    std = groups[AVERAGED].std(ddof=0).reset_index()
    std["n_seeds"] = groups.size().to_numpy()
    return mean[COLUMNS], std


def _cells(df: pd.DataFrame, std: pd.DataFrame | None, pm: str):
    """Per row: formatted rate cells, with ``pm std`` when rows average several seeds."""
    for i, r in enumerate(df.itertuples()):
        sd = std.iloc[i] if std is not None and std["n_seeds"].iloc[i] > 1 else None

        def cell(col, fmt=".2f"):
            v = f"{getattr(r, col):{fmt}}"
            return v if sd is None else f"{v} {pm} {sd[col]:{fmt}}"

        yield r, cell


def to_markdown(df: pd.DataFrame, std: pd.DataFrame | None = None) -> str:
    lines = ["| | CA (zero-shot) | CA ↑ | ASR ↓ | alpha | CA (TBAR) ↑ | ASR (TBAR) ↓ |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    current = None
    for r, cell in _cells(df, std, "±"):
        if r.dataset != current:
            current = r.dataset
            lines.append(f"| *{r.dataset}* | | | | | | |")
        lines.append(f"| {attacks.label(r.attack)} | {cell('ca_zeroshot')} | {cell('ca_backdoored')} | {cell('asr_backdoored')} | "
                     f"{cell('alpha', 'g')} | {cell('ca_tbar')} ({r.ca_retention:.2f}%) | {cell('asr_tbar')} ({r.asr_removal:.2f}%) |")
    return "\n".join(lines) + "\n"


def _tex_escape(s: str) -> str:
    return s.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%").replace("&", r"\&").replace("#", r"\#")


def to_latex(df: pd.DataFrame, std: pd.DataFrame | None = None) -> str:
    gray = lambda v: rf"\textcolor{{gray}}{{({v:.2f}\%)}}"  # noqa: E731
    lines = [r"% requires \usepackage{booktabs,xcolor}",
             r"\begin{tabular}{lrrrrll}", r"\toprule",
             r" & CA (zero-shot) & CA $\uparrow$ & ASR $\downarrow$ & $\alpha$ & CA (TBAR) $\uparrow$ & ASR (TBAR) $\downarrow$ \\",
             r"\midrule"]
    current = None
    for r, cell in _cells(df, std, r"$\pm$"):
        if r.dataset != current:
            if current is not None:
                lines.append(r"\midrule")
            current = r.dataset
            lines.append(rf"\multicolumn{{7}}{{l}}{{\textit{{{_tex_escape(r.dataset)}}}}} \\")
        lines.append(f"{_tex_escape(attacks.label(r.attack))} & {cell('ca_zeroshot')} & {cell('ca_backdoored')} & {cell('asr_backdoored')} & "
                     f"{cell('alpha', 'g')} & {cell('ca_tbar')} {gray(r.ca_retention)} & {cell('asr_tbar')} {gray(r.asr_removal)} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
