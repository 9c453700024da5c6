"""Splits of an image-caption dataset (rule ``prepare_captions``): the pairs of the contrastive track and its
labelled zero-shot evaluation sets (TBAR section 4, appendix B.2.2).

A caption dataset gives, as Parquet frames:

- ``pretrain`` (stand-in only): pairs the tiny CLIP is pretrained on (``pretrain_clip`` with ``pretrain.source:
  captions``), standing in for CLIP's web-scale pretraining;
- ``train``: the pairs a fraction of which the attack poisons and the backdoor is fine-tuned on (CC3M's 500k);
- ``forget``: disjoint pairs the triggered forget set is built from (TBAR's 1.5k);
- ``clean``: disjoint clean pairs for the clean-data defenses (TBAR's 100k);
- ``val`` / ``test``: labelled images for zero-shot CA and ASR (ImageNet-1K's stratified 5k training subset and
  validation set): ``val`` chooses TBAR's alpha, ``test`` is reported.

Pairs have columns ``uid, image, caption, label`` (``label``: the class a stand-in scene shows, for analysis
only: no contrastive loss reads it); evaluation frames ``uid, image, label``. Source ``scenes``
(:mod:`bdunlearn.data.caption_scenes`): the digit pool of scikit-learn is split once, by a seeded permutation,
into disjoint digit sets for test, val, pretrain, train, forget and clean, so no evaluation digit is ever shown
during training and the forget and clean pairs share no digit with the training pairs. Evaluation images are the
plain digits (white on black, full size) at the model resolution; scenes are drawn from each set's digits in
turn, so a digit appears in several scenes, each time in another colour, size and position. Source ``hf``
(:mod:`bdunlearn.data.caption_sources`): ``pairs`` sizes of disjoint train, forget and clean pairs drawn by a
seeded permutation of the ``hf`` split (no pretrain pairs: the CLIP is a pretrained one), ``val`` a stratified
sample of ``eval_hf.val_split`` and ``test`` all of ``eval_hf.test_split`` (or ``eval.test`` random rows of it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bdunlearn.data.caption_scenes import make_scenes
from bdunlearn.data.classnames import class_names, resolve_target, templates
from bdunlearn.data.image_sources import DIGITS_POOL_SIZE, load_digits_pool
from bdunlearn.data.io import encode_png
from bdunlearn.workflow.runtime import derive_seed

PAIR_SPLITS = ("pretrain", "train", "forget", "clean")
EVAL_SPLITS = ("val", "test")
UID_OFFSET = {"pretrain": 0, "train": 100_000_000, "forget": 200_000_000, "clean": 300_000_000,
              "val": 400_000_000, "test": 500_000_000}
# share of the scenes' digit pool (what test and val leave) each pair split draws its digits from
DIGIT_SHARES = {"pretrain": 0.4, "train": 0.4, "forget": 0.1, "clean": 0.1}


def digit_sets(n_pool: int, n_val: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Disjoint indices of the digit pool: test, val, then the pair splits' digit sets by :data:`DIGIT_SHARES`."""
    rest = n_pool - n_val - n_test
    if rest < 4 * len(DIGIT_SHARES):
        raise ValueError(f"eval.val + eval.test = {n_val + n_test} leave {max(rest, 0)} of the {n_pool} digits "
                         "for the scenes; at least 16 are needed")
    perm = np.random.default_rng(seed).permutation(n_pool)
    out = {"test": perm[:n_test], "val": perm[n_test:n_test + n_val]}
    start = n_test + n_val
    for i, (name, share) in enumerate(DIGIT_SHARES.items()):
        end = n_pool if i == len(DIGIT_SHARES) - 1 else start + int(round(share * rest))
        out[name] = perm[start:end]
        start = end
    return {k: np.sort(v) for k, v in out.items()}


def pair_frame(images, captions, labels, uids) -> pd.DataFrame:
    return pd.DataFrame({"uid": np.asarray(uids, dtype=np.int64), "image": [encode_png(im) for im in images],
                         "caption": list(captions), "label": np.asarray(labels, dtype=np.int64)})


def read_pairs(path):
    """A pairs split (or a poisoned copy) as ``(uint8 images (N, 3, H, W), captions)``, what the contrastive loop takes."""
    from bdunlearn.data.io import decode_images, read_parquet

    df = read_parquet(path)
    return decode_images(df["image"]), list(df["caption"])


def eval_frame(images, labels, uids) -> pd.DataFrame:
    return pd.DataFrame({"uid": np.asarray(uids, dtype=np.int64), "image": [encode_png(im) for im in images],
                         "label": np.asarray(labels, dtype=np.int64)})


