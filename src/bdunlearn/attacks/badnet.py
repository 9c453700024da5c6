"""BadNet (Gu et al., 2017): an N(0, 1) noise patch pasted at a per-sample random position.

Two styles (``attack_params.badnet.style``), where the paper is silent:
``fixed`` (the embedded default) draws one N(0, 1) patch per attack and clips
it to ``[0, 1]``; ``cleanclip`` follows the CleanCLIP code the paper cites
(``backdoor/utils.py``): a fresh patch for every image, the image's
per-channel mean plus N(0, 1), converted to 8 bits without clipping so that
values wrap modulo 256 (1.2 -> 50, -0.5 -> 129). CleanCLIP does not seed its
draws; here they come from ``(seed, uid)``, so a sample carries the same
trigger in every run. ``docs/fidelity.md`` lists these differences.
"""

from __future__ import annotations

from dataclasses import dataclass

from bdunlearn.attacks import register
from bdunlearn.attacks.base import ImageAttack
from bdunlearn.attacks.image import STYLES, check_batch, check_style, generator, scaled_length, wrap_uint8


@register
@dataclass
class BadNet(ImageAttack):
    """An N(0, 1) noise patch pasted at a per-sample random position: one fixed, clipped patch (``fixed``) or a
    fresh patch per image around the image's channel means, wrapped to 8 bits (``cleanclip``)."""

    name = "badnet"
    label = "BadNet"
    parameters = {
        "patch_size": {"type": "number", "exclusiveMinimum": 0, "description": "patch side at 224 px"},
        "style": {"type": "string", "enum": list(STYLES),
                  "description": "fixed - one clipped N(0,1) patch per attack; cleanclip - a fresh patch per image "
                                 "(channel means + N(0,1)) wrapped to 8 bits, as the CleanCLIP code"},
    }

    resolution: int
    seed: int = 0
    patch_size: float = 16  # at 224 px
    style: str = "fixed"

    def __post_init__(self):
        import torch

        check_style(self.name, self.style)
        self.side = scaled_length(self.patch_size, self.resolution)
        if self.side > self.resolution:
            raise ValueError(f"BadNet patch side {self.side} exceeds the image side {self.resolution}")
        self.patch = torch.randn((3, self.side, self.side), generator=generator("badnet-patch", self.seed))

    def patch_for(self, image, uid: int):
        """The patch of one image: the fixed one, or (cleanclip) its channel means plus fresh N(0, 1) noise."""
        import torch

        if self.style == "fixed":
            return self.patch
        noise = torch.randn((3, self.side, self.side), generator=generator("badnet-patch", self.seed, int(uid)))
        return wrap_uint8(image.mean(dim=(1, 2))[:, None, None] + noise)

    def position(self, uid: int) -> tuple[int, int]:
        """Top-left corner (row, column) of the patch for sample ``uid``; the patch lies inside the image."""
        import torch

        hi = self.resolution - self.side + 1
        g = generator("badnet-position", self.seed, int(uid))
        r, c = torch.randint(0, hi, (2,), generator=g).tolist()
        return r, c

    def __call__(self, x, uids):
        check_batch(x, self.resolution)
        out = x.clone()
        for i, uid in enumerate(uids):
            r, c = self.position(uid)
            out[i, :, r : r + self.side, c : c + self.side] = self.patch_for(x[i], uid)
        return out.clamp_(0.0, 1.0)
