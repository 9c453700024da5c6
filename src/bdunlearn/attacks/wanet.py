"""WaNet (Nguyen & Tran, 2021): a fixed smooth warping field with grid size k and strength s.

It follows the CleanCLIP / Qi et al. implementation the paper cites: a uniform
field in ``[-1, 1]`` of shape ``(2, k, k)`` normalised by its mean absolute
value, bicubically upsampled to ``H``, added to the identity grid with weight
``s / H``, clamped to ``[-1, 1]`` and applied by bilinear ``grid_sample``
(``align_corners=True``); no noise mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from bdunlearn.attacks import register
from bdunlearn.attacks.base import ImageAttack
from bdunlearn.attacks.image import check_batch, generator, scaled_length


@register
@dataclass
class WaNet(ImageAttack):
    """Warping-based trigger (Nguyen & Tran, 2021) with grid size k and strength s."""

    name = "wanet"
    label = "WaNet"
    parameters = {
        "grid_size": {"type": "number", "minimum": 2, "description": "control grid k at 224 px"},
        "strength": {"type": "number", "exclusiveMinimum": 0},
    }

    resolution: int
    seed: int = 0
    grid_size: float = 224  # k at 224 px
    strength: float = 1.0  # s

    def __post_init__(self):
        import torch
        import torch.nn.functional as F

        k = scaled_length(self.grid_size, self.resolution)
        self.k = k
        g = generator("wanet-grid", self.seed)
        ins = torch.rand((1, 2, k, k), generator=g) * 2 - 1
        ins = ins / ins.abs().mean()
        noise_grid = F.interpolate(ins, size=self.resolution, mode="bicubic", align_corners=True)
        noise_grid = noise_grid.permute(0, 2, 3, 1)
        line = torch.linspace(-1, 1, steps=self.resolution)
        xx, yy = torch.meshgrid(line, line, indexing="ij")
        identity = torch.stack((yy, xx), dim=2)[None]
        self.grid = (identity + self.strength * noise_grid / self.resolution).clamp(-1, 1)

    def __call__(self, x, uids=None):
        import torch.nn.functional as F

        check_batch(x, self.resolution)
        grid = self.grid.expand(x.shape[0], -1, -1, -1).to(x.dtype)
        return F.grid_sample(x, grid, mode="bilinear", align_corners=True).clamp_(0.0, 1.0)
