"""Rule ``plot_caption_unlearning``: TBAR's Figs. 11 and 12 for one backdoored whole CLIP, clean accuracy against
attack removal (1 - ASR) along each unlearning method's steps.

- Fig. 11 (true unlearning): TBAR's GA epoch by epoch (its ``ga_curve_epochs`` run when that exceeds ``ga_epochs``,
  the table's epoch marked) and TBAR's vector epoch by epoch, each epoch's vector at its
  own alpha (test CA and ASR; ``unlearn_clip_ga``, ``estimate_clip_trigger_vector`` with ``tbar_epoch_curve``),
  and TBAR along the alpha grid of its final vector (validation CA and ASR, ``search_clip_alpha``), the chosen
  alpha marked.
- Fig. 12 (reverse-engineered unlearning, when the dataset runs DECREE): GA+DECREE epoch by epoch and TBAR+DECREE
  alpha by alpha (``unlearn_clip_decree``), scored on the validation images with the *planted* trigger (recorded
  for this plot; the window itself only saw the proxy ASR), the step the window kept marked.

The ideal is the top right corner. The paper plots test numbers; the alpha and window paths here are the
validation scores the selections saw.
"""

from __future__ import annotations

import pandas as pd

from bdunlearn.data.io import read_json, save_figure
from bdunlearn.workflow.cli import parser


def figure(ga: dict, tau: dict, alpha: pd.DataFrame, chosen_alpha: float, decree: dict, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if decree else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.6), squeeze=False)
    ax = axes[0][0]
    g = pd.DataFrame(ga.get("curve") or ga["history"])
    ax.plot(100 - g["test_asr"], g["test_ca"], "o-", label="GA (epochs, test)")
    for r in g.itertuples():
        ax.annotate(str(r.epoch), (100 - r.test_asr, r.test_ca), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if ga.get("curve"):  # the table's GA is the separate ga_epochs run
        last = ga["history"][-1]
        ax.plot([100 - last["test_asr"]], [last["test_ca"]], "kx", ms=8,
                label=f"GA in the table ({last['epoch']} epochs)")
    t = pd.DataFrame(tau["history"])
    if "test_ca" in t:
        ax.plot(100 - t["test_asr"], t["test_ca"], "D-", ms=4, label="TBAR (epochs, test)")
        for r in t.itertuples():
            ax.annotate(str(r.epoch), (100 - r.test_asr, r.test_ca), fontsize=7, xytext=(3, -9),
                        textcoords="offset points")
    ax.plot(100 - alpha["val_asr"], alpha["val_ca"], "s:", ms=3, alpha=0.6, label="TBAR (alpha grid, val)")
    pick = alpha[alpha["alpha"] == chosen_alpha]
    ax.plot(100 - pick["val_asr"], pick["val_ca"], "k*", ms=11, label=f"TBAR chosen alpha {chosen_alpha:g}")
    ax.set_title("Fig. 11: true unlearning", fontsize=9)
    for (method, rep), marker in zip(decree.items(), ("o-", "s-")):
        ax = axes[0][1]
        path = pd.DataFrame(rep["path"])
        ax.plot(100 - path["val_asr_true"], path["val_ca"], marker, ms=4, label=f"{method} (val, planted trigger)")
        kept = path[(path["step"] == rep["chosen"]) & path["accepted"]]
        ax.plot(100 - kept["val_asr_true"], kept["val_ca"], "k*", ms=11)
        ax.axhline(rep["min_ca"], color="grey", ls=":", lw=1)
        ax.set_title("Fig. 12: with DECREE's trigger (star: the window's choice)", fontsize=9)
    for ax in axes[0]:
        ax.set_xlabel("1 - ASR (%)")
        ax.set_ylabel("CA (%)")
        ax.set_xlim(-2, 102)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--ga", required=True, help="unlearn_clip_ga's ga_clip.json")
    p.add_argument("--tau", required=True, help="estimate_clip_trigger_vector's trigger_vector.json")
    p.add_argument("--alpha-search", required=True)
    p.add_argument("--alpha", required=True)
    p.add_argument("--decree", nargs="*", default=[], help="unlearn_clip_decree's reports (ga, then tbar)")
    p.add_argument("--png", required=True)
    args = p.parse_args(argv)
    prm = args.params
    decree = {f"{read_json(f)['method'].upper()}+DECREE": read_json(f) for f in args.decree}
    fig = figure(read_json(args.ga), read_json(args.tau), pd.read_csv(args.alpha_search), read_json(args.alpha)["alpha"], decree,
                 f"{prm['dataset']} / {prm['attack']}")
    save_figure(fig, args.png)


if __name__ == "__main__":
    main()
