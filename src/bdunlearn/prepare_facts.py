"""Rule ``prepare_facts``: an LLM-unlearning benchmark to Parquet (the LLM track, backdoors in LLM unlearning).

Outputs ``pretrain`` (the stand-in's pretraining text), ``forget`` and ``retain``
(the unlearning corpora D_f and D_r: ``entity, kind, text``), ``probes``
(KnowMem question-answer and VerbMem continuation probes of both corpora) and
``utility`` (four-way multiple choice), and ``facts.json`` (row counts).
Source ``facts``: the offline corpus of facts about fictional people
(:mod:`bdunlearn.data.fact_corpus`); ``muse``: MUSE-Books or MUSE-News through
the dataset hub (:mod:`bdunlearn.data.muse_source`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from bdunlearn.data import fact_corpus, muse_source
from bdunlearn.data.io import write_json, write_parquet
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    setup(prm["seed"], args.threads, "cpu")
    if prm["source"] == "muse":
        frames = muse_source.build(prm["muse"])
    else:
        frames = fact_corpus.build(prm["facts"], prm["seed"])
    out = Path(args.outdir)
    for name, df in frames.items():
        write_parquet(df, out / f"{name}.parquet")
        logging.getLogger(__name__).info("%s: %d rows", name, len(df))
    counts = {name: len(df) for name, df in frames.items()}
    counts["probes_by_split"] = frames["probes"].groupby(["split", "probe"]).size().rename("n").reset_index() \
        .to_dict(orient="records")
    write_json({"source": prm["source"], **counts}, out / "facts.json")


if __name__ == "__main__":
    main()
