"""Image-caption pairs and labelled evaluation images from the dataset hub (``prepare_captions``, source ``hf``).

TBAR section 4: 500k CC3M pairs to backdoor, 1.5k disjoint pairs for the forget set, 100k disjoint clean pairs
for the defenses; zero-shot CA / ASR on ImageNet-1K (alpha chosen on "a stratified 5k set from the training data",
reported on the 50k validation images). Pairs come from ``datasets.<name>.hf`` (an image and a caption column of
one split), the evaluation images from ``datasets.<name>.eval_hf`` (an image and a label column). Images are
resized and centre-cropped to the model resolution as open_clip's evaluation transform does
(:func:`bdunlearn.data.image_sources.resize_center_crop`) and stored losslessly.
"""

from __future__ import annotations

import numpy as np

from bdunlearn.data.image_sources import _load, resize_center_crop
from bdunlearn.data.io import encode_png


def load_hf_pairs(spec: dict, split: str, indices, resolution: int, desc: str = "") -> tuple[list[bytes], list[str]]:
    """Rows ``indices`` of ``split`` as ``(PNG-encoded images at the resolution, captions)``: each image is
    encoded as it is decoded, so the split is never held decoded (500k CC3M images: 75 GB decoded)."""
    import datasets

    from bdunlearn.models.training import progress

    ds = _load(spec, split)
    image_col, caption_col = spec.get("image_column", "image"), spec.get("caption_column", "caption")
    for col, key in ((image_col, "image_column"), (caption_col, "caption_column")):
        if col not in ds.column_names:
            raise KeyError(f"dataset {spec['path']!r} split {split!r} has no column {col!r} "
                           f"(columns: {ds.column_names}); set hf.{key}")
    ds = ds.select(list(map(int, indices)))
    captions = [str(c).strip() for c in ds[caption_col]]
    rows = ds.cast_column(image_col, datasets.Image(decode=True))
    blobs = [encode_png(resize_center_crop(row[image_col], resolution))
             for row in progress(rows, total=len(ds), desc=desc or f"decode {split}")]
    return blobs, captions


def hf_labels(spec: dict, split: str) -> np.ndarray:
    """The label column of ``split`` (no image decoded)."""
    ds = _load(spec, split)
    col = spec.get("label_column", "label")
    if col not in ds.column_names:
        raise KeyError(f"dataset {spec['path']!r} split {split!r} has no column {col!r} (columns: {ds.column_names}); "
                       "set eval_hf.label_column")
    return np.asarray(ds[col], dtype=np.int64)


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` row indices with the classes as equal as ``n`` allows (``n // C`` each, one more for the first
    ``n % C`` classes of a seeded order), each class's rows drawn at random; sorted."""
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    per = np.full(len(classes), n // len(classes))
    per[rng.permutation(len(classes))[: n % len(classes)]] += 1
    out = []
    for c, k in zip(classes, per):
        rows = np.flatnonzero(labels == c)
        if k > len(rows):
            raise ValueError(f"config key 'eval.val': a stratified set of {n} needs {k} rows of class {int(c)}, "
                             f"which has {len(rows)}")
        out.append(rng.choice(rows, size=int(k), replace=False))
    return np.sort(np.concatenate(out))
