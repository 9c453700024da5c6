"""The image-caption track's losses on known inputs: CLIP, CleanCLIP's in-modal term, RoCLIP's pool and matching."""

import math

import pytest
import torch
import torch.nn.functional as F

from bdunlearn.models.clip_losses import (EmbeddingPool, cleanclip_loss, clip_loss, inmodal_loss, roclip_both_loss,
                                          roclip_loss)


def test_clip_loss_of_orthonormal_pairs_has_its_closed_form():
    n, s = 4, 10.0
    e = torch.eye(n)
    # each row: the positive scores s, the n - 1 negatives 0
    assert clip_loss(e, e, s).item() == pytest.approx(math.log(1 + (n - 1) * math.exp(-s)), rel=1e-3)  # float32
    swapped = e[[1, 0, 2, 3]]  # pairs 0 and 1 exchanged their captions: their rows score the wrong column
    rows = 2 * math.log(1 + (n - 1) * math.exp(-s)) + 2 * (math.log(math.exp(s) + n - 1))
    assert clip_loss(e, swapped, s).item() == pytest.approx(rows / n)


def test_inmodal_loss_is_rows_of_originals_against_augmented_views():
    torch.manual_seed(0)
    i, ia, t, ta = (F.normalize(torch.randn(5, 8), dim=-1) for _ in range(4))
    s = 3.0
    target = torch.arange(5)
    expected = (F.cross_entropy(s * i @ ia.T, target) + F.cross_entropy(s * t @ ta.T, target)) / 2
    assert inmodal_loss(i, ia, t, ta, s).item() == pytest.approx(expected.item())
    # one direction: not the symmetric InfoNCE of the same pairs
    assert inmodal_loss(i, ia, t, ta, s).item() != pytest.approx(((clip_loss(i, ia, s) + clip_loss(t, ta, s)) / 2).item())
    both = cleanclip_loss(i, ia, t, ta, s, clip_weight=1.0, inmodal_weight=0.5)
    assert both.item() == pytest.approx((clip_loss(i, t, s) + 0.5 * inmodal_loss(i, ia, t, ta, s)).item())


def test_the_caption_pool_is_fifo_and_matches_each_image_to_its_nearest_caption():
    pool = EmbeddingPool(3)
    with pytest.raises(ValueError, match="empty"):
        pool.nearest(torch.eye(2))
    pool.add(torch.eye(4)[:2])  # captions e0, e1
    pool.add(torch.eye(4)[2:])  # e2, e3: e0 is pushed out (size 3)
    assert len(pool) == 3 and torch.equal(pool.bank, torch.eye(4)[1:])
    images = torch.tensor([[0.1, 0.0, 0.0, 1.0], [1.0, 0.9, 0.0, 0.0], [0.0, 0.0, 2.0, 0.1]])
    # image 1 is nearest e0, which left the pool: its match is e1
    assert torch.equal(pool.nearest(images), torch.eye(4)[[3, 1, 2]])


def test_roclip_loss_sends_no_gradient_to_the_captions():
    img = F.normalize(torch.randn(4, 6), dim=-1).requires_grad_()
    txt = F.normalize(torch.randn(4, 6), dim=-1).requires_grad_()
    loss = roclip_loss(img, txt, 5.0)
    loss.backward()
    assert img.grad is not None and img.grad.abs().sum() > 0 and txt.grad is None
    assert loss.item() == pytest.approx(clip_loss(img.detach(), txt.detach(), 5.0).item())


def test_roclip_both_ways_averages_the_two_matchings_and_trains_both_towers_not_the_matches():
    img, txt, mt, mi = (F.normalize(torch.randn(4, 6, generator=torch.Generator().manual_seed(k)), dim=-1)
                        .requires_grad_() for k in range(4))
    loss = roclip_both_loss(img, mt, txt, mi, 5.0)
    loss.backward()
    expected = (clip_loss(img.detach(), mt.detach(), 5.0) + clip_loss(txt.detach(), mi.detach(), 5.0)) / 2
    assert loss.item() == pytest.approx(expected.item())
    assert img.grad.abs().sum() > 0 and txt.grad.abs().sum() > 0 and mt.grad is None and mi.grad is None
