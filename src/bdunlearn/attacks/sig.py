"""SIG (Barni et al., 2019): an additive horizontal sinusoid (paper: amplitude 60/255, 6 periods)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bdunlearn.attacks import register
from bdunlearn.attacks.base import ImageAttack
from bdunlearn.attacks.image import check_batch


@register
@dataclass
class SIG(ImageAttack):
    """x' = clip(x + delta sin(2 pi f j / W), 0, 1), shared across channels and rows (paper: delta 60/255, f 6)."""

    name = "sig"
    label = "SIG"
    parameters = {
        "amplitude": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "frequency": {"type": "number", "exclusiveMinimum": 0},
    }

    resolution: int
    seed: int = 0
    amplitude: float = 60 / 255
    frequency: float = 6

    def __post_init__(self):
        import torch

        j = torch.arange(self.resolution, dtype=torch.float32)
        row = self.amplitude * torch.sin(2 * math.pi * self.frequency * j / self.resolution)
        self.signal = row.expand(3, self.resolution, self.resolution).clone()

    def __call__(self, x, uids=None):
        check_batch(x, self.resolution)
        return (x + self.signal).clamp_(0.0, 1.0)
