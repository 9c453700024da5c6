"""Rule ``make_analysis_table``: TBAR's Table 4 (``--kind transfer``) or Table 5 (``--kind merging``).

transfer: per target dataset and attack, the backdoored model, its own TBAR
(``eval/``) and TBAR with the source dataset's trigger vector
(``tbar_transfer/``), and whether the two datasets' targets share a class
name. merging: per merging method, the merged model and TBAR on it
(``merged/``). Outputs ``<prefix>.csv`` (mean over seeds), ``.md``, ``.tex``
and ``<prefix>_per_seed.csv``.
"""

from __future__ import annotations

import argparse

from bdunlearn.data.io import read_json, write_csv, write_text
from bdunlearn.evaluation import analysis_tables as at


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kind", choices=["transfer", "merging"], required=True)
    p.add_argument("--metrics", nargs="+", required=True, help="transfer: the transferred runs; merging: the merged runs")
    p.add_argument("--own", nargs="*", default=[], help="transfer: the targets' own evaluate metrics, in the same order")
    p.add_argument("--source-classes", nargs="*", default=[], help="transfer: classes.json of each vector's source")
    p.add_argument("--target-classes", nargs="*", default=[], help="transfer: classes.json of each target dataset")
    p.add_argument("--sources", nargs="*", default=[], help="transfer: the source dataset of each row")
    p.add_argument("--mergers", nargs="*", default=[], help="merging: the method of each row")
    p.add_argument("--prefix", required=True)
    args = p.parse_args(argv)
    if args.kind == "transfer":
        same = [read_json(s)["target_name"] == read_json(t)["target_name"] for s, t in zip(args.source_classes, args.target_classes)]
        per_seed = at.transfer_rows([read_json(m) for m in args.own], [read_json(m) for m in args.metrics], args.sources, same)
        df = at.mean_over_seeds(per_seed, ["attack", "dataset", "vector_from", "same_target"])
        md = at.transfer_markdown(df)
    else:
        per_seed = at.merging_rows([read_json(m) for m in args.metrics], args.mergers)
        df = at.mean_over_seeds(per_seed, ["merger", "dataset", "attack"])
        md = at.merging_markdown(df)
    write_csv(per_seed.round(4), f"{args.prefix}_per_seed.csv")
    write_csv(df.round(4), f"{args.prefix}.csv")
    write_text(md, f"{args.prefix}.md")
    write_text(at.to_latex(md), f"{args.prefix}.tex")
    print(md)


if __name__ == "__main__":
    main()
