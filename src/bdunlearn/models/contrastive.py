"""Contrastive fine-tuning of a whole CLIP (both towers) on image-caption pairs: the loop of the image-caption track.

One loop serves the contrastive backdoor (TBAR appendix B.2.2: the CLIP loss on
poisoned pairs), the clean-data defenses (Contrastive-FT: the CLIP loss;
CleanCLIP: plus the in-modal term on augmented views; RoCLIP: pool matching
every ``roclip_every``-th epoch), and, with ``sign = -1``, gradient ascent on a
forget set (TBAR appendix B.3.4). Losses: :mod:`bdunlearn.models.clip_losses`.

As in the reference code (``nishadsinghi/CleanCLIP`` ``src/train.py``): AdamW
with weight decay on every tensor but biases, norms and the logit scale; linear
warmup then cosine decay per step; the logit scale learned and clamped to at
most 100 after each step. Batches come from a seeded permutation per epoch.
Augmented views, drawn per step from the loop's seeded generator: CleanCLIP's
images through torchvision's AutoAugment (ImageNet policy, CleanCLIP's
``src/data.py``); RoCLIP's through RoCLIP's own chain (:func:`roclip_augment`);
captions through :func:`eda`, once per run as in both codes.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import torch

from bdunlearn.models.clip_losses import (EmbeddingPool, cleanclip_loss, clip_loss, multi_positive_clip_loss,
                                          roclip_both_loss, roclip_loss)
from bdunlearn.models.training import batch_indices, cosine_lr, progress

log = logging.getLogger(__name__)
LOSSES = ("clip", "cleanclip", "roclip")
ROCLIP_MATCHES = ("image", "both")  # RoCLIP's code; TBAR B.3.2's text (bdunlearn.models.clip_losses)
MAX_LOGIT_SCALE = 4.6052  # ln 100


@dataclass
class ContrastiveConfig:
    """The loop's settings; defaults: TBAR's backdoor recipe (B.2.2) with the CLIP loss."""

    epochs: float = 10
    batch_size: int = 128
    lr: float = 1e-6
    weight_decay: float = 0.1
    warmup_steps: int = 50
    loss: str = "clip"
    clip_weight: float = 1.0  # CleanCLIP's lambda1
    inmodal_weight: float = 1.0  # CleanCLIP's lambda2
    roclip_pool: int = 21845  # RoCLIP's memory-bank size (the authors' default)
    roclip_every: int = 2  # matching in epochs 2, 4, ... (1-based, the authors' default)
    roclip_match: str = "image"  # the code's: each image to the pool caption nearest to it; both: TBAR B.3.2's text

    @classmethod
    def from_dict(cls, d: dict) -> "ContrastiveConfig":
        cfg = cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        if cfg.loss not in LOSSES:
            raise ValueError(f"contrastive loss {cfg.loss!r}; allowed: {', '.join(LOSSES)}")
        if cfg.roclip_match not in ROCLIP_MATCHES:
            raise ValueError(f"roclip_match {cfg.roclip_match!r}; allowed: {', '.join(ROCLIP_MATCHES)}")
        return cfg


def eda(caption: str, rng: random.Random, alpha: float = 0.1) -> str:
    """One easy-data-augmentation edit of a caption (Wei & Zou, 2019; CleanCLIP's text view): a random swap, deletion
    or insertion (of a word of the caption) of ``max(1, alpha * words)`` words. Choice: EDA's synonym replacement
    needs WordNet, which is not available offline, so it is left out (docs/fidelity.md)."""
    words = caption.split()
    if len(words) < 2:
        return caption
    k = max(1, int(alpha * len(words)))
    op = rng.randrange(3)
    for _ in range(k):
        if op == 0:
            i, j = rng.randrange(len(words)), rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
        elif op == 1 and len(words) > 1:
            del words[rng.randrange(len(words))]
        else:
            words.insert(rng.randrange(len(words) + 1), words[rng.randrange(len(words))])
    return " ".join(words)


NO_DECAY = ("bn", "ln", "bias", "logit_scale")  # name parts CleanCLIP's code exempts from weight decay


def param_groups(model, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on every tensor whose name contains none of :data:`NO_DECAY` (CleanCLIP's
    ``src/main.py``: biases, norms and the logit scale are exempt; embeddings and projections are decayed)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if any(k in name for k in NO_DECAY) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_pairs(model, tokenizer, images: torch.Tensor, captions: list[str], mean, std, cfg: ContrastiveConfig,
                device, seed: int, sign: float = 1.0, desc: str = "contrastive", on_epoch=None,
                positives=None) -> list[dict]:
    """Minimise ``sign * loss`` over every parameter of the open_clip ``model`` on the pairs
    ``(images[i], captions[i])`` (``images``: uint8 ``(N, 3, H, W)``, on the CPU); returns the per-epoch mean loss.
    ``on_epoch(epoch, model)``, when given, runs after each epoch (in eval mode; training resumes after it) and
    what it returns is added to that epoch's history row; ``"stop": True`` in it ends the loop there (early
    stopping; the learning-rate schedule still spans every epoch of ``cfg``). ``positives`` (an int64 tensor, one group id per pair;
    CLIP loss only) makes every pair of a group a positive: the multi-positive CLIP loss
    (:func:`bdunlearn.models.clip_losses.multi_positive_clip_loss`), which the stand-in's pretraining uses."""
    if len(captions) != len(images) or len(captions) == 0:
        raise ValueError(f"{len(images)} images and {len(captions)} captions: need as many of each, at least one")
    n = len(captions)
    rng = random.Random(seed)
    tokens = tokenizer(captions)
    aug_tokens = tokenizer([eda(c, rng) for c in captions]) if cfg.loss != "clip" else None  # once per run
    mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(std, device=device).view(1, 3, 1, 1)
    model.to(device).train()
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    per_epoch = -(-n // cfg.batch_size)
    total = max(1, int(round(per_epoch * cfg.epochs)))
    augment = augmenter(seed, cfg.loss, images.shape[-1]) if cfg.loss != "clip" else None
    pool = EmbeddingPool(cfg.roclip_pool) if cfg.loss == "roclip" else None  # captions
    both_ways = pool is not None and cfg.roclip_match == "both"
    image_pool = EmbeddingPool(cfg.roclip_pool) if both_ways else None  # images, for the reverse matching
    history, step, epoch = [], 0, 0
    bar = progress(total=total, desc=desc, unit="step")
    while step < total:
        epoch += 1
        matching = pool is not None and epoch % cfg.roclip_every == 0
        running, seen = 0.0, 0
        for idx in batch_indices(n, cfg.batch_size, seed, epoch - 1):
            if step >= total:
                break
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, cfg.lr, cfg.warmup_steps, total)
            x = images[idx]
            scale = model.logit_scale.exp()
            if cfg.loss == "clip":
                img = model.encode_image(_normalise(x, mean, std, device), normalize=True)
                txt = model.encode_text(tokens[idx].to(device), normalize=True)
                loss = clip_loss(img, txt, scale) if positives is None else \
                    multi_positive_clip_loss(img, txt, positives[idx].to(device), scale)
            elif cfg.loss == "cleanclip":
                both = torch.cat([x, augment(x)])
                img = model.encode_image(_normalise(both, mean, std, device), normalize=True)
                txt = model.encode_text(torch.cat([tokens[idx], aug_tokens[idx]]).to(device), normalize=True)
                b = len(idx)
                loss = cleanclip_loss(img[:b], img[b:], txt[:b], txt[b:], scale, cfg.clip_weight, cfg.inmodal_weight)
            else:  # roclip: the augmented views replace the originals (RoCLIP's --cross_aug)
                img = model.encode_image(_normalise(augment(x), mean, std, device), normalize=True)
                # in a matching epoch RoCLIP's code trains no text tower; TBAR B.3.2's two-way matching does
                with torch.set_grad_enabled(not matching or both_ways):
                    txt = model.encode_text(aug_tokens[idx].to(device), normalize=True)
                if not matching or not len(pool):  # not a matching epoch, or nothing to match against yet
                    loss = clip_loss(img, txt, scale)
                elif both_ways:  # image -> pool caption nearest its caption, caption -> pool image nearest its image
                    loss = roclip_both_loss(img, pool.nearest(txt.detach()), txt, image_pool.nearest(img.detach()),
                                            scale)
                else:  # each image -> the pool caption nearest to it
                    loss = roclip_loss(img, pool.nearest(img.detach()), scale)
                if matching:
                    pool.add(txt)
                    if both_ways:
                        image_pool.add(img)
            opt.zero_grad(set_to_none=True)
            (sign * loss).backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            running += loss.item() * len(idx)
            seen += len(idx)
            step += 1
            bar.update(1)
        history.append({"epoch": epoch, "loss": running / max(seen, 1), "matching": bool(matching)})
        log.info("%s epoch %d loss %.4f", desc, epoch, history[-1]["loss"])
        if on_epoch is not None:
            model.eval()
            extra = dict(on_epoch(epoch, model) or {})
            stop = extra.pop("stop", False)
            history[-1].update(extra)
            if stop:
                break
            model.train()
    bar.close()
    model.eval()
    return history


