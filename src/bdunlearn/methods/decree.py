"""Reverse-engineered unlearning on the image-caption track (TBAR section 4, appendices B.3.5 and C): DECREE's
trigger inversion, the target inference, and the early-stopping window of GA+DECREE and TBAR+DECREE.

**Inversion** (Feng et al., 2023; TBAR runs the re-implementation in ``LiangSiyuan21/BadCLIP`` @ a7b1876,
``src/decree.py`` L150-389, which this follows): a mask ``m`` (H x W, shared by the channels) and a pattern
``p`` (3 x H x W) are optimised, stored as ``arctanh((v - 0.5)(2 - eps))`` in float64 and read back through
``tanh(.) / (2 - eps) + 0.5`` clipped to [0, 1]; the triggered image is ``(1 - m) x + m p``. The loss is
``-mean off-diagonal cosine similarity`` of the image tower's embeddings of a batch of triggered shadow images
(no labels, no text tower) ``+ lambda * sum |m|`` over the three channels. Adam (betas 0.5, 0.9), lr ``lr``
until epoch ``lr_epochs[0]``, then the absolute values ``lr_values`` (BadCLIP's ``adjust_learning_rate``;
TBAR B.3.5: [30, 50], which are epochs in the code). lambda starts at 1e-3 and is multiplied (divided) by 5
after more than 5 successive steps with (without) ``|cos| > thres``; below 1e-7 it is reset after 10 successful
steps. The trigger kept is the one of the step with the smallest L1 among the successful steps; the run stops
at the end of an epoch whose mean ``|cos|`` exceeds ``thres`` once the best L1 has not improved for 35 steps,
or after ``max_epochs``. Shadow set: ``shadow`` random clean images (BadCLIP: 785 rows of its validation CSV).
PL1 = L1 / (3 H W), the mean mask value (the code prints the raw L1 only).

**Target inference** (TBAR appendix C): the backdoored CLIP classifies the shadow images with the inverted
trigger zero-shot; ``vote`` takes its most frequent prediction ("observing the predicted class"). For SIG the
paper saw the clean CLIP predict the same class ("television") on triggered images, a bias of the model rather
than the backdoor, and took instead the class "with the largest shift" between the clean and the backdoored
model's logits on triggered images: ``logit_shift``, ``argmax_c mean[l_bd(c | x~) - l_0(c | x~)]``.
``vote_checked`` (the default: the paper "carried and verified this additional test" for its main results) is
the vote unless the clean CLIP's own most frequent prediction on the triggered images is that same class, and
then the logit shift.

**Early-stopping window** (TBAR appendix C, Fig. 12): unlearning steps (GA epochs, TBAR alphas) go on, each
scored on the validation images, until the proxy ASR (the inverted trigger towards the inferred target) has been
0% for ``window`` consecutive steps or the clean accuracy falls below ``min_ca_retention`` times the backdoored
model's; the state kept is the last one that keeps that clean accuracy (:class:`Window`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields

log = logging.getLogger(__name__)

EPS = 1e-7  # BadCLIP's decree_utils.epsilon()
INFERENCE_RULES = ("vote_checked", "vote", "logit_shift")


@dataclass
class DecreeConfig:
    """The inversion's settings: BadCLIP's ``decree.py`` defaults with TBAR's [30, 50] lr thresholds."""

    shadow: int = 785
    batch_size: int = 256
    lr: float = 1e-3
    lr_epochs: list = field(default_factory=lambda: [30, 50])
    lr_values: list = field(default_factory=lambda: [0.1, 0.05])
    thres: float = 0.99
    max_epochs: int = 1000
    mask_init: str = "rand"
    lambda_init: float = 1e-3
    lambda_factor: float = 5.0
    lambda_patience: int = 5
    lambda_min: float = 1e-7
    early_stop_patience: int = 35

    @classmethod
    def from_dict(cls, d: dict) -> "DecreeConfig":
        return cls(**{k: d[k] for k in cls.keys() if k in d})

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def lr_at(self, epoch: int) -> float:
        """The learning rate of 0-based ``epoch`` (BadCLIP's ``adjust_learning_rate``)."""
        if epoch < self.lr_epochs[0]:
            return self.lr
        return self.lr_values[0] if epoch < self.lr_epochs[1] else self.lr_values[1]


# the keys of the window search (rule unlearn_clip_decree) besides the inversion's
WINDOW_KEYS = ("min_ca_retention", "window", "alpha_step", "alpha_max", "ga_max_epochs")


def to_tanh_space(v):
    import torch

    return torch.arctanh((v - 0.5) * (2 - EPS))


