"""What the image triggers of the TBAR paper (appendix B.1) share: resolution scaling, seeded generators, checks.

Every image attack maps a float batch ``(N, 3, H, W)`` in ``[0, 1]`` at the
model's input resolution to a triggered batch in ``[0, 1]``. The attacks are
defined in the paper at 224 px; lengths given in pixels there (BadNet's patch
side, WaNet's control-grid size, SIG's period) are scaled by ``H / 224`` so
that the trigger covers the same fraction of the image at any resolution.

Determinism: the trigger pattern (BadNet's noise patch, Blended's noise image,
WaNet's warping field) is drawn once from the attack's seed, so one attack is
one fixed trigger, as in a real poisoning campaign; per-sample randomness
(BadNet's position, the ``cleanclip`` styles' fresh draws) comes from a
generator seeded by ``(seed, uid)``, so a sample gets the same trigger in every
run and in every split it appears in.

Torch is imported inside the functions (the registry is read at parse time).
"""

from __future__ import annotations

REFERENCE_RESOLUTION = 224
STYLES = ("fixed", "cleanclip")  # BadNet's and Blended's: one pattern per attack, or CleanCLIP's fresh draws


def scaled_length(length_at_224: float, resolution: int) -> int:
    """A pixel length defined at 224 px, scaled to ``resolution`` (at least 1)."""
    return max(1, int(round(length_at_224 * resolution / REFERENCE_RESOLUTION)))


def generator(*parts):
    """A torch generator seeded from ``parts`` (``bdunlearn.workflow.runtime.derive_seed``)."""
    import torch

    from bdunlearn.workflow.runtime import derive_seed

    g = torch.Generator()
    g.manual_seed(derive_seed(*parts))
    return g


def check_batch(x, resolution: int) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != resolution or x.shape[3] != resolution:
        raise ValueError(f"expected a float batch (N, 3, {resolution}, {resolution}), got {tuple(x.shape)}")


def check_style(attack: str, style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"config key 'attack_params.{attack}.style': {style!r}; allowed: {', '.join(STYLES)}")


def wrap_uint8(x):
    """What ``(x * 255).to(uint8)`` does to out-of-range values in CleanCLIP's conversion: truncate, then wrap
    modulo 256; returned on the [0, 1] scale (multiples of 1/255, so a later 8-bit conversion is exact)."""
    import torch

    return torch.remainder(torch.trunc(x * 255.0), 256.0) / 255.0


def to_float(images_u8):
    import torch

    return images_u8.to(torch.float32) / 255.0


def to_uint8(images):
    import torch

    return (images.clamp(0, 1) * 255.0).round().to(torch.uint8)
