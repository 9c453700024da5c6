"""Rule ``unlearn_clip_ga``: TBAR's gradient ascent (appendix B.3.4) on a backdoored whole CLIP.

theta <- theta + eta grad L_CLIP(U_set, theta) on the triggered forget set, with TBAR's recipe (the backdoor's,
with ``unlearn_recipe`` over it) for ``ga_epochs`` epochs and no retain term; each epoch is scored zero-shot on
the test images (CA, ASR: the curve of TBAR's Fig. 11). With ``ga_curve_epochs`` above ``ga_epochs`` (the rule
passes it only then), Fig. 11's curve is a second run of that many epochs from the backdoored model (its own
warmup and cosine schedule, the same seed), scored epoch by epoch: the paper compares GA and TBAR "under similar
compute budgets" (appendix D), past the one or two epochs the table reports. Outputs: the table's weights and
``ga.json`` (per-epoch loss, test CA and ASR in ``history``; the longer run's in ``curve``).
"""

from __future__ import annotations

import copy

from bdunlearn.data.caption_splits import read_pairs
from bdunlearn.data.io import read_json, write_json
from bdunlearn.evaluation.zeroshot_metrics import zeroshot_ca_asr
from bdunlearn.methods.clip_unlearning import gradient_ascent
from bdunlearn.models.clip_adapter import load_image_split
from bdunlearn.models.open_clip_models import save_clip, tokenizer_for
from bdunlearn.workflow.cli import add_whole_clip_args, load_whole_clip, parser
from bdunlearn.workflow.runtime import derive_seed, setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_whole_clip_args(p, "backdoored")  # backdoor_clip's model.safetensors
    p.add_argument("--forget", required=True, help="poison_captions' forget_triggered.parquet")
    p.add_argument("--classes", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--test-triggered", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    model, spec = load_whole_clip(args, device, "backdoored")
    tok, meta = tokenizer_for(spec.arch), read_json(args.classes)
    test, test_triggered = load_image_split(args.test), load_image_split(args.test_triggered)

    def score(epoch, m):
        s = zeroshot_ca_asr(m, spec, tok, meta, test, test_triggered, device, prm["eval_batch_size"])
        return {"test_ca": s["ca"], "test_asr": s["asr"]}

    images, captions = read_pairs(args.forget)
    seed = derive_seed(prm["seed"], "clip_ga", prm["dataset"], prm["attack"])
    report = {"dataset": prm["dataset"], "attack": prm["attack"], "n_forget": len(captions)}
    curve_epochs = prm.get("ga_curve_epochs")  # the rule passes it only when it exceeds ga_epochs
    if curve_epochs:
        longer = copy.deepcopy(model)  # the backdoored model, before the table's run
        report["curve"] = gradient_ascent(longer, tok, images, captions, spec,
                                          {**prm["recipe"], "epochs": curve_epochs}, device, seed, on_epoch=score)
        del longer
    report["history"] = gradient_ascent(model, tok, images, captions, spec,
                                        {**prm["recipe"], "epochs": prm["ga_epochs"]}, device, seed, on_epoch=score)
    save_clip(model.cpu(), spec, args.out)
    write_json(report, args.report)


if __name__ == "__main__":
    main()
