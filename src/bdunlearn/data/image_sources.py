"""Image dataset sources for ``prepare_images``: scikit-learn digits and the Hugging Face hub.

Each source yields *pools* of ``(images, labels)`` where images are already
resized to the model's input resolution as ``(N, H, W, 3)`` uint8 arrays,
exactly like open_clip's eval preprocessing (bicubic resize of the shortest
side, then a centre crop). Triggers are later applied at that resolution and
the result stored losslessly, so what the model sees is exactly what is stored.
"""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

DIGITS_POOL_SIZE = 1797  # images in scikit-learn's digits
DIGITS_DEFAULT_TEST = 400  # test rows carved from the pool when splits.test is null


def resize_center_crop(img: Image.Image, resolution: int) -> np.ndarray:
    """open_clip-style eval transform without normalisation: bicubic shortest-side resize and centre crop."""
    img = img.convert("RGB")
    w, h = img.size
    scale = resolution / min(w, h)
    nw, nh = max(resolution, round(w * scale)), max(resolution, round(h * scale))
    img = img.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - resolution) // 2, (nh - resolution) // 2
    img = img.crop((left, top, left + resolution, top + resolution))
    return np.asarray(img, dtype=np.uint8)


def load_digits_pool(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1,797 images, ink bright on black), upsampled to ``resolution``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    grey = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    out = np.empty((len(grey), resolution, resolution, 3), dtype=np.uint8)
    for i, g in enumerate(grey):
        out[i] = resize_center_crop(Image.fromarray(g, mode="L"), resolution)
    return out, d.target.astype(np.int64)


def _load(spec: dict, split: str):
    """``datasets.load_dataset`` for one split, as configured under ``datasets.<name>.hf``."""
    import datasets

    extra = {"data_dir": spec["data_dir"]} if spec.get("data_dir") else {}
    return datasets.load_dataset(spec["path"], spec.get("name"), split=split, **extra)


def load_hf_split(spec: dict, split: str, indices=None, resolution: int = 224, desc: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Rows ``indices`` (all if None) of ``datasets.load_dataset(path, name, split=split)``."""
    import datasets

    from bdunlearn.models.training import progress

    ds = _load(spec, split)
    image_col, label_col = spec.get("image_column", "image"), spec.get("label_column", "label")
    for col in (image_col, label_col):
        if col not in ds.column_names:
            raise KeyError(f"dataset {spec['path']!r} split {split!r} has no column {col!r} "
                           f"(columns: {ds.column_names}); set image_column / label_column in its hf (or eval_hf) block")
    if indices is not None:
        ds = ds.select(list(map(int, indices)))
    labels = np.asarray(ds[label_col], dtype=np.int64)
    out = np.empty((len(ds), resolution, resolution, 3), dtype=np.uint8)
    images = ds.cast_column(image_col, datasets.Image(decode=True))
    for i, row in enumerate(progress(images, total=len(ds), desc=desc or f"decode {split}")):
        out[i] = resize_center_crop(row[image_col], resolution)
    return out, labels


def hf_split_size(spec: dict, split: str) -> int:
    return len(_load(spec, split))


def hf_class_names(spec: dict, split: str) -> list[str] | None:
    """Class names from the label column's ClassLabel feature, if it has one."""
    import datasets

    ds = _load(spec, split)
    feat = ds.features.get(spec.get("label_column", "label"))
    return list(feat.names) if isinstance(feat, datasets.ClassLabel) else None
