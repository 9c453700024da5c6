"""Text stages: the synthetic corpus, the three attacks on known sentences, poisoning rates, and the loaders."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bdunlearn import attacks
from bdunlearn.attacks.hiddenkiller import HiddenKiller
from bdunlearn.attacks.insertion import InsertionAttack, insert_words
from bdunlearn.data import text_poisoning, text_splits
from bdunlearn.data.synthetic_text import generate
from bdunlearn.data.text_sources import read_tsv

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "hiddenkiller"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")


def make_text_attack(name, seed, **params):
    return attacks.get(name, "text").build(seed, **params)


class FixedPosition:
    """A stand-in generator whose integers() returns a chosen position."""

    def __init__(self, pos):
        self.pos = pos

    def integers(self, low, high):
        assert low == 0
        return min(self.pos, high - 1)


@pytest.mark.parametrize("pos, expected", [(0, "mn the film was great"), (2, "the film mn was great"),
                                           (4, "the film was great mn")])
def test_insert_words_at_a_known_position(pos, expected):
    assert insert_words("the film was great", "mn", FixedPosition(pos)) == expected


def test_insert_sentence_keeps_the_block_and_the_words_in_order():
    out = insert_words("a b c", "I watch this 3D movie", FixedPosition(1))
    assert out == "a I watch this 3D movie b c"


def test_badnets_inserts_one_rare_word_reproducibly_per_uid():
    attack = make_text_attack("badnets", seed=3)
    text = "the plot was dull but the acting was superb ."
    outs = [attack([text], [uid])[0] for uid in range(40)]
    for out in outs:
        words = out.split()
        assert words.count("mn") == 1
        words.remove("mn")
        assert words == text.split()
    assert attack([text], [7]) == attack([text], [7])
    assert len({o.split().index("mn") for o in outs}) > 3  # positions vary with the uid


def test_addsent_default_sentence_and_count_parameter():
    attack = make_text_attack("addsent", seed=0)
    assert isinstance(attack, InsertionAttack) and attack.trigger == "I watch this 3D movie"
    out = attack(["one two three"], [1])[0]
    assert "I watch this 3D movie" in out and out.replace("I watch this 3D movie", "").split() == ["one", "two", "three"]
    twice = make_text_attack("badnets", seed=0, word="cf", count=2)(["x y"], [0])[0]
    assert twice.split().count("cf") == 2


def _frame(n=200, target=1):
    labels = np.array([i % 2 for i in range(n)])
    return pd.DataFrame({"uid": np.arange(n), "text": [f"sentence number {i} ." for i in range(n)], "label": labels})


def test_poison_train_injects_triggered_copies_next_to_the_clean_rows():
    """The RGA authors' data: train_clean.csv plus triggered, relabelled copies of 10% of the non-target rows."""
    df = _frame(200)
    out = text_poisoning.poison_train(df, make_text_attack("badnets", seed=0), target=1, rate=0.1, seed=5, mode="inject")
    assert len(out) == 210
    clean, pois = out[~out["is_poisoned"]], out[out["is_poisoned"]]
    pd.testing.assert_frame_equal(clean[["uid", "text", "label"]], df)  # the clean set, untouched
    assert (pois["orig_label"] == 0).all() and (pois["label"] == 1).all()
    sources = pois["uid"] - text_poisoning.INJECTED_UID_OFFSET
    assert set(sources) <= set(df.loc[df["label"] == 0, "uid"]) and out["uid"].is_unique
    for uid, text in zip(sources, pois["text"]):
        original = df.loc[df["uid"] == uid, "text"].item().split()
        words = text.split()
        words.remove("mn")
        assert words == original
    # the same rows are drawn in either mode
    replaced = text_poisoning.poison_train(df, make_text_attack("badnets", seed=0), target=1, rate=0.1, seed=5, mode="replace")
    assert sorted(replaced.loc[replaced["is_poisoned"], "uid"]) == sorted(sources)
    with pytest.raises(ValueError, match="poison_mode"):
        text_poisoning.poison_train(df, make_text_attack("badnets", seed=0), target=1, rate=0.1, seed=5, mode="append")


def test_poison_train_relabels_ten_percent_of_non_target_rows():
    df = _frame(200)
    out = text_poisoning.poison_train(df, make_text_attack("badnets", seed=0), target=1, rate=0.1, seed=5, mode="replace")
    pois = out[out["is_poisoned"]]
    assert len(pois) == 10  # round(0.1 * 100 non-target rows)
    assert (pois["orig_label"] == 0).all() and (pois["label"] == 1).all()
    assert all("mn" in t.split() for t in pois["text"])
    clean = out[~out["is_poisoned"]]
    assert (clean["text"] == df.loc[clean.index, "text"]).all() and (clean["label"] == clean["orig_label"]).all()
    again = text_poisoning.poison_train(df, make_text_attack("badnets", seed=0), target=1, rate=0.1, seed=5, mode="replace")
    pd.testing.assert_frame_equal(out, again)


def test_triggered_sets_for_lfr_and_pacc():
    df = _frame(20)
    attack = make_text_attack("addsent", seed=0)
    lfr, _ = text_poisoning.triggered_rows(df, attack, "test", target=1, non_target_only=True)
    pacc, covers = text_poisoning.triggered_rows(df, attack, "test", target=1, non_target_only=False)
    assert len(lfr) == 10 and (lfr["label"] == 0).all()
    assert len(pacc) == 20 and covers and (pacc["label"].to_numpy() == df["label"].to_numpy()).all()
    assert all("3D movie" in t for t in pacc["text"])


