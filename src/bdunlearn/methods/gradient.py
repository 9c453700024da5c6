"""Gradient-based unlearning methods (GA, NPO, RGA and the like): their shared settings and base class.

A gradient method is a loss on one forget batch and one retain batch; the
training loop around it (:func:`bdunlearn.methods.gradient_loop.unlearn`) is
the same for all: per epoch one pass over the forget set in seeded random
batches, each paired with a retain batch, then the forget-set loss (Fig. 4),
and an evaluation at each ``unlearn.snapshots`` epoch. A new one subclasses
:class:`GradientMethod` and implements :meth:`GradientMethod.loss`.

The loop's settings (:class:`UnlearnConfig`) default to the ``reference``
fidelity preset, the RGA authors' code (GitHub xingyizhao/RGA); where it and
the paper's text differ, the config chooses (``docs/fidelity.md``). Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bdunlearn.methods.base import Method

# the loop's keys, read by every gradient method
COMMON_KEYS = ("epochs", "snapshots", "batch_size", "lr", "optimizer", "weight_decay", "grad_clip",
               "fresh_optimizer", "retain_pairing", "save_snapshot_weights")


@dataclass
class UnlearnConfig:
    """The loop's settings; the defaults are the ``reference`` fidelity preset (the RGA authors' code)."""

    epochs: int = 30
    snapshots: list = field(default_factory=lambda: [10, 20, 30])
    batch_size: int = 32
    lr: float = 2e-5
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0
    fresh_optimizer: bool = True  # a new optimizer at every epoch (authors' code)
    retain_pairing: str = "random"  # random: a clean batch drawn at random per forget batch; cycle: a reshuffled pass
    save_snapshot_weights: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "UnlearnConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class Batch:
    """One step's tensors: logits and labels of the forget and retain batches, and the reference
    (backdoored) model's log-probabilities on the forget rows (``uses_reference`` methods, else None)."""

    forget_logits: object
    forget_y: object
    clean_logits: object
    clean_y: object
    ref_logp: object = None


class GradientMethod(Method):
    """A method that unlearns by gradient steps on a loss of forget and retain batches.

    ``uses_reference``: the loss needs the backdoored model's probabilities on the forget rows
    (computed once, before unlearning, in eval mode). ``setup`` runs once before the loop and returns the
    state ``loss`` receives (e.g. RGA's tensors of theta_base).
    """

    family = "gradient"
    per_epoch = True
    uses_reference = False

    keys = COMMON_KEYS

    def setup(self, model, named: dict, base_state: dict | None, hp: dict, device) -> dict:
        return {}

    def loss(self, b: Batch, hp: dict, state: dict):
        """``(loss tensor, {name: float})``: the floats are averaged over the epoch's steps into the history."""
        raise NotImplementedError

    def run(self, job) -> dict:
        from bdunlearn.methods.gradient_loop import run_gradient_method

        return run_gradient_method(self, job)
