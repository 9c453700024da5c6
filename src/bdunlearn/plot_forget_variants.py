"""Rule ``plot_forget_variants``: TBAR's forget-set analyses of one (dataset, attack) as plots and a CSV.

``--kind mix`` (TBAR appendix C.1, Figs. 5-7): val CA and val ASR along the
alpha grid, one line per clean:triggered ratio of the forget set. ``--kind
size`` (appendix D, Fig. 13): test CA and ASR at the chosen alpha against the
forget-set size. Inputs: the variants' directories (``sweep_forget_variant``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bdunlearn.data.io import read_json, save_figure, write_csv


def mixture_figure(curves: pd.DataFrame, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ca, ax_asr) = plt.subplots(1, 2, figsize=(8, 3.2), sharex=True)
    for frac, g in sorted(curves.groupby("triggered_fraction"), key=lambda kv: -kv[0]):
        label = f"{1 - frac:g}:{frac:g}"
        ax_ca.plot(g["alpha"], g["val_ca"], "o-", ms=3, label=label)
        ax_asr.plot(g["alpha"], g["val_asr"], "o-", ms=3, label=label)
    for ax, name in ((ax_ca, "val CA (%) ↑"), (ax_asr, "val ASR (%) ↓")):
        ax.set_xlabel("alpha")
        ax.set_ylabel(name)
        ax.set_ylim(-2, 102)
    ax_asr.legend(title="clean:triggered", fontsize=7, title_fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def size_figure(rows: pd.DataFrame, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    ax.plot(rows["rows"], rows["ca_tbar"], "o-", label="test CA ↑")
    ax.plot(rows["rows"], rows["asr_tbar"], "s-", label="test ASR ↓")
    ax.set_xlabel("forget-set size (triggered rows)")
    ax.set_ylabel("%")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kind", choices=["mix", "size"], required=True)
    p.add_argument("--variants", nargs="+", required=True, help="variant directories (alpha_search.csv, metrics.json)")
    p.add_argument("--title", required=True)
    p.add_argument("--png", required=True)
    p.add_argument("--csv", required=True)
    args = p.parse_args(argv)
    metrics = [read_json(Path(d) / "metrics.json") for d in args.variants]
    if args.kind == "mix":
        curves = pd.concat([pd.read_csv(Path(d) / "alpha_search.csv").assign(triggered_fraction=m["value"], variant=m["variant"],
                                                                            chosen=lambda df, a=m["alpha"]: df["alpha"] == a)
                            for d, m in zip(args.variants, metrics)], ignore_index=True)
        write_csv(curves[["variant", "triggered_fraction", "alpha", "val_ca", "val_asr", "chosen"]].round(4), args.csv)
        save_figure(mixture_figure(curves, args.title), args.png)
    else:
        rows = pd.DataFrame(metrics).sort_values("rows")
        write_csv(rows[["variant", "rows", "epochs", "alpha", "ca_tbar", "asr_tbar", "tau_norm"]].round(4), args.csv)
        save_figure(size_figure(rows, args.title), args.png)


if __name__ == "__main__":
    main()