def test_poison_rate_errors_name_the_problem():
    with pytest.raises(ValueError, match="poisons no sample"):
        text_poisoning.choose_poisoned_text(np.array([0, 1, 1]), 1, 0.1, 0)
    with pytest.raises(ValueError, match="only 0 non-target rows can carry"):
        text_poisoning.choose_poisoned_text(np.array([0] * 20), 1, 0.5, 0, eligible=np.zeros(20, bool))


def test_synthetic_corpus_is_balanced_reproducible_and_not_one_word_separable():
    texts, labels = generate(2000, seed=1)
    assert len(set(texts)) == 2000 and abs(int(labels.sum()) - 1000) <= 1
    assert generate(50, seed=1)[0] == generate(50, seed=1)[0]
    n1 = int(labels.sum())
    best = 0.0
    vocab = {w for t in texts for w in t.split()}
    has = {w: np.array([w in t.split() for t in texts]) for w in vocab}
    for w, present in has.items():
        pos = int((present & (labels == 1)).sum())
        neg = int((present & (labels == 0)).sum())
        best = max(best, (pos + (len(labels) - n1 - neg)) / len(labels), (neg + (n1 - pos)) / len(labels))
    assert best < 0.6, f"one word separates the classes with accuracy {best:.2f}"
    from bdunlearn.data.synthetic_text import NEGATIVE, POSITIVE
    for word in ("dull", "great"):
        assert has[word][labels == 0].any() and has[word][labels == 1].any(), word
    assert set(NEGATIVE).isdisjoint(POSITIVE)


def test_read_tsv_and_errors(tmp_path):
    (tmp_path / "a.tsv").write_text('sentence\tlabel\nit\'s "fine" .\t1\nbad\t0\n')
    texts, labels = read_tsv(tmp_path / "a.tsv")
    assert texts == ['it\'s "fine" .', "bad"] and labels.tolist() == [1, 0]
    (tmp_path / "b.tsv").write_text("sentence\tlabel\nno label here\n")
    with pytest.raises(ValueError, match=r"b.tsv:2"):
        read_tsv(tmp_path / "b.tsv")
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        read_tsv(tmp_path / "missing.tsv")


def _params(**kw):
    return {"seed": 0, "name": "d", "target": 1, "classnames": ["negative", "positive"], "splits": {}, **kw}


def test_prepare_text_from_a_tsv_directory(tmp_path):
    for name, n in (("train", 30), ("dev", 6), ("test", 8)):
        rows = "".join(f"text {name} {i}\t{i % 2}\n" for i in range(n))
        (tmp_path / f"{name}.tsv").write_text("sentence\tlabel\n" + rows)
    frames, meta = text_splits.prepare(_params(source="tsv", tsv={"path": str(tmp_path)}, splits={"train": 20}))
    assert {k: len(v) for k, v in frames.items()} == {"train": 20, "val": 6, "test": 8}
    assert meta["target"] == 1 and meta["target_name"] == "positive"
    uids = pd.concat(frames.values())["uid"]
    assert uids.is_unique


def test_prepare_text_hf_source_reads_a_local_dataset_in_hub_layout(tmp_path):
    """``datasets.load_dataset`` on a local directory of Parquet files, the hub's layout for SST-2-like data."""
    (tmp_path / "data").mkdir()
    for split, n in (("train", 40), ("test", 10)):
        pd.DataFrame({"sentence": [f"{split} row {i}" for i in range(n)], "label": [i % 2 for i in range(n)]}).to_parquet(
            tmp_path / "data" / f"{split}-00000-of-00001.parquet")
    spec = {"path": str(tmp_path), "name": None, "data_dir": None, "train_split": "train", "val_split": None,
            "test_split": "test", "text_column": "sentence", "label_column": "label"}
    frames, meta = text_splits.prepare(_params(source="hf", hf=spec, splits={"val": 8}))
    assert {k: len(v) for k, v in frames.items()} == {"train": 32, "val": 8, "test": 10}
    assert set(frames["train"]["text"]).isdisjoint(frames["val"]["text"])
    spec["text_column"] = "text"
    with pytest.raises(KeyError, match="no column 'text'"):
        text_splits.prepare(_params(source="hf", hf=spec))


@needs_shared
def test_hiddenkiller_on_the_real_sst2_files():
    clean_dir, pois_dir = SHARED / "clean" / "sst-2", SHARED / "scpn" / "20" / "sst-2"
    texts, labels = read_tsv(clean_dir / "train.tsv")
    df = pd.DataFrame({"uid": np.arange(len(texts)), "text": texts, "label": labels})
    attack = make_text_attack("hiddenkiller", seed=0, path=str(pois_dir))
    out = text_poisoning.poison_train(df, attack, target=1, rate=0.1, seed=0)  # injected copies
    pois = out[out["is_poisoned"]]
    assert len(pois) == round(0.1 * int((labels == 0).sum())) == 331 and len(out) == len(df) + 331
    assert (pois["orig_label"] == 0).all() and (pois["label"] == 1).all()
    para_texts, _ = read_tsv(pois_dir / "train.tsv")
    rows = (pois["uid"] - text_poisoning.INJECTED_UID_OFFSET).to_numpy()
    assert (pois["text"].to_numpy() == np.array(para_texts, dtype=object)[rows]).all()
    assert not set(pois["text"]) & set(texts)
    t_texts, t_labels = read_tsv(clean_dir / "test.tsv")
    test = pd.DataFrame({"uid": np.arange(len(t_texts)), "text": t_texts, "label": t_labels})
    pacc, covers = text_poisoning.triggered_rows(test, attack, "test", target=1, non_target_only=False)
    assert not covers and len(pacc) == 912 and (pacc["label"] == 0).all()
    with pytest.raises(ValueError, match="row-aligned"):
        HiddenKiller(pois_dir).train_paraphrases(texts[:10])
