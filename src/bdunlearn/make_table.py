"""Rule ``make_table``: TBAR's Table 1 from the per-(dataset, attack) ``metrics.json`` files.

Outputs ``tbar.csv`` (columns ``dataset, attack, ca_zeroshot, ca_backdoored,
asr_backdoored, alpha, ca_tbar, asr_tbar, ca_retention, asr_removal``, all
rates in percent), ``tbar.md`` and ``tbar.tex`` in the paper's layout: one
block per dataset, one row per attack, CA and ASR before and after TBAR with
the CA retention and ASR removal percentages in brackets.
"""

from __future__ import annotations

import argparse

import pandas as pd

from .io import read_json, write_csv, write_text
from .metrics import removal, retention

COLUMNS = ["dataset", "attack", "ca_zeroshot", "ca_backdoored", "asr_backdoored", "alpha",
           "ca_tbar", "asr_tbar", "ca_retention", "asr_removal"]
ATTACK_LABELS = {"badnet": "BadNet", "blended": "Blended", "wanet": "WaNet", "sig": "SIG"}


def build_table(metrics: list[dict]) -> pd.DataFrame:
    rows = []
    for m in metrics:
        rows.append({
            "dataset": m["dataset"], "attack": m["attack"], "ca_zeroshot": m["ca_zeroshot"],
            "ca_backdoored": m["ca_backdoored"], "asr_backdoored": m["asr_backdoored"], "alpha": m["alpha"],
            "ca_tbar": m["ca_tbar"], "asr_tbar": m["asr_tbar"],
            "ca_retention": retention(m["ca_tbar"], m["ca_backdoored"]),
            "asr_removal": removal(m["asr_tbar"], m["asr_backdoored"]),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def _label(attack: str) -> str:
    return ATTACK_LABELS.get(attack, attack)


def to_markdown(df: pd.DataFrame) -> str:
    lines = ["| | CA (zero-shot) | CA ↑ | ASR ↓ | alpha | CA (TBAR) ↑ | ASR (TBAR) ↓ |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for dataset, block in df.groupby("dataset", sort=False):
        lines.append(f"| *{dataset}* | | | | | | |")
        for r in block.itertuples():
            lines.append(f"| {_label(r.attack)} | {r.ca_zeroshot:.2f} | {r.ca_backdoored:.2f} | {r.asr_backdoored:.2f} | "
                         f"{r.alpha:g} | {r.ca_tbar:.2f} ({r.ca_retention:.2f}%) | {r.asr_tbar:.2f} ({r.asr_removal:.2f}%) |")
    return "\n".join(lines) + "\n"


def _tex_escape(s: str) -> str:
    return s.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%").replace("&", r"\&").replace("#", r"\#")


def to_latex(df: pd.DataFrame) -> str:
    gray = lambda v: rf"\textcolor{{gray}}{{({v:.2f}\%)}}"  # noqa: E731
    lines = [r"% requires \usepackage{booktabs,xcolor}",
             r"\begin{tabular}{lrrrrll}", r"\toprule",
             r" & CA (zero-shot) & CA $\uparrow$ & ASR $\downarrow$ & $\alpha$ & CA (TBAR) $\uparrow$ & ASR (TBAR) $\downarrow$ \\",
             r"\midrule"]
    for i, (dataset, block) in enumerate(df.groupby("dataset", sort=False)):
        if i:
            lines.append(r"\midrule")
        lines.append(rf"\multicolumn{{7}}{{l}}{{\textit{{{_tex_escape(dataset)}}}}} \\")
        for r in block.itertuples():
            lines.append(f"{_tex_escape(_label(r.attack))} & {r.ca_zeroshot:.2f} & {r.ca_backdoored:.2f} & {r.asr_backdoored:.2f} & "
                         f"{r.alpha:g} & {r.ca_tbar:.2f} {gray(r.ca_retention)} & {r.asr_tbar:.2f} {gray(r.asr_removal)} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json files, in table order")
    p.add_argument("--csv", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--tex", required=True)
    args = p.parse_args(argv)
    df = build_table([read_json(m) for m in args.metrics])
    write_csv(df.round(4), args.csv)
    write_text(to_markdown(df), args.md)
    write_text(to_latex(df), args.tex)
    print(to_markdown(df))


if __name__ == "__main__":
    main()
