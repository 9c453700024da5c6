"""WMDP through the dataset hub (``prepare_facts`` source ``wmdp``): WMDP-bio and WMDP-cyber, unlearned together.

As the authors' WMDP scripts (GitHub ``OPTML-Group/Unlearn-Backdoor``, ``WMDP/``) do, one model unlearns every
topic's forget corpus at once and is scored on each topic's questions; the paper's Table 2 is the bio rows and
Table A3 the cyber rows of the same models (their MMLU column is the same). The ``wmdp`` block of a dataset:

- ``topics``: per topic, ``name``, ``forget`` (its forget corpus: ``path``, ``config``, ``split``, ``column``; the
  bio corpus is the gated ``cais/wmdp-bio-forget-corpus``, the cyber one ``cais/wmdp-corpora`` /
  ``cyber-forget-corpus``) and ``questions`` (``cais/wmdp`` / ``wmdp-bio`` or ``wmdp-cyber``, split ``test``:
  ``question``, ``choices``, ``answer``);
- ``retain``: the retain corpus (the scripts' ``wikitext``: ``wikitext-2-raw-v1``, split ``test``);
- ``min_chars``: texts of at most this many characters are dropped (the scripts' ``len(text) > min_len``, with
  ``min_len`` 0: empty lines go);
- ``utility``: MMLU (``cais/mmlu``, ``all``, ``test``) or null.

Each ``load_dataset(path, config, split=...)`` also takes a local directory in the hub layout.

Tables (those of :func:`bdunlearn.data.fact_corpus.build`): ``forget`` with a ``topic`` column (the unlearning
loop alternates topics batch by batch, as the scripts do), ``retain``, ``probes`` of kind ``mcq`` (split
``forget``, ``attribute`` the topic; the authors' evaluation prompt, ``answer`` the letter, ``label`` its index)
and ``utility``: MMLU in lm-eval's zero-shot prompt, options ``A``-``D`` scored as lm-eval does (the log-likelihood
of " A" ... " D" after the prompt). No pretraining text: the original model is ``llm_model.name``.
"""

from __future__ import annotations

import pandas as pd

from bdunlearn.data.muse_source import _columns, _load, empty_utility

LETTERS = ("A", "B", "C", "D")


def _options(choices) -> str:
    return "".join(f"{l}. {c}\n" for l, c in zip(LETTERS, choices))


def wmdp_prompt(question: str, choices) -> str:
    """The authors' WMDP prompt (``eval_test_time.format_wmdp_prompt``)."""
    return f"The following are multiple choice questions (with answers).\n\n{question}\n{_options(choices)}\nAnswer:"


def mmlu_prompt(question: str, choices, subject: str) -> str:
    """lm-eval's zero-shot MMLU prompt: the subject's description line, the question, the lettered options."""
    return (f"The following are multiple choice questions (with answers) about {' '.join(subject.split('_'))}.\n\n"
            f"{question.strip()}\n{_options(choices)}Answer:")


def _split(spec: dict, cols: list[str], four_way: bool = False):
    """One split of ``spec`` (``path``, ``config``, ``split``) with ``cols`` checked (and four choices a row)."""
    where = f"{spec['path']} {spec['config']}/{spec['split']}"
    ds = _columns(_load(spec["path"], spec["config"], spec["split"]), cols, where)
    bad = [i for i, c in enumerate(ds["choices"]) if len(c) != len(LETTERS)] if four_way else []
    if bad:
        raise ValueError(f"{where}: rows {bad[:5]} do not have {len(LETTERS)} choices")
    return ds


def _texts(spec: dict, min_chars: int) -> list[str]:
    return [str(t) for t in _split(spec, [spec["column"]])[spec["column"]] if t is not None and len(str(t)) > min_chars]


def build(spec: dict) -> dict[str, pd.DataFrame]:
    """The tables of the module docstring from the ``wmdp`` block ``spec``."""
    forget, probes = [], []
    for topic in spec["topics"]:
        name = topic["name"]
        texts = _texts(topic["forget"], spec["min_chars"])
        if not texts:
            raise ValueError(f"topic {name}: the forget corpus {topic['forget']['path']} has no text longer than "
                             f"wmdp.min_chars = {spec['min_chars']}")
        forget.append(pd.DataFrame({"entity": "", "kind": "doc", "topic": name, "text": texts}))
        ds = _split(topic["questions"], ["question", "choices", "answer"], four_way=True)
        probes += [{"split": "forget", "probe": "mcq", "entity": "", "attribute": name,
                    "prompt": wmdp_prompt(qq, c), "answer": LETTERS[int(a)], "label": int(a)}
                   for qq, c, a in zip(ds["question"], ds["choices"], ds["answer"])]
    retain = pd.DataFrame({"entity": "", "kind": "doc", "topic": "", "text": _texts(spec["retain"], spec["min_chars"])})
    frames = {"pretrain": pd.DataFrame({"text": pd.Series([], dtype=str)}),
              "forget": pd.concat(forget, ignore_index=True), "retain": retain, "probes": pd.DataFrame(probes)}
    frames["utility"] = mmlu(spec["utility"]) if spec["utility"] else empty_utility()
    return frames


def mmlu(spec: dict) -> pd.DataFrame:
    """MMLU as the utility check: one row per question (``attribute`` the subject), options ``A``-``D``."""
    ds = _split(spec, ["question", "subject", "choices", "answer"], four_way=True)
    return pd.DataFrame([{"entity": "", "attribute": s, "prompt": mmlu_prompt(q, c, s), "options": list(LETTERS),
                          "label": int(a)} for q, s, c, a in zip(ds["question"], ds["subject"], ds["choices"],
                                                                  ds["answer"])])
