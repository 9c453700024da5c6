"""Evaluation metrics shared by ``search_alpha``, ``evaluate`` and ``make_table``.

All rates are percentages (0-100), as in the papers' tables.
"""

from __future__ import annotations

import torch

from .training import predict


def accuracy(preds: torch.Tensor, labels: torch.Tensor) -> float:
    """Clean accuracy (CA): percentage of predictions equal to the labels."""
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set")
    return 100.0 * float((preds == labels).float().mean())


def attack_success_rate(preds: torch.Tensor, true_labels: torch.Tensor, target: int) -> float:
    """ASR: percentage of triggered inputs whose true class is not the target that are predicted as the target.

    Inputs whose true class is the target are excluded: predicting the target
    there is correct behaviour, not a successful attack.
    """
    keep = true_labels != target
    if int(keep.sum()) == 0:
        raise ValueError("attack success rate needs at least one triggered input of a non-target class")
    return 100.0 * float((preds[keep] == target).float().mean())


def retention(after: float, before: float) -> float:
    """CA retention in percent: after / before (Table 1's grey CA percentage)."""
    return 100.0 * after / before if before else float("nan")


def removal(after: float, before: float) -> float:
    """ASR removal in percent: (before - after) / before (Table 1's grey ASR percentage)."""
    return 100.0 * (before - after) / before if before else float("nan")


def ca_asr(model, clean, triggered, target: int, device, batch_size: int = 256) -> tuple[float, float]:
    """CA of ``model`` on ``clean = (images, labels)`` and ASR on ``triggered = (images, true labels)``."""
    (x, y), (xt, yt) = clean, triggered
    return (accuracy(predict(model, x, device, batch_size), y),
            attack_success_rate(predict(model, xt, device, batch_size), yt, target))
