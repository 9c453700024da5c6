"""Task Arithmetic and TIES merging on known tensors (TBAR appendix C.4)."""

import pytest
import torch

from bdunlearn.models.merging import disjoint_mean, elect_sign, merge, ties_vector, trim


def test_trim_keeps_the_top_fraction_by_magnitude():
    v = torch.tensor([0.1, -3.0, 0.5, 2.0, -0.2, 1.0, 0.0, -4.0, 0.3, 0.05])
    # as the authors' code: the threshold is the (d - int(k d))-th smallest magnitude, itself kept (k d + 1 entries)
    assert trim(v, 0.2).tolist() == [0, -3.0, 0, 2.0, 0, 0, 0, -4.0, 0, 0]
    assert trim(v, 0.4).tolist() == [0, -3.0, 0.5, 2.0, 0, 1.0, 0, -4.0, 0, 0]
    assert trim(v, 1.0).tolist() == v.tolist()
    with pytest.raises(ValueError, match="fraction k"):
        trim(v, 0.0)


def test_sign_election_and_disjoint_mean():
    rows = torch.tensor([[1.0, -2.0, 3.0, 0.0, 1.0],
                         [2.0, 1.0, -1.0, 0.0, -1.0],
                         [0.0, -1.0, -1.0, 0.0, 0.0]])
    # sums 3, -2, 1, 0, 0 -> signs +, -, +, then the zero sums take the majority sign of (+, -, +): +
    sign = elect_sign(rows)
    assert sign.tolist() == [1, -1, 1, 1, 1]
    # entry 0: mean(1, 2); entry 1: mean(-2, -1); entry 2: only 3 agrees; entry 3: nothing kept; entry 4: only 1
    assert disjoint_mean(rows, sign).tolist() == [1.5, -1.5, 3.0, 0.0, 1.0]


def test_ties_trims_each_task_vector_over_all_its_tensors():
    a = {"w": torch.tensor([4.0, 0.1]), "b": torch.tensor([0.2, -3.0])}   # kept: 4 and -3
    b = {"w": torch.tensor([-1.0, 0.3]), "b": torch.tensor([2.0, 0.1])}   # kept: -1 and 2
    merged = ties_vector([a, b], k=0.25)
    # w0: (4, -1) -> sign +, mean of 4; w1: nothing kept; b0: (0, 2) -> 2; b1: (-3, 0) -> -3
    assert merged["w"].tolist() == [4.0, 0.0] and merged["b"].tolist() == [2.0, -3.0]


def test_merge_applies_lam_to_the_merged_vector_and_keeps_int_buffers():
    pre = {"w": torch.tensor([1.0, 1.0]), "steps": torch.tensor([7])}
    f1 = {"w": torch.tensor([2.0, 0.0]), "steps": torch.tensor([9])}
    f2 = {"w": torch.tensor([3.0, 2.0]), "steps": torch.tensor([9])}
    ta = merge("task_arithmetic", pre, [f1, f2], lam=0.5)   # taus (1, -1) and (2, 1): sum (3, 0)
    assert ta["w"].tolist() == [2.5, 1.0] and ta["steps"].tolist() == [7]
    t = merge("ties", pre, [f1, f2], lam=1.0, k=1.0)          # signs (+, +): w0 mean(1, 2), w1 only 1
    assert t["w"].tolist() == [2.5, 2.0]
    with pytest.raises(ValueError, match="unknown merging method"):
        merge("dare", pre, [f1])
