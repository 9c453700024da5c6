"""Rule ``poison_images``: materialise one attack on one dataset.

Inputs: the clean splits of ``prepare_images``. Outputs (Parquet):

- ``train_poisoned``: every training row; a ``poison_rate`` fraction of the
  *training set size*, drawn from the non-target rows, carries the trigger and
  is relabelled to the target. Columns ``uid, image, label, orig_label, is_poisoned``.
- ``val_triggered`` / ``test_triggered``: the non-target rows with the trigger and
  their true label (ASR counts how many are predicted as the target).
- ``forget_triggered``: the non-target forget rows with the trigger, labelled as
  the target (the TBAR forget set U_set of eq. 2). Choice: rows whose true class
  is the target are left out, as in the ASR sets. A triggered target-class image
  labelled as the target is a correctly labelled clean-task example, so it adds
  clean signal for the target class to the trigger vector, and negating the
  vector then removes that class. With 100 or 1,000 classes (the paper's
  datasets) this affects about 1% or 0.1% of the forget set. With 10 classes it
  affects 10%.
- ``examples.png``: clean and triggered images side by side, to eyeball the trigger.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from bdunlearn import attacks
from bdunlearn.attacks.image import to_float, to_uint8
from bdunlearn.workflow.cli import parser
from bdunlearn.data.io import decode_images, encode_png, read_json, read_parquet, save_figure, write_json, write_parquet
from bdunlearn.workflow.runtime import derive_seed, setup

log = logging.getLogger(__name__)
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


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--datadir", required=True, help="output directory of prepare_images")
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    setup(prm["seed"], args.threads, "cpu")
    data = Path(args.datadir)
    meta = read_json(data / "classes.json")
    target = int(meta["target"])
    attack = attacks.get(prm["attack"], "image").build(derive_seed(prm["seed"], "attack", prm["attack"]),
                                                       int(meta["resolution"]), **prm.get("attack_params", {}))
    out = Path(args.outdir)
    train = poison_train(read_parquet(data / "train.parquet"), attack, target, float(prm["poison_rate"]),
                         derive_seed(prm["seed"], "poison", prm["dataset"], prm["attack"]))
    write_parquet(train, out / "train_poisoned.parquet")
    val = triggered_eval(read_parquet(data / "val.parquet"), attack, target)
    write_parquet(val, out / "val_triggered.parquet")
    test_clean = read_parquet(data / "test.parquet")
    test = triggered_eval(test_clean, attack, target)
    write_parquet(test, out / "test_triggered.parquet")
    forget = triggered_forget(read_parquet(data / "forget.parquet"), attack, target)
    write_parquet(forget, out / "forget_triggered.parquet")
    summary = {"attack": prm["attack"], "target": target, "n_train": len(train), "n_poisoned": int(train["is_poisoned"].sum()),
               "n_val_triggered": len(val), "n_test_triggered": len(test), "n_forget": len(forget)}
    write_json(summary, out / "poison.json")
    save_figure(examples_figure(test_clean, test, f"{prm['dataset']} / {prm['attack']} (target: {meta['target_name']})"),
                out / "examples.png")
    log.info("poisoned %d of %d training rows", summary["n_poisoned"], len(train))


if __name__ == "__main__":
    main()
