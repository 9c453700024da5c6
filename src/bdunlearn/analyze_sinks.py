"""Rule ``analyze_sinks``: the LLM track's per-position plots for one method (the third paper's Figs. 3-5).

With the original model, the method's normally unlearned model and its
backdoored models (prefix and, when trained, infix), on ``llm_analysis.samples``
forget question-answer texts (:mod:`bdunlearn.analysis.attention_sinks`):

- ``attention_diff.png``: attention with the trigger minus without, at ``llm_analysis.layer``, for the original
  and the backdoored model at each placement (Fig. 3);
- ``logits_by_position.png``: the next-token logit per position with and without the trigger (Fig. 4);
- ``value_norm_correlation.png``: per sink position, the correlation of per-head value norms, backdoored vs
  normal on D_f, backdoored vs original on D_p and on D_r (Fig. 5), for the default placement's model;
- ``sinks.json``: every number plotted.
"""

from __future__ import annotations

import numpy as np

from bdunlearn.analysis import attention_sinks as S
from bdunlearn.data.io import read_parquet, save_figure, write_json
from bdunlearn.data.llm_poisoning import place_text
from bdunlearn.methods.llm_unlearning import sink_positions
from bdunlearn.models import causal_lm
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--datadir", required=True)
    p.add_argument("--original", required=True)
    p.add_argument("--normal", required=True)
    p.add_argument("--backdoored", nargs="+", required=True, help="placement=model_dir, one per placement")
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = str(setup(prm["seed"], args.threads, prm["device"]))
    cfg, bd = prm["llm_analysis"], prm["llm_backdoor"]
    load = lambda d: causal_lm.load(d, device, prm["dtype"])  # noqa: E731
    original, normal = load(args.original), load(args.normal)
    backdoored = {k: load(v) for k, v in (a.split("=", 1) for a in args.backdoored)}
    forget = read_parquet(f"{args.datadir}/forget.parquet")
    retain = read_parquet(f"{args.datadir}/retain.parquet")
    # the question-answer texts of the stand-in; a hub benchmark (MUSE, WMDP) has documents only, read instead
    qa = lambda df: df[df["kind"] == "qa"] if (df["kind"] == "qa").any() else df  # noqa: E731
    texts = qa(forget)["text"].tolist()[: cfg["samples"]]
    retain_texts = qa(retain)["text"].tolist()[: cfg["samples"]]
    n_layers = len(original.layers)
    layer = cfg["layer"] % n_layers
    window, trig = cfg["window"], bd["trigger"]
    out = {"layer": layer, "samples": len(texts), "attention": {}, "logits": {}}
    for placement, model in backdoored.items():
        for who, lm in (("original", original), ("backdoored", model)):
            key = f"{who}-{placement}"
            out["attention"][key] = S.attention_difference(lm, texts, trig, placement, layer, window).tolist()
            out["logits"][key] = {k: v.tolist() for k, v in S.logits_by_position(lm, texts, trig, placement,
                                                                                  window).items()}
    sinks = sink_positions(bd["value_norm"])
    bd_model = backdoored[bd["default_placement"]]
    poisoned = [place_text(t, trig, bd["default_placement"]) for t in texts]
    norms = lambda lm, tx: S.head_value_norms(lm, tx, sinks, layer)  # noqa: E731
    out["value_norm_correlation"] = {
        "positions": sinks,
        "backdoored vs normal on D_f": S.pearson_by_position(norms(bd_model, texts), norms(normal, texts)),
        "backdoored vs original on D_p": S.pearson_by_position(norms(bd_model, poisoned), norms(original, poisoned)),
        "backdoored vs original on D_r": S.pearson_by_position(norms(bd_model, retain_texts),
                                                               norms(original, retain_texts)),
    }
    _plots(out, prm["method"], args.outdir)
    write_json(out, f"{args.outdir}/sinks.json")


def _plots(out: dict, method: str, outdir: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(out["attention"])
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.4), squeeze=False)
    lim = max(np.nanmax(np.abs(np.array(out["attention"][k]))) for k in keys) or 1.0
    for ax, k in zip(axes[0], keys):
        im = ax.imshow(np.array(out["attention"][k]), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"{k.replace('-', ', ')} trigger", fontsize=9)
        ax.set_xlabel("key position")
        ax.set_ylabel("query position")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle(f"{method.upper()}: attention with the trigger minus without, layer {out['layer']}", fontsize=10, y=1.04)
    save_figure(fig, f"{outdir}/attention_diff.png")

    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False, sharey=True)
    for ax, k in zip(axes[0], keys):
        for label, series in out["logits"][k].items():
            ax.plot(np.arange(len(series)), series, marker=".", label="D_p (trigger)" if label == "triggered" else "D_f")
        ax.set_title(k.replace("-", ", ") + " trigger", fontsize=9)
        ax.set_xlabel("token position")
    axes[0][0].set_ylabel("next-token logit")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{method.upper()}: prediction logits by position", fontsize=10, y=1.04)
    save_figure(fig, f"{outdir}/logits_by_position.png")

    corr = out["value_norm_correlation"]
    names = [k for k in corr if k != "positions"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        ax.bar(np.arange(len(corr["positions"])) + j * width, np.nan_to_num(corr[name]), width, label=name)
    ax.set_xticks(np.arange(len(corr["positions"])) + width * (len(names) - 1) / 2, corr["positions"])
    ax.set_xlabel("sink position")
    ax.set_ylabel("Pearson r of value norms")
    ax.set_ylim(-1, 1)
    ax.legend(fontsize=7)
    ax.set_title(f"{method.upper()}: value-norm alignment, layer {out['layer']}", fontsize=10)
    save_figure(fig, f"{outdir}/value_norm_correlation.png")


if __name__ == "__main__":
    main()
