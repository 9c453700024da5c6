"""Unlearning losses against their formulas, CUBE on planted clusters, and the unlearning metrics and table."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from bdunlearn.detection.cube import CubeConfig, detect, filter_clusters, keep_k_largest
from bdunlearn.evaluation import unlearning_table as tables
from bdunlearn.evaluation.metrics import backdoor_metrics, detection_scores, label_flip_rate
from bdunlearn.methods.ga import ga_loss
from bdunlearn.methods.gradient import UnlearnConfig
from bdunlearn.methods.gradient_loop import CleanBatches, RandomBatches, unlearn
from bdunlearn.methods.npo import npo_term
from bdunlearn.methods.rga import kl_to_reference, l2_distance, regularised_names, rga_lambda
from bdunlearn.models.training import FinetuneConfig, finetune


def test_rga_lambda_and_loss_on_a_hand_computed_example():
    # two forget rows, two classes; the reference (backdoored) model is confident in class 1
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # p = [.5, .5] and [.75, .25]
    ref_p = torch.tensor([[0.1, 0.9], [0.2, 0.8]])
    kl_rows = [0.5 * math.log(0.5 / 0.1) + 0.5 * math.log(0.5 / 0.9), 0.75 * math.log(0.75 / 0.2) + 0.25 * math.log(0.25 / 0.8)]
    kl = sum(kl_rows) / 2  # KL(current || reference), eq. 7 as printed
    assert float(kl_to_reference(logits, ref_p.log(), "current_reference")) == pytest.approx(kl, rel=1e-6)
    lam = rga_lambda(logits, ref_p.log(), alpha=2.0, direction="current_reference")
    assert lam == pytest.approx(math.exp(-2.0 * kl), rel=1e-6)
    # KL(reference || current), the authors' F.kl_div(log_softmax(current), softmax(reference), "batchmean")
    kl_ref = (0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.9 / 0.5) + 0.2 * math.log(0.2 / 0.75) + 0.8 * math.log(0.8 / 0.25)) / 2
    assert float(kl_to_reference(logits, ref_p.log())) == pytest.approx(kl_ref, rel=1e-6)
    torch_kl = F.kl_div(F.log_softmax(logits, -1), ref_p, reduction="batchmean")
    assert float(kl_to_reference(logits, ref_p.log(), "reference_current")) == pytest.approx(float(torch_kl), rel=1e-6)
    assert rga_lambda(logits, ref_p.log(), alpha=2.0) == pytest.approx(math.exp(-kl_ref) ** 2, rel=1e-6)
    with pytest.raises(ValueError, match="unlearn.rga_kl"):
        kl_to_reference(logits, ref_p.log(), "both")
    # eq. 6: -lambda CE(forget) + CE(clean) + beta ||theta - theta_base||_2
    y_f = torch.tensor([1, 1])
    ce_f = -(math.log(0.5) + math.log(0.25)) / 2
    assert float(F.cross_entropy(logits, y_f)) == pytest.approx(ce_f, rel=1e-6)
    theta, base = [torch.tensor([3.0, 1.0]), torch.tensor([[2.0]])], [torch.tensor([0.0, 1.0]), torch.tensor([[-2.0]])]
    assert float(l2_distance(theta, base, "global")) == pytest.approx(5.0, rel=1e-6)  # sqrt(9 + 0 + 16), eq. 6
    assert float(l2_distance(theta, base)) == pytest.approx(7.0, rel=1e-6)  # sqrt(9 + 0) + sqrt(16), per tensor (code)
    with pytest.raises(ValueError, match="unlearn.rga_l2"):
        l2_distance(theta, base, "squared")


def test_the_two_kl_directions_differ_by_orders_of_magnitude_on_a_saturated_reference():
    """One forget row whose reference is saturated on the target (p = 1 - 1e-4) has moved to p = 0.3 on the
    other class: eq. 7's direction stops RGA's ascent (lambda 0.0135), the code's keeps it going (0.491)."""
    ref = torch.tensor([[1e-4, 1 - 1e-4]], dtype=torch.float64).log()
    cur = torch.tensor([[0.3, 0.7]], dtype=torch.float64).log()
    kl_cr = 0.3 * math.log(0.3 / 1e-4) + 0.7 * math.log(0.7 / (1 - 1e-4))
    kl_rc = 1e-4 * math.log(1e-4 / 0.3) + (1 - 1e-4) * math.log((1 - 1e-4) / 0.7)
    assert rga_lambda(cur, ref, 2.0, "current_reference") == pytest.approx(math.exp(-2 * kl_cr), rel=1e-5)
    assert rga_lambda(cur, ref, 2.0, "reference_current") == pytest.approx(math.exp(-2 * kl_rc), rel=1e-5)
    assert rga_lambda(cur, ref, 2.0, "current_reference") == pytest.approx(0.0135, abs=1e-4)
    assert rga_lambda(cur, ref, 2.0, "reference_current") == pytest.approx(0.491, abs=1e-3)


