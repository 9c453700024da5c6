"""Rule ``backdoor_clip``: contrastive backdoor fine-tuning of a whole CLIP on poisoned image-caption pairs.

TBAR appendix B.2.2: both towers are fine-tuned with the CLIP loss on the
training pairs, a fraction of which carry the trigger and a target caption
(``poison_captions``); AdamW, cosine schedule with warmup, the logit scale
learned (``bdunlearn.models.contrastive``; the paper: lr 1e-6, batch 128, 50
warmup steps, 10 epochs). Outputs: ``model.safetensors`` (every weight of the
CLIP; its architecture is the pretrained model's ``spec.json``) and
``history.json`` (loss per epoch).
"""

from __future__ import annotations

from bdunlearn.data.io import decode_images, read_parquet, write_json
from bdunlearn.models.contrastive import ContrastiveConfig, train_pairs
from bdunlearn.models.open_clip_models import save_clip, tokenizer_for
from bdunlearn.workflow.cli import add_whole_clip_args, load_whole_clip, parser
from bdunlearn.workflow.runtime import derive_seed, setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_whole_clip_args(p)
    p.add_argument("--pairs", required=True, help="poison_captions' train_poisoned.parquet")
    p.add_argument("--out", required=True)
    p.add_argument("--history", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    model, spec = load_whole_clip(args, device)
    pairs = read_parquet(args.pairs)
    cfg = ContrastiveConfig.from_dict({**prm["backdoor"], "loss": "clip"})
    history = train_pairs(model, tokenizer_for(spec.arch), decode_images(pairs["image"]), list(pairs["caption"]),
                          spec.mean, spec.std, cfg, device, derive_seed(prm["seed"], "backdoor_clip", prm["dataset"],
                                                                        prm["attack"]), desc="backdoor_clip")
    save_clip(model.cpu(), spec, args.out)
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "n_pairs": len(pairs),
                "n_poisoned": int(pairs["is_poisoned"].sum()), "history": history}, args.history)


if __name__ == "__main__":
    main()
