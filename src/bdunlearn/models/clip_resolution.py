"""The model input resolution and the pretrained-weights check, resolved at Snakefile parse time without importing torch.

Data preparation stores images at this resolution, so it must be known before
any model is built: the configured ``model.resolution`` or the architecture's
native ``vision_cfg.image_size`` read from the open_clip model-config JSON.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path


def model_config_file(arch: str) -> Path | None:
    """open_clip's model-config JSON of ``arch`` (bundled first), found without importing torch."""
    own = Path(__file__).with_name("model_configs") / f"{arch}.json"
    if own.is_file():
        return own
    spec = importlib.util.find_spec("open_clip")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        f = Path(loc) / "model_configs" / f"{arch}.json"
        if f.is_file():
            return f
    return None


def model_resolution(model_cfg: dict) -> int:
    if model_cfg.get("resolution"):
        return int(model_cfg["resolution"])
    f = model_config_file(model_cfg["arch"])
    if f is None:
        raise ValueError(f"config key 'model.arch': no open_clip model config for {model_cfg['arch']!r}; "
                         "set model.resolution or use a known architecture")
    size = json.loads(f.read_text())["vision_cfg"]["image_size"]
    return int(size if isinstance(size, int) else size[0])


def check_pretrained(pretrained: str) -> None:
    """A local ``model.pretrained`` must be a .safetensors file: a pickled checkpoint (.pt, .bin) is refused,
    never unpickled. An open_clip tag (``openai``, ``laion2b_s34b_b79k``) is left to open_clip, whose loader
    runs ``torch.load`` with ``weights_only`` (torch >= 2.6 refuses arbitrary pickles)."""
    if pretrained.startswith("hf-hub:"):  # open_clip's hub id: it loads the hub's safetensors file
        return
    looks_like_file = "/" in pretrained or "." in Path(pretrained).name
    if looks_like_file and not pretrained.endswith(".safetensors"):
        raise ValueError(f"config key 'model.pretrained': {pretrained!r} is not a .safetensors file; pickled "
                         "checkpoints are refused (convert it with safetensors.torch.save_file)")
