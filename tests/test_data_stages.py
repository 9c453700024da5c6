import numpy as np
import pandas as pd
import pytest
import torch

from bdunlearn import attacks
from bdunlearn.data.image_poisoning import choose_poisoned, poison_train, triggered_eval, triggered_forget
from bdunlearn.data.image_splits import split_indices
from bdunlearn.data.io import decode_images, decode_png, encode_png, read_json
from bdunlearn.prepare_images import main as prepare_main


def test_split_indices_are_disjoint_and_sized():
    idx = split_indices(100, {"train": None, "val": 10, "test": 20, "forget": 5}, seed=0, with_test=True)
    sizes = {k: len(v) for k, v in idx.items()}
    assert sizes == {"test": 20, "val": 10, "forget": 5, "train": 65}
    allidx = np.concatenate(list(idx.values()))
    assert len(np.unique(allidx)) == 100
    again = split_indices(100, {"train": None, "val": 10, "test": 20, "forget": 5}, seed=0, with_test=True)
    assert all(np.array_equal(idx[k], again[k]) for k in idx)
    with pytest.raises(ValueError, match="only"):
        split_indices(30, {"train": 50, "val": 5, "forget": 5}, seed=0, with_test=False)


def test_png_roundtrip_is_lossless():
    img = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(img)), img)


def frame(n=40, res=8, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "uid": np.arange(n, dtype=np.int64) + 100,
        "image": [encode_png(rng.integers(0, 256, (res, res, 3), dtype=np.uint8)) for _ in range(n)],
        "label": np.arange(n, dtype=np.int64) % classes,
    })


def test_poisoned_rows_are_non_target_relabelled_and_counted():
    df = frame(n=40)
    att = attacks.get("blended").build(0, 8)
    out = poison_train(df, att, target=1, rate=0.1, seed=3)
    poisoned = out[out["is_poisoned"]]
    assert len(poisoned) == 4  # round(0.1 * 40)
    assert (poisoned["orig_label"] != 1).all() and (poisoned["label"] == 1).all()
    clean = out[~out["is_poisoned"]]
    assert (clean["label"] == clean["orig_label"]).all()
    assert list(clean["image"]) == list(df.loc[clean.index, "image"])
    # the poisoned images carry the trigger exactly (8-bit rounding of 0.8 x + 0.2 N)
    x = decode_images(df.loc[poisoned.index, "image"]).float() / 255
    expected = ((0.8 * x + 0.2 * att.noise).clamp(0, 1) * 255).round().to(torch.uint8)
    assert torch.equal(decode_images(poisoned["image"]), expected)


def test_choose_poisoned_errors():
    with pytest.raises(ValueError, match="poisons no sample"):
        choose_poisoned(np.arange(10) % 2, 0, 0.01, 0)
    with pytest.raises(ValueError, match="non-target"):
        choose_poisoned(np.zeros(10, dtype=int), 0, 0.5, 0)


def test_triggered_eval_and_forget_sets_exclude_target_class():
    df = frame(n=20)
    att = attacks.get("sig").build(0, 8)
    ev = triggered_eval(df, att, target=2)
    assert len(ev) == 15 and (ev["label"] != 2).all() and (ev["label"] == ev["orig_label"]).all()
    fg = triggered_forget(df, att, target=2)
    assert len(fg) == 15 and (fg["label"] == 2).all() and (fg["orig_label"] != 2).all()


def test_prepare_digits_writes_disjoint_splits(tmp_path):
    params = {"name": "digits", "source": "digits", "classnames": "digits", "templates": "digits", "target": "zero",
              "splits": {"train": 300, "val": 50, "test": 60, "forget": 40}, "seed": 0, "resolution": 16}
    prepare_main(["--params", __import__("json").dumps(params), "--outdir", str(tmp_path)])
    dfs = {s: pd.read_parquet(tmp_path / f"{s}.parquet") for s in ("train", "val", "test", "forget")}
    assert {s: len(d) for s, d in dfs.items()} == {"train": 300, "val": 50, "test": 60, "forget": 40}
    uids = np.concatenate([d["uid"].to_numpy() for d in dfs.values()])
    assert len(np.unique(uids)) == len(uids)
    assert decode_png(dfs["train"]["image"][0]).shape == (16, 16, 3)
    meta = read_json(tmp_path / "classes.json")
    assert meta["target"] == 0 and meta["classnames"][3] == "three" and meta["resolution"] == 16


def test_prepare_hf_source_reads_a_local_dataset_in_hub_format(tmp_path):
    """``datasets.load_dataset`` on a local directory of Parquet files, as the hub stores image datasets."""
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "tinyimgs"
    (root / "data").mkdir(parents=True)
    feats = datasets.Features({"img": datasets.Image(), "fine_label": datasets.ClassLabel(names=["cat_x", "dog", "emu"])})
    for split, n in (("train", 30), ("test", 9)):
        imgs = [Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)) for _ in range(n)]
        ds = datasets.Dataset.from_dict({"img": imgs, "fine_label": [i % 3 for i in range(n)]}, features=feats)
        ds.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    params = {"name": "tiny", "source": "hf", "classnames": "features", "templates": ["a photo of a {}."],
              "target": "dog", "seed": 0, "resolution": 8,
              "hf": {"path": str(root), "name": None, "data_dir": None, "train_split": "train", "test_split": "test",
                     "image_column": "img", "label_column": "fine_label"},
              "splits": {"train": None, "val": 5, "test": None, "forget": 4}}
    out = tmp_path / "out"
    prepare_main(["--params", __import__("json").dumps(params), "--outdir", str(out)])
    meta = read_json(out / "classes.json")
    assert meta["classnames"] == ["cat x", "dog", "emu"] and meta["target"] == 1
    assert meta["sizes"] == {"train": 21, "val": 5, "forget": 4, "test": 9}
    test = pd.read_parquet(out / "test.parquet")
    assert decode_png(test["image"][0]).shape == (8, 8, 3)  # shortest side resized, centre-cropped
    bad = dict(params, hf=dict(params["hf"], image_column="image"))
    with pytest.raises(KeyError, match="no column 'image'"):
        prepare_main(["--params", __import__("json").dumps(bad), "--outdir", str(tmp_path / "bad")])
