"""The contrastive loop of the image-caption track on the bundled tiny CLIP: it learns pairs, is seeded, ascends
with sign -1, and runs CleanCLIP's and RoCLIP's variants; the caption edits and the weight-decay groups."""

import random

import numpy as np
import pytest
import torch

from bdunlearn.data.caption_scenes import make_scenes
from bdunlearn.models.clip_losses import clip_loss
from bdunlearn.models.contrastive import ContrastiveConfig, eda, param_groups, roclip_augment, train_pairs
from bdunlearn.models.open_clip_models import create_clip, tokenizer_for


@pytest.fixture(scope="module")
def pairs():
    from sklearn.datasets import load_digits

    d = load_digits()
    ims, caps, _, _ = make_scenes(d.images[:32], d.target[:32], 32, 16, seed=0)
    return torch.from_numpy(ims).permute(0, 3, 1, 2).contiguous(), caps


def pair_loss(model, tok, images, caps, spec):
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        img = model.encode_image((images.float() / 255 - mean) / std, normalize=True)
        txt = model.encode_text(tok(caps), normalize=True)
        return clip_loss(img, txt, model.logit_scale.exp()).item()


def fresh(seed=0):
    torch.manual_seed(seed)
    return create_clip("bdclip-tiny", resolution=16)


def test_descent_learns_the_pairs_ascent_unlearns_them_and_runs_are_seeded(pairs):
    images, caps = pairs
    tok = tokenizer_for("bdclip-tiny")
    cfg = ContrastiveConfig(epochs=3, batch_size=16, lr=1e-3, warmup_steps=2)
    model, spec = fresh()
    before = pair_loss(model, tok, images, caps, spec)
    hist = train_pairs(model, tok, images, caps, spec.mean, spec.std, cfg, "cpu", seed=1)
    assert [h["epoch"] for h in hist] == [1, 2, 3] and pair_loss(model, tok, images, caps, spec) < before - 0.2
    again, _ = fresh()
    train_pairs(again, tok, images, caps, spec.mean, spec.std, cfg, "cpu", seed=1)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    learnt = pair_loss(model, tok, images, caps, spec)
    train_pairs(model, tok, images, caps, spec.mean, spec.std, ContrastiveConfig(epochs=1, batch_size=16, lr=1e-3,
                                                                                   warmup_steps=0), "cpu", 2, sign=-1)
    assert pair_loss(model, tok, images, caps, spec) > learnt
    assert model.logit_scale.item() <= 4.6052 + 1e-6


def test_cleanclip_and_roclip_variants_run_and_roclip_matches_every_second_epoch(pairs):
    images, caps = pairs
    tok = tokenizer_for("bdclip-tiny")
    model, spec = fresh()
    hist = train_pairs(model, tok, images, caps, spec.mean, spec.std,
                       ContrastiveConfig(epochs=1, batch_size=16, lr=1e-4, warmup_steps=1, loss="cleanclip"), "cpu", 0)
    assert np.isfinite(hist[0]["loss"]) and not hist[0]["matching"]
    text_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("visual.")}
    hist = train_pairs(model, tok, images, caps, spec.mean, spec.std,
                       ContrastiveConfig(epochs=2, batch_size=16, lr=1e-4, warmup_steps=0, loss="roclip",
                                         roclip_pool=32), "cpu", 0)
    assert [h["matching"] for h in hist] == [False, True]
    with pytest.raises(ValueError, match="contrastive loss 'simclr'"):
        ContrastiveConfig.from_dict({"loss": "simclr"})
    assert any(not torch.equal(v, text_before[k]) for k, v in model.state_dict().items() if k in text_before)


def test_eda_edits_a_caption_and_weight_decay_spares_biases_norms_and_the_scale():
    rng = random.Random(0)
    text = "a small red seven in the top left corner on a grey background."
    edits = {eda(text, rng) for _ in range(20)}
    assert text not in edits or len(edits) > 1
    assert all(abs(len(e.split()) - len(text.split())) <= 1 for e in edits)
    assert eda("seven", rng) == "seven"
    model, _ = fresh()
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert "logit_scale" in exempt and any("ln_" in n for n in exempt) and all(("bias" in n or "ln" in n or
                                                                                "logit_scale" in n) for n in exempt)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0


def test_roclip_views_follow_its_chain_and_on_epoch_can_stop_the_loop(pairs):
    from torchvision import transforms as T

    chain = roclip_augment(32).transforms
    assert [type(t) for t in chain] == [T.RandomHorizontalFlip, T.RandomResizedCrop, T.RandomApply, T.RandomGrayscale,
                                        T.GaussianBlur]
    assert chain[1].scale == (0.08, 1.0) and chain[2].p == 0.8 and chain[3].p == 0.2
    assert chain[4].kernel_size == (3, 3) and chain[4].sigma == pytest.approx((0.1 * 32 / 224, 2.0 * 32 / 224))
    assert roclip_augment(224).transforms[4].kernel_size == (21, 21)  # RoCLIP's own size at 224 px
    images, caps = pairs
    model, spec = fresh()
    seen = []

    def on_epoch(epoch, m):
        seen.append(epoch)
        return {"score": 10 * epoch, "stop": epoch == 2}

    hist = train_pairs(model, tokenizer_for("bdclip-tiny"), images, caps, spec.mean, spec.std,
                       ContrastiveConfig(epochs=5, batch_size=16, lr=1e-4, warmup_steps=1), "cpu", 0, on_epoch=on_epoch)
    assert seen == [1, 2] and [h["score"] for h in hist] == [10, 20] and "stop" not in hist[-1]


@pytest.mark.parametrize("match, text_learns", [("image", False), ("both", True)])
def test_roclip_matching_trains_the_text_tower_only_when_matching_both_ways(pairs, match, text_learns):
    """One batch an epoch, matching every epoch: epoch 1 has an empty pool (the plain CLIP loss), epoch 2 matches;
    RoCLIP's code sends no gradient to the text tower there, TBAR B.3.2's two-way matching does."""
    images, caps = pairs
    model, spec = fresh()
    text = []

    def on_epoch(epoch, m):
        text.append({k: v.clone() for k, v in m.state_dict().items() if not k.startswith("visual.")})

    cfg = ContrastiveConfig.from_dict({"epochs": 2, "batch_size": 32, "lr": 1e-3, "warmup_steps": 0, "loss": "roclip",
                                       "roclip_pool": 64, "roclip_every": 1, "roclip_match": match})
    hist = train_pairs(model, tokenizer_for("bdclip-tiny"), images, caps, spec.mean, spec.std, cfg, "cpu", 0,
                       on_epoch=on_epoch)
    assert [h["matching"] for h in hist] == [True, True] and all(np.isfinite(h["loss"]) for h in hist)
    changed = [k for k in text[0] if k != "logit_scale" and not torch.equal(text[0][k], text[1][k])]
    assert bool(changed) == text_learns
    with pytest.raises(ValueError, match="roclip_match 'caption'"):
        ContrastiveConfig.from_dict({"loss": "roclip", "roclip_match": "caption"})
