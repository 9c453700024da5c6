"""CLIP as a classifier (the ``clip`` model kind): the visual tower with a frozen zero-shot head.

``ClipClassifier`` follows Ilharco et al. (2022):
``logits = head(normalize(visual(normalize_pixels(x))))`` where the head rows
are the normalised class text embeddings scaled by the CLIP logit scale. Inputs
are uint8 images ``(N, 3, H, W)``; pixel normalisation happens inside, so data
stays compact in memory. Its editable state is the visual encoder's (what TBAR's
task vectors span).
"""

from __future__ import annotations

import torch
from torch import nn


class ClipClassifier(nn.Module):
    def __init__(self, visual: nn.Module, head_weight: torch.Tensor, mean, std):
        super().__init__()
        self.visual = visual
        self.register_buffer("head_weight", head_weight.detach().clone(), persistent=False)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def num_classes(self) -> int:
        return self.head_weight.shape[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.to(torch.float32) / 255.0
        x = (x - self.mean) / self.std
        f = self.visual(x)
        return f / f.norm(dim=-1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.head_weight.to(torch.float32).T

    def editable_state(self) -> dict[str, torch.Tensor]:
        """The visual encoder's floating-point state (what TBAR's task vectors span)."""
        return {k: v for k, v in self.visual.state_dict().items() if v.is_floating_point()}

    def editable_parameters(self):
        return [p for p in self.visual.parameters()]

    def head_parameter_names(self) -> list[str]:
        """None: the zero-shot head is a frozen buffer, every editable tensor is the encoder's."""
        return []

    def named_editable_parameters(self) -> dict[str, nn.Parameter]:
        return dict(self.visual.named_parameters())

    def load_split(self, path):
        return load_image_split(path)

    def encode_frame(self, df):
        """Rows of a split's DataFrame (``image`` PNG bytes, ``label``) as (uint8 images, int64 labels)."""
        from bdunlearn.data.io import decode_images

        return decode_images(df["image"]), torch.tensor(df["label"].to_numpy(), dtype=torch.long)

    def load_editable_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy ``state`` into the editable tensors in place (no reallocation)."""
        own = self.visual.state_dict()
        missing = set(own) - set(state)
        missing = {k for k in missing if own[k].is_floating_point()}
        if missing:
            raise KeyError(f"state is missing {len(missing)} editable tensors, e.g. {sorted(missing)[:3]}")
        with torch.no_grad():
            for k, v in state.items():
                own[k].copy_(v)


def load_clip_classifier(pretrained_dir, head_path, visual_weights=None, device="cpu") -> ClipClassifier:
    """CLIP classifier from ``pretrain_clip``'s directory, a ``build_head`` head and optional visual weights."""
    from pathlib import Path

    from bdunlearn.data.io import load_weights
    from bdunlearn.models.open_clip_models import load_visual

    pretrained_dir = Path(pretrained_dir)
    visual, spec = load_visual(pretrained_dir / "model.safetensors", pretrained_dir / "spec.json", visual_weights)
    head = load_weights(head_path)["weight"]
    return ClipClassifier(visual, head, spec.mean, spec.std).to(device).eval()


def load_image_split(path) -> tuple[torch.Tensor, torch.Tensor]:
    """A Parquet split as (uint8 images (N, 3, H, W), int64 labels)."""
    from bdunlearn.data.io import decode_images, read_parquet

    df = read_parquet(path)
    return decode_images(df["image"]), torch.tensor(df["label"].to_numpy(), dtype=torch.long)
