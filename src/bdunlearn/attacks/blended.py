"""Blended (Chen et al., 2017): x' = (1 - ratio) x + ratio N with uniform noise N (paper: ratio 0.2).

Two styles (``attack_params.blended.style``): ``fixed`` (the embedded default)
draws one U[0, 1) noise image per attack; ``cleanclip`` draws fresh noise for
every image, as the CleanCLIP code the paper cites, seeded by ``(seed, uid)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bdunlearn.attacks import register
from bdunlearn.attacks.base import ImageAttack
from bdunlearn.attacks.image import STYLES, check_batch, check_style, generator


@register
@dataclass
class Blended(ImageAttack):
    """x' = (1 - ratio) x + ratio N, N ~ U[0, 1): one fixed noise image (``fixed``) or a fresh one per image
    (``cleanclip``; paper: ratio 0.2)."""

    name = "blended"
    label = "Blended"
    parameters = {
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "style": {"type": "string", "enum": list(STYLES),
                  "description": "fixed - one noise image per attack; cleanclip - fresh noise per image, as the CleanCLIP code"},
    }

    resolution: int
    seed: int = 0
    ratio: float = 0.2
    style: str = "fixed"

    def __post_init__(self):
        import torch

        check_style(self.name, self.style)
        g = generator("blended-noise", self.seed)
        self.noise = torch.rand((3, self.resolution, self.resolution), generator=g)

    def __call__(self, x, uids=None):
        import torch

        check_batch(x, self.resolution)
        if self.style == "fixed":
            noise = self.noise
        elif uids is None:
            raise ValueError("Blended with style 'cleanclip' draws noise per sample: pass the samples' uids")
        else:
            size = (3, self.resolution, self.resolution)
            noise = torch.stack([torch.rand(size, generator=generator("blended-noise", self.seed, int(u))) for u in uids])
        return ((1.0 - self.ratio) * x + self.ratio * noise).clamp_(0.0, 1.0)
