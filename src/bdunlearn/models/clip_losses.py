"""Contrastive losses of the image-caption track (TBAR section 4): CLIP, CleanCLIP's in-modal term, RoCLIP's matching.

Every function takes L2-normalised embeddings and the CLIP logit scale ``s``
(``exp(logit_scale)``, learned, shared by every term as in the reference code).
With ``target = arange(N)``:

- :func:`clip_loss`: ``(CE(s I T^T, target) + CE(s T I^T, target)) / 2``, the symmetric InfoNCE.
- :func:`multi_positive_clip_loss`: the same with every pair of one class a positive (uniform targets): the
  offline stand-ins' pretraining (``pretrain_clip``), never the studied backdoor or defenses.
- :func:`inmodal_loss`: CleanCLIP's self-supervised term (TBAR appendix B.3.1),
  ``(CE(s I Ĩ^T, target) + CE(s T T̃^T, target)) / 2``: each original (rows) against every augmented view
  (columns), one direction only (``nishadsinghi/CleanCLIP`` @ d6e2f1d, ``src/train.py`` L60-69).
  CleanCLIP's loss is ``clip_weight * clip_loss + inmodal_weight * inmodal_loss`` (both 1 by default and in TBAR).
- :class:`EmbeddingPool`, :func:`roclip_loss` and :func:`roclip_both_loss`: RoCLIP (Yang et al., 2023). A pool is
  a first-in-first-out buffer of the most recent embeddings (detached). RoCLIP's code (``roclip_match: image``,
  the default): in a matching epoch each image is paired with the pool caption nearest (cosine) to the *image*
  embedding, and the loss is the symmetric InfoNCE over image x matched caption; the pool is queried before the
  batch's own captions are added, so a batch never sees its own captions, and the text tower gets no gradient
  (``BigML-CS-UCLA/RoCLIP`` @ f34a929, ``model/src/train.py`` L32-53). TBAR's appendix B.3.2 (``roclip_match:
  both``): each image is matched to the pool caption "most similar to its original caption, and vice versa".
  Choice for the reverse, which the text does not spell out: a second pool of image embeddings, each caption
  paired with the pool image nearest to its own image, and the loss the mean of the two directions' InfoNCE,
  the matched side of each detached (so both towers learn). Choice: the pools start empty and matching begins
  once they hold at least one batch (the reference starts from unnormalised random vectors).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _symmetric_ce(logits: torch.Tensor) -> torch.Tensor:
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def clip_loss(image_feats: torch.Tensor, text_feats: torch.Tensor, scale) -> torch.Tensor:
    """The symmetric CLIP loss of N matched pairs (row i of each is a pair)."""
    return _symmetric_ce(scale * image_feats @ text_feats.T)


def multi_positive_clip_loss(image_feats, text_feats, labels, logit_scale) -> torch.Tensor:
    """Symmetric CLIP loss where all pairs of the same class are positives (uniform targets): the stand-ins'
    pretraining (captions repeat within a batch, and the plain loss would push an image away from its own class's
    other captions)."""
    logits = logit_scale * image_feats @ text_feats.T
    same = (labels[:, None] == labels[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    loss_i = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    loss_t = -(targets * F.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
    return 0.5 * (loss_i + loss_t)


def inmodal_loss(image_feats, aug_image_feats, text_feats, aug_text_feats, scale) -> torch.Tensor:
    """CleanCLIP's in-modal term: each image against the augmented images, each caption against the augmented
    captions (rows: originals, columns: augmented views; the positive is the item's own view)."""
    target = torch.arange(image_feats.shape[0], device=image_feats.device)
    return (F.cross_entropy(scale * image_feats @ aug_image_feats.T, target)
            + F.cross_entropy(scale * text_feats @ aug_text_feats.T, target)) / 2


def cleanclip_loss(image_feats, aug_image_feats, text_feats, aug_text_feats, scale, clip_weight: float = 1.0,
                   inmodal_weight: float = 1.0) -> torch.Tensor:
    """``clip_weight * CLIP + inmodal_weight * in-modal`` (TBAR B.3.1: lambda1 = lambda2 = 1)."""
    return (clip_weight * clip_loss(image_feats, text_feats, scale)
            + inmodal_weight * inmodal_loss(image_feats, aug_image_feats, text_feats, aug_text_feats, scale))


class EmbeddingPool:
    """RoCLIP's pool: the ``size`` most recent embeddings (captions, or images for the reverse matching), first in,
    first out (detached)."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        self.size, self.bank = int(size), None

    def __len__(self) -> int:
        return 0 if self.bank is None else self.bank.shape[0]

    def nearest(self, query: torch.Tensor) -> torch.Tensor:
        """For each query embedding (row), the pool embedding with the highest cosine similarity to it."""
        if self.bank is None:
            raise ValueError("the embedding pool is empty")
        bank = self.bank.to(query.device, query.dtype)
        sims = F.normalize(query, dim=-1) @ F.normalize(bank, dim=-1).T
        return bank[sims.argmax(dim=1)]

    def add(self, feats: torch.Tensor) -> None:
        new = feats.detach().float().cpu()
        self.bank = new[-self.size:] if self.bank is None else torch.cat([self.bank, new])[-self.size:]


def roclip_loss(image_feats: torch.Tensor, matched_text_feats: torch.Tensor, scale) -> torch.Tensor:
    """The symmetric CLIP loss of each image with its pool-matched caption (no gradient reaches the captions)."""
    return clip_loss(image_feats, matched_text_feats.detach(), scale)


def roclip_both_loss(image_feats: torch.Tensor, matched_text_feats: torch.Tensor, text_feats: torch.Tensor,
                     matched_image_feats: torch.Tensor, scale) -> torch.Tensor:
    """TBAR B.3.2's RoCLIP: the mean of the image -> matched-caption and caption -> matched-image InfoNCE, the
    matched embeddings detached (the images and the captions of the batch both get gradients)."""
    return (roclip_loss(image_feats, matched_text_feats, scale)
            + roclip_loss(text_feats, matched_image_feats, scale)) / 2
