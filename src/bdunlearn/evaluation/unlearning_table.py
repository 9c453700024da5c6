"""The RGA paper Table 2 layout (and Tables 6-9) from the unlearning metrics, and CUBE Table 7 (rule
``make_unlearning_table``): long table, ΔPACC against the reference method, mean and std over seeds, Markdown
and LaTeX.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bdunlearn import attacks
from bdunlearn import methods as registry

RATES = ["cacc", "lfr", "pacc", "delta_pacc"]


def long_table(metrics: list[dict]) -> pd.DataFrame:
    rows = []
    for m in metrics:
        for s in m["snapshots"]:
            rows.append({"dataset": m["dataset"], "attack": m["attack"], "method": m["method"], "seed": m["seed"],
                         "epoch": s["epoch"], "cacc": s["cacc"], "lfr": s["lfr"], "pacc": s["pacc"],
                         "forget_set": m.get("forget_set", "")})
    df = pd.DataFrame(rows)
    df["epoch"] = df["epoch"].astype("Int64")
    return add_delta_pacc(df)


def method_order() -> list[str]:
    """The backdoored model, then the registered methods in registration order (bdunlearn.methods)."""
    return ["backdoored", *registry.names()]


def label(method: str) -> str:
    return "Backdoored" if method == "backdoored" else registry.get(method).label


def reference_method() -> str:
    """The method ΔPACC is measured against (ReTrain, the oracle)."""
    return next(m.name for m in registry.REGISTRY.values() if m.reference)


def per_epoch(method: str) -> bool:
    return method != "backdoored" and registry.get(method).per_epoch


def add_delta_pacc(df: pd.DataFrame) -> pd.DataFrame:
    """|PACC(ReTrain) - PACC(method)| per (dataset, attack, seed); NaN for the backdoored model and ReTrain itself."""
    ref_method = reference_method()
    ref = df[df["method"] == ref_method].set_index(["dataset", "attack", "seed"])["pacc"]
    keys = pd.MultiIndex.from_frame(df[["dataset", "attack", "seed"]])
    retrain_pacc = ref.reindex(keys).to_numpy() if len(ref) else np.full(len(df), np.nan)
    df = df.copy()
    df["delta_pacc"] = np.abs(retrain_pacc - df["pacc"].to_numpy())
    df.loc[df["method"].isin([ref_method, "backdoored"]), "delta_pacc"] = np.nan
    return df


def aggregate(per_seed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = ["dataset", "attack", "method", "epoch"]
    g = per_seed.groupby(keys, sort=False, dropna=False)
    mean = g[RATES].mean().reset_index()
    std = g[RATES].std(ddof=0).reset_index()
    std["n_seeds"] = g.size().to_numpy()
    return mean, std


def _cell(mean, std, col, pm) -> str:
    v = mean[col]
    if pd.isna(v):
        return "–"
    s = f"{v:.2f}"
    return s if std is None or std["n_seeds"] <= 1 else f"{s} {pm} {std[col]:.2f}"


def _lookup(mean: pd.DataFrame, std: pd.DataFrame, dataset, attack, method, epoch):
    sel = (mean["dataset"] == dataset) & (mean["attack"] == attack) & (mean["method"] == method)
    sel &= (mean["epoch"] == epoch) if per_epoch(method) else mean["epoch"].isna()
    idx = np.flatnonzero(sel.to_numpy())
    return (mean.iloc[idx[0]], std.iloc[idx[0]]) if len(idx) else (None, None)


def _columns(method: str) -> list[str]:
    return ["cacc", "lfr", "pacc"] if method in ("backdoored", reference_method()) else RATES


def layout(mean: pd.DataFrame) -> tuple[list, list[str], list]:
    pairs = list(dict.fromkeys(zip(mean["dataset"], mean["attack"])))
    methods = [m for m in method_order() if m in set(mean["method"])]
    epochs = sorted({int(e) for e in mean["epoch"].dropna()}) or [None]
    return pairs, methods, epochs


def to_markdown(mean: pd.DataFrame, std: pd.DataFrame) -> str:
    pairs, methods, epochs = layout(mean)
    names = {"cacc": "CACC ↑", "lfr": "LFR ↓", "pacc": "PACC ↑", "delta_pacc": "ΔPACC ↓"}
    out = []
    for epoch in epochs:
        out.append(f"### After {epoch} unlearning epochs\n" if epoch is not None else "### Unlearning results\n")
        head = ["Dataset", "Attack"] + [f"{label(m)} {names[c]}" for m in methods for c in _columns(m)]
        out.append("| " + " | ".join(head) + " |")
        out.append("|---|---|" + "---:|" * (len(head) - 2))
        for ds, att in pairs:
            cells = [ds, attacks.label(att)]
            for m in methods:
                mu, sd = _lookup(mean, std, ds, att, m, epoch)
                cells += ["–" if mu is None else _cell(mu, sd, c, "±") for c in _columns(m)]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def _tex(s: str) -> str:
    return s.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")


def to_latex(mean: pd.DataFrame, std: pd.DataFrame) -> str:
    pairs, methods, epochs = layout(mean)
    names = {"cacc": "CACC", "lfr": "LFR", "pacc": "PACC", "delta_pacc": r"$\Delta$PACC"}
    out = [r"% requires \usepackage{booktabs}"]
    for epoch in epochs:
        ncols = sum(len(_columns(m)) for m in methods)
        out += [f"% {'after ' + str(epoch) + ' unlearning epochs' if epoch is not None else 'unlearning results'}",
                r"\begin{tabular}{ll" + "r" * ncols + "}", r"\toprule"]
        groups = " & ".join(rf"\multicolumn{{{len(_columns(m))}}}{{c}}{{{label(m)}}}" for m in methods)
        out.append(rf"Dataset & Attack & {groups} \\")
        start, rules = 3, []
        for m in methods:
            rules.append(rf"\cmidrule(lr){{{start}-{start + len(_columns(m)) - 1}}}")
            start += len(_columns(m))
        out.append(" ".join(rules))
        out.append(" & & " + " & ".join(names[c] for m in methods for c in _columns(m)) + r" \\")
        out.append(r"\midrule")
        for ds, att in pairs:
            cells = [_tex(ds), _tex(attacks.label(att))]
            for m in methods:
                mu, sd = _lookup(mean, std, ds, att, m, epoch)
                cells += ["--" if mu is None else _cell(mu, sd, c, r"$\pm$") for c in _columns(m)]
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(out)


def cube_tables(reports: list[dict]) -> tuple[pd.DataFrame, str, str]:
    df = pd.DataFrame([{k: r[k] for k in ("dataset", "attack", "seed", "precision", "recall", "f1", "n_flagged", "n_poisoned")}
                       for r in reports])
    mean = df.groupby(["dataset", "attack"], sort=False)[["precision", "recall", "f1", "n_flagged", "n_poisoned"]].mean().reset_index()
    md = ["| Dataset | Attack | Precision | Recall | F1 | flagged | poisoned |", "|---|---|---:|---:|---:|---:|---:|"]
    tex = [r"\begin{tabular}{llrrrrr}", r"\toprule", r"Dataset & Attack & Precision & Recall & F1 & flagged & poisoned \\", r"\midrule"]
    for r in mean.itertuples():
        cells = [f"{r.precision:.2f}", f"{r.recall:.2f}", f"{r.f1:.2f}", f"{r.n_flagged:g}", f"{r.n_poisoned:g}"]
        md.append(f"| {r.dataset} | {attacks.label(r.attack)} | " + " | ".join(cells) + " |")
        tex.append(f"{_tex(r.dataset)} & {_tex(attacks.label(r.attack))} & " + " & ".join(cells) + r" \\")
    tex += [r"\bottomrule", r"\end{tabular}"]
    return mean, "\n".join(md) + "\n", "\n".join(tex) + "\n"
