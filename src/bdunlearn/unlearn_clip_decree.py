"""Rule ``unlearn_clip_decree``: GA+DECREE or TBAR+DECREE (``--method ga|tbar``) on a backdoored whole CLIP, with
the early-stopping window (TBAR section 4, appendix C, Fig. 12).

Both unlearn with DECREE's proxy forget set (``invert_decree_trigger``: clean forget images with the inverted
trigger, template captions of the inferred target) and TBAR's recipe (the dataset's ``unlearn_recipe``). GA
ascends the CLIP loss epoch by epoch (at most ``decree.ga_max_epochs``); TBAR estimates the proxy trigger vector
once and walks alpha = ``alpha_step``, 2 ``alpha_step``, ... up to ``alpha_max``. After every step the model is
scored on the validation images (CA, proxy ASR; the planted trigger's ASR is recorded for the plot only), and
the window (:class:`bdunlearn.methods.decree.Window`) stops the walk: proxy ASR 0% for ``window`` steps, or val
CA below ``min_ca_retention`` x the backdoored model's. Outputs: the kept state's weights and a JSON report (the
path of scores, the chosen step, why it stopped).
"""

from __future__ import annotations

import numpy as np

from bdunlearn.data.caption_splits import read_pairs
from bdunlearn.data.io import read_json, write_json
from bdunlearn.methods.clip_unlearning import (
    ZeroShotAlphaEvaluator,
    trigger_vector,
    window_scores,
    windowed_ga,
    windowed_tbar,
)
from bdunlearn.methods.decree import Window
from bdunlearn.models.clip_adapter import load_image_split
from bdunlearn.models.open_clip_models import save_clip, tokenizer_for
from bdunlearn.workflow.cli import add_whole_clip_args, load_whole_clip, parser
from bdunlearn.workflow.runtime import derive_seed, setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_whole_clip_args(p, "backdoored")  # backdoor_clip's model.safetensors
    p.add_argument("--method", required=True, choices=["ga", "tbar"])
    p.add_argument("--decree", required=True, help="invert_decree_trigger's decree.json")
    p.add_argument("--forget-proxy", required=True)
    p.add_argument("--val-proxy", required=True)
    p.add_argument("--classes", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--val-triggered", required=True, help="the planted trigger's val images (recorded, not used)")
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    args = p.parse_args(argv)
    prm, dc = args.params, args.params["decree"]
    device = setup(prm["seed"], args.threads, prm["device"])
    model, spec = load_whole_clip(args, device, "backdoored")
    tok, meta = tokenizer_for(spec.arch), read_json(args.classes)
    inferred = read_json(args.decree)["inferred"]["target"]
    val, proxy, true_trig = (load_image_split(f) for f in (args.val, args.val_proxy, args.val_triggered))

    def score(m):
        return window_scores(m, spec, tok, meta, val, proxy, true_trig, inferred, device, prm["eval_batch_size"])

    start = score(model)
    window = Window(dc["min_ca_retention"] * start["val_ca"], dc["window"])
    window.add(0, start)
    images, captions = read_pairs(args.forget_proxy)
    seed = derive_seed(prm["seed"], "clip_decree", args.method, prm["dataset"], prm["attack"])
    if args.method == "ga":
        report = windowed_ga(model, tok, images, captions, spec, prm["recipe"], dc["ga_max_epochs"], score, window,
                             device, seed)
    else:
        backdoored = {k: v.detach().clone() for k, v in model.state_dict().items()}
        tau, history = trigger_vector(model, tok, images, captions, spec, prm["recipe"], device, seed)
        ev = ZeroShotAlphaEvaluator(model, spec, tok, meta, backdoored, tau, val, proxy, device, prm["eval_batch_size"])
        n = int(np.floor(dc["alpha_max"] / dc["alpha_step"] + 1e-9))
        report = {"tau_history": history, **windowed_tbar(ev, [dc["alpha_step"] * k for k in range(1, n + 1)], score, window)}
    save_clip(model.cpu(), spec, args.out)
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "method": args.method, "inferred_target": inferred,
                "n_forget_proxy": len(captions), **report}, args.report)


if __name__ == "__main__":
    main()