def prepare(params: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    """``(frames, meta)`` of a caption dataset: the pair and evaluation splits above, and ``classes.json``'s content
    (class names, prompt templates, target, resolution, split sizes)."""
    if params["source"] == "hf":
        return prepare_hf(params)
    if params["source"] != "scenes":
        raise ValueError(f"config key 'datasets.{params['name']}.source': {params['source']!r}; allowed: scenes, hf")
    res = int(params["resolution"])
    seed = derive_seed(params["seed"], "splits", params["name"])
    names = class_names(params.get("classnames") or "digits")
    target = resolve_target(params["target"], names)
    ev, sc = params["eval"], params["scenes"]
    from sklearn.datasets import load_digits

    grey = load_digits().images  # (1797, 8, 8), ink bright
    plain, labels = load_digits_pool(res)
    sets = digit_sets(DIGITS_POOL_SIZE, int(ev["val"]), int(ev["test"]), seed)
    frames = {}
    for split in EVAL_SPLITS:
        idx = sets[split]
        frames[split] = eval_frame(plain[idx], labels[idx], UID_OFFSET[split] + idx)
    for split in PAIR_SPLITS:
        idx = sets[split]
        ims, caps, labs, src = make_scenes(grey[idx], labels[idx], int(sc[split]), res,
                                           derive_seed(params["seed"], "scenes", params["name"], split))
        frames[split] = pair_frame(ims, caps, labs, UID_OFFSET[split] + np.arange(len(caps)))
    meta = {"classnames": names, "templates": templates(params.get("templates") or "digits"), "target": target,
            "target_name": names[target], "resolution": res, "sizes": {k: len(v) for k, v in frames.items()}}
    return frames, meta


def prepare_hf(params: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    """Source ``hf``: pairs and evaluation images from the dataset hub (module docstring)."""
    from bdunlearn.data import caption_sources as cs
    from bdunlearn.data.image_sources import hf_class_names, hf_split_size, load_hf_split

    res, name = int(params["resolution"]), params["name"]
    seed = derive_seed(params["seed"], "splits", name)
    spec, ev_spec, sizes, ev = params["hf"], params["eval_hf"], params["pairs"], params["eval"]
    n_pool = hf_split_size(spec, spec["train_split"])
    need = sum(int(sizes[s]) for s in PAIR_SPLITS[1:])
    if need > n_pool:
        raise ValueError(f"config key 'datasets.{name}.pairs': {need} pairs asked, split {spec['train_split']!r} "
                         f"of {spec['path']!r} has {n_pool}")
    # no pretrain pairs (the rule's pretrain.parquet is written empty): the model is a pretrained CLIP
    frames = {"pretrain": pair_frame(np.empty((0, res, res, 3), np.uint8), [], np.empty(0, np.int64), np.empty(0, np.int64))}
    perm, start = np.random.default_rng(seed).permutation(n_pool), 0
    for split in PAIR_SPLITS[1:]:
        idx = np.sort(perm[start : start + int(sizes[split])])
        start += len(idx)
        blobs, caps = cs.load_hf_pairs(spec, spec["train_split"], idx, res, desc=f"{split} <- {spec['train_split']}")
        frames[split] = pd.DataFrame({"uid": (UID_OFFSET[split] + idx).astype(np.int64), "image": blobs,
                                      "caption": caps, "label": np.full(len(idx), -1, dtype=np.int64)})
    val_idx = cs.stratified_indices(cs.hf_labels(ev_spec, ev_spec["val_split"]), int(ev["val"]), seed + 1)
    n_test = hf_split_size(ev_spec, ev_spec["test_split"])
    test_idx = np.arange(n_test) if not ev.get("test") else \
        np.sort(np.random.default_rng(seed + 2).permutation(n_test)[: int(ev["test"])])
    for split, s, idx in (("val", ev_spec["val_split"], val_idx), ("test", ev_spec["test_split"], test_idx)):
        ims, labs = load_hf_split(ev_spec, s, idx, res, desc=f"{split} <- {s}")
        frames[split] = eval_frame(ims, labs, UID_OFFSET[split] + idx)
    names = class_names(params.get("classnames") or "features")
    if names is None:
        names = [n.replace("_", " ") for n in (hf_class_names(ev_spec, ev_spec["test_split"]) or [])]
        if not names:
            raise ValueError(f"config key 'datasets.{name}.classnames': the label column of eval_hf has no class "
                             "names; give a preset or a list")
    for split in EVAL_SPLITS:
        bad = frames[split]["label"][(frames[split]["label"] < 0) | (frames[split]["label"] >= len(names))]
        if len(bad):
            raise ValueError(f"config key 'datasets.{name}.classnames': split {split} has label {int(bad.iloc[0])}, "
                             f"outside the {len(names)} configured classes")
    target = resolve_target(params["target"], names)
    meta = {"classnames": names, "templates": templates(params.get("templates") or "openai_imagenet"),
            "target": target, "target_name": names[target], "resolution": res,
            "sizes": {k: len(v) for k, v in frames.items()}}
    return frames, meta
