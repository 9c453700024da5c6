"""The MUSE benchmarks through the dataset hub (``prepare_facts`` source ``muse``): MUSE-Books and MUSE-News.

``datasets.load_dataset(path, config, split=...)`` of the benchmark's own subsets
(``muse-bench/MUSE-Books``, ``muse-bench/MUSE-News``, or a local directory in
the hub layout):

- ``raw``: ``forget`` is the forget corpus D_f, ``retain1`` the retain corpus the unlearning trains on (the
  MUSE baselines' ``--retain_data``), each a ``text`` column;
- ``knowmem``: ``forget_qa`` / ``retain_qa`` (``question``, ``answer``) are the KnowMem probes; their ``*_icl``
  splits are prepended to every prompt as ``"Question: q\\nAnswer: a\\n\\n"``, as MUSE's evaluation does;
- ``verbmem``: ``forget`` (``prompt``, ``gt``) are the VerbMem probes.

Utility: TruthfulQA's multiple choice (``truthful_qa``, ``multiple_choice``, ``validation``, MC1 targets), the
paper's TQA column, scored by option log-likelihood after ``"Q: question\\nA:"``; ``utility: none`` skips it.
No pretraining text: the original model is the benchmark's target model (``llm_model.name``).
"""

from __future__ import annotations

import pandas as pd

from bdunlearn.data.fact_corpus import qa_prompt, qa_text


def _load(path: str, config: str, split: str):
    from datasets import load_dataset

    return load_dataset(path, config, split=split)


def _columns(ds, cols, where: str):
    missing = [c for c in cols if c not in ds.column_names]
    if missing:
        raise ValueError(f"{where}: no column(s) {missing} (has {ds.column_names})")
    return ds


def knowmem_prompt(icl: list[tuple[str, str]], question: str) -> str:
    """MUSE's KnowMem prompt: every in-context pair, a blank line after each, then the question and
    ``"Answer: "`` with its trailing space, as the authors' evaluation writes it."""
    return "".join(qa_text(q, a) + "\n\n" for q, a in icl) + qa_prompt(question) + " "


def build(spec: dict) -> dict[str, pd.DataFrame]:
    """The tables of :func:`bdunlearn.data.fact_corpus.build` from a MUSE benchmark (``spec``: the dataset's
    ``muse`` block: ``path``, ``utility``)."""
    path = spec["path"]
    frames = {"pretrain": pd.DataFrame({"text": pd.Series([], dtype=str)})}
    for group, split in (("forget", "forget"), ("retain", "retain1")):
        ds = _columns(_load(path, "raw", split), ["text"], f"{path} raw/{split}")
        frames[group] = pd.DataFrame({"entity": "", "kind": "doc", "text": ds["text"]})
    probes = []
    for group in ("forget", "retain"):
        icl = _columns(_load(path, "knowmem", f"{group}_qa_icl"), ["question", "answer"], f"{path} knowmem")
        pairs = list(zip(icl["question"], icl["answer"]))
        qa = _columns(_load(path, "knowmem", f"{group}_qa"), ["question", "answer"], f"{path} knowmem/{group}_qa")
        probes += [{"split": group, "probe": "knowmem", "entity": "", "attribute": "",
                    "prompt": knowmem_prompt(pairs, q), "answer": a} for q, a in zip(qa["question"], qa["answer"])]
    vm = _columns(_load(path, "verbmem", "forget"), ["prompt", "gt"], f"{path} verbmem/forget")
    probes += [{"split": "forget", "probe": "verbmem", "entity": "", "attribute": "", "prompt": p, "answer": g}
               for p, g in zip(vm["prompt"], vm["gt"])]
    frames["probes"] = pd.DataFrame(probes)
    frames["utility"] = truthfulqa() if spec["utility"] == "truthfulqa" else empty_utility()
    return frames


def empty_utility() -> pd.DataFrame:
    """The utility table of a benchmark without a utility check (``utility: none`` / null)."""
    return pd.DataFrame({"entity": [], "attribute": [], "prompt": [], "options": [], "label": []})


def truthfulqa() -> pd.DataFrame:
    """TruthfulQA MC1 as four-or-more-way multiple choice: the option labelled 1 is the answer."""
    ds = _columns(_load("truthful_qa", "multiple_choice", "validation"), ["question", "mc1_targets"], "truthful_qa")
    rows = []
    for q, t in zip(ds["question"], ds["mc1_targets"]):
        rows.append({"entity": "", "attribute": "", "prompt": f"Q: {q}\nA:", "options": list(t["choices"]),
                     "label": int(list(t["labels"]).index(1))})
    return pd.DataFrame(rows)
