"""Training-time image augmentation of CLIP fine-tuning (TBAR's recipe follows Ilharco et al., 2022).

The task_vectors code fine-tunes with open_clip's training transform:
``RandomResizedCrop(size, scale=(0.9, 1.0))`` with torchvision's default aspect
ratios (3/4 to 4/3) and bicubic resampling, and no flip. :func:`random_resized_crop`
does the same on a batch of images already at the model's resolution, with
crop boxes drawn from a seeded generator (torchvision's rule: up to 10
attempts, then the largest centred box of allowed aspect ratio).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

AUGMENTS = ("none", "random_resized_crop")


def crop_box(h: int, w: int, scale: tuple[float, float], ratio: tuple[float, float],
             gen: torch.Generator) -> tuple[int, int, int, int]:
    """(top, left, height, width) of one RandomResizedCrop box, torchvision's ``get_params``."""
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * float(torch.empty(1).uniform_(scale[0], scale[1], generator=gen))
        aspect = math.exp(float(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=gen)))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
            return top, left, ch, cw
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        ch, cw = h, int(round(h * ratio[1]))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def random_resized_crop(x: torch.Tensor, gen: torch.Generator, scale=(0.9, 1.0), ratio=(3 / 4, 4 / 3)) -> torch.Tensor:
    """Each image of ``x`` (N, 3, H, W; uint8 or float in [0, 1]) cropped and resized back to H x W (bicubic),
    as float in [0, 1]."""
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    h, w = x.shape[-2:]
    out = torch.empty_like(x)
    for i in range(len(x)):
        t, left, ch, cw = crop_box(h, w, scale, ratio, gen)
        crop = x[i : i + 1, :, t : t + ch, left : left + cw]
        out[i] = F.interpolate(crop, size=(h, w), mode="bicubic", align_corners=False)[0] if (ch, cw) != (h, w) else crop[0]
    return out.clamp_(0.0, 1.0)


def augment(x, kind: str, gen: torch.Generator):
    """``x`` with the training augmentation ``kind`` (``none`` returns it unchanged)."""
    if kind == "none":
        return x
    if kind == "random_resized_crop":
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise ValueError("config key 'finetune.augment': random_resized_crop is for image models (an N x 3 x H x W batch)")
        return random_resized_crop(x, gen)
    raise ValueError(f"config key 'finetune.augment': {kind!r}; allowed: {', '.join(AUGMENTS)}")
