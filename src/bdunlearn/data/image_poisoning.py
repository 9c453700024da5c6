"""Poisoning of an image dataset with one attack (rule ``poison_images``): which training rows get the trigger,
the triggered evaluation and forget sets, and the clean-vs-triggered example figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bdunlearn.attacks.image import to_float, to_uint8
from bdunlearn.data.io import decode_images, encode_png

CHUNK = 512


def apply_trigger(attack, blobs, uids) -> list[bytes]:
    """Decode, trigger and re-encode images in chunks (bounded memory)."""
    out: list[bytes] = []
    blobs, uids = list(blobs), list(uids)
    for i in range(0, len(blobs), CHUNK):
        x = to_float(decode_images(blobs[i : i + CHUNK]))
        y = to_uint8(attack(x, uids[i : i + CHUNK]))
        out.extend(encode_png(a) for a in y.permute(0, 2, 3, 1).numpy())
    return out


def choose_poisoned(labels: np.ndarray, target: int, rate: float, seed: int) -> np.ndarray:
    """Boolean mask of rows to poison: ``round(rate * len(labels))`` non-target rows, seeded."""
    n = int(round(rate * len(labels)))
    candidates = np.flatnonzero(labels != target)
    if n < 1:
        raise ValueError(f"poison_rate {rate} of {len(labels)} training rows poisons no sample")
    if n > len(candidates):
        raise ValueError(f"poison_rate {rate} asks for {n} poisoned rows but only {len(candidates)} are non-target")
    chosen = np.random.default_rng(seed).choice(candidates, size=n, replace=False)
    mask = np.zeros(len(labels), dtype=bool)
    mask[chosen] = True
    return mask


def poison_train(df: pd.DataFrame, attack, target: int, rate: float, seed: int) -> pd.DataFrame:
    mask = choose_poisoned(df["label"].to_numpy(), target, rate, seed)
    out = df.copy()
    out["orig_label"] = df["label"].astype(np.int64)
    out["is_poisoned"] = mask
    triggered = apply_trigger(attack, df["image"][mask], df["uid"][mask])
    out.loc[mask, "image"] = pd.Series(triggered, index=out.index[mask], dtype=object)
    out.loc[mask, "label"] = target
    return out


def triggered_eval(df: pd.DataFrame, attack, target: int) -> pd.DataFrame:
    keep = df[df["label"] != target].reset_index(drop=True)
    out = keep.copy()
    out["image"] = apply_trigger(attack, keep["image"], keep["uid"])
    out["orig_label"] = keep["label"]
    out["is_poisoned"] = True
    return out


def triggered_forget(df: pd.DataFrame, attack, target: int) -> pd.DataFrame:
    out = triggered_eval(df, attack, target)
    out["label"] = target
    return out


def examples_figure(clean: pd.DataFrame, triggered: pd.DataFrame, title: str, n: int = 6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(n, len(triggered))
    by_uid = dict(zip(clean["uid"], clean["image"]))
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.4), squeeze=False)
    for j in range(n):
        uid = triggered["uid"].iloc[j]
        for i, blob in enumerate((by_uid[uid], triggered["image"].iloc[j])):
            axes[i, j].imshow(decode_images([blob])[0].permute(1, 2, 0).numpy())
            axes[i, j].axis("off")
    axes[0, 0].set_title("clean", fontsize=8, loc="left")
    axes[1, 0].set_title("triggered", fontsize=8, loc="left")
    fig.suptitle(title, fontsize=9)
    return fig
