"""Rule ``measure_disentanglement``: the xi(alpha_c, alpha_t) heatmap of one backdoored model (TBAR Figs. 2, 8-10).

tau_t = alpha* tau_trigger (alpha*: the smallest alpha of the dense alpha
search with val ASR <= ``disentanglement.max_asr``), tau_c = tau_b - tau_t,
and xi over ``disentanglement.grid`` x ``disentanglement.grid`` on the clean
and triggered validation sets (:mod:`bdunlearn.analysis.disentanglement`).
Outputs ``disentanglement.csv`` (alpha_c, alpha_t, err_clean, err_triggered,
xi), ``disentanglement.png`` and ``disentanglement.json`` (alpha*, norms, the
cosine of tau_c and tau_t, xi at (1, 1), the share of the grid with xi <= 0.1).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from bdunlearn.analysis.disentanglement import Disentanglement, alpha_star, heatmap, split_vectors, summary
from bdunlearn.data.io import load_weights, save_figure, write_csv, write_json
from bdunlearn.models import load_adapter
from bdunlearn.models.task_vectors import norm
from bdunlearn.models.training import progress
from bdunlearn.workflow.cli import add_tbar_model_args, model_spec, parser
from bdunlearn.workflow.runtime import setup


def cosine(a: dict, b: dict) -> float:
    dot = sum(float((a[k].float() * b[k].float()).sum()) for k in a)
    return dot / max(norm(a) * norm(b), 1e-12)


def main(argv=None) -> None:
    p = parser(__doc__)
    add_tbar_model_args(p)
    p.add_argument("--alpha-search", required=True, help="alpha_search.csv of the dense search")
    p.add_argument("--val", required=True)
    p.add_argument("--val-triggered", required=True)
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm, cfg = args.params, args.params["disentanglement"]
    device = setup(prm["seed"], args.threads, prm["device"])
    model = load_adapter(model_spec(args))  # the pretrained encoder: theta_pre
    pre = {k: v.detach().clone() for k, v in model.editable_state().items()}
    a_star = alpha_star(pd.read_csv(args.alpha_search), cfg["max_asr"])
    tau_c, tau_t = split_vectors(pre, load_weights(args.backdoored), load_weights(args.tau), a_star)
    ev = Disentanglement(model, pre, tau_c, tau_t, model.load_split(args.val)[0], model.load_split(args.val_triggered)[0],
                         device, prm["eval_batch_size"])
    with torch.no_grad():
        df = ev.grid(cfg["grid"], cfg["grid"], progress=lambda it: progress(it, desc="disentanglement", unit="point"))
    out = Path(args.outdir)
    write_csv(df.round(6), out / "disentanglement.csv")
    title = f"{prm['dataset']} / {prm['attack']}: weight disentanglement (alpha* = {a_star:g})"
    save_figure(heatmap(df, title), out / "disentanglement.png")
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "alpha_star": a_star, "max_asr": cfg["max_asr"],
                "norm_tau_c": norm(tau_c), "norm_tau_t": norm(tau_t), "cosine_tau_c_tau_t": cosine(tau_c, tau_t),
                **summary(df)}, out / "disentanglement.json")


if __name__ == "__main__":
    main()
