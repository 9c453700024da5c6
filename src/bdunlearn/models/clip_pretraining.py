"""Contrastive pretraining of a CLIP on image-caption pairs (rule ``pretrain_clip``): the multi-positive CLIP
loss, the training-time augmentations, the glyph corpus and caption tables, the loop and its zero-shot check.
"""

from __future__ import annotations

import logging

import torch

from bdunlearn.data import glyphs
from bdunlearn.data.classnames import DIGITS
from bdunlearn.evaluation.metrics import accuracy
from bdunlearn.models.clip_adapter import ClipClassifier
from bdunlearn.models.clip_losses import multi_positive_clip_loss
from bdunlearn.models.training import batch_indices, cosine_lr, predict, progress
from bdunlearn.models.zeroshot import caption_embeddings
from bdunlearn.workflow.runtime import derive_seed

log = logging.getLogger(__name__)


def random_tint(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Per-image random colour: RGB gains in [1 - strength, 1] and an RGB offset in [0, strength / 3]."""
    if strength <= 0:
        return x
    n = x.shape[0]
    gain = 1 - strength * torch.rand((n, 3, 1, 1), generator=gen)
    offset = (strength / 3) * torch.rand((n, 3, 1, 1), generator=gen)
    return (x * gain + offset).clamp_(0, 1)


def random_shift(x: torch.Tensor, max_shift: float, gen: torch.Generator) -> torch.Tensor:
    """Translate the whole batch by one random offset (cyclic), at most ``max_shift`` of the side."""
    m = int(round(max_shift * x.shape[-1]))
    if m == 0:
        return x
    dy, dx = torch.randint(-m, m + 1, (2,), generator=gen).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def glyph_corpus(prm: dict, resolution: int, seed: int):
    """The printed-glyph corpus (bdunlearn.data.glyphs): training images and labels, per-class captions, held-out split."""
    n_classes = len(DIGITS) if prm["classes"] == "digits" else len(glyphs.CLASSNAMES)

    def tensors(n, tag):
        x, y = glyphs.make_glyphs(n, resolution, derive_seed(seed, tag), n_classes)
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y)

    return tensors(prm["n"], "glyphs-train"), glyphs.captions()[:n_classes], tensors(prm["n_test"], "glyphs-test")


def zeroshot_accuracy(model, spec, tokenizer, captions, images, labels, device) -> float:
    """Zero-shot accuracy (a fraction) of ``model`` on ``images`` with a head built from per-class ``captions``."""
    head = caption_embeddings(model, tokenizer, captions, device)
    clf = ClipClassifier(model.visual, head, spec.mean, spec.std)
    return accuracy(predict(clf, images, device), labels) / 100


def caption_table(captions: list[list[str]]) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Flatten per-class caption lists: (all captions, offset of each class's first, number per class)."""
    flat = [c for cs in captions for c in cs]
    counts = torch.tensor([len(cs) for cs in captions], dtype=torch.long)
    offsets = torch.cumsum(counts, 0) - counts
    return flat, offsets, counts


def train_contrastive(model, spec, tokenizer, captions, images, labels, prm, device, seed):
    """Contrastive pretraining on ``images`` (uint8 NCHW) whose class ``y`` is paired with one of ``captions[y]``."""
    flat, offsets, counts = caption_table(captions)
    tokens = tokenizer(flat).to(device)
    mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=prm["lr"], weight_decay=prm["weight_decay"])
    per_epoch = -(-len(labels) // prm["batch_size"])
    steps = per_epoch * prm["epochs"]
    gen = torch.Generator()
    gen.manual_seed(seed)
    history, step = [], 0
    bar = progress(total=steps, desc="pretrain_clip", unit="step")
    for epoch in range(prm["epochs"]):
        total = 0.0
        for idx in batch_indices(len(labels), prm["batch_size"], seed, epoch):
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, prm["lr"], prm["warmup_steps"], steps)
            x = random_shift(images[idx], prm["max_shift"], gen).float() / 255
            x = random_tint(x, prm["tint"], gen).to(device)
            y = labels[idx]
            tid = (offsets[y] + torch.randint(0, 1 << 30, (len(idx),), generator=gen) % counts[y]).to(device)
            y = y.to(device)
            img_f = model.encode_image((x - mean) / std, normalize=True)
            txt_f = model.encode_text(tokens, normalize=True)[tid]  # each distinct caption encoded once
            loss = multi_positive_clip_loss(img_f, txt_f, y, model.logit_scale.exp())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, 4.6052)  # CLIP's cap of 100
            total += loss.item() * len(idx)
            step += 1
            bar.update(1)
        history.append({"epoch": epoch + 1, "loss": total / len(labels)})
        log.info("pretrain epoch %d loss %.4f", epoch + 1, history[-1]["loss"])
    bar.close()
    model.eval()
    return history
