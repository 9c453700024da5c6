import pytest
import torch
from torch import nn

from bdunlearn.evaluation.metrics import (
    accuracy,
    attack_success_rate,
    class_accuracies,
    nontarget_accuracy,
    removal,
    retention,
)
from bdunlearn.models import task_vectors as tv


def state(seed):
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    for p in net.parameters():
        p.data = torch.randn(p.shape, generator=g)
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    return sd


def test_alpha_zero_gives_backdoored_weights_exactly():
    bd, tau = state(0), tv.subtract(state(1), state(0))
    out = tv.negate(bd, tau, 0.0)
    for k in bd:
        assert torch.equal(out[k], bd[k]), k


def test_adding_tau_back_gives_backdoored_plus_trigger():
    bd, bdt = state(0), state(1)
    tau = tv.subtract(bdt, bd)
    back = tv.apply(bd, tau, 1.0)
    for k, v in bdt.items():
        if v.is_floating_point():
            torch.testing.assert_close(back[k], v, rtol=0, atol=1e-6)


def test_negation_formula_and_integer_buffers_untouched():
    bd, bdt = state(0), state(1)
    bdt["1.num_batches_tracked"] = torch.tensor(99)
    tau = tv.subtract(bdt, bd)
    assert "1.num_batches_tracked" not in tau
    out = tv.negate(bd, tau, 0.7)
    torch.testing.assert_close(out["0.weight"], bd["0.weight"] - 0.7 * (bdt["0.weight"] - bd["0.weight"]))
    assert torch.equal(out["1.num_batches_tracked"], bd["1.num_batches_tracked"])


def test_inplace_matches_functional():
    bd, tau = state(0), tv.subtract(state(1), state(0))
    live = {k: v.clone() for k, v in bd.items()}
    ptrs = {k: v.data_ptr() for k, v in live.items()}
    tv.apply_inplace(live, bd, tau, -1.3)
    ref = tv.negate(bd, tau, 1.3)
    for k in tau:
        torch.testing.assert_close(live[k], ref[k], rtol=0, atol=1e-6)
        assert live[k].data_ptr() == ptrs[k]


def test_mismatched_keys_are_reported():
    a, b = state(0), state(1)
    del b["0.bias"]
    with pytest.raises(KeyError, match="0.bias"):
        tv.subtract(a, b)


def test_norm():
    assert tv.norm({"a": torch.tensor([3.0]), "b": torch.tensor([4.0])}) == pytest.approx(5.0)


def test_asr_excludes_target_class_images():
    target = 2
    true = torch.tensor([0, 1, 2, 2, 3])
    pred = torch.tensor([2, 1, 2, 2, 2])
    # non-target rows: 0 (->2 success), 1 (->1 no), 3 (->2 success); the two target rows are ignored
    assert attack_success_rate(pred, true, target) == pytest.approx(100 * 2 / 3)
    with pytest.raises(ValueError):
        attack_success_rate(pred[2:4], true[2:4], target)


def test_accuracy_on_known_predictions():
    assert accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4])) == pytest.approx(75.0)


def test_retention_and_removal_match_tbar_table1():
    # CIFAR100 / BadNet row of Table 1: 88.82 -> 86.78 (97.70%), 99.93 -> 0.16 (99.84%)
    assert retention(86.78, 88.82) == pytest.approx(97.70, abs=0.005)
    assert removal(0.16, 99.93) == pytest.approx(99.84, abs=0.005)


def test_per_class_and_nontarget_accuracy_on_known_predictions():
    # target 0 wiped (never predicted), as a negated trigger vector does to the target class
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2])
    preds = torch.tensor([1, 2, 1, 1, 2, 2, 2, 2])
    assert class_accuracies(preds, labels, 4) == [0.0, pytest.approx(200 / 3), 100.0, None]
    assert nontarget_accuracy(preds, labels, target=0) == pytest.approx(500 / 6)
    assert accuracy(preds, labels) == pytest.approx(500 / 8)
