"""Rule ``search_alpha``: grid search of TBAR's negation coefficient (eq. 3).

For each alpha on the grid, theta = theta_backdoored - alpha * tau_trigger is
written in place into the loaded model (no reallocation, nothing reloaded from
disk) and evaluated on the clean validation set (CA) and the triggered
validation set (ASR); both sets are decoded once, before the loop.

Selection rule (``alpha_search.rule``):

- ``max_ca_under_asr`` (default): the highest val CA among alphas whose val ASR
  is at most ``max_asr`` percent; if none qualifies, the lowest val ASR.
- ``min_asr``: the lowest val ASR.

Ties go to the higher CA, then to the smaller alpha (the smaller edit).
Outputs: ``alpha_search.csv`` (alpha, val_ca, val_asr, seconds),
``alpha_search.png`` and ``alpha.json``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from .adapters import load_adapter
from .cli import add_tbar_model_args, model_spec, parser
from .io import load_weights, read_json, save_figure, write_csv, write_json
from .metrics import ca_asr
from .runtime import setup
from .task_vectors import apply_inplace
from .training import progress

log = logging.getLogger(__name__)


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
        self.live = {k: v for k, v in model.editable_state().items() if k in self.tau}
        self.val, self.val_triggered = val, val_triggered
        self.target = target
        self.batch_size = batch_size

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


def main(argv=None) -> None:
    p = parser(__doc__)
    add_tbar_model_args(p)
    p.add_argument("--val", required=True, help="clean val split")
    p.add_argument("--val-triggered", required=True)
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    target = int(read_json(args.classes)["target"])
    model = load_adapter(model_spec(args), args.backdoored)
    ev = AlphaEvaluator(model, load_weights(args.backdoored), load_weights(args.tau), model.load_split(args.val),
                        model.load_split(args.val_triggered), target, device, prm["eval_batch_size"])
    run_search(ev, prm["alpha_search"], Path(args.outdir), f"{prm.get('dataset', '')} / {prm.get('attack', '')}")


def run_search(ev: AlphaEvaluator, search: dict, out: Path, title: str) -> dict:
    """Evaluate every alpha of the grid, choose one, write ``alpha_search.{csv,png}`` and ``alpha.json``."""
    rows = []
    for a in progress(search["grid"], desc="search_alpha", unit="alpha"):
        rows.append(ev(a))
        log.info("alpha %.3f: val CA %.2f val ASR %.2f (%.2fs)", a, rows[-1]["val_ca"], rows[-1]["val_asr"], rows[-1]["seconds"])
    chosen = {**choose_alpha(rows, search["rule"], search["max_asr"]), "rule": search["rule"], "max_asr": search["max_asr"]}
    df = pd.DataFrame(rows)
    write_csv(df, out / "alpha_search.csv")
    write_json(chosen, out / "alpha.json")
    save_figure(plot(df, chosen, f"{title}: TBAR alpha search"), out / "alpha_search.png")
    return chosen


if __name__ == "__main__":
    main()