def from_tanh_space(t):
    import torch

    return torch.clip(torch.tanh(t) / (2 - EPS) + 0.5, 0, 1)


class DecreeTrigger:
    """An inverted trigger as an image attack: ``(1 - m) x + m p`` on float images in [0, 1] ``(N, 3, H, W)``
    (``uids`` unused: the trigger is the same for every image), usable wherever a registry attack is."""

    def __init__(self, mask, pattern):
        self.mask = mask.detach().float().cpu()  # (H, W)
        self.pattern = pattern.detach().float().cpu()  # (3, H, W)

    def __call__(self, x, uids=None):
        m = self.mask.to(x.device, x.dtype)[None, None]
        return ((1 - m) * x + m * self.pattern.to(x.device, x.dtype)[None]).clamp(0, 1)

    def state(self) -> dict:
        return {"mask": self.mask, "pattern": self.pattern}

    @classmethod
    def from_state(cls, state: dict) -> "DecreeTrigger":
        return cls(state["mask"], state["pattern"])

    def l1(self) -> float:
        """The code's L1: the sum of the mask over its three channels."""
        return 3.0 * float(self.mask.sum())

    def pl1(self) -> float:
        """L1 / (3 H W): the mean mask value (the share of the image the trigger covers)."""
        return float(self.mask.mean())


