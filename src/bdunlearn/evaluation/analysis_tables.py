"""TBAR's Table 4 (trigger-vector transfer) and Table 5 (merged models) from evaluate's metrics (rule
``make_analysis_table``): CA / ASR before and after TBAR, retention and removal in brackets, mean over seeds.
"""

from __future__ import annotations

import pandas as pd

from bdunlearn import attacks
from bdunlearn.evaluation.metrics import removal, retention

MERGER_LABELS = {"task_arithmetic": "TA (Ilharco et al., 2022)", "ties": "TIES (Yadav et al., 2023)"}


def transfer_rows(own: list[dict], transferred: list[dict], sources: list[str], same_target: list[bool]) -> pd.DataFrame:
    rows = []
    for o, t, src, same in zip(own, transferred, sources, same_target):
        rows.append({"attack": o["attack"], "dataset": o["dataset"], "seed": o.get("seed", 0), "vector_from": src,
                     "same_target": same, "ca_zeroshot": o["ca_zeroshot"], "asr_zeroshot": o["asr_zeroshot"],
                     "ca_backdoored": o["ca_backdoored"], "asr_backdoored": o["asr_backdoored"],
                     "ca_own": o["ca_tbar"], "asr_own": o["asr_tbar"], "alpha_own": o["alpha"],
                     "ca_transfer": t["ca_tbar"], "asr_transfer": t["asr_tbar"], "alpha_transfer": t["alpha"],
                     "transfer_alpha_met_bound": t.get("alpha_met_bound", True)})
    return pd.DataFrame(rows)


def merging_rows(metrics: list[dict], mergers: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{"merger": mg, "dataset": m["dataset"], "attack": m["attack"], "seed": m.get("seed", 0),
                          "ca_zeroshot": m["ca_zeroshot"], "asr_zeroshot": m["asr_zeroshot"], "ca_merged": m["ca_backdoored"], "asr_merged": m["asr_backdoored"], "alpha": m["alpha"],
                          "ca_tbar": m["ca_tbar"], "asr_tbar": m["asr_tbar"]} for m, mg in zip(metrics, mergers)])


def mean_over_seeds(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean of the rates over seeds; a flag column (bool) is True only if it holds for every seed."""
    flags = [c for c in df.columns if df[c].dtype == bool and c not in keys]
    num = [c for c in df.columns if c not in keys and c != "seed" and c not in flags]
    groups = df.groupby(keys, sort=False)
    out = groups[num].mean().reset_index()
    for c in flags:
        out[c] = groups[c].all().to_numpy()
    return out


def _fmt(after: float, before: float, keep: bool) -> str:
    ratio = retention(after, before) if keep else removal(after, before)
    return f"{after:.2f} ({ratio:.2f}%)"


def transfer_markdown(df: pd.DataFrame) -> str:
    lines = ["| | vector from | same target | CA (zero-shot) | ASR (zero-shot) | CA ↑ | ASR ↓ | CA (own TBAR) ↑ | ASR (own TBAR) ↓ | "
             "CA (transferred) ↑ | ASR (transferred) ↓ |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for att, g in df.groupby("attack", sort=False):
        lines.append(f"| *{attacks.label(att)}* | | | | | | | | | | |")
        for r in g.itertuples():
            mark = "" if r.transfer_alpha_met_bound else " †"
            lines.append(f"| {r.dataset} | {r.vector_from} | {'yes' if r.same_target else 'no'} | {r.ca_zeroshot:.2f} | "
                         f"{r.asr_zeroshot:.2f} | {r.ca_backdoored:.2f} | {r.asr_backdoored:.2f} | "
                         f"{_fmt(r.ca_own, r.ca_backdoored, True)} | {_fmt(r.asr_own, r.asr_backdoored, False)} | "
                         f"{_fmt(r.ca_transfer, r.ca_backdoored, True)}{mark} | {_fmt(r.asr_transfer, r.asr_backdoored, False)}{mark} |")
    if not df["transfer_alpha_met_bound"].all():
        lines.append("\n† no alpha met the val ASR bound of the alpha search: the lowest-ASR alpha")
    return "\n".join(lines) + "\n"


def merging_markdown(df: pd.DataFrame) -> str:
    lines = ["| merging | dataset | attack | CA (zero-shot) | ASR (zero-shot) | CA ↑ | ASR ↓ | alpha | CA (TBAR) ↑ | ASR (TBAR) ↓ |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in df.itertuples():
        lines.append(f"| {MERGER_LABELS.get(r.merger, r.merger)} | {r.dataset} | {attacks.label(r.attack)} | "
                     f"{r.ca_zeroshot:.2f} | {r.asr_zeroshot:.2f} | {r.ca_merged:.2f} | "
                     f"{r.asr_merged:.2f} | {r.alpha:g} | {_fmt(r.ca_tbar, r.ca_merged, True)} | {_fmt(r.asr_tbar, r.asr_merged, False)} |")
    return "\n".join(lines) + "\n"


def to_latex(markdown: str) -> str:
    """A booktabs tabular of a Markdown table of this module (header, a rule, the rows), its footnote after it."""
    lines = markdown.strip().splitlines()
    rows = [ln.strip("|").split("|") for ln in lines if ln.startswith("|")]
    notes = [ln for ln in lines if ln.strip() and not ln.startswith("|")]
    head, body = rows[0], rows[2:]

    def tex(c):
        return (c.strip().replace("%", r"\%").replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$")
                .replace("†", r"$^\dagger$").replace("*", ""))

    esc = [[tex(c) for c in r] for r in [head] + body]
    cols = "l" * 3 + "r" * (len(head) - 3)
    out = [r"\begin{tabular}{" + cols + "}", r"\toprule", " & ".join(esc[0]) + r" \\", r"\midrule"]
    out += [" & ".join(r) + r" \\" for r in esc[1:]]
    return "\n".join(out + [r"\bottomrule", r"\end{tabular}"] + [tex(n) for n in notes]) + "\n"
