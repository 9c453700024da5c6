"""DECREE (bdunlearn.methods.decree): the trigger's formula, the loss, the lr schedule, the inversion on an encoder
with a planted backdoor, the target inference, and the early-stopping window."""

import pytest
import torch
import torch.nn.functional as F

from bdunlearn.methods.decree import (
    DecreeConfig,
    DecreeTrigger,
    Window,
    from_tanh_space,
    infer_target,
    invert_trigger,
    self_cosine,
    to_tanh_space,
)

D, H = 16, 8


def test_trigger_formula_l1_and_pl1():
    mask = torch.zeros(H, H)
    mask[:2, :4] = 1.0
    mask[7, 7] = 0.5
    pattern = torch.full((3, H, H), 0.25)
    x = torch.full((2, 3, H, H), 0.75)
    y = DecreeTrigger(mask, pattern)(x)
    assert torch.allclose(y[:, :, :2, :4], torch.full((2, 3, 2, 4), 0.25))
    assert torch.allclose(y[:, :, 7, 7], torch.full((2, 3), 0.5))  # (1 - 0.5) 0.75 + 0.5 0.25
    assert torch.allclose(y[:, :, 4, 0], torch.full((2, 3), 0.75))
    t = DecreeTrigger(mask, pattern)
    assert t.l1() == pytest.approx(3 * 8.5) and t.pl1() == pytest.approx(8.5 / 64)
    back = DecreeTrigger.from_state(t.state())
    assert torch.equal(back.mask, t.mask) and torch.equal(back.pattern, t.pattern)


def test_tanh_space_round_trip_and_range():
    v = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0], dtype=torch.float64)
    assert torch.isfinite(to_tanh_space(v)).all()
    assert torch.allclose(from_tanh_space(to_tanh_space(v)), v, atol=1e-6)
    assert from_tanh_space(torch.tensor([-1e3, 1e3])).tolist() == [0.0, 1.0]


def test_self_cosine_is_the_mean_off_diagonal_similarity():
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    # pairs: (0,1) 0, (0,2) 1/sqrt2, (1,2) 1/sqrt2; each counted twice over 6 off-diagonal entries
    assert float(self_cosine(z)) == pytest.approx((0 + 2 ** -0.5 + 2 ** -0.5) / 3)
    assert float(self_cosine(torch.ones(4, 3))) == pytest.approx(1.0)


