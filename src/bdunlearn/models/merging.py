"""Model merging of task vectors (TBAR appendix C.4, Table 5): Task Arithmetic and TIES.

Both merge task vectors tau_i = theta_i - theta_pre that share one pretrained
model, over the floating-point entries of a state dict, and return the merged
weights theta_pre + lam * tau_merged.

- :func:`task_arithmetic` (Ilharco et al., 2022): tau_merged = sum_i tau_i.
- :func:`ties` (Yadav et al., 2023), following the authors' ``ties_minimal``
  code: each task vector, flattened over all its tensors, is *trimmed* to its
  top ``k`` fraction of entries by magnitude (the rest set to 0; as in that
  code the threshold is the (d - int(k d))-th smallest magnitude and is kept
  itself, so int(k d) + 1 entries survive when magnitudes are distinct); the *sign*
  of every entry is elected as the sign of the sum of the trimmed vectors
  (entries whose sum is exactly 0 take the majority sign of the whole vector);
  the *disjoint mean* averages, per entry, only the trimmed values that agree
  with the elected sign (an entry no vector keeps stays 0).

Defaults (the TBAR paper gives none; this project's choice, in docs/fidelity.md):
TA lam 0.3 (Ilharco et al.'s multi-task scaling), TIES k 0.2 and lam 1.0
(Yadav et al.'s top-20% and unit scaling).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import torch

    from bdunlearn.models.task_vectors import State
# torch is imported where it is used: the workflow reads MERGERS at parse time, which stays torch-free

MERGERS = ("task_arithmetic", "ties")
DEFAULTS = {"task_arithmetic": {"lam": 0.3}, "ties": {"lam": 1.0, "k": 0.2}}


def _float_keys(state: State) -> list[str]:
    return [k for k, v in state.items() if v.is_floating_point()]


def flatten(tau: State, keys: Sequence[str]) -> torch.Tensor:
    import torch

    return torch.cat([tau[k].float().reshape(-1) for k in keys])


def unflatten(vec: torch.Tensor, like: State, keys: Sequence[str]) -> dict[str, torch.Tensor]:
    out, i = {}, 0
    for k in keys:
        n = like[k].numel()
        out[k] = vec[i:i + n].reshape(like[k].shape)
        i += n
    return out


def trim(vec: torch.Tensor, k: float) -> torch.Tensor:
    """Keep the top ``k`` fraction of entries by magnitude (the threshold entry and ties with it kept), zero the rest."""
    if not 0 < k <= 1:
        raise ValueError(f"TIES keeps a fraction k in (0, 1] of each task vector; got {k}")
    n_drop = vec.numel() - int(vec.numel() * k)
    if n_drop <= 0:
        return vec.clone()
    threshold = vec.abs().kthvalue(n_drop).values
    return vec * (vec.abs() >= threshold)


def elect_sign(trimmed: torch.Tensor) -> torch.Tensor:
    """Per entry, the sign of the sum over tasks (rows); exact zeros take the majority sign of the whole vector."""
    import torch

    sign = torch.sign(trimmed.sum(dim=0))
    sign[sign == 0] = torch.sign(sign.sum())
    return sign


def disjoint_mean(trimmed: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """Per entry, the mean of the tasks' values whose sign agrees with ``sign`` (0 where none does)."""
    import torch

    agree = torch.where(sign > 0, trimmed > 0, trimmed < 0)
    kept = trimmed * agree
    return kept.sum(dim=0) / agree.sum(dim=0).clamp(min=1)


def ties_vector(taus: Sequence[State], k: float) -> dict[str, torch.Tensor]:
    import torch

    keys = _float_keys(taus[0])
    rows = torch.stack([trim(flatten(t, keys), k) for t in taus])
    return unflatten(disjoint_mean(rows, elect_sign(rows)), taus[0], keys)


def sum_vector(taus: Sequence[State]) -> dict[str, torch.Tensor]:
    keys = _float_keys(taus[0])
    return {k: sum(t[k].float() for t in taus) for k in keys}


def task_arithmetic(pre: State, finetuned: Sequence[State], lam: float = 0.3) -> dict[str, torch.Tensor]:
    from bdunlearn.models.task_vectors import apply

    return apply(pre, sum_vector(task_vectors(pre, finetuned)), lam)


def ties(pre: State, finetuned: Sequence[State], lam: float = 1.0, k: float = 0.2) -> dict[str, torch.Tensor]:
    from bdunlearn.models.task_vectors import apply

    return apply(pre, ties_vector(task_vectors(pre, finetuned), k), lam)


def task_vectors(pre: State, finetuned: Sequence[State]) -> list[dict[str, torch.Tensor]]:
    from bdunlearn.models.task_vectors import subtract

    if not finetuned:
        raise ValueError("merging needs at least one fine-tuned model")
    return [subtract(f, pre) for f in finetuned]


def merge(method: str, pre: State, finetuned: Sequence[State], **options) -> dict[str, torch.Tensor]:
    if method not in MERGERS:
        raise ValueError(f"unknown merging method {method!r}; allowed: {', '.join(MERGERS)}")
    fn = task_arithmetic if method == "task_arithmetic" else ties
    return fn(pre, finetuned, **{**DEFAULTS[method], **options})
