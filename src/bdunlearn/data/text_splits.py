"""Text dataset splits (rule ``prepare_text``): a source read through :mod:`bdunlearn.data.text_sources`, a validation
split carved from training when the source has none, seeded caps, uids per split, the class names and target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bdunlearn.data import text_sources
from bdunlearn.data.classnames import resolve_target
from bdunlearn.workflow.runtime import derive_seed

SPLITS = ("train", "val", "test")


UID_OFFSET = {"train": 0, "val": 100_000_000, "test": 200_000_000}


DEFAULT_VAL = 500


def load_source(params: dict) -> dict[str, tuple[list[str], np.ndarray]]:
    src = params["source"]
    if src == "tsv":
        return text_sources.load_tsv_dir(params["tsv"]["path"])
    if src == "hf":
        return text_sources.load_hf(params["hf"])
    if src == "synthetic":
        return text_sources.load_synthetic(int(params.get("synthetic", {}).get("n", 3000)), derive_seed(params["seed"], "synthetic", params["name"]))
    raise ValueError(f"config key 'datasets.{params['name']}.source': {src!r} is not a text source; allowed: tsv, hf, synthetic")


def _subsample(n: int, cap, seed: int) -> np.ndarray:
    if cap is None or cap >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[: int(cap)])


def prepare(params: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    data = load_source(params)
    sizes = params.get("splits", {})
    seed = derive_seed(params["seed"], "text-splits", params["name"])
    if "val" not in data:
        texts, labels = data["train"]
        n_val = int(sizes.get("val") or DEFAULT_VAL)
        perm = np.random.default_rng(seed).permutation(len(labels))
        val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        data["val"] = ([texts[i] for i in val], labels[val])
        data["train"] = ([texts[i] for i in train], labels[train])
    frames = {}
    for k, split in enumerate(SPLITS):
        texts, labels = data[split]
        keep = _subsample(len(labels), sizes.get(split), seed + k + 1)
        frames[split] = pd.DataFrame({"uid": (keep + UID_OFFSET[split]).astype(np.int64),
                                      "text": [texts[i] for i in keep], "label": labels[keep].astype(np.int64)})
    all_labels = np.concatenate([f["label"].to_numpy() for f in frames.values()])
    n_classes = int(all_labels.max()) + 1
    names = params.get("classnames") or [f"class {i}" for i in range(n_classes)]
    if all_labels.min() < 0 or n_classes > len(names):
        raise ValueError(f"config key 'datasets.{params['name']}.classnames': labels span 0..{n_classes - 1} "
                         f"but {len(names)} class names are configured")
    target = resolve_target(params["target"], names)
    for split, df in frames.items():
        if df.empty:
            raise ValueError(f"dataset {params['name']!r}: split {split} is empty")
    meta = {"dataset": params["name"], "modality": "text", "classnames": names, "target": target,
            "target_name": names[target], "sizes": {k: len(v) for k, v in frames.items()},
            "class_counts": {k: np.bincount(v["label"], minlength=len(names)).tolist() for k, v in frames.items()}}
    return frames, meta
