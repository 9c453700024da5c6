import math

import pytest
import torch

from bdunlearn.evaluation.tbar_table import COLUMNS, aggregate, build_table, to_latex, to_markdown
from bdunlearn.models.clip_losses import multi_positive_clip_loss
from bdunlearn.models.clip_pretraining import random_tint
from bdunlearn.models.training import FinetuneConfig, cosine_lr, finetune, total_steps


def test_cosine_schedule_warmup_then_half_cosine():
    assert cosine_lr(0, 1.0, 4, 14) == pytest.approx(0.25)
    assert cosine_lr(3, 1.0, 4, 14) == pytest.approx(1.0)
    assert cosine_lr(4, 1.0, 4, 14) == pytest.approx(1.0)
    assert cosine_lr(9, 1.0, 4, 14) == pytest.approx(0.5)  # half-way through the decay
    assert cosine_lr(14, 1.0, 4, 14) == pytest.approx(0.0, abs=1e-12)
    assert total_steps(130, FinetuneConfig(epochs=2, batch_size=64)) == 6
    assert total_steps(130, FinetuneConfig(epochs=0.5, batch_size=64)) == 2


def test_multi_positive_clip_loss_hand_computed():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    txt = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 0])
    scale = 2.0
    # row 0 logits: [2, 0, 2]; positives {0, 2} with weight 1/2 each
    lse = math.log(2 * math.exp(2) + 1)
    row0 = -(0.5 * (2 - lse) + 0.5 * (2 - lse))
    row1 = -(2 - math.log(math.exp(2) + 2))  # logits [0, 2, 0], one positive
    expected = (row0 + row1 + row0) / 3  # the logit matrix is symmetric, so both directions agree
    got = multi_positive_clip_loss(img, txt, labels, scale)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_random_tint_range_and_identity():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 4, 4)
    assert torch.equal(random_tint(x, 0.0, g), x)
    y = random_tint(x.clone(), 0.6, g)
    assert y.min() >= 0 and y.max() <= 1 and not torch.equal(x, y)


def test_gradient_ascent_sign_increases_the_loss():
    torch.manual_seed(0)
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    losses = {}
    for sign in (1.0, -1.0):
        torch.manual_seed(1)
        model = torch.nn.Linear(5, 3)
        hist = finetune(model, model.parameters(), x, y, FinetuneConfig(epochs=20, batch_size=64, lr=0.05, weight_decay=0.0,
                        warmup_steps=0), torch.device("cpu"), seed=0, desc="t", sign=sign)
        losses[sign] = (hist[0]["loss"], hist[-1]["loss"])
    assert losses[1.0][1] < losses[1.0][0]
    assert losses[-1.0][1] > losses[-1.0][0]


METRICS = [
    {"dataset": "cifar100", "attack": "badnet", "ca_zeroshot": 63.0, "ca_backdoored": 88.82, "asr_backdoored": 99.93,
     "alpha": 0.6, "ca_tbar": 86.78, "asr_tbar": 0.16},
    {"dataset": "cifar100", "attack": "wanet", "ca_zeroshot": 63.0, "ca_backdoored": 88.78, "asr_backdoored": 99.80,
     "alpha": 1.0, "ca_tbar": 84.90, "asr_tbar": 0.02},
]


def test_table_in_table1_layout():
    df, std = aggregate(build_table(METRICS))
    assert list(df.columns) == COLUMNS and std["n_seeds"].tolist() == [1, 1]
    assert df["ca_retention"].round(2).tolist() == [97.70, 95.63]
    assert df["asr_removal"].round(2).tolist() == [99.84, 99.98]
    md = to_markdown(df)
    assert "| BadNet | 63.00 | 88.82 | 99.93 | 0.6 | 86.78 (97.70%) | 0.16 (99.84%) |" in md
    assert md.count("*cifar100*") == 1
    tex = to_latex(df)
    assert r"\textit{cifar100}" in tex and r"86.78 \textcolor{gray}{(97.70\%)}" in tex and r"WaNet" in tex


def test_seeds_are_averaged_with_std_and_retention_from_means():
    seeds = [dict(METRICS[0], seed=0), dict(METRICS[0], seed=1, ca_tbar=84.78, asr_tbar=0.36)]
    per_seed = build_table(seeds)
    assert per_seed["seed"].tolist() == [0, 1]
    df, std = aggregate(per_seed)
    assert len(df) == 1 and df["ca_tbar"].iloc[0] == pytest.approx(85.78)
    assert df["ca_retention"].iloc[0] == pytest.approx(100 * 85.78 / 88.82)
    assert std["ca_tbar"].iloc[0] == pytest.approx(1.0) and std["n_seeds"].iloc[0] == 2
    md = to_markdown(df, std)
    assert "85.78 ± 1.00" in md and "88.82 ± 0.00" in md
    assert r"85.78 $\pm$ 1.00" in to_latex(df, std)


def test_random_resized_crop_boxes_follow_torchvisions_rule_and_the_batch_keeps_its_shape():
    from bdunlearn.data.augment import augment, crop_box, random_resized_crop

    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        t, left, h, w = crop_box(32, 32, (0.9, 1.0), (3 / 4, 4 / 3), gen)
        assert 0 <= t and t + h <= 32 and 0 <= left and left + w <= 32
        assert 0.85 <= h * w / 1024 <= 1.0  # scale 0.9-1.0 of the area, up to rounding
    # the whole image (scale 1, ratio 1) is the identity; a crop is a resized part of the image
    x = (torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    same = random_resized_crop(x, torch.Generator().manual_seed(2), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.equal(same, x.float() / 255)
    out = augment(x, "random_resized_crop", torch.Generator().manual_seed(2))
    assert out.shape == (3, 3, 16, 16) and out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1
    again = augment(x, "random_resized_crop", torch.Generator().manual_seed(2))
    assert torch.equal(out, again) and not torch.equal(out, x.float() / 255)
    assert augment(x, "none", gen) is x
    with pytest.raises(ValueError, match="finetune.augment"):
        augment(x, "flip", gen)
