"""CLIP models through open_clip: creation, safetensors export and loading.

``pretrain_clip`` produces ``pretrained.safetensors`` plus a JSON sidecar
(architecture, input resolution, normalisation) and every later stage rebuilds
the model from those two files, so no stage ever unpickles a checkpoint.

The bundled architectures in ``model_configs/`` (``bdclip-tiny``) are registered
with open_clip on import, so ``open_clip.create_model("bdclip-tiny")`` works like
any built-in name; a fresh (untrained) model should come from ``create_clip`` /
``build_clip``, which give its custom attention blocks the default blocks'
initialisation (open_clip's own initialises them differently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import open_clip
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from bdunlearn.data.io import load_weights, read_json, save_weights, write_json
from bdunlearn.models.clip_resolution import check_pretrained

MODEL_CONFIG_DIR = Path(__file__).with_name("model_configs")
open_clip.add_model_config(MODEL_CONFIG_DIR)
BUNDLED_ARCHS = sorted(p.stem for p in MODEL_CONFIG_DIR.glob("*.json"))


@dataclass
class ClipSpec:
    """What is needed to rebuild a CLIP model from a safetensors state dict."""

    arch: str
    resolution: int
    mean: list[float] = field(default_factory=lambda: list(OPENAI_DATASET_MEAN))
    std: list[float] = field(default_factory=lambda: list(OPENAI_DATASET_STD))
    pretrained: str | None = None

    def to_dict(self) -> dict:
        return {"arch": self.arch, "resolution": self.resolution, "mean": list(self.mean),
                "std": list(self.std), "pretrained": self.pretrained}

    @classmethod
    def from_dict(cls, d: dict) -> "ClipSpec":
        return cls(arch=d["arch"], resolution=int(d["resolution"]), mean=list(d["mean"]),
                   std=list(d["std"]), pretrained=d.get("pretrained"))


def check_arch(arch: str) -> None:
    if arch not in open_clip.list_models():
        raise ValueError(f"config key 'model.arch': unknown open_clip architecture {arch!r} "
                         f"(bundled: {', '.join(BUNDLED_ARCHS)}; see open_clip.list_models())")


def native_resolution(arch: str) -> int:
    check_arch(arch)
    size = open_clip.get_model_config(arch)["vision_cfg"]["image_size"]
    return int(size if isinstance(size, int) else size[0])


def create_clip(arch: str, pretrained: str | None = None, resolution: int | None = None) -> tuple[torch.nn.Module, ClipSpec]:
    """Create an open_clip model; with ``pretrained`` (a tag such as ``openai`` or a
    weights file) the real loader ``open_clip.create_model_and_transforms`` is used."""
    check_arch(arch)
    if pretrained:
        check_pretrained(pretrained)
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained)
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg.get("size", native_resolution(arch))
        res = int(size if isinstance(size, int) else size[0])
        if resolution is not None and int(resolution) != res:
            raise ValueError(f"config key 'model.resolution' is {resolution} but {arch}/{pretrained} expects {res}")
        spec = ClipSpec(arch, res, list(cfg.get("mean", OPENAI_DATASET_MEAN)), list(cfg.get("std", OPENAI_DATASET_STD)), pretrained)
    else:
        res = int(resolution or native_resolution(arch))
        model = build_clip(arch, res)
        spec = ClipSpec(arch, res)
    model.eval()
    return model, spec


TOWERS = ("vision_cfg", "text_cfg")


def build_clip(arch: str, resolution: int) -> torch.nn.Module:
    """open_clip's ``arch`` at ``resolution``, randomly initialised (no weights loaded).

    A bundled architecture may set ``block_type: custom`` in a tower (``bdclip-tiny`` does in both): open_clip's
    batch-first ``Attention`` blocks, with the parameters of its default ``nn.MultiheadAttention`` blocks under the
    same names, 10-20% faster training and DECREE steps on CPU (``bench/bench_clip_blocks.py``). Their
    initialisation differs (a larger in-projection, non-zero output biases), which changed what the stand-in's
    pretraining learnt, so such a model is initialised as the default blocks initialise it: the default-block twin
    is built first, drawing from the global RNG exactly as before, its weights are copied in, and the custom model
    is built with the RNG state restored.
    The initial weights and the RNG state after the build do not depend on the block type."""
    cfg = open_clip.get_model_config(arch) if arch in BUNDLED_ARCHS else None
    if not (cfg and any(cfg[t].get("block_type") == "custom" for t in TOWERS)):
        return open_clip.create_model(arch, pretrained=None, force_image_size=resolution)
    plain = {t: {k: v for k, v in cfg[t].items() if k != "block_type"} for t in TOWERS}
    plain["vision_cfg"]["image_size"] = resolution
    twin = open_clip.create_model(arch, pretrained=None, force_image_size=resolution, **plain)
    with torch.random.fork_rng(devices=[]):
        model = open_clip.create_model(arch, pretrained=None, force_image_size=resolution)
    model.load_state_dict(twin.state_dict(), strict=True)
    return model


def tokenizer_for(arch: str):
    return open_clip.get_tokenizer(arch)


def save_clip(model: torch.nn.Module, spec: ClipSpec, weights_path, spec_path=None) -> None:
    """Every weight of ``model`` to safetensors, and its spec to ``spec_path`` (None: a fine-tuned state of a model
    whose spec.json is already written)."""
    save_weights(model.state_dict(), weights_path, metadata={"arch": spec.arch})
    if spec_path is not None:
        write_json(spec.to_dict(), spec_path)


def load_clip(weights_path, spec_path, device="cpu") -> tuple[torch.nn.Module, ClipSpec]:
    """Rebuild the model from its spec and load safetensors weights (strict)."""
    spec = ClipSpec.from_dict(read_json(spec_path))
    check_arch(spec.arch)
    model = build_clip(spec.arch, spec.resolution)
    model.load_state_dict(load_weights(weights_path), strict=True)
    return model.to(device).eval(), spec


def load_visual(weights_path, spec_path, visual_weights=None, device="cpu") -> tuple[torch.nn.Module, ClipSpec]:
    """The visual encoder of the pretrained model, optionally with fine-tuned visual weights."""
    model, spec = load_clip(weights_path, spec_path, device="cpu")
    visual = model.visual
    if visual_weights is not None:
        visual.load_state_dict(load_weights(visual_weights), strict=True)
    return visual.to(device).eval(), spec
