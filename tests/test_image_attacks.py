import math

import pytest
import torch

from bdunlearn import attacks
from bdunlearn.attacks.badnet import BadNet
from bdunlearn.attacks.blended import Blended
from bdunlearn.attacks.image import generator as _generator
from bdunlearn.attacks.image import scaled_length, to_float, to_uint8, wrap_uint8
from bdunlearn.attacks.sig import SIG
from bdunlearn.attacks.wanet import WaNet


def batch(n=4, res=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 3, res, res), generator=g)


def test_scaled_lengths_follow_224px_definitions():
    assert scaled_length(16, 224) == 16
    assert scaled_length(16, 32) == 2  # 16 * 32 / 224 = 2.29
    assert scaled_length(16, 64) == 5  # 4.57
    assert scaled_length(224, 32) == 32
    assert scaled_length(16, 8) == 1  # never below one pixel


def test_sig_exact_values_shared_across_channels_and_rows():
    res = 224
    out = SIG(res)(torch.zeros((1, 3, res, res)))
    j = torch.arange(res, dtype=torch.float32)
    expected_row = (60 / 255 * torch.sin(2 * math.pi * 6 * j / 224)).clamp(0, 1)
    for c in range(3):
        for i in (0, 100, 223):
            torch.testing.assert_close(out[0, c, i], expected_row, rtol=0, atol=1e-7)
    # on a mid-grey image the negative half of the sine is visible too (clip only at 0 and 1)
    grey = SIG(res)(torch.full((1, 3, res, res), 0.5))
    torch.testing.assert_close(grey[0, 0, 0], 0.5 + 60 / 255 * torch.sin(2 * math.pi * 6 * j / 224), rtol=0, atol=1e-6)


def test_sig_clips_to_unit_range():
    out = SIG(32)(torch.ones((2, 3, 32, 32)))
    assert out.max() <= 1.0 and out.min() >= 0.0
    assert torch.equal(out.max(dim=-1).values, torch.ones(2, 3, 32))


def test_blended_is_exact_convex_combination_with_fixed_uniform_noise():
    x = batch()
    att = Blended(32, seed=3)
    assert att.noise.min() >= 0 and att.noise.max() < 1
    torch.testing.assert_close(att(x), 0.8 * x + 0.2 * att.noise, rtol=0, atol=1e-7)
    # the pattern is fixed by the seed
    assert torch.equal(Blended(32, seed=3).noise, att.noise)
    assert not torch.equal(Blended(32, seed=4).noise, att.noise)


def test_badnet_patch_inside_image_and_only_patch_changes():
    res = 32
    att = BadNet(res, seed=1)
    x = batch(n=50, res=res)
    uids = list(range(1000, 1050))
    out = att(x, uids)
    positions = set()
    for i, uid in enumerate(uids):
        r, c = att.position(uid)
        positions.add((r, c))
        assert 0 <= r <= res - att.side and 0 <= c <= res - att.side
        mask = torch.zeros((res, res), dtype=torch.bool)
        mask[r : r + att.side, c : c + att.side] = True
        torch.testing.assert_close(out[i][:, mask].view(3, att.side, att.side), att.patch.clamp(0, 1), rtol=0, atol=0)
        assert torch.equal(out[i][:, ~mask], x[i][:, ~mask])
    assert len(positions) > 10  # positions vary across samples


def test_badnet_deterministic_per_sample_and_seeded_pattern():
    x = batch(n=3)
    a, b = BadNet(32, seed=7), BadNet(32, seed=7)
    assert torch.equal(a(x, [1, 2, 3]), b(x, [1, 2, 3]))
    assert a.position(5) == b.position(5)
    assert torch.equal(a.patch, b.patch)
    assert not torch.equal(BadNet(32, seed=8).patch, a.patch)
    # the patch is N(0, 1) at 224 px: 3 x 16 x 16 values
    big = BadNet(224, seed=0)
    assert big.patch.shape == (3, 16, 16)
    assert abs(float(big.patch.mean())) < 0.2 and 0.8 < float(big.patch.std()) < 1.2