def _normalise(x: torch.Tensor, mean, std, device) -> torch.Tensor:
    return (x.to(device).float() / 255 - mean) / std


def roclip_augment(resolution: int):
    """RoCLIP's image view (``BigML-CS-UCLA/RoCLIP`` @ f34a929 ``utils/augment_image.py`` L12-22) at
    ``resolution``: horizontal flip, random resized crop (scale 0.08-1), colour jitter (0.5, 0.5, 0.5, 0.1) with
    probability 0.8, grayscale with probability 0.2, and a Gaussian blur always applied (kernel 21, sigma
    0.1-2 at 224 px; here both scaled to the resolution, the kernel to the nearest odd size >= 3)."""
    from torchvision import transforms as T

    k = max(3, int(round(21 * resolution / 224)) | 1)
    s = resolution / 224
    return T.Compose([T.RandomHorizontalFlip(), T.RandomResizedCrop(resolution, scale=(0.08, 1.0), antialias=True),
                      T.RandomApply([T.ColorJitter(0.5, 0.5, 0.5, 0.1)], p=0.8), T.RandomGrayscale(p=0.2),
                      T.GaussianBlur(kernel_size=k, sigma=(0.1 * s, 2.0 * s))])


def augmenter(seed: int, loss: str, resolution: int):
    """The image view of ``loss`` (cleanclip: AutoAugment, ImageNet policy; roclip: :func:`roclip_augment`) on
    uint8 batches, image by image, from a seeded torch generator."""
    from torchvision.transforms import AutoAugment, AutoAugmentPolicy

    aa = roclip_augment(resolution) if loss == "roclip" else AutoAugment(AutoAugmentPolicy.IMAGENET)
    gen = torch.Generator()
    gen.manual_seed(seed)

    def apply(x: torch.Tensor) -> torch.Tensor:
        state = torch.get_rng_state()
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        try:
            return torch.stack([aa(im) for im in x])
        finally:
            torch.set_rng_state(state)

    return apply