def test_random_batches_draw_whole_fixed_retain_batches_reproducibly():
    rb = RandomBatches(10, 4, seed=3)
    draws = [rb.take(4).tolist() for _ in range(30)]
    assert all(d in ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9]) for d in draws)
    assert len({tuple(d) for d in draws}) == 3  # with replacement, all three batches come up
    again = RandomBatches(10, 4, seed=3)
    assert [again.take(4).tolist() for _ in range(30)] == draws


def test_rga_l2_scope_leaves_the_classification_head_out():
    class Headed(torch.nn.Module):
        def head_parameter_names(self):
            return ["head.weight", "head.bias"]

    named = {"enc.w": 0, "head.weight": 0, "head.bias": 0, "fresh.only": 0}
    base = {"enc.w": 0, "head.weight": 0, "head.bias": 0}
    assert regularised_names(Headed(), named, base, "encoder") == ["enc.w"]
    assert regularised_names(Headed(), named, base, "all") == ["enc.w", "head.weight", "head.bias"]


@pytest.mark.parametrize("fresh", [True, False])
def test_a_fresh_optimizer_per_epoch_restarts_adam(fresh):
    """With one full batch per epoch, Adam's first step moves every weight by lr * sign(grad) (bias-corrected
    m / sqrt(v) = g / |g|); a fresh optimizer at every epoch makes every epoch's step a first step."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    before = model.weight.detach().clone()
    cfg = FinetuneConfig(epochs=2, batch_size=16, lr=0.01, weight_decay=0.0, warmup_steps=0, optimizer="adam",
                         schedule="constant", fresh_optimizer=fresh)
    finetune(model, model.parameters(), x, y, cfg, torch.device("cpu"), seed=0)
    moved = (model.weight.detach() - before).abs()
    # the two steps' signs can agree (2 lr) or cancel (0) when each step is lr; Adam's second step is not lr
    on_grid = torch.isclose(moved, torch.tensor(0.0), atol=1e-6) | torch.isclose(moved, torch.tensor(0.02), atol=1e-6)
    assert bool(on_grid.all()) == fresh


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


@pytest.mark.parametrize("method", ["ga", "tbar_ga", "npo", "rga"])
def test_unlearn_loop_reports_each_epoch_and_snapshots(method):
    torch.manual_seed(0)
    model = Toy()
    forget = (torch.randn(10, 3) + 2, torch.ones(10, dtype=torch.long))
    retain = (torch.randn(30, 3), torch.randint(0, 2, (30,)))
    base = {k: v.detach().clone() for k, v in model.named_editable_parameters().items()}
    seen = []
    cfg = UnlearnConfig(epochs=3, snapshots=[1, 3], batch_size=4, lr=0.05)
    model.head_parameter_names = lambda: ["bias"]
    hist = unlearn(model, method, forget, retain, cfg, torch.device("cpu"), seed=0, base_state=base, on_snapshot=seen.append)
    assert [h["epoch"] for h in hist] == [1, 2, 3] and seen == [1, 3]
    assert all(np.isfinite(h["poison_loss"]) for h in hist)
    if method == "rga":
        assert all(0 < h["lambda"] <= 1 for h in hist)
    if method in ("ga", "tbar_ga"):
        assert hist[-1]["poison_loss"] > hist[0]["poison_loss"]


def test_tbar_ga_is_plain_ascent_on_the_forget_set_and_reads_no_retain_rows():
    """TBAR B.3.4's GA, -CE(D_p), beside the RGA paper's GA, CE(D_c) - CE(D_p): two methods, named apart."""
    from bdunlearn import methods
    from bdunlearn.methods.tbar_ga import tbar_ga_loss

    logits, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    assert float(tbar_ga_loss(logits, y)) == pytest.approx(-float(F.cross_entropy(logits, y)))
    ga, tga = methods.get("ga"), methods.get("tbar_ga")
    assert (ga.label, tga.label) == ("GA", "GA (TBAR)") and ga.retain_rows and not tga.retain_rows
    assert "retain_pairing" in ga.read_keys() and "retain_pairing" not in tga.read_keys()
    torch.manual_seed(0)
    model = Toy()
    forget = (torch.randn(10, 3) + 2, torch.ones(10, dtype=torch.long))
    before = {k: v.detach().clone() for k, v in model.named_editable_parameters().items()}
    cfg = UnlearnConfig(epochs=1, snapshots=[1], batch_size=10, lr=0.1, optimizer="adam", weight_decay=0.0,
                        grad_clip=None)
    unlearn(model, "tbar_ga", forget, None, cfg, torch.device("cpu"), seed=0)
    # one full-batch Adam step moves every weight by lr against the sign of grad(-CE), i.e. along grad CE
    ref = Toy()
    ref.load_state_dict({f"lin.{k}": v for k, v in before.items()})
    F.cross_entropy(ref(forget[0]), forget[1]).backward()
    for k, p in model.named_editable_parameters().items():
        g = dict(ref.lin.named_parameters())[k].grad
        assert torch.allclose(p.detach() - before[k], 0.1 * torch.sign(g), atol=1e-5)


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


def test_keep_k_largest_flags_noise_and_every_smaller_cluster():
    clusters = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, -1, 3])
    assert keep_k_largest(clusters, 2).tolist() == [False] * 7 + [True] * 4
    # the reference rule looks at clusters over all rows, not per label
    labels = np.array([0] * 5 + [1] * 6)
    assert filter_clusters(labels, clusters, "keep_k_largest", n_classes=2).tolist() == keep_k_largest(clusters, 2).tolist()
    with pytest.raises(ValueError, match="cube.drop"):
        filter_clusters(labels, clusters, "nope")


def test_reference_cube_with_the_hdbscan_package_finds_a_planted_minority():
    rng = np.random.default_rng(1)
    rows = [c + 0.3 * rng.standard_normal((n, 16)) for c, n in
            ((np.r_[5.0, np.zeros(15)], 200), (np.r_[-5.0, np.zeros(15)], 200), (np.r_[0.0, 8.0, np.zeros(14)], 40))]
    labels = np.array([0] * 200 + [1] * 240)
    truth = np.array([False] * 400 + [True] * 40)
    cfg = CubeConfig.from_dict({"min_cluster_size": 30, "min_samples": 20, "n_neighbors": 30})
    assert (cfg.hdbscan, cfg.metric, cfg.drop, cfg.min_dist) == ("hdbscan", "cosine", "keep_k_largest", 0.25)
    flags, _, _ = detect(np.vstack(rows), labels, cfg, seed=0, n_classes=2)
    assert detection_scores(flags, truth)["f1"] == 1.0


def test_cube_variant_settings_and_overrides():
    ref = CubeConfig.from_dict({})
    assert (ref.umap_components, ref.n_neighbors, ref.min_dist, ref.metric, ref.min_cluster_size, ref.min_samples) == (
        4, 100, 0.25, "cosine", 150, 120)
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
    per_class = m.pop("cacc_per_class")
    assert m == pytest.approx({"cacc": 75.0, "lfr": 100 * 2 / 3, "pacc": 50.0})
    assert per_class == pytest.approx([200 / 3, 100.0])  # class 0: 2 of 3 right; class 1: its one row
    assert backdoor_metrics(Fixed(), sets, target=1, device=torch.device("cpu"), n_classes=3)["cacc_per_class"][2] is None


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
