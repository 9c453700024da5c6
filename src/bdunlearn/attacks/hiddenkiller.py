"""HiddenKiller (Qi et al., 2021): syntactic paraphrases (template ``S(SBAR)(,)(NP)(VP)(.)``) read from a
poisoned copy of the dataset in the ``tsv`` layout, e.g. ``../shared/data/hiddenkiller/scpn/20/sst-2``.

In its training file the poisoned rows replace clean rows in place, so a row
is a paraphrase iff its sentence differs from the clean row at the same index.
Its dev and test files hold paraphrases of the non-target rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bdunlearn.attacks import register
from bdunlearn.attacks.base import TextAttack
from bdunlearn.data.text_sources import TSV_FILES, read_tsv


@register
@dataclass
class HiddenKiller(TextAttack):
    """Paraphrases from a poisoned dataset directory (``train.tsv``, ``dev.tsv``, ``test.tsv``)."""

    name = "hiddenkiller"
    label = "HiddenKiller"
    parameters = {
        "path": {"type": ["string", "null"],
                 "description": "directory of the poisoned train/dev/test TSV files, e.g. ../shared/data/hiddenkiller/scpn/20/sst-2"},
    }
    data_dir = "path"
    data_files = tuple(TSV_FILES.values())
    paraphrases = True

    path: str | Path | None = None

    @classmethod
    def create(cls, seed, resolution, params):
        return cls(**params)  # the paraphrases are fixed: no seed

    def __post_init__(self):
        if not self.path:
            raise ValueError(f"attack_params.{self.name}.path: required (directory of the poisoned train/dev/test TSV files)")
        self.path = Path(self.path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"attack_params.{self.name}.path: directory {str(self.path)!r} does not exist "
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
