"""Fidelity presets: the RGA authors' code (``reference``) or the RGA paper's printed text (``paper``).

Where the code that produced the RGA paper's tables (GitHub xingyizhao/RGA)
and the paper's text disagree, bdunlearn implements both and the config's
top-level ``fidelity`` key picks the defaults of every such key at once;
any key set explicitly in the config wins over its preset. The presets are
filled in before schema validation (:func:`apply_fidelity`), so every job sees
plain values. ``docs/fidelity.md`` lists each item with both sides.

Torch-free: the Snakefile imports it at parse time.
"""

from __future__ import annotations

PRESETS = {
    "reference": {
        "text": {
            # util.py train(): AdamW (torch's weight decay 0.01), clip_grad_norm_ 1.0, a new optimizer per epoch
            "finetune": {"optimizer": "adamw", "weight_decay": 0.01, "grad_clip": 1.0, "fresh_optimizer": True},
            "model": {"head": "linear"},  # BertClassification: nn.Linear on last_hidden_state[:, 0]
        },
        "unlearn": {"optimizer": "adamw", "weight_decay": 0.01, "grad_clip": 1.0, "fresh_optimizer": True,
                    "retain_pairing": "random", "npo_beta": 1.0, "rga_kl": "reference_current",
                    "rga_l2": "per_tensor", "rga_l2_scope": "encoder"},
        "cube": {"variant": "reference"},
        "poison_mode": "inject",  # Data_Poisoning/README: triggered copies injected into train_clean.csv
    },
    "paper": {
        "text": {
            "finetune": {"optimizer": "adam", "weight_decay": 0.0, "grad_clip": None, "fresh_optimizer": False},
            "model": {"head": "auto"},
        },
        "unlearn": {"optimizer": "adam", "weight_decay": 0.0, "grad_clip": None, "fresh_optimizer": False,
                    "retain_pairing": "cycle", "npo_beta": 0.1, "rga_kl": "current_reference",
                    "rga_l2": "global", "rga_l2_scope": "all"},
        "cube": {"variant": "paper"},
        "poison_mode": "replace",
    },
}
DEFAULT = "reference"


def apply_fidelity(cfg: dict, merge) -> dict:
    """``cfg`` with its fidelity preset filled in under the keys it sets (``merge(base, override)``: a deep merge).

    An unknown ``fidelity`` value is left for the schema to report.
    """
    preset = PRESETS.get(cfg.get("fidelity", DEFAULT))
    if preset is None:
        return cfg
    for key in ("text", "unlearn", "cube"):
        if isinstance(cfg.get(key, {}), dict):
            cfg[key] = merge(preset[key], cfg.get(key) or {})
    for ds in (cfg.get("datasets") or {}).values():
        if isinstance(ds, dict) and ds.get("modality") == "text":
            ds.setdefault("poison_mode", preset["poison_mode"])
    return cfg
