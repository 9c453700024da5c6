"""Image backdoor triggers of the TBAR paper, appendix B.1 (used by ``poison_images``).

Every attack maps a float batch ``(N, 3, H, W)`` in ``[0, 1]`` at the model's
input resolution to a triggered batch in ``[0, 1]``. The attacks are defined in
the paper at 224 px; lengths given in pixels there (BadNet's patch side,
WaNet's control-grid size, SIG's period) are scaled by ``H / 224`` so that the
trigger covers the same fraction of the image at any resolution.

Determinism: the trigger pattern (BadNet's noise patch, Blended's noise image,
WaNet's warping field) is drawn once from the attack's seed, so one attack is
one fixed trigger, as in a real poisoning campaign; per-sample randomness
(BadNet's position) is drawn from a generator seeded by ``(seed, uid)``, so a
sample gets the same trigger in every run and in every split it appears in.

Choices where the paper is silent:

- BadNet and Blended have two styles (``attack_params.<attack>.style``):
  ``fixed`` (the embedded default) draws one N(0, 1) patch / one U[0, 1) noise
  image per attack, and clips BadNet's patch to ``[0, 1]``; ``cleanclip``
  follows the CleanCLIP code the paper cites (``backdoor/utils.py``): a fresh
  patch for every image, the image's per-channel mean plus N(0, 1), converted
  to 8 bits without clipping so that values wrap modulo 256 (1.2 -> 50,
  -0.5 -> 129), and fresh Blended noise for every image. CleanCLIP does not
  seed its draws; here they come from ``(seed, uid)``, so a sample carries the
  same trigger in every run. ``docs/fidelity.md`` lists these differences.
- WaNet follows the CleanCLIP / Qi et al. implementation the paper cites:
  a uniform field in ``[-1, 1]`` of shape ``(2, k, k)`` normalised by its mean
  absolute value, bicubically upsampled to ``H``, added to the identity grid
  with weight ``s / H``, clamped to ``[-1, 1]`` and applied by bilinear
  ``grid_sample`` (``align_corners=True``); no noise mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .runtime import derive_seed

REFERENCE_RESOLUTION = 224
ATTACKS = ("badnet", "blended", "wanet", "sig")


def scaled_length(length_at_224: float, resolution: int) -> int:
    """A pixel length defined at 224 px, scaled to ``resolution`` (at least 1)."""
    return max(1, int(round(length_at_224 * resolution / REFERENCE_RESOLUTION)))


def _generator(*parts) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(derive_seed(*parts))
    return g


def _check_batch(x: torch.Tensor, resolution: int) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != resolution or x.shape[3] != resolution:
        raise ValueError(f"expected a float batch (N, 3, {resolution}, {resolution}), got {tuple(x.shape)}")


STYLES = ("fixed", "cleanclip")


def _check_style(attack: str, style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"config key 'attack_params.{attack}.style': {style!r}; allowed: {', '.join(STYLES)}")


def wrap_uint8(x: torch.Tensor) -> torch.Tensor:
    """What ``(x * 255).to(uint8)`` does to out-of-range values in CleanCLIP's conversion: truncate, then wrap
    modulo 256; returned on the [0, 1] scale (multiples of 1/255, so a later 8-bit conversion is exact)."""
    return torch.remainder(torch.trunc(x * 255.0), 256.0) / 255.0


@dataclass
class BadNet:
    """An N(0, 1) noise patch pasted at a per-sample random position: one fixed, clipped patch (``fixed``) or a
    fresh patch per image around the image's channel means, wrapped to 8 bits (``cleanclip``)."""

    resolution: int
    seed: int = 0
    patch_size: float = 16  # at 224 px
    style: str = "fixed"

    def __post_init__(self):
        _check_style("badnet", self.style)
        self.side = scaled_length(self.patch_size, self.resolution)
        if self.side > self.resolution:
            raise ValueError(f"BadNet patch side {self.side} exceeds the image side {self.resolution}")
        self.patch = torch.randn((3, self.side, self.side), generator=_generator("badnet-patch", self.seed))

    def patch_for(self, image: torch.Tensor, uid: int) -> torch.Tensor:
        """The patch of one image: the fixed one, or (cleanclip) its channel means plus fresh N(0, 1) noise."""
        if self.style == "fixed":
            return self.patch
        noise = torch.randn((3, self.side, self.side), generator=_generator("badnet-patch", self.seed, int(uid)))
        return wrap_uint8(image.mean(dim=(1, 2))[:, None, None] + noise)

    def position(self, uid: int) -> tuple[int, int]:
        """Top-left corner (row, column) of the patch for sample ``uid``; the patch lies inside the image."""
        hi = self.resolution - self.side + 1
        g = _generator("badnet-position", self.seed, int(uid))
        r, c = torch.randint(0, hi, (2,), generator=g).tolist()
        return r, c

    def __call__(self, x: torch.Tensor, uids) -> torch.Tensor:
        _check_batch(x, self.resolution)
        out = x.clone()
        for i, uid in enumerate(uids):
            r, c = self.position(uid)
            out[i, :, r : r + self.side, c : c + self.side] = self.patch_for(x[i], uid)
        return out.clamp_(0.0, 1.0)