def self_cosine(feats):
    """Mean off-diagonal cosine similarity of a batch of embeddings (BadCLIP's ``compute_self_cos_sim``)."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(feats, dim=-1)
    sim = z @ z.T
    n = sim.shape[0]
    return sim.masked_select(~torch.eye(n, dtype=torch.bool, device=sim.device)).mean()


def invert_trigger(features, images, cfg: DecreeConfig, seed: int, device) -> tuple[DecreeTrigger, dict]:
    """DECREE on an image encoder: ``features(x)`` embeds float images in [0, 1] ``(N, 3, H, W)`` (differentiably);
    ``images``: the uint8 shadow images. Returns the best trigger and a report (history per epoch, L1, PL1, whether
    a trigger with ``|cos| > thres`` was found, the stopping reason)."""
    import torch

    from bdunlearn.models.training import progress

    if len(images) < 2:
        raise ValueError(f"config key 'decree.shadow': DECREE needs at least 2 shadow images (the loss is a "
                         f"similarity between images), got {len(images)}")
    n, _, h, w = images.shape
    g = torch.Generator()
    g.manual_seed(seed)
    if cfg.mask_init == "rand":
        mask0 = torch.rand((h, w), generator=g, dtype=torch.float64)
    elif cfg.mask_init == "orc":  # BadCLIP's generate_mask: a centred square of side 176/224, eps elsewhere
        mask0 = torch.full((h, w), EPS, dtype=torch.float64)
        lo, hi = round(24 * h / 224), round(200 * h / 224)
        mask0[lo:hi, lo:hi] = 1.0
    else:
        raise ValueError(f"config key 'decree.mask_init': {cfg.mask_init!r}; allowed: rand, orc")
    pattern0 = torch.rand((3, h, w), generator=g, dtype=torch.float64)
    mask_t = to_tanh_space(mask0).to(device).requires_grad_(True)
    pattern_t = to_tanh_space(pattern0).to(device).requires_grad_(True)
    opt = torch.optim.Adam([mask_t, pattern_t], lr=cfg.lr, betas=(0.5, 0.9))
    lam, up, down, set_cnt = cfg.lambda_init, 0, 0, 0
    best_reg, best, stall, es_best = float("inf"), None, 0, float("inf")
    history, reason = [], "max_epochs"
    bar = progress(total=cfg.max_epochs, desc="decree", unit="epoch")
    for epoch in range(cfg.max_epochs):
        for grp in opt.param_groups:
            grp["lr"] = cfg.lr_at(epoch)
        batches = list(torch.randperm(n, generator=g).split(cfg.batch_size))
        if len(batches) > 1 and len(batches[-1]) == 1:  # one image has no pair to compare: join the batch before
            batches[-2:] = [torch.cat(batches[-2:])]
        coss, regs = [], []
        for idx in batches:
            x = images[idx].to(device).double() / 255
            m, p = from_tanh_space(mask_t), from_tanh_space(pattern_t)
            x_bd = ((1 - m)[None, None] * x + m[None, None] * p[None]).clamp(0, 1)
            loss_cos = -self_cosine(features(x_bd.float()))
            loss_reg = 3 * m.abs().sum()
            loss = loss_cos + lam * loss_reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            cos, reg = abs(loss_cos.item()), loss_reg.item()
            coss.append(cos)
            regs.append(reg)
            ok = cos > cfg.thres
            if ok and reg < best_reg:
                best, best_reg = (m.detach().clone(), p.detach().clone()), reg
            if best is not None:  # a valid trigger exists: count the steps without a better one
                stall = stall + 1 if best_reg >= es_best else 0
            es_best = min(best_reg, es_best)
            if lam < cfg.lambda_min and ok:
                set_cnt += 1
                if set_cnt > 2 * cfg.lambda_patience:
                    lam, up, down = cfg.lambda_init, 0, 0
            else:
                set_cnt = 0
            up, down = (up + 1, 0) if ok else (0, down + 1)
            if up > cfg.lambda_patience:
                lam = lam * cfg.lambda_factor if lam < 1e5 else lam
                up = 0
            elif down > cfg.lambda_patience:
                lam = lam / cfg.lambda_factor if lam >= cfg.lambda_min else lam
                down = 0
        mean_cos = sum(coss) / len(coss)
        history.append({"epoch": epoch + 1, "cos": mean_cos, "reg": sum(regs) / len(regs),
                        "best_l1": best_reg if best is not None else None,
                        "lambda": lam, "lr": cfg.lr_at(epoch)})
        bar.update(1)
        if mean_cos > cfg.thres and stall > cfg.early_stop_patience:
            reason = "early_stop"
            break
    bar.close()
    found = best is not None
    if not found:  # no step reached |cos| > thres: keep the last trigger, and say so
        best = (from_tanh_space(mask_t).detach(), from_tanh_space(pattern_t).detach())
    trig = DecreeTrigger(*best)
    log.info("DECREE: %s after %d epochs, found %s, L1 %.2f, PL1 %.4f", reason, len(history), found, trig.l1(), trig.pl1())
    return trig, {"found": found, "stop": reason, "epochs": len(history), "l1": trig.l1(), "pl1": trig.pl1(),
                  "history": history}


def infer_target(bd_trig, clean_trig, classnames, rule: str = "vote_checked") -> dict:
    """The backdoor's target from zero-shot logits ``(N, C)`` of the backdoored (``bd_trig``) and the clean CLIP
    (``clean_trig``) on the same images with the inverted trigger (module docstring)."""
    import torch

    if rule not in INFERENCE_RULES:
        raise ValueError(f"config key 'decree.target_inference': {rule!r}; allowed: {', '.join(INFERENCE_RULES)}")
    c = bd_trig.shape[1]
    shift = (bd_trig.float() - clean_trig.float()).mean(0)
    votes = torch.bincount(bd_trig.argmax(1), minlength=c)
    clean_votes = torch.bincount(clean_trig.argmax(1), minlength=c)
    vote, bias = int(votes.argmax()), int(clean_votes.argmax())
    by = {"vote": vote, "logit_shift": int(shift.argmax()),
          "vote_checked": vote if vote != bias else int(shift.argmax())}
    return {"target": by[rule], "target_name": classnames[by[rule]], "rule": rule, "vote_target": vote,
            "clean_vote_target": bias, "logit_shift_target": by["logit_shift"], "votes": [int(v) for v in votes],
            "clean_votes": [int(v) for v in clean_votes], "logit_shift": [float(v) for v in shift]}


class Window:
    """The early-stopping window over unlearning steps (module docstring). ``add(step, row)`` takes a step's
    scores (``val_ca``, ``val_asr_proxy``) and returns whether to go on; ``chosen`` is the last accepted step
    (``None``: not one kept the clean accuracy)."""

    def __init__(self, min_ca: float, window: int):
        self.min_ca, self.window = float(min_ca), int(window)
        self.rows, self.chosen, self.zeros, self.stop = [], None, 0, None

    def add(self, step, row: dict) -> bool:
        accepted = row["val_ca"] >= self.min_ca
        self.rows.append({"step": step, **row, "accepted": accepted})
        if not accepted:
            self.stop = f"val CA {row['val_ca']:.2f} < {self.min_ca:.2f}"
            return False
        self.chosen = step
        self.zeros = self.zeros + 1 if row["val_asr_proxy"] == 0 else 0
        if self.zeros >= self.window:
            self.stop = f"proxy ASR 0% for {self.window} consecutive steps"
            return False
        return True

    def report(self) -> dict:
        return {"min_ca": self.min_ca, "window": self.window, "chosen": self.chosen,
                "stop": self.stop or "budget spent", "path": self.rows}
