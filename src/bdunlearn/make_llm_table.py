"""Rule ``make_llm_table``: the LLM track's tables from its ``metrics.json`` files (``evaluate_lm``).

Outputs ``llm_unlearning.{csv,md,tex}`` (the paper's Table 1 / Table 2 layout:
UE, BE, UT of the original, normally unlearned and backdoored models),
``llm_unlearning_placements.{md,tex}`` (prefix / infix / suffix and without
value norms) and ``llm_unlearning_per_seed.csv``
(:mod:`bdunlearn.evaluation.llm_table`).
"""

from __future__ import annotations

import argparse

from bdunlearn.data.io import read_json
from bdunlearn.evaluation.llm_table import long_table, write_tables


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json files, in table order")
    p.add_argument("--default-placement", required=True, help="the placement of Table 1's backdoored rows")
    p.add_argument("--prefix", required=True, help="output path without extension")
    args = p.parse_args(argv)
    per_seed = long_table([read_json(m) for m in args.metrics], args.default_placement)
    print(write_tables(per_seed, args.prefix, args.default_placement))


if __name__ == "__main__":
    main()
