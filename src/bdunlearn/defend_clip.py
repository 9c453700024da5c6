"""Rule ``defend_clip``: a clean-data defense of a backdoored whole CLIP (TBAR appendix B.3.1-B.3.3).

The backdoored CLIP is fine-tuned on the dataset's clean pairs (``prepare_captions``' ``clean.parquet``, TBAR's
100k clean CC3M pairs) with one defense of :mod:`bdunlearn.methods.clip_defenses`: Contrastive-FT, CleanCLIP or
RoCLIP, each with its paper's recipe and the config's overrides. Outputs: the defended weights (the pretrained
model's ``spec.json`` is their architecture) and a JSON report (loss per epoch; RoCLIP marks its matching epochs).
"""

from __future__ import annotations

from bdunlearn.data.caption_splits import read_pairs
from bdunlearn.data.io import write_json
from bdunlearn.methods.clip_defenses import defend
from bdunlearn.models.open_clip_models import save_clip, tokenizer_for
from bdunlearn.workflow.cli import add_whole_clip_args, load_whole_clip, parser
from bdunlearn.workflow.runtime import derive_seed, setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_whole_clip_args(p, "backdoored")  # backdoor_clip's model.safetensors
    p.add_argument("--clean", required=True, help="prepare_captions' clean.parquet")
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    model, spec = load_whole_clip(args, device, "backdoored")
    images, captions = read_pairs(args.clean)
    history = defend(model, tokenizer_for(spec.arch), images, captions, spec, prm["recipe"], device,
                     derive_seed(prm["seed"], "defend_clip", prm["defense"], prm["dataset"], prm["attack"]))
    save_clip(model.cpu(), spec, args.out)
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "defense": prm["defense"],
                "n_clean": len(captions), "recipe": prm["recipe"], "history": history}, args.report)


if __name__ == "__main__":
    main()