def test_wanet_range_determinism_and_small_warp():
    x = batch(n=2, res=32)
    a, b = WaNet(32, seed=2), WaNet(32, seed=2)
    assert a.k == 32  # k = 224 at 224 px
    out = a(x)
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, b(x))
    assert not torch.equal(out, x)
    # the displacement is s * noise / H in [-1, 1] units: a tiny strength is nearly the identity
    almost = WaNet(32, seed=2, strength=1e-6)(x)
    torch.testing.assert_close(almost, x, rtol=0, atol=1e-4)
    # a constant image is unchanged by any warp
    flat = torch.full((1, 3, 32, 32), 0.3)
    torch.testing.assert_close(a(flat), flat, rtol=0, atol=1e-6)


def make_attack(name, resolution, seed=0, **params):
    return attacks.get(name, "image").build(seed, resolution, **params)


def test_make_attack_rejects_unknown_names_and_params():
    with pytest.raises(ValueError, match="unknown image attack 'trojan'"):
        make_attack("trojan", 32)
    with pytest.raises(ValueError, match="unknown image attack 'badnets'; allowed: badnet, blended, wanet, sig, badclip$"):
        make_attack("badnets", 32)  # a text attack
    with pytest.raises(ValueError, match="unknown parameter"):
        make_attack("badnet", 32, ratio=0.3)
    assert isinstance(make_attack("sig", 32, frequency=3), SIG)


def test_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="expected a float batch"):
        SIG(32)(torch.zeros((1, 3, 16, 16)))


def test_uint8_roundtrip():
    u = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(to_uint8(to_float(u)), u)


def test_wrap_uint8_matches_cleanclips_unclipped_conversion():
    x = torch.tensor([1.2, -0.5, 0.5, 1.0, 0.0])
    # (x * 255).to(uint8) on the values CleanCLIP produces: 306 -> 50, -127 -> 129
    assert (wrap_uint8(x) * 255).round().tolist() == [50.0, 129.0, 127.0, 255.0, 0.0]


def test_cleanclip_badnet_draws_a_fresh_wrapped_patch_around_each_images_mean():
    attack = BadNet(resolution=32, seed=3, patch_size=56, style="cleanclip")  # 8 px at 32 px
    x = torch.stack([torch.full((3, 32, 32), 0.2), torch.full((3, 32, 32), 0.7)])
    out = attack(x, [10, 11])
    patches = []
    for i, uid in enumerate([10, 11]):
        r, c = attack.position(uid)
        patch = out[i, :, r : r + 8, c : c + 8]
        noise = torch.randn((3, 8, 8), generator=_generator("badnet-patch", 3, uid))
        torch.testing.assert_close(patch, wrap_uint8(x[i].mean(dim=(1, 2))[:, None, None] + noise))
        mask = torch.ones(32, 32, dtype=torch.bool)
        mask[r : r + 8, c : c + 8] = False
        assert torch.equal(out[i][:, mask], x[i][:, mask])  # nothing else changes
        patches.append(patch)
    assert not torch.equal(patches[0], patches[1])  # fresh per image
    assert torch.equal(attack(x, [10, 11]), out)  # seeded by (seed, uid)
    # wrapping, not clipping: N(0, 1) around 0.2 leaves [0, 1] for many pixels, which land far from 0 and 1
    raw = 0.2 + torch.randn((3, 8, 8), generator=_generator("badnet-patch", 3, 10))
    outside = (raw < 0) | (raw > 1)
    assert outside.sum() > 20 and (patches[0][outside] - raw.clamp(0, 1)[outside]).abs().max() > 0.3
    with pytest.raises(ValueError, match="attack_params.badnet.style"):
        BadNet(resolution=32, style="random")


def test_cleanclip_blended_draws_fresh_noise_per_image():
    attack = Blended(resolution=16, seed=1, ratio=0.2, style="cleanclip")
    x = torch.full((2, 3, 16, 16), 0.5)
    out = attack(x, [4, 5])
    for i, uid in enumerate([4, 5]):
        noise = torch.rand((3, 16, 16), generator=_generator("blended-noise", 1, uid))
        torch.testing.assert_close(out[i], 0.8 * x[i] + 0.2 * noise)
    assert not torch.equal(out[0], out[1])
    with pytest.raises(ValueError, match="uids"):
        attack(x)
