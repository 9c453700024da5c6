"""Unlearning losses against their formulas, CUBE on planted clusters, and the unlearning metrics and table."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from bdunlearn import make_unlearning_table as tables
from bdunlearn.cube import CubeConfig, detect, filter_clusters
from bdunlearn.metrics import backdoor_metrics, detection_scores, label_flip_rate
from bdunlearn.unlearning import CleanBatches, UnlearnConfig, ga_loss, kl_to_reference, l2_distance, npo_term, rga_lambda, unlearn


def test_rga_lambda_and_loss_on_a_hand_computed_example():
    # two forget rows, two classes; the reference (backdoored) model is confident in class 1
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # p = [.5, .5] and [.75, .25]
    ref_p = torch.tensor([[0.1, 0.9], [0.2, 0.8]])
    kl_rows = [0.5 * math.log(0.5 / 0.1) + 0.5 * math.log(0.5 / 0.9), 0.75 * math.log(0.75 / 0.2) + 0.25 * math.log(0.25 / 0.8)]
    kl = sum(kl_rows) / 2
    assert float(kl_to_reference(logits, ref_p.log())) == pytest.approx(kl, rel=1e-6)
    lam = rga_lambda(logits, ref_p.log(), alpha=2.0)
    assert lam == pytest.approx(math.exp(-2.0 * kl), rel=1e-6)
    # eq. 6: -lambda CE(forget) + CE(clean) + beta ||theta - theta_base||_2
    y_f = torch.tensor([1, 1])
    ce_f = -(math.log(0.5) + math.log(0.25)) / 2
    assert float(F.cross_entropy(logits, y_f)) == pytest.approx(ce_f, rel=1e-6)
    theta, base = [torch.tensor([3.0, 1.0]), torch.tensor([[2.0]])], [torch.tensor([0.0, 1.0]), torch.tensor([[-2.0]])]
    assert float(l2_distance(theta, base)) == pytest.approx(5.0, rel=1e-6)  # sqrt(9 + 0 + 16)


def test_rga_lambda_is_one_at_the_reference_and_has_no_gradient():
    logits = torch.randn(4, 3, requires_grad=True)
    lam = rga_lambda(logits, F.log_softmax(logits.detach(), -1), alpha=2.0)
    assert isinstance(lam, float) and lam == pytest.approx(1.0, abs=1e-6)


def test_ga_loss_sign_increases_the_forget_loss():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    xf, yf = torch.randn(8, 4), torch.ones(8, dtype=torch.long)
    xc, yc = torch.randn(8, 4), torch.randint(0, 2, (8,))
    loss = ga_loss(model(xc), yc, model(xf), yf)
    assert float(loss) == pytest.approx(float(F.cross_entropy(model(xc), yc) - F.cross_entropy(model(xf), yf)))
    before = float(F.cross_entropy(model(xf), yf))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        ga_loss(model(xc), yc, model(xf), yf).backward()
        opt.step()
    assert float(F.cross_entropy(model(xf), yf)) > before


def test_npo_term_matches_its_formula():
    logits = torch.tensor([[1.0, 2.0], [0.5, -0.5], [0.0, 3.0]])
    y = torch.tensor([1, 0, 1])
    ref = torch.tensor([-0.2, -1.0, -0.1])
    beta = 0.1
    p = torch.softmax(logits, -1)[torch.arange(3), y]
    expected = (2 / beta) * torch.log(1 + (p / ref.exp()) ** beta).mean()
    assert float(npo_term(logits, y, ref, beta)) == pytest.approx(float(expected), rel=1e-6)
    # at the reference the term is (2 / beta) log 2
    assert float(npo_term(logits, y, torch.log(p), beta)) == pytest.approx(2 / beta * math.log(2), rel=1e-6)


def test_clean_batches_cover_the_retain_set_before_repeating():
    cb = CleanBatches(10, seed=1)
    first = torch.cat([cb.take(4), cb.take(4), cb.take(2)])
    assert sorted(first.tolist()) == list(range(10))
    assert len(cb.take(25)) == 25


class Toy(torch.nn.Module):
    """A linear adapter with the interface unlearning needs."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x)

    def named_editable_parameters(self):
        return dict(self.lin.named_parameters())


@pytest.mark.parametrize("method", ["ga", "npo", "rga"])
def test_unlearn_loop_reports_each_epoch_and_snapshots(method):
    torch.manual_seed(0)
    model = Toy()
    forget = (torch.randn(10, 3) + 2, torch.ones(10, dtype=torch.long))
    retain = (torch.randn(30, 3), torch.randint(0, 2, (30,)))
    base = {k: v.detach().clone() for k, v in model.named_editable_parameters().items()}
    seen = []
    cfg = UnlearnConfig(epochs=3, snapshots=[1, 3], batch_size=4, lr=0.05)
    hist = unlearn(model, method, forget, retain, cfg, torch.device("cpu"), seed=0, base_state=base, on_snapshot=seen.append)
    assert [h["epoch"] for h in hist] == [1, 2, 3] and seen == [1, 3]
    assert all(np.isfinite(h["poison_loss"]) for h in hist)
    if method == "rga":
        assert all(0 < h["lambda"] <= 1 for h in hist)
    if method == "ga":
        assert hist[-1]["poison_loss"] > hist[0]["poison_loss"]


