"""Evaluation metrics shared by ``search_alpha``, ``evaluate`` and ``make_table``.

All rates are percentages (0-100), as in the papers' tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # tensors come in from the evaluation steps; the table steps import only the rates
    import torch


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


def class_accuracies(preds: torch.Tensor, labels: torch.Tensor, n_classes: int) -> list[float | None]:
    """Accuracy (percent) on each class's rows, ``None`` for a class without rows."""
    return [accuracy(preds[labels == c], labels[labels == c]) if int((labels == c).sum()) else None
            for c in range(n_classes)]


def nontarget_accuracy(preds: torch.Tensor, labels: torch.Tensor, target: int) -> float:
    """CA on the clean rows whose class is not the target: what task negation keeps of every other class (a
    negated trigger vector also pushes predictions away from the target class itself)."""
    keep = labels != target
    return accuracy(preds[keep], labels[keep])


def retention(after: float, before: float) -> float:
    """CA retention in percent: after / before (Table 1's grey CA percentage)."""
    return 100.0 * after / before if before else float("nan")


def removal(after: float, before: float) -> float:
    """ASR removal in percent: (before - after) / before (Table 1's grey ASR percentage)."""
    return 100.0 * (before - after) / before if before else float("nan")


def ca_asr(model, clean, triggered, target: int, device, batch_size: int = 256) -> tuple[float, float]:
    """CA of ``model`` on ``clean = (images, labels)`` and ASR on ``triggered = (images, true labels)``."""
    from bdunlearn.models.training import predict

    (x, y), (xt, yt) = clean, triggered
    return (accuracy(predict(model, x, device, batch_size), y),
            attack_success_rate(predict(model, xt, device, batch_size), yt, target))


def label_flip_rate(preds: torch.Tensor, true_labels: torch.Tensor, target: int) -> float:
    """LFR (RGA paper 6.1): share of triggered non-target inputs predicted as the target; the text name of ASR."""
    return attack_success_rate(preds, true_labels, target)


def detection_scores(flagged, truth) -> dict:
    """Precision, recall and F1 of flagged rows against the truly poisoned rows (RGA paper Table 7; rates in 0-1)."""
    flagged, truth = np.asarray(flagged, dtype=bool), np.asarray(truth, dtype=bool)
    tp = int((flagged & truth).sum())
    n_flag, n_true = int(flagged.sum()), int(truth.sum())
    precision = tp / n_flag if n_flag else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "n_flagged": n_flag, "n_poisoned": n_true, "true_positives": tp}


def backdoor_metrics(model, sets: dict, target: int, device, batch_size: int = 256, n_classes: int | None = None) -> dict:
    """CACC on ``sets["clean"]``, LFR on ``sets["triggered"]`` (non-target rows) and PACC on ``sets["pacc"]``.

    Each set is ``(inputs, true labels)``. PACC is the accuracy on test rows that
    carry the trigger with their labels unchanged (RGA paper 6.1); for CLIP
    studies the PACC set is the triggered non-target test rows. Rates in percent.
    ``cacc_per_class`` (class order, ``n_classes`` of them; default: up to the
    highest test label) shows where CACC went: unlearning on target-labelled
    rows (GA, TBAR) also pushes clean rows away from the target class.
    """
    from bdunlearn.models.training import predict

    (x, y) = sets["clean"]
    preds = predict(model, x, device, batch_size)
    out = {"cacc": accuracy(preds, y), "cacc_per_class": class_accuracies(preds, y, n_classes or int(y.max()) + 1)}
    out["lfr"] = label_flip_rate(predict(model, sets["triggered"][0], device, batch_size), sets["triggered"][1], target)
    out["pacc"] = accuracy(predict(model, sets["pacc"][0], device, batch_size), sets["pacc"][1])
    return out
