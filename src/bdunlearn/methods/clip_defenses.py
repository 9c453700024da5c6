"""The clean-data defenses of the image-caption track (TBAR section 4, appendix B.3.1-B.3.3): fine-tune a
backdoored whole CLIP on clean image-caption pairs so that benign supervision overrides the trigger.

- ``contrastive_ft`` (B.3.3, "Contrastive-FT"): the CLIP loss, with CleanCLIP's hyperparameters.
- ``cleanclip`` (B.3.1, Bansal et al., 2023): CLIP loss + in-modal self-supervised loss on augmented views,
  lambda1 = lambda2 = 1, lr 1e-5, batch 64, 10 epochs, 50 warmup steps.
- ``roclip`` (B.3.2, Yang et al., 2023): pool matching every 2nd epoch with RoCLIP's augmentations, "their
  default hyper-parameters": those of ``BigML-CS-UCLA/RoCLIP`` @ f34a929 ``model/src/parser.py`` (24 epochs,
  batch 512, lr 5e-5, 10,000 warmup steps, a pool of 21,845 captions, matching every 2nd epoch), each image matched
  to the pool caption nearest to it; ``roclip_match: both`` is the appendix's text instead (each image to the pool
  caption nearest its own caption, and each caption to the pool image nearest its own image).

Each defense's ``recipe`` is its paper's; ``datasets.<name>.defenses.<defense>`` overrides any key of it
(:func:`resolved`). The loop and the losses: :mod:`bdunlearn.models.contrastive`,
:mod:`bdunlearn.models.clip_losses`. Torch-free at import (the workflow reads the names and recipes at parse time).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Defense:
    name: str
    label: str  # the table's row
    loss: str  # bdunlearn.models.contrastive.LOSSES
    recipe: dict = field(default_factory=dict)


_CLEANCLIP = {"epochs": 10, "batch_size": 64, "lr": 1e-5, "weight_decay": 0.1, "warmup_steps": 50}
DEFENSES: dict[str, Defense] = {d.name: d for d in (  # in Table 2's order
    Defense("contrastive_ft", "Contrastive-FT", "clip", dict(_CLEANCLIP)),
    Defense("roclip", "RoCLIP", "roclip", {"epochs": 24, "batch_size": 512, "lr": 5e-5, "weight_decay": 0.1,
                                           "warmup_steps": 10000, "roclip_pool": 21845, "roclip_every": 2}),
    Defense("cleanclip", "CleanCLIP", "cleanclip", {**_CLEANCLIP, "clip_weight": 1.0, "inmodal_weight": 1.0}),
)}
# what a defense's overrides may set (bdunlearn.models.contrastive.ContrastiveConfig's fields but the loss): the
# loop's keys, and the keys of its loss
LOOP_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "warmup_steps")
LOSS_KEYS = {"clip": (), "cleanclip": ("clip_weight", "inmodal_weight"),
             "roclip": ("roclip_pool", "roclip_every", "roclip_match")}
RECIPE_KEYS = LOOP_KEYS + tuple(k for keys in LOSS_KEYS.values() for k in keys)


def names() -> list[str]:
    return list(DEFENSES)


def get(name: str) -> Defense:
    try:
        return DEFENSES[name]
    except KeyError:
        raise ValueError(f"unknown clean-data defense {name!r}; known: {', '.join(DEFENSES)}") from None


def resolved(name: str, overrides: dict | None) -> dict:
    """The defense's full recipe: its paper's, with ``overrides`` over it, and its loss."""
    d = get(name)
    allowed = LOOP_KEYS + LOSS_KEYS[d.loss]
    bad = sorted(set(overrides or {}) - set(allowed))
    if bad:
        raise ValueError(f"defense {name}: unknown recipe key(s) {', '.join(bad)}; allowed: {', '.join(allowed)}")
    return {**d.recipe, **(overrides or {}), "loss": d.loss}


def defend(model, tokenizer, images, captions, spec, recipe: dict, device, seed: int) -> list[dict]:
    """Fine-tune ``model`` (in place) on the clean pairs with a :func:`resolved` recipe; returns the history."""
    from bdunlearn.models.contrastive import ContrastiveConfig, train_pairs

    cfg = ContrastiveConfig.from_dict(recipe)
    return train_pairs(model, tokenizer, images, captions, spec.mean, spec.std, cfg, device, seed,
                       desc=f"defend {recipe['loss']}")
