"""What BadNets and AddSent share: a trigger (one or more words) inserted as a block at random word positions.

Positions are drawn from a generator seeded by ``(seed, attack name, uid)``,
so a row's trigger does not depend on which other rows are processed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bdunlearn.attacks.base import TextAttack


def insert_words(text: str, trigger: str, rng: np.random.Generator) -> str:
    """Insert ``trigger`` (one or more words) as a block at a random word position of ``text``."""
    words = text.split()
    pos = int(rng.integers(0, len(words) + 1))
    return " ".join(words[:pos] + trigger.split() + words[pos:])


@dataclass
class InsertionAttack(TextAttack):
    """Insert ``trigger`` ``count`` times, each at a uniformly random word position (0 = before the first word,
    ``len(words)`` = after the last). Subclasses define ``trigger`` and ``count`` from their parameters."""

    seed: int = 0

    trigger = ""
    count = 1

    def trigger_text(self, text: str, uid: int) -> str:
        from bdunlearn.workflow.runtime import derive_seed

        rng = np.random.default_rng(derive_seed(self.seed, self.name, int(uid)))
        for _ in range(int(self.count)):
            text = insert_words(text, self.trigger, rng)
        return text

    def __call__(self, texts, uids) -> list[str]:
        return [self.trigger_text(t, u) for t, u in zip(texts, uids)]
