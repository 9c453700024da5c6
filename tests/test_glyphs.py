"""The printed-glyph pretraining corpus and the per-class caption heads of pretrain_clip."""

import numpy as np
import pytest
import torch

from bdunlearn.data import glyphs
from bdunlearn.models.clip_pretraining import caption_table, glyph_corpus
from bdunlearn.models.open_clip_models import create_clip, tokenizer_for
from bdunlearn.models.zeroshot import caption_embeddings, class_embeddings


def test_glyphs_are_seeded_balanced_and_bright_on_dark():
    x, y = glyphs.make_glyphs(40, 32, seed=3, n_classes=10)
    x2, y2 = glyphs.make_glyphs(40, 32, seed=3, n_classes=10)
    x3, _ = glyphs.make_glyphs(40, 32, seed=4, n_classes=10)
    assert x.shape == (40, 32, 32, 3) and x.dtype == np.uint8
    assert np.array_equal(x, x2) and np.array_equal(y, y2) and not np.array_equal(x, x3)
    assert np.array_equal(np.bincount(y), np.full(10, 4))
    assert np.array_equal(x[..., 0], x[..., 2])  # grey: colour comes from pretraining's tint augmentation
    for im in x[..., 0].astype(float):  # ink is brighter than the ground: centre brighter than the border
        border = np.concatenate([im[:2].ravel(), im[-2:].ravel(), im[:, :2].ravel(), im[:, -2:].ravel()])
        assert im.max() > np.median(border) + 60


def test_glyph_class_count_is_checked():
    with pytest.raises(ValueError, match="n_classes"):
        glyphs.make_glyphs(4, 32, 0, n_classes=37)


def test_captions_name_digits_and_letters_but_never_handwriting():
    caps = glyphs.captions()
    assert len(caps) == 36 and "a printed seven." in caps[7] and "the letter k." in caps[10 + ord("k") - ord("a")]
    assert not any("handwritten" in c for cs in caps for c in cs)
    flat, offsets, counts = caption_table(caps[:11])
    assert flat[offsets[10]] == "a printed letter a." and counts.tolist() == [4] * 10 + [3]


def test_glyph_corpus_follows_its_config():
    prm = {"n": 30, "n_test": 20, "classes": "digits"}
    (x, y), caps, (tx, ty) = glyph_corpus(prm, 16, seed=0)
    assert x.shape == (30, 3, 16, 16) and tx.shape == (20, 3, 16, 16) and len(caps) == 10
    assert int(y.max()) == 9 and not torch.equal(x[:20], tx)  # train and held-out are drawn with different seeds
    (_, y_all), caps_all, _ = glyph_corpus({**prm, "classes": "all", "n": 72}, 16, seed=0)
    assert len(caps_all) == 36 and int(y_all.max()) == 35


def test_caption_embeddings_average_each_class_and_match_template_heads():
    model, _ = create_clip("bdclip-tiny")
    tok = tokenizer_for("bdclip-tiny")
    names, templates = ["zero", "one"], ["a {}.", "the {}."]
    a = class_embeddings(model, tok, names, templates)
    b = caption_embeddings(model, tok, [["a zero.", "the zero."], ["a one.", "the one."]])
    assert torch.allclose(a, b, atol=1e-6)
    uneven = caption_embeddings(model, tok, [["a zero."], ["a one.", "the one."]], batch_classes=1)
    single = model.encode_text(tok(["a zero."]), normalize=True)[0]
    assert torch.allclose(uneven[0], single, atol=1e-5) and torch.allclose(uneven.norm(dim=1), torch.ones(2))


def test_pretraining_on_a_prepared_dataset_still_works(tmp_path):
    """pretrain.source: dataset reads the prepare_images output (train to learn, test for the zero-shot check)."""
    import json

    from bdunlearn import prepare_images, pretrain_clip

    data = {"classnames": "digits", "name": "digits", "resolution": 16, "seed": 0, "source": "digits",
            "splits": {"forget": 10, "test": 40, "train": 60, "val": 10}, "target": "zero", "templates": "digits"}
    prepare_images.main(["--params", json.dumps(data), "--outdir", str(tmp_path / "data")])
    pre = {"source": "dataset", "epochs": 1, "batch_size": 32, "lr": 1e-3, "weight_decay": 0.1, "warmup_steps": 1,
           "max_shift": 0.125, "tint": 0.6, "min_zeroshot_accuracy": 0.0}
    prm = {"seed": 0, "device": "cpu", "model": {"arch": "bdclip-tiny", "pretrained": None, "resolution": 16}, "pretrain": pre}
    pretrain_clip.main(["--params", json.dumps(prm), "--datadir", str(tmp_path / "data"), "--outdir", str(tmp_path / "pre")])
    report = json.loads((tmp_path / "pre" / "pretrain.json").read_text())
    assert report["dataset"] == "digits" and len(report["history"]) == 1 and 0 <= report["zeroshot_test_accuracy"] <= 1
    prm["pretrain"]["min_zeroshot_accuracy"] = 1.01  # an impossible bar names the key
    with pytest.raises(SystemExit, match="min_zeroshot_accuracy"):
        pretrain_clip.main(["--params", json.dumps(prm), "--datadir", str(tmp_path / "data"), "--outdir", str(tmp_path / "p2")])
