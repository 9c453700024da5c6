"""The training loop of every gradient method (:class:`bdunlearn.methods.gradient.GradientMethod`).

Per epoch: one pass over the forget set D_p in seeded random batches of
``batch_size``, each paired with a retain batch of D_c (``retain_pairing``),
one optimizer step on the method's loss (AdamW, gradient-norm clipping and a
new optimizer per epoch in the ``reference`` preset), then the forget-set
cross-entropy in eval mode (the poisoned-set loss of the RGA paper's Fig. 4)
and, at each ``snapshots`` epoch, the job's evaluation.

Choices neither the RGA paper nor its authors' code states: the forget set is
walked in seeded random batches (the code walks it in file order); the
backdoored model's probabilities (NPO's and RGA's reference) are computed once,
before unlearning, in eval mode, while training steps run in train mode
(dropout on), as in the code.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import pandas as pd
import torch
import torch.nn.functional as F

from bdunlearn.data.io import save_weights
from bdunlearn.methods import get
from bdunlearn.methods.gradient import Batch, GradientMethod, UnlearnConfig
from bdunlearn.models.training import FinetuneConfig, make_optimizer, map_rows, progress
from bdunlearn.workflow.runtime import derive_seed

log = logging.getLogger(__name__)


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


def unlearn(model, method: GradientMethod | str, forget, retain, cfg: UnlearnConfig, device, seed: int,
            base_state: dict[str, torch.Tensor] | None = None,
            on_snapshot: Callable[[int], None] | None = None, hp: dict | None = None) -> list[dict]:
    """Run a gradient ``method`` (an instance or a registered name) for ``cfg.epochs`` epochs; returns one
    history row per epoch.

    ``forget`` and ``retain`` are ``(inputs, labels)``; ``base_state`` (theta_base, for methods with
    ``needs_base_state``) maps editable names to tensors; ``hp`` the method's hyperparameters (default: its
    defaults). ``on_snapshot(epoch)`` is called after each epoch listed in ``cfg.snapshots``.
    """
    method = get(method) if isinstance(method, str) else method
    if not isinstance(method, GradientMethod):
        raise ValueError(f"method {method.name!r} is not a gradient method")
    hp = method.hp(hp or {})
    name = method.name
    fx, fy = forget
    if len(fy) == 0:
        raise ValueError("the forget set is empty: nothing to unlearn (CUBE flagged no row?)")
    uses_retain = method.retain_rows  # TBAR's GA steps on the forget batches alone
    if uses_retain:
        cx, cy = retain
        if len(cy) == 0:
            raise ValueError("the retain set is empty")
    eval_bs = max(cfg.batch_size, 64)
    model.to(device)
    ref_logp = reference_logprobs(model, fx, device, eval_bs) if method.uses_reference else None
    named = model.named_editable_parameters()
    params = list(named.values())
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    if method.needs_base_state and base_state is None:
        raise ValueError(f"{name} needs the pretrained weights (theta_base)")
    state = method.setup(model, named, base_state, hp, device)
    opt = make_optimizer(params, _opt_cfg(cfg))
    clean = retain_batches(cfg.retain_pairing, len(cy), cfg.batch_size, derive_seed(seed, "unlearn-clean", name)) \
        if uses_retain else None
    history = []
    bar = progress(total=cfg.epochs * math.ceil(len(fy) / cfg.batch_size), desc=f"unlearn {name}", unit="step")
    use_amp = device.type == "cuda"
    for epoch in range(1, cfg.epochs + 1):
        if cfg.fresh_optimizer and epoch > 1:
            opt = make_optimizer(params, _opt_cfg(cfg))  # the authors' code builds one per epoch
        model.train()
        g = torch.Generator()
        g.manual_seed(derive_seed(seed, "unlearn-forget", name, epoch))
        total, stats, steps = 0.0, {}, 0
        for idx in torch.randperm(len(fy), generator=g).split(cfg.batch_size):
            xf, yf = fx[idx].to(device), fy[idx].to(device)
            lc = yc = None
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                lf = model(xf).float()
                if uses_retain:
                    cidx = clean.take(len(idx))
                    xc, yc = cx[cidx].to(device), cy[cidx].to(device)
                    lc = model(xc).float()
            ref = ref_logp[idx].to(device) if ref_logp is not None else None
            loss, extra = method.loss(Batch(lf, yf, lc, yc, ref), hp, state)
            for k, v in extra.items():
                stats[k] = stats.get(k, 0.0) + v
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            total += loss.item()
            steps += 1
            bar.update(1)
        steps = max(1, steps)
        row = {"epoch": epoch, "train_loss": total / steps, "poison_loss": mean_ce(model, fx, fy, device, eval_bs),
               **{k: v / steps for k, v in stats.items()}}
        history.append(row)
        log.info("%s epoch %d: %s", name, epoch, {k: round(v, 4) for k, v in row.items()})
        if on_snapshot is not None and epoch in cfg.snapshots:
            on_snapshot(epoch)
    bar.close()
    model.eval()
    for p in params:
        p.requires_grad_(False)
    return history


def _opt_cfg(cfg: UnlearnConfig) -> FinetuneConfig:
    return FinetuneConfig(lr=cfg.lr, weight_decay=cfg.weight_decay, optimizer=cfg.optimizer, grad_clip=cfg.grad_clip)


def run_gradient_method(method: GradientMethod, job) -> dict:
    """The unlearning step's call: the loop from the backdoored weights, with snapshots (and their weights
    when ``save_snapshot_weights``)."""
    un = job.params["unlearn"]
    cfg = UnlearnConfig.from_dict(un)
    base_state = None
    if job.base is not None:
        base_state = {k: v.detach().clone() for k, v in job.base.editable_state().items()}
        job.base = None

    def on_snapshot(epoch):
        job.snapshot(epoch)
        if cfg.save_snapshot_weights:
            save_weights(job.model.editable_state(), job.out / f"epoch{epoch}.safetensors",
                         metadata={"method": method.name})

    p = job.params
    history = unlearn(job.model, method, job.forget, job.retain, cfg, job.device,
                      derive_seed(p["seed"], p["dataset"], p["attack"]), base_state=base_state,
                      on_snapshot=on_snapshot, hp=un)
    return {"history": pd.DataFrame(history)}
