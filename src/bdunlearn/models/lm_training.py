"""Pretraining of the LLM track's offline stand-in: next-token cross-entropy on the fact corpus until it knows it.

The paper's original models are fine-tuned on their corpus (ICLM-7B on the
Harry Potter books of MUSE-Books); the stand-in learns the whole fact corpus
(every group's biographies and seen question wordings) from scratch, with
AdamW, linear warm-up and cosine decay. ``pretrain_lm`` then reports KnowMem
and VerbMem of the result, so a reader sees how well it knows the facts.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

log = logging.getLogger(__name__)


def lm_loss(lm, ids, mask):
    """Mean next-token cross-entropy over the non-padding tokens."""
    labels = ids.masked_fill(mask == 0, -100)
    logits = lm.logits(ids, mask)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def pretrain(lm, rows: list[list[int]], hp: dict, seed: int) -> list[dict]:
    """Train ``lm`` on token rows (BOS ... EOS) for ``hp['epochs']``; returns the per-epoch mean loss."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(lm.model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    bs = hp["batch_size"]
    steps_per_epoch = math.ceil(len(rows) / bs)
    total, warm = steps_per_epoch * hp["epochs"], hp["warmup_steps"]

    def lr_at(step):
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    lm.model.train()
    history = []
    for epoch in range(1, hp["epochs"] + 1):
        order = rng.permutation(len(rows))
        losses = []
        for start in tqdm(range(0, len(rows), bs), desc=f"pretrain epoch {epoch}", mininterval=10):
            ids, mask = lm.pad([rows[i] for i in order[start:start + bs]])
            loss = lm_loss(lm, ids, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lm.model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss))
        history.append({"epoch": epoch, "loss": float(np.mean(losses))})
        log.info("epoch %d loss %.4f", epoch, history[-1]["loss"])
    lm.model.eval()
    return history
