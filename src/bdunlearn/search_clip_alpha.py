"""Rule ``search_clip_alpha``: TBAR's negation coefficient (eq. 3) of a whole CLIP, and the negated model.

For each alpha of the dataset's ``alpha_search.grid``, theta_bd - alpha tau is evaluated zero-shot on the
validation images (CA) and their triggered non-target copies (ASR), with the head rebuilt from the negated
model's text tower; the rule (``alpha_search.rule``, ``max_asr``) picks alpha as on the classification track
(:func:`bdunlearn.methods.tbar_core.choose_alpha`; TBAR: "a stratified 5k set from the training data of
ImageNet-1K"). Outputs: ``alpha_search.{csv,png}``, ``alpha.json`` and the TBAR model's weights.
"""

from __future__ import annotations

from pathlib import Path

from bdunlearn.data.io import load_weights, read_json
from bdunlearn.methods.clip_unlearning import ZeroShotAlphaEvaluator
from bdunlearn.methods.tbar_core import run_search
from bdunlearn.models.clip_adapter import load_image_split
from bdunlearn.models.open_clip_models import save_clip, tokenizer_for
from bdunlearn.workflow.cli import add_whole_clip_args, load_whole_clip, parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_whole_clip_args(p, "backdoored")  # backdoor_clip's model.safetensors
    p.add_argument("--tau", required=True)
    p.add_argument("--classes", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--val-triggered", required=True)
    p.add_argument("--outdir", required=True)
    p.add_argument("--model-out", required=True, help="weights of theta_bd - alpha* tau")
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    model, spec = load_whole_clip(args, device, "backdoored")
    backdoored = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ev = ZeroShotAlphaEvaluator(model, spec, tokenizer_for(spec.arch), read_json(args.classes), backdoored,
                                load_weights(args.tau), load_image_split(args.val), load_image_split(args.val_triggered),
                                device, prm["eval_batch_size"])
    chosen = run_search(ev, prm["alpha_search"], Path(args.outdir), f"{prm['dataset']} / {prm['attack']}")
    ev.set_alpha(chosen["alpha"])
    save_clip(model.cpu(), spec, args.model_out)


if __name__ == "__main__":
    main()
