"""Rule ``plot_finetune_loss``: the backdoor fine-tuning loss per epoch of every attack on one dataset.

Reads the ``backdoored.json`` report of each ``finetune_backdoor`` job of one
dataset (the attack is its directory's name) and, when the study has one, the
ReTrain oracle's ``history.json`` (the same recipe on the clean split), and
draws one training cross-entropy curve each. A backdoor that is learned shows
a curve close to the oracle's; one that is memorised rather than learned
(few distinct poisoned rows) shows no difference. Output: a PNG and the curves
as CSV.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bdunlearn.data.io import read_json, save_figure, write_csv


def curves(reports: list[str], oracle: str | None) -> pd.DataFrame:
    rows = []
    for path in reports:
        for h in read_json(path)["history"]:
            rows.append({"model": Path(path).parent.name, "epoch": h["epoch"], "loss": h["loss"]})
    if oracle:
        for h in read_json(oracle)["history"]:
            rows.append({"model": "oracle (clean)", "epoch": h["epoch"], "loss": h["loss"]})
    return pd.DataFrame(rows, columns=["model", "epoch", "loss"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--reports", nargs="+", required=True, help="backdoored.json of finetune_backdoor, one per attack")
    p.add_argument("--oracle", default=None, help="history.json of retrain_oracle (optional)")
    p.add_argument("--title", default="")
    p.add_argument("--png", required=True)
    p.add_argument("--csv", required=True)
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = curves(args.reports, args.oracle)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for model, c in df.groupby("model", sort=False):
        ax.plot(c["epoch"], c["loss"], marker="o", ms=3, ls="--" if model.startswith("oracle") else "-", label=model)
    ax.set_yscale("log")
    ax.set_xlabel("fine-tuning epoch")
    ax.set_ylabel("training cross-entropy (log)")
    ax.legend(fontsize=8)
    ax.set_title(args.title, fontsize=9)
    save_figure(fig, args.png)
    write_csv(df, args.csv)


if __name__ == "__main__":
    main()
