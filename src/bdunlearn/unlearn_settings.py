"""Settings of the gradient-based unlearning methods (GA, NPO, RGA): the config keys each one reads.

Torch-free, so the Snakefile can import it at parse time: each unlearning
job's ``params`` carry only the keys its method reads (:func:`method_keys`),
and changing, say, ``unlearn.rga_beta`` reruns the RGA jobs alone.

The defaults of the keys where the RGA authors' code and the paper's text
differ come from the config's ``fidelity`` preset (``bdunlearn.fidelity``);
``docs/fidelity.md`` lists each difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# read by GA, NPO and RGA alike
COMMON_KEYS = ("epochs", "snapshots", "batch_size", "lr", "optimizer", "weight_decay", "grad_clip",
               "fresh_optimizer", "retain_pairing", "save_snapshot_weights")
OWN_KEYS = {"ga": (), "npo": ("npo_beta",), "rga": ("rga_alpha", "rga_beta", "rga_kl", "rga_l2", "rga_l2_scope")}


def method_keys(method: str) -> tuple[str, ...]:
    """The ``unlearn`` config keys that ``method`` (ga, npo or rga) reads."""
    if method not in OWN_KEYS:
        raise ValueError(f"unknown gradient unlearning method {method!r}; allowed: {', '.join(OWN_KEYS)}")
    return COMMON_KEYS + OWN_KEYS[method]


@dataclass
class UnlearnConfig:
    """One run's settings; the defaults are the ``reference`` fidelity preset (the RGA authors' code)."""

    epochs: int = 30
    snapshots: list = field(default_factory=lambda: [10, 20, 30])
    batch_size: int = 32
    lr: float = 2e-5
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0
    fresh_optimizer: bool = True  # a new optimizer at every epoch (authors' code)
    retain_pairing: str = "random"  # random: a clean batch drawn at random per forget batch; cycle: a reshuffled pass
    npo_beta: float = 1.0
    rga_alpha: float = 2.0
    rga_beta: float = 0.05
    rga_kl: str = "reference_current"  # KL(f_ref || f_theta) as the code computes it; current_reference: eq. 7
    rga_l2: str = "per_tensor"  # sum of per-tensor norms (code); global: one norm over all tensors (eq. 6)
    rga_l2_scope: str = "encoder"  # encoder: the classification head left out (code); all: every editable tensor
    save_snapshot_weights: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "UnlearnConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
