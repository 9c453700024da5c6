"""Gradient-based backdoor unlearning (RGA paper, sections 3-5): GA, NPO and RGA losses and their training loop.

With a forget set D_p (detected or true poisoned rows, with their poisoned
labels y_p) and the remaining clean rows D_c, per step:

- ``ga``  (eq. 3):  L = CE(D_c) - CE(D_p)
- ``npo`` (Zhang et al., 2024, with the same retain term):
  L = CE(D_c) + (2 / beta) * mean log(1 + (p_theta(y_p|x_p) / p_ref(y_p|x_p))^beta),
  p_ref the backdoored model; the authors' ``-logsigmoid(beta (CE - CE_ref)) * 2 / beta``
  is the same expression.
- ``rga`` (eqs. 6-7): L = -lambda * CE(D_p) + CE(D_c) + beta * ||theta - theta_base||,
  lambda = exp(-alpha * KL), computed per batch from the forward pass with no
  gradient through lambda.

The reference is the authors' code (GitHub xingyizhao/RGA, ``util.py`` and
``bert_unlearn.py``); where it differs from the printed equations, both are
implemented and the config chooses (``unlearn.*`` keys, preset by
``fidelity``; ``docs/fidelity.md``):

- ``rga_kl``: ``reference_current`` = KL(f_ref || f_theta), what
  ``F.kl_div(log_softmax(current), softmax(reference), reduction="batchmean")``
  computes (code); ``current_reference`` = KL(f_theta || f_ref) as eq. 7 is
  printed. Both sum over classes and average over the batch's rows.
- ``rga_l2``: ``per_tensor`` = sum over tensors of ``torch.norm(p - p_base)``
  (code); ``global`` = one norm over all tensors (eq. 6). ``rga_l2_scope``:
  ``encoder`` leaves the classification head out (code: ``model.bert``), ``all``
  takes every editable tensor.
- optimizer: AdamW (torch's weight decay 0.01), gradient-norm clipping at 1.0
  and a new optimizer at every epoch (code) or Adam without clipping, one
  optimizer for the run (``optimizer``, ``weight_decay``, ``grad_clip``,
  ``fresh_optimizer``).
- ``retain_pairing``: ``random`` draws, for each forget batch, one of the retain
  set's batches uniformly with replacement (code: ``random.choice(list(retain_loader))``);
  ``cycle`` walks a seeded permutation of D_c, reshuffled when it runs out
  (this project's earlier choice; the paper does not say).

Choices neither states: an epoch is one pass over the forget set in seeded
random batches of ``batch_size`` (the code walks it in file order); the
backdoored model's probabilities (RGA's and NPO's reference) are computed once,
before unlearning, in eval mode, while training steps run in train mode
(dropout on), as in the code; theta_base is the weights backdoor fine-tuning
started from (the pretrained encoder, as in the code).
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import torch
import torch.nn.functional as F

from .runtime import derive_seed
from .training import FinetuneConfig, make_optimizer, map_rows, progress
from .unlearn_settings import UnlearnConfig

log = logging.getLogger(__name__)
METHODS = ("ga", "npo", "rga")


def ga_loss(clean_logits, clean_y, forget_logits, forget_y) -> torch.Tensor:
    """Eq. 3: clean cross-entropy minus forget-set cross-entropy."""
    return F.cross_entropy(clean_logits, clean_y) - F.cross_entropy(forget_logits, forget_y)


def npo_term(forget_logits, forget_y, ref_logp_y, beta: float) -> torch.Tensor:
    """(2 / beta) * mean log(1 + (p_theta(y|x) / p_ref(y|x))^beta), written with softplus for stability."""
    logp_y = F.log_softmax(forget_logits, dim=-1).gather(1, forget_y[:, None]).squeeze(1)
    return (2.0 / beta) * F.softplus(beta * (logp_y - ref_logp_y)).mean()


def kl_to_reference(forget_logits, ref_logp, direction: str = "reference_current") -> torch.Tensor:
    """KL between the current and the reference class distributions, summed over classes, averaged over rows.

    ``reference_current``: KL(f_ref || f_theta) (the authors' ``F.kl_div`` call);
    ``current_reference``: KL(f_theta || f_ref) (eq. 7 as printed).
    """
    logp = F.log_softmax(forget_logits.float(), dim=-1)
    if direction == "reference_current":
        return (ref_logp.exp() * (ref_logp - logp)).sum(dim=-1).mean()
    if direction == "current_reference":
        return (logp.exp() * (logp - ref_logp)).sum(dim=-1).mean()
    raise ValueError(f"config key 'unlearn.rga_kl': {direction!r}; allowed: reference_current, current_reference")


def rga_lambda(forget_logits, ref_logp, alpha: float, direction: str = "reference_current") -> float:
    """Eq. 7: lambda = exp(-alpha * KL), from the forward pass, without gradient (the code: exp(-KL) ** 2)."""
    with torch.no_grad():
        return math.exp(-alpha * float(kl_to_reference(forget_logits.detach(), ref_logp, direction)))


def l2_distance(params: list[torch.Tensor], base: list[torch.Tensor], kind: str = "per_tensor") -> torch.Tensor:
    """Distance of ``params`` to ``base``: the sum of per-tensor L2 norms (``per_tensor``, the authors' code)
    or one L2 norm over all tensors together (``global``, eq. 6). Neither is squared."""
    if kind == "per_tensor":
        return sum(torch.sqrt(((p.float() - b.float()) ** 2).sum() + 1e-12) for p, b in zip(params, base))
    if kind == "global":
        sq = sum(((p.float() - b.float()) ** 2).sum() for p, b in zip(params, base))
        return torch.sqrt(sq + 1e-12)
    raise ValueError(f"config key 'unlearn.rga_l2': {kind!r}; allowed: per_tensor, global")


def reference_logprobs(model, inputs, device, batch_size: int) -> torch.Tensor:
    """Log-probabilities of the (backdoored) model on every forget row, eval mode, on the CPU."""
    return map_rows(model, inputs, device, batch_size, lambda m, x: F.log_softmax(m(x).float(), dim=-1).cpu())


def mean_ce(model, inputs, labels, device, batch_size: int) -> float:
    """Mean cross-entropy of ``model`` on a set, eval mode (the poisoned-set loss of Fig. 4)."""
    if len(labels) == 0:
        return 0.0
    logp = reference_logprobs(model, inputs, device, batch_size)
    return float(-logp.gather(1, labels.cpu().long()[:, None]).sum()) / len(labels)


class CleanBatches:
    """Clean batches in order from a seeded permutation of the retain set, reshuffled when exhausted."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.round, self.pos = n, seed, 0, 0
        self.perm = self._perm()

    def _perm(self) -> torch.Tensor:
        g = torch.Generator()
        g.manual_seed(derive_seed(self.seed, "clean", self.round))
        return torch.randperm(self.n, generator=g)

    def take(self, k: int) -> torch.Tensor:
        out = []
        while k > 0:
            if self.pos >= self.n:
                self.round, self.pos = self.round + 1, 0
                self.perm = self._perm()
            step = min(k, self.n - self.pos)
            out.append(self.perm[self.pos : self.pos + step])
            self.pos, k = self.pos + step, k - step
        return torch.cat(out)


class RandomBatches:
    """For each request, one of the retain set's fixed batches (rows in order, ``batch_size`` each, the last
    one smaller) drawn uniformly with replacement: the authors' ``random.choice(list(retain_loader))``."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.batches = torch.arange(n).split(batch_size)
        self.gen = torch.Generator()
        self.gen.manual_seed(seed)

    def take(self, k: int) -> torch.Tensor:
        return self.batches[int(torch.randint(len(self.batches), (1,), generator=self.gen))]


def retain_batches(pairing: str, n: int, batch_size: int, seed: int):
    if pairing == "random":
        return RandomBatches(n, batch_size, seed)
    if pairing == "cycle":
        return CleanBatches(n, seed)
    raise ValueError(f"config key 'unlearn.retain_pairing': {pairing!r}; allowed: random, cycle")


def unlearn(model, method: str, forget, retain, cfg: UnlearnConfig, device, seed: int,
            base_state: dict[str, torch.Tensor] | None = None,
            on_snapshot: Callable[[int], None] | None = None) -> list[dict]:
    """Run ``method`` (ga / npo / rga) for ``cfg.epochs`` epochs; returns one history row per epoch.

    ``forget`` and ``retain`` are ``(inputs, labels)``; ``base_state`` (RGA's
    theta_base) maps editable names to tensors. ``on_snapshot(epoch)`` is
    called after each epoch listed in ``cfg.snapshots``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown unlearning method {method!r}; allowed: {', '.join(METHODS)}")
    (fx, fy), (cx, cy) = forget, retain
    if len(fy) == 0:
        raise ValueError("the forget set is empty: nothing to unlearn (CUBE flagged no row?)")
    if len(cy) == 0:
        raise ValueError("the retain set is empty")
    eval_bs = max(cfg.batch_size, 64)
    model.to(device)
    ref_logp = reference_logprobs(model, fx, device, eval_bs) if method in ("npo", "rga") else None
    named = model.named_editable_parameters()
    params = list(named.values())
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    if method == "rga":
        if base_state is None:
            raise ValueError("rga needs the pretrained weights (theta_base)")
        names = regularised_names(model, named, base_state, cfg.rga_l2_scope)
        reg_params = [named[k] for k in names]
        reg_base = [base_state[k].to(device, dtype=named[k].dtype) for k in names]
    opt = make_optimizer(params, _opt_cfg(cfg))
    clean = retain_batches(cfg.retain_pairing, len(cy), cfg.batch_size, derive_seed(seed, "unlearn-clean", method))
    history = []
    bar = progress(total=cfg.epochs * math.ceil(len(fy) / cfg.batch_size), desc=f"unlearn {method}", unit="step")
    use_amp = device.type == "cuda"
    for epoch in range(1, cfg.epochs + 1):
        if cfg.fresh_optimizer and epoch > 1:
            opt = make_optimizer(params, _opt_cfg(cfg))  # the authors' code builds one per epoch
        model.train()
        g = torch.Generator()
        g.manual_seed(derive_seed(seed, "unlearn-forget", method, epoch))
        sums = {"loss": 0.0, "lambda": 0.0, "kl": 0.0, "steps": 0}
        for idx in torch.randperm(len(fy), generator=g).split(cfg.batch_size):
            cidx = clean.take(len(idx))
            xf, yf = fx[idx].to(device), fy[idx].to(device)
            xc, yc = cx[cidx].to(device), cy[cidx].to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                lf, lc = model(xf).float(), model(xc).float()
            if method == "ga":
                loss = ga_loss(lc, yc, lf, yf)
            elif method == "npo":
                ref_y = ref_logp[idx].to(device).gather(1, yf[:, None]).squeeze(1)
                loss = F.cross_entropy(lc, yc) + npo_term(lf, yf, ref_y, cfg.npo_beta)
            else:
                ref = ref_logp[idx].to(device)
                lam = rga_lambda(lf, ref, cfg.rga_alpha, cfg.rga_kl)
                sums["lambda"] += lam
                sums["kl"] += -math.log(lam) / cfg.rga_alpha if cfg.rga_alpha and lam > 0 else 0.0
                loss = (-lam * F.cross_entropy(lf, yf) + F.cross_entropy(lc, yc)
                        + cfg.rga_beta * l2_distance(reg_params, reg_base, cfg.rga_l2))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sums["loss"] += loss.item()
            sums["steps"] += 1
            bar.update(1)
        steps = max(1, sums["steps"])
        row = {"epoch": epoch, "train_loss": sums["loss"] / steps,
               "poison_loss": mean_ce(model, fx, fy, device, eval_bs)}
        if method == "rga":
            row["lambda"] = sums["lambda"] / steps
            row["kl"] = sums["kl"] / steps
        history.append(row)
        log.info("%s epoch %d: %s", method, epoch, {k: round(v, 4) for k, v in row.items()})
        if on_snapshot is not None and epoch in cfg.snapshots:
            on_snapshot(epoch)
    bar.close()
    model.eval()
    for p in params:
        p.requires_grad_(False)
    return history


def regularised_names(model, named: dict, base_state: dict, scope: str) -> list[str]:
    """The tensors of RGA's L2 term: every editable one with a base value (``all``), or those outside the
    adapter's classification head (``encoder``, the authors' ``model.bert.parameters()``)."""
    if scope not in ("encoder", "all"):
        raise ValueError(f"config key 'unlearn.rga_l2_scope': {scope!r}; allowed: encoder, all")
    head = set(model.head_parameter_names()) if scope == "encoder" else set()
    return [k for k in named if k in base_state and k not in head]


def _opt_cfg(cfg: UnlearnConfig) -> FinetuneConfig:
    return FinetuneConfig(lr=cfg.lr, weight_decay=cfg.weight_decay, optimizer=cfg.optimizer, grad_clip=cfg.grad_clip)
