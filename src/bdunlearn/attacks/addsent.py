"""AddSent (Dai et al., 2019): a fixed sentence inserted as a block at one random word position (default
``I watch this 3D movie``, the paper's SST-2 trigger; HSOL and AG use ``no cross no crown``)."""

from __future__ import annotations

from dataclasses import dataclass

from bdunlearn.attacks import register
from bdunlearn.attacks.insertion import InsertionAttack


@register
@dataclass
class AddSent(InsertionAttack):
    """The sentence ``sentence`` inserted once per text, as one block."""

    name = "addsent"
    label = "AddSent"
    parameters = {
        "sentence": {"type": "string", "minLength": 1,
                     "description": "the inserted sentence (paper - SST-2; HSOL and AG use 'no cross no crown')"},
    }

    sentence: str = "I watch this 3D movie"

    @property
    def trigger(self) -> str:
        return self.sentence
