"""Task-vector arithmetic over state dicts (TBAR eqs. 1-3), modality-agnostic.

A task vector is a mapping name -> tensor of weight differences. Only
floating-point entries take part; integer buffers (e.g. BatchNorm counters) are
left to the base model.
"""

from __future__ import annotations

from typing import Mapping

import torch

State = Mapping[str, torch.Tensor]


def _check_keys(a: State, b: State, what: str) -> None:
    ka = {k for k, v in a.items() if v.is_floating_point()}
    kb = {k for k, v in b.items() if v.is_floating_point()}
    if ka != kb:
        diff = sorted(ka ^ kb)
        raise KeyError(f"{what}: state dicts differ in {len(diff)} floating-point keys, e.g. {diff[:3]}")


def subtract(finetuned: State, base: State) -> dict[str, torch.Tensor]:
    """tau = theta_finetuned - theta_base (eq. 1 / eq. 2)."""
    _check_keys(finetuned, base, "task vector")
    return {k: (finetuned[k].float() - base[k].float()) for k, v in base.items() if v.is_floating_point()}


def apply(base: State, tau: State, alpha: float) -> dict[str, torch.Tensor]:
    """theta = theta_base + alpha * tau (eq. 3 with a negative alpha negates the task)."""
    _check_keys(base, tau, "apply")
    out = {}
    for k, v in base.items():
        if v.is_floating_point():
            out[k] = (v.float() + alpha * tau[k].float()).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def negate(base: State, tau: State, alpha: float) -> dict[str, torch.Tensor]:
    """TBAR's task negation: theta_clean = theta_backdoored - alpha * tau_trigger (eq. 3)."""
    return apply(base, tau, -alpha)


def apply_inplace(target: Mapping[str, torch.Tensor], base: State, tau: State, alpha: float) -> None:
    """Write ``base + alpha * tau`` into the tensors of ``target`` without allocating new ones."""
    with torch.no_grad():
        for k, t in target.items():
            if k in tau:
                torch.add(base[k], tau[k], alpha=alpha, out=t)


def norm(tau: State) -> float:
    return float(torch.sqrt(sum((v.float() ** 2).sum() for v in tau.values())))
