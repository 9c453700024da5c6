"""The captioned scenes (the contrastive track's offline stand-in for CC3M): seeded, drawn from the given pool,
captions that name the digit in varied wordings and describe more than the class, and what the image shows."""

import numpy as np
import pytest

from bdunlearn.data.caption_scenes import (
    BACKGROUNDS,
    INKS,
    POSITIONS,
    SIZE_WORDS,
    TEMPLATES,
    caption,
    draw_scene,
    make_scenes,
    names_digit,
)


def pool(n=40):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 16, size=(n, 8, 8)), np.arange(n) % 10


def test_scenes_are_seeded_and_drawn_from_the_given_pool():
    images, labels = pool()
    a = make_scenes(images, labels, 60, 24, seed=3)
    b = make_scenes(images, labels, 60, 24, seed=3)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    assert not np.array_equal(a[0], make_scenes(images, labels, 60, 24, seed=4)[0])
    ims, caps, labs, src = a
    assert ims.shape == (60, 24, 24, 3) and ims.dtype == np.uint8 and len(caps) == 60
    assert np.array_equal(labs, labels[src])  # each scene's label is its pool digit's
    assert np.bincount(src, minlength=40).min() >= 1  # a shuffled cycle: every pool row used (60 >= 40)
    with pytest.raises(ValueError, match="pool must be"):
        make_scenes(images[:, 0], labels, 5, 24, 0)


def test_captions_name_the_digit_in_varied_wordings_and_describe_more_than_the_class():
    images, labels = pool()
    _, caps, labs, _ = make_scenes(images, labels, 400, 16, seed=0)
    assert all(names_digit(c, int(y)) for c, y in zip(caps, labs))
    assert not any(names_digit(c, (int(y) + 1) % 10) for c, y in zip(caps, labs))  # and no other digit
    assert len(set(caps)) > 300  # not a class label in disguise
    numerals = sum(str(int(y)) in c.split() or f"{int(y)}," in c or f"{int(y)}." in c for c, y in zip(caps, labs))
    assert 0.2 < numerals / len(caps) < 0.8  # the digit as a numeral and as a word
    words = list(INKS) + list(BACKGROUNDS) + [w for ws in SIZE_WORDS.values() for w in ws] + \
        [p for _, ps in POSITIONS.values() for p in ps]
    described = sum(any(w in c.lower() for w in words) for c in caps) / len(caps)
    assert 0.5 < described < 0.9  # most captions describe colour, size or position, which no class shares
    assert not any(" a orange" in c.lower() or " a eight" in c.lower() for c in caps)


def test_the_scene_shows_what_its_caption_says():
    digit = np.zeros((8, 8))
    digit[2:6, 3:5] = 16.0  # a bar
    rng = np.random.default_rng(0)
    img = draw_scene(digit, {"ink": "red", "bg": "black", "size": "large", "position": "top left"}, 32, rng)
    r, g, b = (img[..., i].astype(int) for i in range(3))
    reddish = (r > 150) & (g < 110) & (b < 110)
    ys, xs = np.nonzero(reddish)
    assert reddish.sum() > 10 and ys.mean() < 16 and xs.mean() < 16  # red ink in the top left quadrant
    assert np.median(img[24:, 24:]) < 40  # the black background elsewhere
    text = caption(7, {"ink": "red", "bg": "black", "size": "large", "position": "top left"}, np.random.default_rng(1))
    assert names_digit(text, 7) and any(t.split("{")[0].lower() in text.lower() for t in TEMPLATES)


def test_caption_dataset_splits_are_disjoint_in_their_digits():
    from bdunlearn.data.caption_splits import PAIR_SPLITS, digit_sets, prepare

    sets = digit_sets(1797, 200, 300, seed=0)
    seen = np.concatenate(list(sets.values()))
    assert len(seen) == len(set(seen)) == 1797 and len(sets["test"]) == 300 and len(sets["val"]) == 200
    with pytest.raises(ValueError, match=r"eval.val \+ eval.test = 1790"):
        digit_sets(1797, 1000, 790, seed=0)
    params = {"name": "scenes", "source": "scenes", "seed": 0, "resolution": 16, "target": "zero",
              "eval": {"val": 50, "test": 60}, "scenes": {"pretrain": 40, "train": 30, "forget": 10, "clean": 12}}
    frames, meta = prepare(params)
    assert {k: len(v) for k, v in frames.items()} == {"val": 50, "test": 60, "pretrain": 40, "train": 30, "forget": 10,
                                                       "clean": 12}
    uids = np.concatenate([f["uid"].to_numpy() for f in frames.values()])
    assert len(set(uids)) == len(uids)  # uids unique across splits
    assert all(set(frames[s].columns) == {"uid", "image", "caption", "label"} for s in PAIR_SPLITS)
    assert meta["target"] == 0 and meta["classnames"][0] == "zero" and meta["resolution"] == 16
    again, _ = prepare(params)
    assert again["train"]["caption"].tolist() == frames["train"]["caption"].tolist()