def test_filter_clusters_keeps_the_largest_cluster_per_label():
    labels = np.array([0] * 6 + [1] * 8)
    clusters = np.array([0, 0, 0, 0, 2, -1] + [1, 1, 1, 1, 1, 2, 2, 2])
    flags = filter_clusters(labels, clusters, "all_but_largest")
    assert flags.tolist() == [False] * 4 + [True, True] + [False] * 5 + [True] * 3
    # OpenBackdoor rule: a cluster is dropped only if smaller than half its label's rows
    half = filter_clusters(np.array([0] * 10), np.array([0] * 5 + [1] * 5), "smaller_than_half")
    assert not half.any()
    assert filter_clusters(np.array([0] * 10), np.array([0] * 6 + [1] * 4), "smaller_than_half").tolist() == [False] * 6 + [True] * 4


def test_cube_recovers_a_planted_cluster_exactly():
    rng = np.random.default_rng(0)
    centre = {0: np.r_[5.0, np.zeros(15)], 1: np.r_[-5.0, np.zeros(15)]}
    rows, labels, truth = [], [], []
    for y, n in ((0, 150), (1, 150)):
        rows.append(centre[y] + 0.3 * rng.standard_normal((n, 16)))
        labels += [y] * n
        truth += [False] * n
    rows.append(np.r_[0.0, 8.0, np.zeros(14)] + 0.3 * rng.standard_normal((20, 16)))  # poisoned, labelled as the target 1
    labels += [1] * 20
    truth += [True] * 20
    flags, clusters, points = detect(np.vstack(rows), np.array(labels), CubeConfig.from_dict({"variant": "paper"}), seed=0)
    assert points.shape == (320, 4)
    assert flags.tolist() == truth
    assert detection_scores(flags, truth) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n_flagged": 20,
                                              "n_poisoned": 20, "true_positives": 20}


def test_cube_variant_settings_and_overrides():
    ob = CubeConfig.from_dict({"variant": "openbackdoor", "min_samples": 50})
    assert (ob.pca_components, ob.umap_components, ob.n_neighbors, ob.min_dist, ob.min_samples, ob.drop) == (
        20, 2, 100, 0.0, 50, "smaller_than_half")
    with pytest.raises(ValueError, match="cube.variant"):
        CubeConfig.from_dict({"variant": "nope"})


def test_detection_scores_and_lfr_on_known_values():
    s = detection_scores([True, True, False, False], [True, False, True, False])
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5)
    assert detection_scores([False, False], [True, False])["f1"] == 0.0
    preds, labels = torch.tensor([1, 1, 0, 1, 0]), torch.tensor([0, 0, 0, 1, 1])
    assert label_flip_rate(preds, labels, target=1) == pytest.approx(100 * 2 / 3)


def test_backdoor_metrics_on_known_predictions():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return F.one_hot(x[:, 0].long(), 2).float()

    sets = {"clean": (torch.tensor([[0], [1], [1], [0]]), torch.tensor([0, 1, 0, 0])),
            "triggered": (torch.tensor([[1], [1], [0]]), torch.tensor([0, 0, 0])),
            "pacc": (torch.tensor([[1], [1], [0], [1]]), torch.tensor([0, 0, 0, 1]))}
    m = backdoor_metrics(Fixed(), sets, target=1, device=torch.device("cpu"))
    assert m == pytest.approx({"cacc": 75.0, "lfr": 100 * 2 / 3, "pacc": 50.0})


def _metrics(method, pacc, epoch=None, seed=0):
    return {"dataset": "d", "attack": "badnets", "method": method, "seed": seed,
            "snapshots": [{"epoch": epoch, "cacc": 90.0, "lfr": 10.0, "pacc": pacc}]}


def test_unlearning_table_delta_pacc_and_layout():
    ms = [_metrics("backdoored", 50.0), _metrics("retrain", 90.0), _metrics("ga", 40.0, 10), _metrics("rga", 88.0, 10),
          _metrics("backdoored", 50.0, seed=1), _metrics("retrain", 80.0, seed=1), _metrics("ga", 60.0, 10, seed=1),
          _metrics("rga", 84.0, 10, seed=1)]
    per_seed = tables.long_table(ms)
    d = per_seed.set_index(["method", "seed"])["delta_pacc"]
    assert d[("ga", 0)] == 50.0 and d[("rga", 1)] == 4.0 and pd.isna(d[("retrain", 0)])
    mean, std = tables.aggregate(per_seed)
    ga = mean[mean["method"] == "ga"].iloc[0]
    assert ga["pacc"] == 50.0 and ga["delta_pacc"] == 35.0  # mean of |90-40| and |80-60|
    md = tables.to_markdown(mean, std)
    assert "### After 10 unlearning epochs" in md and "GA ΔPACC ↓" in md and "35.00 ± 15.00" in md
    assert "ReTrain ΔPACC" not in md
    tex = tables.to_latex(mean, std)
    assert r"\multicolumn{4}{c}{GA}" in tex and r"\multicolumn{3}{c}{ReTrain}" in tex
