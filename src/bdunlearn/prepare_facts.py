"""Rule ``prepare_facts``: an LLM-unlearning benchmark to Parquet (the LLM track, backdoors in LLM unlearning).

Outputs ``pretrain`` (the stand-in's pretraining text), ``forget`` and ``retain``
(the unlearning corpora D_f and D_r: ``entity, kind, text``), ``probes``
(KnowMem question-answer and VerbMem continuation probes of both corpora) and
``utility`` (four-way multiple choice), and ``facts.json`` (row counts).
Source ``facts``: the offline corpus of facts about fictional people
(:mod:`bdunlearn.data.fact_corpus`); ``muse``: MUSE-Books or MUSE-News through
the dataset hub (:mod:`bdunlearn.data.muse_source`); ``wmdp``: WMDP-bio and -cyber with MMLU
(:mod:`bdunlearn.data.wmdp_source`), multiple-choice probes.
"""

from __future__ import annotations

from bdunlearn.data import fact_corpus, muse_source, wmdp_source
from bdunlearn.workflow.cli import prepare_main


def prepare(prm: dict):
    """``(tables, counts)`` of the configured source."""
    src = prm["source"]
    frames = fact_corpus.build(prm["facts"], prm["seed"]) if src == "facts" else \
        {"muse": muse_source, "wmdp": wmdp_source}[src].build(prm[src])
    counts = {name: len(df) for name, df in frames.items()}
    counts["probes_by_split"] = frames["probes"].groupby(["split", "probe"]).size().rename("n").reset_index() \
        .to_dict(orient="records")
    if "topic" in frames["forget"]:
        by_topic = frames["forget"]["topic"].value_counts(sort=False)
        counts["forget_by_topic"] = {str(k): int(v) for k, v in by_topic.items()}
    return frames, {"source": prm["source"], **counts}


def main(argv=None) -> None:
    prepare_main(__doc__, prepare, argv, meta_name="facts.json")


if __name__ == "__main__":
    main()
