"""BadNets for text (Kurita et al., 2020): a rare word (default ``mn``) inserted ``count`` times, each at a
uniformly random word position."""

from __future__ import annotations

from dataclasses import dataclass

from bdunlearn.attacks import register
from bdunlearn.attacks.insertion import InsertionAttack


@register
@dataclass
class BadNets(InsertionAttack):
    """The rare word ``word`` inserted ``count`` times per text."""

    name = "badnets"
    label = "BadNets"
    parameters = {
        "word": {"type": "string", "minLength": 1, "description": "the rare trigger word"},
        "count": {"type": "integer", "minimum": 1, "description": "insertions per text"},
    }

    word: str = "mn"
    count: int = 1

    @property
    def trigger(self) -> str:
        return self.word
