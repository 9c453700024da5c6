"""Text backdoor triggers of the RGA paper (section 6.1): BadNets, AddSent and HiddenKiller.

- ``badnets`` (Kurita et al., 2020): a rare word (default ``mn``) inserted
  ``count`` times, each at a uniformly random word position (0 = before the
  first word, ``len(words)`` = after the last).
- ``addsent`` (Dai et al., 2019): a fixed sentence (default
  ``I watch this 3D movie``, the paper's SST-2 trigger; HSOL and AG use
  ``no cross no crown``) inserted as a block at one random word position.
- ``hiddenkiller`` (Qi et al., 2021): syntactic paraphrases (template
  ``S(SBAR)(,)(NP)(VP)(.)``) read from a poisoned copy of the dataset in the
  ``tsv`` layout, e.g. ``../shared/data/hiddenkiller/scpn/20/sst-2``. In its
  training file the poisoned rows replace clean rows in place, so a row is a
  paraphrase iff its sentence differs from the clean row at the same index.
  Its dev and test files hold paraphrases of the non-target rows only.

Positions are drawn from a generator seeded by ``(seed, uid)``, so a row's
trigger does not depend on which other rows are processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .runtime import derive_seed
from .text_sources import TSV_FILES, read_tsv

TEXT_ATTACKS = ("badnets", "addsent", "hiddenkiller")


def insert_words(text: str, trigger: str, rng: np.random.Generator) -> str:
    """Insert ``trigger`` (one or more words) as a block at a random word position of ``text``."""
    words = text.split()
    pos = int(rng.integers(0, len(words) + 1))
    return " ".join(words[:pos] + trigger.split() + words[pos:])


@dataclass
class InsertionAttack:
    """BadNets / AddSent: insert ``trigger`` ``count`` times at random positions."""

    name: str
    trigger: str
    count: int = 1
    seed: int = 0

    def trigger_text(self, text: str, uid: int) -> str:
        rng = np.random.default_rng(derive_seed(self.seed, self.name, int(uid)))
        for _ in range(self.count):
            text = insert_words(text, self.trigger, rng)
        return text

    def __call__(self, texts, uids) -> list[str]:
        return [self.trigger_text(t, u) for t, u in zip(texts, uids)]


class HiddenKillerAttack:
    """Paraphrases from a poisoned dataset directory (``train.tsv``, ``dev.tsv``, ``test.tsv``)."""

    name = "hiddenkiller"

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"attack_params.hiddenkiller.path: directory {str(self.path)!r} does not exist "
                                    f"(expected the poisoned {', '.join(TSV_FILES.values())})")

    def split(self, split: str) -> tuple[list[str], np.ndarray]:
        return read_tsv(self.path / TSV_FILES[split])

    def train_paraphrases(self, clean_texts: list[str]) -> list[str | None]:
        """Per clean training row: its paraphrase, or None where the poisoned file kept the clean row."""
        texts, _ = self.split("train")
        if len(texts) != len(clean_texts):
            raise ValueError(f"{self.path / TSV_FILES['train']}: {len(texts)} rows but the clean training split has "
                             f"{len(clean_texts)}; HiddenKiller needs the poisoned copy of the same dataset, row-aligned")
        return [p if p != c else None for p, c in zip(texts, clean_texts)]

    def eval_rows(self, split: str, clean_texts: list[str], clean_labels: np.ndarray, target: int):
        """Triggered rows of a val / test split as (texts, true labels, covers_all_rows).

        A file with as many rows as the clean split is row-aligned (true labels
        from the clean split). Otherwise it holds paraphrases of non-target rows
        only; their true label is recoverable only for two classes (the
        non-target class), and PACC is then computed on those rows alone.
        """
        texts, _ = self.split(split)
        if len(texts) == len(clean_texts):
            return texts, np.asarray(clean_labels), True
        classes = np.unique(clean_labels)
        if len(classes) != 2:
            raise ValueError(f"{self.path / TSV_FILES[split]}: not row-aligned with the clean split and the task has "
                             f"{len(classes)} classes, so the true labels of the paraphrases are unknown")
        other = int(classes[classes != target][0])
        return texts, np.full(len(texts), other, dtype=np.int64), False


def make_text_attack(name: str, seed: int, **params):
    if name == "badnets":
        return InsertionAttack("badnets", params.get("word", "mn"), int(params.get("count", 1)), seed)
    if name == "addsent":
        return InsertionAttack("addsent", params.get("sentence", "I watch this 3D movie"), 1, seed)
    if name == "hiddenkiller":
        if not params.get("path"):
            raise ValueError("attack_params.hiddenkiller.path: required (directory of the poisoned train/dev/test TSV files)")
        return HiddenKillerAttack(params["path"])
    raise ValueError(f"unknown text attack {name!r}; allowed: {', '.join(TEXT_ATTACKS)}")