@dataclass
class Blended:
    """x' = (1 - ratio) x + ratio N, N ~ U[0, 1): one fixed noise image (``fixed``) or a fresh one per image
    (``cleanclip``; paper: ratio 0.2)."""

    resolution: int
    seed: int = 0
    ratio: float = 0.2
    style: str = "fixed"

    def __post_init__(self):
        _check_style("blended", self.style)
        g = _generator("blended-noise", self.seed)
        self.noise = torch.rand((3, self.resolution, self.resolution), generator=g)

    def __call__(self, x: torch.Tensor, uids=None) -> torch.Tensor:
        _check_batch(x, self.resolution)
        if self.style == "fixed":
            noise = self.noise
        elif uids is None:
            raise ValueError("Blended with style 'cleanclip' draws noise per sample: pass the samples' uids")
        else:
            size = (3, self.resolution, self.resolution)
            noise = torch.stack([torch.rand(size, generator=_generator("blended-noise", self.seed, int(u))) for u in uids])
        return ((1.0 - self.ratio) * x + self.ratio * noise).clamp_(0.0, 1.0)


@dataclass
class WaNet:
    """Warping-based trigger (Nguyen & Tran, 2021) with grid size k and strength s."""

    resolution: int
    seed: int = 0
    grid_size: float = 224  # k at 224 px
    strength: float = 1.0  # s

    def __post_init__(self):
        k = scaled_length(self.grid_size, self.resolution)
        self.k = k
        g = _generator("wanet-grid", self.seed)
        ins = torch.rand((1, 2, k, k), generator=g) * 2 - 1
        ins = ins / ins.abs().mean()
        noise_grid = F.interpolate(ins, size=self.resolution, mode="bicubic", align_corners=True)
        noise_grid = noise_grid.permute(0, 2, 3, 1)
        line = torch.linspace(-1, 1, steps=self.resolution)
        xx, yy = torch.meshgrid(line, line, indexing="ij")
        identity = torch.stack((yy, xx), dim=2)[None]
        self.grid = (identity + self.strength * noise_grid / self.resolution).clamp(-1, 1)

    def __call__(self, x: torch.Tensor, uids=None) -> torch.Tensor:
        _check_batch(x, self.resolution)
        grid = self.grid.expand(x.shape[0], -1, -1, -1).to(x.dtype)
        return F.grid_sample(x, grid, mode="bilinear", align_corners=True).clamp_(0.0, 1.0)


@dataclass
class SIG:
    """x' = clip(x + delta sin(2 pi f j / W), 0, 1), shared across channels and rows (paper: delta 60/255, f 6)."""

    resolution: int
    seed: int = 0
    amplitude: float = 60 / 255
    frequency: float = 6

    def __post_init__(self):
        j = torch.arange(self.resolution, dtype=torch.float32)
        row = self.amplitude * torch.sin(2 * math.pi * self.frequency * j / self.resolution)
        self.signal = row.expand(3, self.resolution, self.resolution).clone()

    def __call__(self, x: torch.Tensor, uids=None) -> torch.Tensor:
        _check_batch(x, self.resolution)
        return (x + self.signal).clamp_(0.0, 1.0)


_CLASSES = {"badnet": BadNet, "blended": Blended, "wanet": WaNet, "sig": SIG}


def make_attack(name: str, resolution: int, seed: int = 0, **params):
    """Build an attack by name; unknown names and parameters get an error naming them."""
    if name not in _CLASSES:
        raise ValueError(f"unknown image attack {name!r}; allowed: {', '.join(ATTACKS)}")
    cls = _CLASSES[name]
    allowed = set(cls.__dataclass_fields__) - {"resolution", "seed"}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for attack {name!r}; allowed: {sorted(allowed)}")
    return cls(resolution=resolution, seed=seed, **params)


def to_float(images_u8: torch.Tensor) -> torch.Tensor:
    return images_u8.to(torch.float32) / 255.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255.0).round().to(torch.uint8)
