"""TBAR's analyses: xi on a toy model where the answer is known, the vector split, forget-set variants."""

import pandas as pd
import pytest
import torch
from torch import nn

from bdunlearn.analysis.disentanglement import Disentanglement, alpha_star, split_vectors, summary
from bdunlearn.analysis.forget_sets import build, composition, parse


class Toy(nn.Module):
    """A linear classifier whose editable state is its weight (as an adapter's is its encoder's)."""

    def __init__(self, w):
        super().__init__()
        self.lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            self.lin.weight.copy_(w)

    def forward(self, x):
        return self.lin(x)

    def editable_state(self):
        return dict(self.state_dict())


PRE = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
CLEAN = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])      # the clean task reads features 0-1
TRIGGERED = torch.tensor([[0, 0, 1.0, 0], [0, 0, 0, 1.0]])  # the triggered task reads features 2-3


def xi(tau_c, tau_t, grid):
    ev = Disentanglement(Toy(PRE), {"lin.weight": PRE}, {"lin.weight": tau_c}, {"lin.weight": tau_t}, CLEAN, TRIGGERED,
                         torch.device("cpu"))
    return ev.grid(grid, grid)


def test_vectors_on_disjoint_inputs_are_perfectly_disentangled():
    tau_c = torch.tensor([[0, 3.0, 0, 0], [2.0, -1.0, 0, 0]])   # moves only the clean features' weights
    tau_t = torch.tensor([[0, 0, -1.0, 2.0], [0, 0, 4.0, 0]])   # only the triggered features'
    df = xi(tau_c, tau_t, [-2.0, -1.0, 0.0, 1.0, 2.0])
    assert len(df) == 25 and (df["xi"] == 0).all()
    assert summary(df) == {"xi_at_1_1": 0.0, "low_threshold": 0.1, "fraction_low": 1.0, "xi_max": 0.0}


def test_an_entangled_trigger_vector_flips_clean_predictions():
    # tau_t also writes 2 into class 1's weight on clean feature 0: with a_t tau_t added, the clean image
    # (1, 0, 0, 0) has logits (1, 2 a_t), so it flips to class 1 once a_t > 0.5; the other clean image never flips.
    tau_c = torch.zeros(2, 4)
    tau_t = torch.tensor([[0, 0, 1.0, 0], [2.0, 0, 0, 1.0]])
    df = xi(tau_c, tau_t, [0.0, 0.25, 1.0]).set_index(["alpha_c", "alpha_t"])
    assert (df["err_triggered"] == 0).all()  # tau_c = 0: the combined model is tau_t's alone on the triggered support
    assert df.loc[(0.0, 1.0), "xi"] == df.loc[(1.0, 1.0), "xi"] == 0.5
    assert df.loc[(1.0, 0.25), "xi"] == 0.0 and df.loc[(0.25, 0.0), "xi"] == 0.0


def test_split_vectors_rebuild_the_backdoored_and_the_tbar_models():
    g = torch.Generator().manual_seed(0)
    pre, bd, trig = ({"w": torch.randn(3, 4, generator=g)} for _ in range(3))
    tau_c, tau_t = split_vectors(pre, bd, trig, 0.4)
    assert torch.allclose(pre["w"] + tau_c["w"], bd["w"] - 0.4 * trig["w"])  # theta_pre + tau_c: TBAR's model
    assert torch.allclose(pre["w"] + tau_c["w"] + tau_t["w"], bd["w"])     # both: the backdoored model


def test_alpha_star_is_the_first_alpha_reaching_the_asr_bound():
    search = pd.DataFrame({"alpha": [0.0, 0.1, 0.2, 0.3], "val_ca": [90, 89, 88, 80], "val_asr": [99.0, 0.5, 0.0, 0.0]})
    assert alpha_star(search, 0.0) == 0.2 and alpha_star(search, 1.0) == 0.1
    assert alpha_star(search.iloc[:2], 0.0) == 0.1  # none reaches 0: the lowest ASR


def frames(n=40, target=0):
    clean = pd.DataFrame({"uid": range(n), "image": [f"c{i}" for i in range(n)], "label": [i % 4 for i in range(n)]})
    keep = clean[clean["label"] != target]
    trig = pd.DataFrame({"uid": keep["uid"], "image": [f"t{u}" for u in keep["uid"]], "label": target,
                         "orig_label": keep["label"], "is_poisoned": True})
    return clean, trig


@pytest.mark.parametrize("name,rows,triggered", [("mix1", 30, 30), ("mix0.5", 30, 15), ("mix0.25", 30, 8), ("mix0", 30, 0),
                                                 ("size10", 10, 10)])
def test_forget_variants_have_the_requested_composition(name, rows, triggered):
    clean, trig = frames()
    df = build(name, clean, trig, seed=0)
    assert composition(df) == {"rows": rows, "triggered": triggered, "clean": rows - triggered}
    t, c = df[df["triggered"]], df[~df["triggered"]]
    assert (t["label"] == 0).all() and t["image"].str.startswith("t").all()        # trigger, target label
    assert c["image"].str.startswith("c").all() and (c["label"] == c["orig_label"]).all()  # clean, true label
    assert not set(t["uid"]) & set(c["uid"])  # triggered and clean rows are different images
    assert df.equals(build(name, clean, trig, seed=0))  # seeded


def test_forget_variant_errors_name_the_problem():
    clean, trig = frames()
    with pytest.raises(ValueError, match="exceeds the 30 triggered forget rows"):
        build("size31", clean, trig, seed=0)
    with pytest.raises(ValueError, match="need more than"):
        build("mix0.5", clean, trig, seed=0, size=60)
    with pytest.raises(ValueError, match="expected mix"):
        parse("mix1.5")
    assert parse("mix0.75") == ("mix", 0.75) and parse("size25") == ("size", 25)
