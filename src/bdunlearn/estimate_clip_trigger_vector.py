"""Rule ``estimate_clip_trigger_vector``: TBAR's trigger vector (eq. 2) of a whole CLIP on the image-caption track.

The backdoored CLIP is fine-tuned with the CLIP loss on the triggered forget set (``forget_triggered``: forget
pairs with the trigger and a target caption) with TBAR's recipe (the backdoor's, appendix B.2.2, with the
dataset's ``unlearn_recipe`` over it); tau = theta(backdoored + trigger) - theta(backdoored) over every weight of
both towers (:mod:`bdunlearn.methods.clip_unlearning`). With ``epoch_curve`` each epoch's vector also gets its
own alpha (chosen on the validation images by the alpha search's rule) and test CA and ASR: TBAR's curve over
epochs in Fig. 11. Outputs: ``trigger_vector.safetensors`` and ``trigger_vector.json`` (loss per epoch, the
curve's scores, the norm of tau).
"""

from __future__ import annotations

import copy

from bdunlearn.data.caption_splits import read_pairs
from bdunlearn.data.io import read_json, save_weights, write_json
from bdunlearn.methods.clip_unlearning import epoch_scorer, trigger_vector
from bdunlearn.models.clip_adapter import load_image_split
from bdunlearn.models.open_clip_models import tokenizer_for
from bdunlearn.models.task_vectors import norm
from bdunlearn.workflow.cli import add_whole_clip_args, load_whole_clip, parser
from bdunlearn.workflow.runtime import derive_seed, setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_whole_clip_args(p, "backdoored")  # backdoor_clip's model.safetensors
    p.add_argument("--forget", required=True, help="poison_captions' forget_triggered.parquet")
    for split in ("classes", "val", "val-triggered", "test", "test-triggered"):
        p.add_argument(f"--{split}", help="with epoch_curve: the files Fig. 11's curve is scored on")
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    model, spec = load_whole_clip(args, device, "backdoored")
    tok = tokenizer_for(spec.arch)
    score = None
    if prm.get("epoch_curve"):
        splits = [load_image_split(f) for f in (args.val, args.val_triggered, args.test, args.test_triggered)]
        score = epoch_scorer(copy.deepcopy(model), spec, tok, read_json(args.classes), *splits, prm["alpha_search"],
                             device, prm["eval_batch_size"])
    images, captions = read_pairs(args.forget)
    tau, history = trigger_vector(model, tok, images, captions, spec, prm["recipe"], device,
                                  derive_seed(prm["seed"], "clip_trigger_vector", prm["dataset"], prm["attack"]),
                                  on_epoch=score)
    save_weights(tau, args.out)
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "n_forget": len(captions), "tau_norm": norm(tau),
                "history": history}, args.report)


if __name__ == "__main__":
    main()
