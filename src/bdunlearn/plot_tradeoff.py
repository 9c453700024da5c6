"""Rule ``plot_tradeoff``: clean accuracy against attack success, per method, from a study's table.

One panel per (dataset, attack); each method is a point at (LFR or ASR, CACC
or CA), the mean over seeds. Methods evaluated at several snapshot epochs
(GA, NPO, RGA) are a line through their snapshots, the last one marked, so
the trade-off they walk is visible. The ideal is the top left corner; ReTrain
(unlearning table) and the backdoored model mark the two references.

- ``--table unlearn.csv`` (``make_unlearning_table``): x = LFR, y = CACC, with
  the registry's labels (:mod:`bdunlearn.methods`, passed as ``--labels``).
- ``--table tbar.csv`` (``make_table``): x = ASR, y = CA of the zero-shot,
  backdoored and TBAR models; the zero-shot CA is a dotted line.
"""

from __future__ import annotations

import argparse
import json
import math

import pandas as pd

from bdunlearn.data.io import save_figure


def points(table: pd.DataFrame, labels: dict | None = None) -> pd.DataFrame:
    """Long format ``dataset, attack, method, label, epoch, x, y`` from either table (``labels``: {method: label})."""
    labels = {"backdoored": "Backdoored", **(labels or {})}
    if "method" in table:  # the unlearning table
        df = table.rename(columns={"lfr": "x", "cacc": "y"})
        df["label"] = [labels.get(m, m) for m in df["method"]]
        return df[["dataset", "attack", "method", "label", "epoch", "x", "y"]]
    rows = [{"dataset": r.dataset, "attack": r.attack, "method": name, "label": label, "epoch": None,
             "x": getattr(r, f"asr_{name}"), "y": getattr(r, f"ca_{name}")}
            for r in table.itertuples() for name, label in (("backdoored", "Backdoored"), ("tbar", "TBAR"))]
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--table", required=True, help="tables/unlearn.csv or tables/tbar.csv")
    p.add_argument("--png", required=True)
    p.add_argument("--labels", type=json.loads, default={}, help="JSON {method: label} (the registry's labels)")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.read_csv(args.table)
    pts = points(table, args.labels)
    unlearning = "method" in table
    panels = list(dict.fromkeys(zip(pts["dataset"], pts["attack"])))
    cols = min(3, max(1, len(panels)))
    rows = math.ceil(len(panels) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    colours = {}
    for ax, (ds, att) in zip(axes.flat, panels):
        sel = pts[(pts["dataset"] == ds) & (pts["attack"] == att)]
        for method, g in sel.groupby("method", sort=False):
            c = colours.setdefault(method, f"C{len(colours) % 10}")
            g = g.sort_values("epoch")
            ax.plot(g["x"], g["y"], "-" if len(g) > 1 else "", color=c, alpha=0.6)
            ax.plot(g["x"].iloc[-1:], g["y"].iloc[-1:], "o", color=c, label=g["label"].iloc[0])
        if not unlearning:
            zs = table.loc[(table["dataset"] == ds) & (table["attack"] == att), "ca_zeroshot"].mean()
            ax.axhline(zs, color="grey", ls=":", lw=1, label="zero-shot CA")
        ax.set_xlim(-3, 103)
        ax.set_ylim(-3, 103)
        ax.set_xlabel("LFR (%)" if unlearning else "ASR (%)")
        ax.set_ylabel("CACC (%)" if unlearning else "CA (%)")
        ax.set_title(f"{ds} / {att}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("clean accuracy vs attack success per method (top left is best; lines: snapshot epochs)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, args.png)


if __name__ == "__main__":
    main()
