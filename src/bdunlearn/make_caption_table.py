"""Rule ``make_caption_table``: TBAR's Table 2 layout (and Tables 6 / 8) from the image-caption track's
``metrics.json`` files (``evaluate_zeroshot``).

Outputs ``tbar_caption.csv`` (dataset, attack, model, CA and ASR in percent, mean over seeds, ``n_seeds``),
``tbar_caption_per_seed.csv``, ``tbar_caption.md`` and ``tbar_caption.tex``: rows grouped as the paper groups
them, CA and ASR per attack (``bdunlearn.evaluation.caption_table``).
"""

from __future__ import annotations

import argparse

from bdunlearn.data.io import read_json, write_csv, write_text
from bdunlearn.evaluation.caption_table import aggregate, long_table, to_latex, to_markdown


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json files, in table order")
    p.add_argument("--prefix", required=True, help="output path without extension")
    args = p.parse_args(argv)
    per_seed = long_table([read_json(m) for m in args.metrics])
    mean, std = aggregate(per_seed)
    write_csv(per_seed.round(4), f"{args.prefix}_per_seed.csv")
    write_csv(mean.round(4), f"{args.prefix}.csv")
    write_text(to_markdown(mean, std), f"{args.prefix}.md")
    write_text(to_latex(mean, std), f"{args.prefix}.tex")
    print(to_markdown(mean, std))


if __name__ == "__main__":
    main()
