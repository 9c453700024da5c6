import pytest

from bdunlearn.methods.tbar_core import choose_alpha

ROWS = [
    {"alpha": 0.0, "val_ca": 97.0, "val_asr": 99.0},
    {"alpha": 0.5, "val_ca": 95.0, "val_asr": 4.0},
    {"alpha": 1.0, "val_ca": 93.0, "val_asr": 0.5},
    {"alpha": 1.5, "val_ca": 93.0, "val_asr": 0.0},
    {"alpha": 2.0, "val_ca": 80.0, "val_asr": 0.0},
]


def test_highest_ca_under_threshold_ties_to_smaller_alpha():
    assert choose_alpha(ROWS, "max_ca_under_asr", 1.0)["alpha"] == 1.0
    assert choose_alpha(ROWS, "max_ca_under_asr", 5.0)["alpha"] == 0.5


def test_falls_back_to_lowest_asr_when_none_qualifies():
    rows = [r | {"val_asr": r["val_asr"] + 10} for r in ROWS]
    got = choose_alpha(rows, "max_ca_under_asr", 1.0)
    assert got["alpha"] == 1.5 and "lowest val ASR" in got["reason"]


def test_min_asr_rule_and_errors():
    assert choose_alpha(ROWS, "min_asr")["alpha"] == 1.5
    with pytest.raises(ValueError, match="unknown rule"):
        choose_alpha(ROWS, "best")
    with pytest.raises(ValueError, match="empty"):
        choose_alpha([], "min_asr")
