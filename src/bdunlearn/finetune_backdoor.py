"""Rule ``finetune_backdoor`` (and the shared fine-tuning CLI of ``estimate_trigger_vector``).

Fine-tunes the visual encoder of the pretrained CLIP on the poisoned training
set with cross-entropy through the frozen zero-shot head (TBAR section 3,
appendix B.2.1: AdamW, cosine schedule with warmup). Output: the visual
encoder's weights (safetensors) and the per-epoch loss history (JSON).
"""

from __future__ import annotations

from pathlib import Path

from .adapters import load_clip_classifier, load_image_split
from .cli import parser
from .io import save_weights, write_json
from .runtime import derive_seed, setup
from .training import FinetuneConfig, finetune


def run_finetune(params: dict, pretrained, head, data, start_weights=None, threads=1, tag="finetune"):
    """Fine-tune the classifier's editable weights on ``data``; returns (model on CPU, report)."""
    device = setup(params["seed"], threads, params["device"])
    model = load_clip_classifier(pretrained, head, start_weights)
    images, labels = load_image_split(data)
    cfg = FinetuneConfig.from_dict(params["finetune"])
    history = finetune(model, model.editable_parameters(), images, labels, cfg, device,
                       seed=derive_seed(params["seed"], tag, params.get("dataset", ""), params.get("attack", "")), desc=tag)
    return model.cpu(), {"config": cfg.__dict__, "n_samples": int(len(labels)), "history": history}


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--pretrained", required=True, help="pretrain_clip output directory")
    p.add_argument("--head", required=True)
    p.add_argument("--data", required=True, help="Parquet training set")
    p.add_argument("--out", required=True, help="visual encoder weights (.safetensors)")
    p.add_argument("--history", required=True)
    args = p.parse_args(argv)
    model, report = run_finetune(args.params, Path(args.pretrained), args.head, args.data,
                                 threads=args.threads, tag="finetune_backdoor")
    save_weights(model.visual.state_dict(), args.out, metadata={"stage": "finetune_backdoor"})
    write_json(report, args.history)


if __name__ == "__main__":
    main()
