"""The ``clip`` model kind (image datasets' default): an open_clip visual tower with a frozen zero-shot head.

A dataset's CLIP classifier is built from the study's pretrained CLIP (rule
``pretrain_clip``, or the weights ``model.pretrained`` names) and the dataset's
zero-shot head (rule ``build_head``); its editable state is the visual
encoder's, as in TBAR (Ilharco et al., 2022). Spec:
``{"kind": "clip", "pretrained": <pretrain_clip dir>, "head": <head.safetensors>}``.
The adapter itself is :class:`bdunlearn.models.clip_adapter.ClipClassifier`.
"""

from __future__ import annotations

from pathlib import Path

from bdunlearn.models import register
from bdunlearn.models.base import ModelContext, ModelKind
from bdunlearn.models.clip_resolution import check_pretrained, model_config_file, model_resolution


def _looks_local(path: str) -> bool:
    return path.startswith(("/", "./", "../", "~"))


@register
class Clip(ModelKind):
    name = "clip"
    label = "CLIP (open_clip)"
    modality = "image"
    default = True

    def inputs(self, ctx: ModelContext) -> dict[str, str]:
        return {"weights": f"{ctx.root}/models/pretrained/model.safetensors",
                "spec": f"{ctx.root}/models/pretrained/spec.json",
                "head": f"{ctx.root}/models/{ctx.dataset}/head.safetensors"}

    def spec(self, ctx: ModelContext) -> dict:
        return {"pretrained": f"{ctx.root}/models/pretrained", "head": f"{ctx.root}/models/{ctx.dataset}/head.safetensors"}

    def resolution(self, cfg: dict, view: dict) -> int:
        return model_resolution(cfg["model"])

    def check(self, cfg: dict, datasets: list[str], base_dir) -> list[str]:
        """The top-level ``model`` (architecture, pretrained weights) and ``pretrain.dataset`` (``datasets``: the
        image datasets of this kind and the caption datasets, which use the study's CLIP too)."""
        problems, model, base_dir = [], cfg["model"], Path(base_dir)
        if model_config_file(model["arch"]) is None:
            problems.append(f"config key 'model.arch': unknown open_clip architecture {model['arch']!r}")
        if model["pretrained"] is None:
            pre_ds, source = cfg["pretrain"]["dataset"], cfg["pretrain"]["source"]
            wanted = {"dataset": "image", "captions": "caption"}.get(source)
            allowed = [d for d in datasets if cfg["datasets"][d]["modality"] == wanted]
            if wanted and (pre_ds is not None and pre_ds not in allowed or not allowed):
                problems.append(f"config key 'pretrain.dataset': pretrain.source {source} needs a configured {wanted} "
                                f"dataset that uses CLIP; allowed: {', '.join(allowed) or 'none'}")
        else:
            try:
                check_pretrained(model["pretrained"])
            except ValueError as err:
                problems.append(str(err))
            if _looks_local(model["pretrained"]) and not (base_dir / Path(model["pretrained"]).expanduser()).is_file():
                problems.append(f"config key 'model.pretrained': weights file {model['pretrained']!r} does not exist")
        return problems

    def load(self, spec: dict, weights=None, device="cpu"):
        from bdunlearn.models.clip_adapter import load_clip_classifier

        return load_clip_classifier(spec["pretrained"], spec["head"], weights, device)
