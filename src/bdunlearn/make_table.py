"""Rule ``make_table``: TBAR's Table 1 from the per-(dataset, attack) ``metrics.json`` files.

Outputs ``tbar.csv`` (columns ``dataset, attack, ca_zeroshot, ca_backdoored,
asr_backdoored, alpha, ca_tbar, asr_tbar, ca_retention, asr_removal``, all
rates in percent), ``tbar.md`` and ``tbar.tex`` in the paper's layout: one
block per dataset, one row per attack, CA and ASR before and after TBAR with
the CA retention and ASR removal percentages in brackets.

With several seeds, ``tbar.csv`` holds the mean over seeds (retention and
removal computed from the mean CA / ASR), the Markdown and LaTeX tables show
``mean ± std`` (population std), and ``tbar_per_seed.csv`` has one row per
seed.
"""

from __future__ import annotations

import argparse

from bdunlearn.data.io import read_json, write_csv, write_text
from bdunlearn.evaluation.tbar_table import aggregate, build_table, to_latex, to_markdown


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json files, in table order")
    p.add_argument("--csv", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--tex", required=True)
    p.add_argument("--per-seed", required=True, help="CSV with one row per seed")
    args = p.parse_args(argv)
    per_seed = build_table([read_json(m) for m in args.metrics])
    df, std = aggregate(per_seed)
    write_csv(per_seed.round(4), args.per_seed)
    write_csv(df.round(4), args.csv)
    write_text(to_markdown(df, std), args.md)
    write_text(to_latex(df, std), args.tex)
    print(to_markdown(df, std))


if __name__ == "__main__":
    main()
