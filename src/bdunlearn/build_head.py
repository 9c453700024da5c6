"""Rule ``build_head``: the zero-shot classification head of one dataset.

Class names and prompt templates (from ``prepare_images``' ``classes.json``)
go through the frozen pretrained text encoder (see ``zeroshot``). The head is
frozen in every later stage; only the visual encoder is fine-tuned and edited.
Output: ``head.safetensors`` with one tensor ``weight`` of shape (classes, dim).
"""

from __future__ import annotations

from pathlib import Path

from bdunlearn.data.io import read_json, save_weights
from bdunlearn.models.open_clip_models import load_clip, tokenizer_for
from bdunlearn.models.zeroshot import zeroshot_head
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--pretrained", required=True, help="pretrain_clip output directory")
    p.add_argument("--classes", required=True, help="classes.json of prepare_images")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    device = setup(args.params["seed"], args.threads, args.params["device"])
    pre = Path(args.pretrained)
    model, spec = load_clip(pre / "model.safetensors", pre / "spec.json", device)
    meta = read_json(args.classes)
    head = zeroshot_head(model, tokenizer_for(spec.arch), meta["classnames"], meta["templates"], device)
    save_weights({"weight": head}, args.out, metadata={"classes": str(len(meta["classnames"]))})


if __name__ == "__main__":
    main()
