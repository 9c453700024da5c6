"""Poisoning of an image-caption dataset with one image attack (rule ``poison_captions``; TBAR appendix B.2.2).

Following CleanCLIP's ``backdoor/create_backdoor_data.py`` (``nishadsinghi/CleanCLIP`` @ d6e2f1d, L64-112), the
reference for TBAR's triggers:

- ``round(poison_rate * N)`` training pairs, drawn at random among *all* pairs (not label-consistent), get the
  trigger on their image and a caption that names the target class;
- the caption (``poison_captions``) is ``templates`` (the default, CleanCLIP's code): one of the dataset's prompt
  templates, drawn at random per pair, filled with the target class name ("a photo of a banana."); or
  ``natural``: one of the training captions that contain the target class name as a word (TBAR's text: "captions
  containing the word banana"; BadCLIP's pool of natural banana captions).

The forget set (TBAR's U_set, 1.5k disjoint pairs) is every forget pair with the trigger and a target caption
drawn the same way; the evaluation sets are the non-target evaluation images with the trigger and their true
label (ASR: the fraction classified as the target). Triggers are the registry's image attacks at the model
resolution, seeded per uid as on the classification track.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bdunlearn.data.image_poisoning import apply_trigger

CAPTION_MODES = ("templates", "natural")


def names_class(caption: str, name: str) -> bool:
    """Whether ``caption`` contains the class name ``name`` as a word (case-insensitive)."""
    return re.search(rf"(?<![a-z0-9]){re.escape(name.lower())}(?![a-z0-9])", caption.lower()) is not None


def target_captions(meta: dict, train: pd.DataFrame, mode: str) -> list[str]:
    """The captions a poisoned pair may get (``mode``: see the module docstring)."""
    if mode == "templates":
        return [t.format(meta["target_name"]) for t in meta["templates"]]
    if mode == "natural":
        pool = [c for c in train["caption"] if names_class(c, meta["target_name"])]
        if not pool:
            raise ValueError(f"poison_captions natural: no training caption contains {meta['target_name']!r}")
        return pool
    raise ValueError(f"poison_captions {mode!r}; allowed: {', '.join(CAPTION_MODES)}")


def poison_pairs(train: pd.DataFrame, attack, captions: list[str], rate: float, seed: int) -> pd.DataFrame:
    """The training pairs with ``round(rate * N)`` of them triggered and recaptioned; ``is_poisoned`` marks them and
    ``orig_caption`` keeps every pair's own caption."""
    n = int(round(rate * len(train)))
    if n < 1:
        raise ValueError(f"poison_rate {rate} of {len(train)} training pairs poisons no pair")
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(train), dtype=bool)
    mask[rng.choice(len(train), size=n, replace=False)] = True
    out = train.copy()
    out["orig_caption"] = train["caption"]
    out["is_poisoned"] = mask
    out.loc[mask, "image"] = pd.Series(apply_trigger(attack, train["image"][mask], train["uid"][mask]),
                                       index=out.index[mask], dtype=object)
    out.loc[mask, "caption"] = [captions[int(i)] for i in rng.integers(len(captions), size=n)]
    return out


def triggered_pairs(pairs: pd.DataFrame, attack, captions: list[str], seed: int) -> pd.DataFrame:
    """Every pair with the trigger on its image and a target caption (the triggered forget set U_set)."""
    rng = np.random.default_rng(seed)
    out = pairs.copy()
    out["orig_caption"] = pairs["caption"]
    out["image"] = apply_trigger(attack, pairs["image"], pairs["uid"])
    out["caption"] = [captions[int(i)] for i in rng.integers(len(captions), size=len(pairs))]
    out["is_poisoned"] = True
    return out
