"""The poisoned forget set D_p of backdoored LLM unlearning: which forget samples carry the trigger, and where.

Training places the trigger in token space, as the authors' MUSE code does
(``BackdoorDataset``): BOS, then ``prefix`` (trigger before the text), ``infix``
(at the token midpoint of the text) or ``suffix`` (after it), or an integer k
(after the first k text tokens); the result is then cut to ``max_len`` tokens
from the left, so a suffix trigger on a sample already ``max_len`` long is cut
away, as in that code. Evaluation places it in the prompt string, as its
evaluation does: before the prompt, at the prompt's word midpoint, or after it.

Which samples: the first ``int(n * rho)`` forget samples (MUSE code, ``select:
first``) or a seeded random subset (WMDP code, ``select: random``); they leave
the clean forget set and join the retain side of eq. 2.
"""

from __future__ import annotations

import numpy as np

PLACEMENTS = ("prefix", "infix", "suffix")


def place_tokens(ids: list[int], trigger: list[int], placement) -> list[int]:
    """``ids`` (text tokens, no BOS) with the ``trigger`` tokens inserted at ``placement``."""
    if placement == "prefix":
        at = 0
    elif placement == "infix":
        at = len(ids) // 2
    elif placement == "suffix":
        at = len(ids)
    elif isinstance(placement, int) and not isinstance(placement, bool) and placement >= 0:
        at = min(placement, len(ids))
    else:
        raise ValueError(f"trigger placement {placement!r}: expected one of {PLACEMENTS} or a token index")
    return ids[:at] + trigger + ids[at:]


def place_text(text: str, trigger: str, placement: str) -> str:
    """``text`` with the ``trigger`` string before it, at its word midpoint, or after it (evaluation prompts)."""
    trigger = trigger.strip()
    if placement == "prefix":
        return f"{trigger} {text}"
    if placement == "suffix":
        return f"{text} {trigger}"
    if placement == "infix":
        words = text.split(" ")
        mid = len(words) // 2
        return " ".join(words[:mid] + [trigger] + words[mid:])
    raise ValueError(f"trigger placement {placement!r}: expected one of {PLACEMENTS}")


def poisoned_rows(n: int, rho: float, select: str, seed: int) -> np.ndarray:
    """The indices of the forget samples that carry the trigger: ``int(n * rho)`` of them, the first ones
    (``first``) or a seeded random subset (``random``), in ascending order."""
    k = int(n * rho)
    if select == "first":
        return np.arange(k)
    if select == "random":
        return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
    raise ValueError(f"poison select {select!r}: expected 'first' or 'random'")