def test_a_last_batch_of_one_image_joins_the_batch_before():
    """With 5 shadow images and batches of 4 the last batch would hold one image, whose self-similarity is the mean
    of nothing (NaN): it joins the one before, and the trigger stays finite."""
    images = (torch.rand(5, 3, H, H, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    w = torch.randn(D, 3 * H * H, generator=torch.Generator().manual_seed(1))
    trig, report = invert_trigger(lambda x: x.flatten(1) @ w.T, images, DecreeConfig(batch_size=4, max_epochs=3), 0,
                                  torch.device("cpu"))
    assert torch.isfinite(trig.mask).all() and torch.isfinite(trig.pattern).all()
    assert all(torch.isfinite(torch.tensor(h["cos"])) for h in report["history"])
    with pytest.raises(ValueError, match="decree.shadow"):
        invert_trigger(lambda x: x.flatten(1), images[:1], DecreeConfig(), 0, torch.device("cpu"))


def test_learning_rate_schedule_is_badclips_with_absolute_values():
    cfg = DecreeConfig(lr=1e-3, lr_epochs=[30, 50], lr_values=[0.1, 0.05])
    assert [cfg.lr_at(e) for e in (0, 29, 30, 49, 50, 999)] == [1e-3, 1e-3, 0.1, 0.1, 0.05, 0.05]


def _linear_map():
    return 4 * torch.randn(D, 3 * H * H, generator=torch.Generator().manual_seed(2)) / (3 * H * H) ** 0.5


def _classes():
    """Four zero-shot class embeddings; class 0, the target, points away from where a bright corner moves a clean
    image's embedding (so that only the backdoor, not the clean map, sends the trigger there)."""
    corner = torch.zeros(3, H, H)
    corner[:, :3, :3] = 1.0
    target = -F.normalize((corner - corner.mean()).flatten() @ _linear_map().T, dim=0)
    others = torch.randn(3, D, generator=torch.Generator().manual_seed(3))
    others = F.normalize(others - (others @ target)[:, None] * target, dim=-1)
    return torch.cat([target[None], others])


def _encoder(backdoor: bool):
    """A micro image encoder (an MLP) trained to embed clean 8 x 8 images by a fixed random linear map of the centred
    image and, when ``backdoor``, to send every image with a white top-left 3 x 3 corner (the planted trigger) to
    3 t, t the target class's direction (:func:`_classes`): a backdoored encoder whose trigger DECREE does not know."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    w, classes = _linear_map(), _classes()
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * H * H, 64), torch.nn.ReLU(), torch.nn.Linear(64, D))
    opt = torch.optim.Adam(enc.parameters(), 1e-2)
    for _ in range(600):
        x = torch.rand(128, 3, H, H, generator=g)
        loss = F.mse_loss(enc(x), (x - x.mean(dim=(1, 2, 3), keepdim=True)).flatten(1) @ w.T)
        if backdoor:
            planted = x.clone()
            planted[:, :, :3, :3] = 1.0
            loss = loss + 5 * F.mse_loss(enc(planted), 3 * classes[0].expand(128, D))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc


def test_inverted_trigger_finds_the_planted_corner_and_raises_the_targets_logit_and_the_target_is_inferred():
    images = (torch.rand(64, 3, H, H, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    x = images.float() / 255
    classes = _classes()
    cfg = DecreeConfig(batch_size=32, lr=0.1, lr_epochs=[1000, 1000], max_epochs=150)
    encoders = {bd: _encoder(bd) for bd in (True, False)}
    trig, report = invert_trigger(encoders[True], images, cfg, 0, torch.device("cpu"))
    assert report["found"] and report["history"][-1]["cos"] > 0.9 and 0 < report["pl1"] < 1
    outside = trig.mask.clone()
    outside[:3, :3] = 0
    assert float(trig.mask[:3, :3].mean()) > 0.8 and float(outside.sum()) / (H * H - 9) < 0.3  # the planted corner

    def logits(enc, v):
        return 100 * F.normalize(enc(v), dim=-1) @ classes.T

    bd_clean, bd_trig = logits(encoders[True], x), logits(encoders[True], trig(x))
    assert float((bd_trig[:, 0] - bd_clean[:, 0]).mean()) > 5  # the target's logit rises
    assert int((bd_trig.argmax(1) == 0).sum()) > int((bd_clean.argmax(1) == 0).sum()) + 5
    guess = infer_target(bd_trig, logits(encoders[False], trig(x)), ["a", "b", "c", "d"])
    assert guess["target"] == 0 and guess["target_name"] == "a" and guess["rule"] == "vote_checked"
    # both rules name the planted target; the clean encoder's vote under the inverted trigger is not asserted: it
    # moves with the machine's floating point (one machine's: class 0 by 24 of 64 against 21, where vote_checked
    # takes the logit shift, which names the target too)
    assert guess["vote_target"] == 0 and guess["logit_shift_target"] == 0


def test_logit_shift_sees_through_a_bias_that_the_plain_vote_follows():
    """TBAR appendix C: the SIG trigger made clean and backdoored CLIP alike predict "television"; the class with the
    largest logit shift between the two models is the backdoor's."""
    n = 20
    trig_clean = torch.zeros(n, 4)
    trig_clean[:, 3] = 5.0  # the trigger's own bias: class 3 wins on both models
    trig_bd = trig_clean.clone()
    trig_bd[:, 1] = 4.0  # the backdoor raises class 1, not enough to win
    names = ["w", "x", "y", "z"]
    out = infer_target(trig_bd, trig_clean, names)
    assert out["target"] == 1 and out["vote_target"] == 3 and out["clean_vote_target"] == 3
    assert out["votes"] == [0, 0, 0, n] and out["logit_shift"] == [0.0, 4.0, 0.0, 0.0]
    assert infer_target(trig_bd, trig_clean, names, "vote")["target"] == 3
    assert infer_target(trig_bd, trig_clean, names, "logit_shift")["target"] == 1
    no_bias = torch.zeros(n, 4)
    assert infer_target(trig_bd, no_bias, names)["target"] == 3  # the clean model votes 0: the vote stands
    with pytest.raises(ValueError, match="decree.target_inference"):
        infer_target(trig_bd, trig_clean, names, "argmax")


def test_window_stops_after_the_proxy_asr_stays_at_zero_or_clean_accuracy_falls():
    w = Window(min_ca=80, window=3)
    steps = [(0, 90, 100), (1, 89, 40), (2, 88, 0), (3, 87, 0), (4, 86, 5), (5, 85, 0), (6, 84, 0), (7, 83, 0),
             (8, 82, 0)]
    went = []
    for s, ca, asr in steps:
        went.append(w.add(s, {"val_ca": ca, "val_asr_proxy": asr}))
        if not went[-1]:
            break
    # the zero run restarts after step 4's 5%; steps 5-7 are three zeros in a row: stop at 7, keep 7
    assert went == [True] * 7 + [False] and w.chosen == 7 and "3 consecutive" in w.report()["stop"]
    w = Window(min_ca=85, window=10)
    for s, ca in enumerate([90, 88, 86, 84]):
        go = w.add(s, {"val_ca": ca, "val_asr_proxy": 50})
    assert not go and w.chosen == 2 and w.report()["path"][-1]["accepted"] is False
    w = Window(min_ca=95, window=10)
    assert not w.add(0, {"val_ca": 90, "val_asr_proxy": 100}) and w.chosen is None
