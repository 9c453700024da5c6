"""TBAR (trigger removal by negating a trigger vector): the library both tracks use.

- :func:`trigger_vector`: eq. 2, tau = theta(backdoored fine-tuned on the
  forget set U_set, with its labels) - theta(backdoored), over the adapter's
  editable weights.
- :class:`AlphaEvaluator` and :func:`run_search`: the grid search of the
  negation coefficient (eq. 3); for each alpha, theta_bd - alpha * tau is
  written in place into the loaded model (nothing reloaded from disk) and
  evaluated on the clean (CA) and triggered (ASR) validation sets, decoded
  once before the loop.
- :func:`choose_alpha`, the selection rule (``alpha_search.rule``):

  - ``max_ca_under_asr`` (default; this project's rule, the paper does not
    state one): the highest val CA among alphas whose val ASR is at most
    ``max_asr`` percent; if none qualifies, the lowest val ASR.
  - ``min_asr``: the lowest val ASR.

  Ties go to the higher CA, then to the smaller alpha (the smaller edit).

The image track runs these as three rules (``estimate_trigger_vector``,
``search_alpha``, ``evaluate``); the unlearning track's method ``tbar``
(:mod:`bdunlearn.methods.tbar`) runs them in one job on any adapter.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from bdunlearn.data.io import save_figure, write_csv, write_json
from bdunlearn.evaluation.metrics import ca_asr
from bdunlearn.models.task_vectors import apply_inplace, subtract
from bdunlearn.models.training import finetune_adapter, progress

log = logging.getLogger(__name__)


def trigger_vector(model, params: dict, recipe: dict, inputs, labels, device, tag: str) -> tuple[dict, dict]:
    """Eq. 2 on ``model`` (at the backdoored weights): fine-tune it on the forget rows with ``recipe``, return
    ``(tau, fit report)`` and leave ``model`` at theta(backdoored + trigger)."""
    theta_bd = {k: v.detach().clone() for k, v in model.editable_state().items()}
    fit = finetune_adapter(model, {**params, "finetune": recipe}, inputs, labels, device, tag=tag)
    return subtract(model.editable_state(), theta_bd), fit


def choose_alpha(rows: list[dict], rule: str = "max_ca_under_asr", max_asr: float = 1.0) -> dict:
    """Pick one row of ``{alpha, val_ca, val_asr}`` by ``rule`` (see module docstring)."""
    if not rows:
        raise ValueError("empty alpha grid")

    def by_asr(r):
        return (r["val_asr"], -r["val_ca"], r["alpha"])

    if rule == "max_ca_under_asr":
        ok = [r for r in rows if r["val_asr"] <= max_asr]
        if ok:
            best = min(ok, key=lambda r: (-r["val_ca"], r["alpha"]))
            return {**best, "reason": f"highest val CA with val ASR <= {max_asr}%"}
        best = min(rows, key=by_asr)
        return {**best, "reason": f"no alpha reached val ASR <= {max_asr}%; lowest val ASR"}
    if rule == "min_asr":
        return {**min(rows, key=by_asr), "reason": "lowest val ASR"}
    raise ValueError(f"config key 'alpha_search.rule': unknown rule {rule!r}; allowed: max_ca_under_asr, min_asr")


class AlphaEvaluator:
    """Holds a model, theta_bd, tau and the decoded val sets; evaluates theta_bd - alpha * tau."""

    def __init__(self, model, backdoored: dict, tau: dict, val, val_triggered, target: int, device, batch_size=256):
        self.model = model.to(device).eval()
        self.device = device
        self.base = {k: v.to(device) for k, v in backdoored.items() if k in tau}
        self.tau = {k: v.to(device) for k, v in tau.items()}
        self.live = {k: v for k, v in self.live_state(model).items() if k in self.tau}
        self.val, self.val_triggered = val, val_triggered
        self.target = target
        self.batch_size = batch_size

    @staticmethod
    def live_state(model) -> dict:
        """The model's tensors theta_bd - alpha tau is written into (an adapter's editable state)."""
        return model.editable_state()

    def set_alpha(self, alpha: float) -> None:
        apply_inplace(self.live, self.base, self.tau, -alpha)

    def evaluate(self) -> tuple[float, float]:
        return ca_asr(self.model, self.val, self.val_triggered, self.target, self.device, self.batch_size)

    def __call__(self, alpha: float) -> dict:
        t0 = time.perf_counter()
        self.set_alpha(alpha)
        ca, asr = self.evaluate()
        return {"alpha": float(alpha), "val_ca": ca, "val_asr": asr, "seconds": time.perf_counter() - t0}


def plot(df: pd.DataFrame, chosen: dict, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(df["alpha"], df["val_ca"], "o-", label="val CA")
    ax.plot(df["alpha"], df["val_asr"], "s-", label="val ASR")
    ax.axvline(chosen["alpha"], color="grey", ls="--", lw=1, label=f"chosen alpha = {chosen['alpha']:g}")
    ax.set_xlabel("alpha  (theta = theta_bd - alpha tau)")
    ax.set_ylabel("%")
    ax.set_ylim(-2, 102)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return fig


def run_search(ev: AlphaEvaluator, search: dict, out: Path, title: str) -> dict:
    """Walk the grid by ``search['strategy']`` (:mod:`bdunlearn.methods.alpha_strategies`), choose one alpha, add
    the CA sensitivity interval, and write ``alpha_search.{csv,png}`` (the evaluated points) and ``alpha.json``."""
    from bdunlearn.methods.alpha_strategies import CachedGrid, check_grid, walk

    strategy = search.get("strategy", "grid")
    check_grid(search["grid"], strategy)
    bar = progress(total=len(search["grid"]), desc=f"search_alpha ({strategy})", unit="alpha")

    def logged(row):
        bar.update(1)
        log.info("alpha %.3f: val CA %.2f val ASR %.2f (%.2fs)", row["alpha"], row["val_ca"], row["val_asr"], row["seconds"])

    points = CachedGrid(search["grid"], ev, logged)
    best, reason, sens = walk(points, search)
    bar.close()
    chosen = {**points(best), "reason": reason, "rule": search["rule"], "max_asr": search["max_asr"],
              "strategy": strategy, "evaluations": len(points.rows), "grid_size": len(points), "sensitivity": sens}
    df = pd.DataFrame(points.rows).sort_values("alpha", kind="stable")
    write_csv(df, out / "alpha_search.csv")
    write_json(chosen, out / "alpha.json")
    save_figure(plot(df, chosen, f"{title}: TBAR alpha search"), out / "alpha_search.png")
    return chosen
