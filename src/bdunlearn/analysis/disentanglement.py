"""Weight disentanglement of the clean and the triggered task (TBAR section 3, Figs. 2 and 8-10).

Following Ortiz-Jimenez et al. (2024), for task vectors tau_c and tau_t of one
pretrained model theta_pre,

    xi(a_c, a_t) = sum_{i in {c, t}} E_{x ~ mu_i} [ 1( f(x; theta_pre + a_i tau_i)
                                                     != f(x; theta_pre + a_c tau_c + a_t tau_t) ) ]

with mu_c the clean support (clean images) and mu_t the triggered support
(triggered non-target images), f the arg-max prediction. TBAR builds the two
vectors from the backdoored update tau_b = theta_bd - theta_pre and the
trigger vector: tau_t = alpha* tau_trigger with alpha* the smallest grid alpha
whose val ASR is at most ``max_asr`` (the paper: "reduces the ASR to zero"),
and tau_c = tau_b - tau_t, so theta_pre + tau_c is TBAR's cleaned model and
theta_pre + tau_c + tau_t the backdoored one. Each term is a disagreement
rate in [0, 1], so xi is in [0, 2]; low xi over a wide region around
(1, 1) is what disentanglement means.

Choices the paper leaves open (docs/fidelity.md): the supports are the
validation sets of the alpha search, and alpha* comes from the dense alpha
search's CSV (if no alpha reaches ``max_asr``, the one with the lowest ASR).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from bdunlearn.models.task_vectors import subtract
from bdunlearn.models.training import predict


def alpha_star(search: pd.DataFrame, max_asr: float = 0.0) -> float:
    """The smallest alpha of an alpha-search table whose val ASR is <= ``max_asr`` (else the lowest-ASR alpha)."""
    ok = search[search["val_asr"] <= max_asr]
    if len(ok):
        return float(ok["alpha"].min())
    return float(search.sort_values(["val_asr", "alpha"]).iloc[0]["alpha"])


def split_vectors(pre: dict, backdoored: dict, tau_trigger: dict, a_star: float) -> tuple[dict, dict]:
    """(tau_c, tau_t): tau_t = a* tau_trigger and tau_c = (theta_bd - theta_pre) - tau_t."""
    tau_b = subtract(backdoored, pre)
    tau_t = {k: a_star * tau_trigger[k].float() for k in tau_b}
    return {k: tau_b[k] - tau_t[k] for k in tau_b}, tau_t


class Disentanglement:
    """Evaluates xi over a grid by writing theta_pre + a_c tau_c + a_t tau_t into the model's live tensors."""

    def __init__(self, model, pre: dict, tau_c: dict, tau_t: dict, clean, triggered, device, batch_size: int = 256):
        self.model = model.to(device).eval()
        self.device, self.batch_size = device, batch_size
        self.live = {k: v for k, v in model.editable_state().items() if k in tau_c}
        self.pre = {k: pre[k].to(device).float() for k in self.live}
        self.tau_c = {k: tau_c[k].to(device) for k in self.live}
        self.tau_t = {k: tau_t[k].to(device) for k in self.live}
        self.clean, self.triggered = clean, triggered

    def _set(self, a_c: float, a_t: float) -> None:
        with torch.no_grad():
            for k, t in self.live.items():
                t.copy_(self.pre[k] + a_c * self.tau_c[k] + a_t * self.tau_t[k])

    def _predict(self, a_c: float, a_t: float, support) -> torch.Tensor:
        self._set(a_c, a_t)
        return predict(self.model, support, self.device, self.batch_size)

    def grid(self, alphas_c, alphas_t, progress=None) -> pd.DataFrame:
        alone_c = {a: self._predict(a, 0.0, self.clean) for a in alphas_c}
        alone_t = {a: self._predict(0.0, a, self.triggered) for a in alphas_t}
        rows = []
        pairs = [(a_c, a_t) for a_t in alphas_t for a_c in alphas_c]
        for a_c, a_t in (progress(pairs) if progress else pairs):
            err_c = float((self._predict(a_c, a_t, self.clean) != alone_c[a_c]).float().mean())
            err_t = float((self._predict(a_c, a_t, self.triggered) != alone_t[a_t]).float().mean())
            rows.append({"alpha_c": float(a_c), "alpha_t": float(a_t), "err_clean": err_c, "err_triggered": err_t,
                         "xi": err_c + err_t})
        return pd.DataFrame(rows)


def summary(df: pd.DataFrame, threshold: float = 0.1) -> dict:
    """xi at the backdoored point (1, 1) and the fraction of the grid with xi <= ``threshold``."""
    at = df[(np.isclose(df["alpha_c"], 1.0)) & (np.isclose(df["alpha_t"], 1.0))]
    return {"xi_at_1_1": float(at["xi"].iloc[0]) if len(at) else None, "low_threshold": threshold,
            "fraction_low": float((df["xi"] <= threshold).mean()), "xi_max": float(df["xi"].max())}


def heatmap(df: pd.DataFrame, title: str):
    """xi over (alpha_c, alpha_t), bright where low, as the paper's figures draw it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    piv = df.pivot(index="alpha_t", columns="alpha_c", values="xi").sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(4.6, 3.9))
    im = ax.imshow(piv.to_numpy(), cmap="magma_r", vmin=0, vmax=2, aspect="auto")
    ax.set_xticks(range(len(piv.columns)), [f"{a:g}" for a in piv.columns], fontsize=7)
    ax.set_yticks(range(len(piv.index)), [f"{a:g}" for a in piv.index], fontsize=7)
    ax.set_xlabel("alpha_c (clean vector)")
    ax.set_ylabel("alpha_t (triggered vector)")
    for a_c, a_t, mark in ((1.0, 1.0, "backdoored"), (1.0, 0.0, "TBAR")):
        if a_c in piv.columns and a_t in piv.index:
            ax.plot(list(piv.columns).index(a_c), list(piv.index).index(a_t), "o", mfc="none", mec="cyan", ms=9)
            ax.annotate(mark, (list(piv.columns).index(a_c), list(piv.index).index(a_t)), color="cyan", fontsize=7,
                        xytext=(5, 5), textcoords="offset points")
    fig.colorbar(im, ax=ax, label="disentanglement error xi")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
