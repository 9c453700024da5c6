"""Rule ``make_unlearning_table``: the RGA paper's Table 2 (and Tables 6-9) and CUBE's Table 7.

Inputs: ``metrics.json`` of ``evaluate_backdoored`` and of every ``unlearn``
job, and ``detection.json`` of every ``detect_cube`` job. Outputs:

- ``unlearn.csv``: long format, one row per (dataset, attack, method, epoch):
  ``cacc, lfr, pacc, delta_pacc`` in percent, the mean over seeds;
  ``unlearn_per_seed.csv`` the same per seed. ``epoch`` is empty for the
  backdoored model, ReTrain and TBAR (no unlearning epochs).
  delta_pacc = |PACC(ReTrain) - PACC(method)|, per seed, then averaged.
- ``unlearn.md`` / ``unlearn.tex``: Table 2's layout, one table per snapshot
  epoch (the paper's Tables 8, 9 and 2 are epochs 10, 20, 30): a row per
  dataset and attack, a column group per method in the registry's order, with
  its label (bdunlearn.methods; Backdoored and ReTrain: CACC, LFR, PACC; the
  others also delta-PACC). For CLIP datasets CACC is CA and LFR
  is ASR.
- ``cube.csv`` / ``cube.md`` / ``cube.tex``: precision, recall and F1 of CUBE
  per dataset and attack (mean over seeds, 0-1).
"""

from __future__ import annotations

import argparse

import pandas as pd

from bdunlearn import methods as registry
from bdunlearn.data.io import read_json, write_csv, write_text
from bdunlearn.evaluation.unlearning_table import aggregate, cube_tables, long_table, to_latex, to_markdown


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json of evaluate_backdoored and unlearn, in table order")
    p.add_argument("--detections", nargs="*", default=[], help="detection.json of detect_cube")
    p.add_argument("--prefix", required=True, help="output path prefix: writes <prefix>.{csv,md,tex} and <prefix>_per_seed.csv")
    p.add_argument("--cube-prefix", default=None, help="writes <cube-prefix>.{csv,md,tex}")
    p.add_argument("--plugins", nargs="*", default=[], help="the config's plugins (modules registering methods)")
    args = p.parse_args(argv)
    registry.load_plugins(args.plugins)
    per_seed = long_table([read_json(m) for m in args.metrics])
    mean, std = aggregate(per_seed)
    write_csv(per_seed.round(4), f"{args.prefix}_per_seed.csv")
    write_csv(mean.round(4), f"{args.prefix}.csv")
    md = to_markdown(mean, std)
    write_text(md, f"{args.prefix}.md")
    write_text(to_latex(mean, std), f"{args.prefix}.tex")
    print(md)
    if args.cube_prefix:
        reports = [read_json(d) for d in args.detections]
        cube, cmd, ctex = cube_tables(reports) if reports else (pd.DataFrame(), "No CUBE detection in this study.\n", "")
        write_csv(cube.round(4), f"{args.cube_prefix}.csv")
        write_text(cmd, f"{args.cube_prefix}.md")
        write_text(ctex, f"{args.cube_prefix}.tex")
        print(cmd)


if __name__ == "__main__":
    main()
