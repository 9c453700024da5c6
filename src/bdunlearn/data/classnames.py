"""Class-name and prompt-template presets for zero-shot heads (``build_head``).

ImageNet names and templates are open_clip's (the CLIP paper's); CIFAR
templates are the CLIP paper's 18 CIFAR prompts used by Ilharco et al. (2022).
"""

from __future__ import annotations

import functools

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

CIFAR100 = [
    "apple", "aquarium fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn mower", "leopard", "lion", "lizard", "lobster", "man", "maple tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak tree", "orange", "orchid", "otter", "palm tree", "pear", "pickup truck", "pine tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow tree", "wolf", "woman", "worm",
]

CIFAR_TEMPLATES = [
    "a photo of a {}.", "a blurry photo of a {}.", "a black and white photo of a {}.",
    "a low contrast photo of a {}.", "a high contrast photo of a {}.", "a bad photo of a {}.",
    "a good photo of a {}.", "a photo of a small {}.", "a photo of a big {}.", "a photo of the {}.",
    "a blurry photo of the {}.", "a black and white photo of the {}.", "a low contrast photo of the {}.",
    "a high contrast photo of the {}.", "a bad photo of the {}.", "a good photo of the {}.",
    "a photo of the small {}.", "a photo of the big {}.",
]

DIGIT_TEMPLATES = ["a photo of the digit {}.", "a handwritten {}.", "the number {}."]
# the glyph dataset's zero-shot prompts: like the handwritten digits', never the pretraining captions themselves
GLYPH_TEMPLATES = ["a photo of the character {}.", "a printed character {}.", "the symbol {}."]


def class_names(preset_or_list) -> list[str] | None:
    """Resolve a ``classnames`` config value; None for ``features`` (known only once the data is loaded)."""
    if isinstance(preset_or_list, list):
        return list(preset_or_list)
    if preset_or_list == "features":
        return None
    if preset_or_list == "digits":
        return list(DIGITS)
    if preset_or_list == "glyphs":  # the printed-glyph classes: the ten digit words, then the 26 letters
        return list(DIGITS) + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    if preset_or_list == "cifar10":
        return list(CIFAR10)
    if preset_or_list == "cifar100":
        return list(CIFAR100)
    if preset_or_list == "imagenet":
        return list(open_clip_metadata().IMAGENET_CLASSNAMES)
    raise ValueError(f"unknown classnames preset {preset_or_list!r}")


@functools.lru_cache(maxsize=1)
def open_clip_metadata():
    """open_clip's ``zero_shot_metadata`` module (ImageNet class names and templates), loaded from its file alone:
    importing it through the package runs ``open_clip/__init__`` (torch, timm, transformers: ~3 s), which the
    workflow's parse-time config check would pay for every configuration naming an ImageNet preset."""
    import importlib.util
    from pathlib import Path

    package = importlib.util.find_spec("open_clip")
    if package is None or not package.origin:
        raise ImportError("the ImageNet presets need open_clip (pip install open_clip_torch)")
    spec = importlib.util.spec_from_file_location("bdunlearn_open_clip_zero_shot_metadata",
                                                  Path(package.origin).with_name("zero_shot_metadata.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def templates(preset_or_list) -> list[str]:
    """Resolve a ``templates`` config value to format strings with one ``{}``."""
    if isinstance(preset_or_list, list):
        return list(preset_or_list)
    if preset_or_list == "cifar":
        return list(CIFAR_TEMPLATES)
    if preset_or_list == "digits":
        return list(DIGIT_TEMPLATES)
    if preset_or_list == "glyphs":
        return list(GLYPH_TEMPLATES)
    if preset_or_list in ("openai_imagenet", "simple_imagenet"):
        meta = open_clip_metadata()
        fns = meta.OPENAI_IMAGENET_TEMPLATES if preset_or_list == "openai_imagenet" else meta.SIMPLE_IMAGENET_TEMPLATES
        return [fn("{}") for fn in fns]
    raise ValueError(f"unknown templates preset {preset_or_list!r}")


def resolve_target(target, names: list[str]) -> int:
    """Index of ``target`` (a class name or an index) in ``names``; errors list what is allowed."""
    if isinstance(target, bool):
        raise ValueError(f"target must be a class name or index, got {target!r}")
    if isinstance(target, int):
        if 0 <= target < len(names):
            return target
        raise ValueError(f"target index {target} is out of range: the dataset has {len(names)} classes (0..{len(names) - 1})")
    if target in names:
        return names.index(target)
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise ValueError(f"target {target!r} is not a class; allowed: {shown}")
