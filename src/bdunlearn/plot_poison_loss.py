"""Rule ``plot_poison_loss``: the poisoned-set cross-entropy per unlearning epoch of GA / NPO / RGA (RGA paper Fig. 4).

Reads the ``history.csv`` of each per-epoch (gradient) ``unlearn`` job of one
(dataset, attack) and draws one curve per method, with the registry's label
(``--labels``; log scale: GA's loss diverges). RGA's mean lambda per epoch goes on a second
axis. Output: a PNG and
the curves side by side as CSV.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from bdunlearn.data.io import save_figure, write_csv


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--histories", nargs="+", required=True, help="history.csv files; the method is the parent directory's name")
    p.add_argument("--title", default="")
    p.add_argument("--png", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--labels", type=json.loads, default={}, help="JSON {method: label} (the registry's labels)")
    args = p.parse_args(argv)

    def label(method: str) -> str:
        return args.labels.get(method, method)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = []
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for path in args.histories:
        method = Path(path).parent.name
        h = pd.read_csv(path)
        curves.append(h.assign(method=method))
        if h.empty:  # an empty forget set: nothing was unlearned
            continue
        ax.plot(h["epoch"], h["poison_loss"], marker="o", ms=3, label=label(method))
    ax.set_yscale("log")
    ax.set_xlabel("unlearning epoch")
    ax.set_ylabel("CE on the forget set (log)")
    weighted = [c for c in curves if len(c) and "lambda" in c and c["lambda"].notna().any()]
    if weighted:  # RGA's adaptive weight (and any method that logs one)
        ax2 = ax.twinx()
        for c in weighted:
            ax2.plot(c["epoch"], c["lambda"], color="grey", ls=":", label=f"{label(c['method'].iloc[0])} lambda")
        ax2.set_ylabel("lambda", color="grey")
        ax2.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(args.title, fontsize=9)
    save_figure(fig, args.png)
    write_csv(pd.concat(curves, ignore_index=True), args.csv)


if __name__ == "__main__":
    main()
