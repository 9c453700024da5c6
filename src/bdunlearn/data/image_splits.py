"""Image dataset splits (rule ``prepare_images``): seeded disjoint train / val / test / forget indices, and the
Parquet frames (PNG bytes at the model resolution) with the class names and target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bdunlearn.data import image_sources
from bdunlearn.data.classnames import class_names, resolve_target, templates
from bdunlearn.data.io import encode_png
from bdunlearn.workflow.runtime import derive_seed

SPLITS = ("train", "val", "test", "forget")


TEST_UID_OFFSET = 1_000_000_000


def split_indices(n_pool: int, sizes: dict, seed: int, with_test: bool) -> dict[str, np.ndarray]:
    """Disjoint index sets drawn from one permutation of ``range(n_pool)``.

    Order of carving: test (if drawn from the pool), val, forget, then train
    (``None`` = all remaining rows).
    """
    perm = np.random.default_rng(seed).permutation(n_pool)
    order = (["test"] if with_test else []) + ["val", "forget"]
    out, start = {}, 0
    for name in order:
        k = int(sizes[name])
        out[name] = perm[start : start + k]
        start += k
    rest = perm[start:]
    train_n = sizes.get("train")
    if train_n is not None and train_n > len(rest):
        raise ValueError(f"splits.train = {train_n} but only {len(rest)} rows remain after val/test/forget")
    out["train"] = rest if train_n is None else rest[: int(train_n)]
    if any(len(v) == 0 for v in out.values()):
        raise ValueError(f"empty split in {({k: len(v) for k, v in out.items()})}")
    return {k: np.sort(v) for k, v in out.items()}


def to_frame(images: np.ndarray, labels: np.ndarray, uids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "uid": np.asarray(uids, dtype=np.int64),
        "image": [encode_png(im) for im in images],
        "label": np.asarray(labels, dtype=np.int64),
    })


def prepare(params: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    res = int(params["resolution"])
    seed = derive_seed(params["seed"], "splits", params["name"])
    sizes = dict(params["splits"])
    frames: dict[str, pd.DataFrame] = {}
    names = class_names(params["classnames"])
    if params["source"] == "digits":
        images, labels = image_sources.load_digits_pool(res)
        sizes["test"] = sizes.get("test") or image_sources.DIGITS_DEFAULT_TEST
        idx = split_indices(len(labels), sizes, seed, with_test=True)
        for split in SPLITS:
            frames[split] = to_frame(images[idx[split]], labels[idx[split]], idx[split])
    elif params["source"] == "glyphs":  # rendered with a seed of the dataset's own, never the pretraining corpus's
        from bdunlearn.data.glyphs import CLASSNAMES, make_glyphs

        g = params["glyphs"]
        n_classes = len(CLASSNAMES) if g["classes"] == "all" else 10
        images, labels = make_glyphs(int(g["n"]), res, derive_seed(params["seed"], "glyph-dataset", params["name"]), n_classes)
        idx = split_indices(len(labels), sizes, seed, with_test=True)
        for split in SPLITS:
            frames[split] = to_frame(images[idx[split]], labels[idx[split]], idx[split])
    elif params["source"] == "hf":
        spec = params["hf"]
        n_pool = image_sources.hf_split_size(spec, spec["train_split"])
        idx = split_indices(n_pool, sizes, seed, with_test=False)
        for split in ("train", "val", "forget"):
            imgs, labs = image_sources.load_hf_split(spec, spec["train_split"], idx[split], res, desc=f"{split} <- {spec['train_split']}")
            frames[split] = to_frame(imgs, labs, idx[split])
        n_test = image_sources.hf_split_size(spec, spec["test_split"])
        test_idx = np.arange(n_test)
        if sizes.get("test"):
            test_idx = np.sort(np.random.default_rng(seed + 1).permutation(n_test)[: int(sizes["test"])])
        imgs, labs = image_sources.load_hf_split(spec, spec["test_split"], test_idx, res, desc=f"test <- {spec['test_split']}")
        frames["test"] = to_frame(imgs, labs, test_idx + TEST_UID_OFFSET)
        if names is None:
            names = image_sources.hf_class_names(spec, spec["train_split"])
            if names is None:
                raise ValueError(f"config key 'datasets.{params['name']}.classnames': 'features' but column "
                                 f"{spec.get('label_column', 'label')!r} has no ClassLabel names; list the class names")
            names = [n.replace("_", " ") for n in names]
    else:
        raise ValueError(f"config key 'datasets.{params['name']}.source': unknown source {params['source']!r}")
    n_classes = len(names)
    for split, df in frames.items():
        bad = df["label"][(df["label"] < 0) | (df["label"] >= n_classes)]
        if len(bad):
            raise ValueError(f"split {split}: label {int(bad.iloc[0])} outside the {n_classes} configured classes")
    target = resolve_target(params["target"], names)
    meta = {"dataset": params["name"], "classnames": names, "templates": templates(params["templates"]),
            "target": target, "target_name": names[target], "resolution": res,
            "sizes": {k: len(v) for k, v in frames.items()}}
    return frames, meta
