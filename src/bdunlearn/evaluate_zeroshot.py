"""Rule ``evaluate_zeroshot``: zero-shot CA and ASR of one whole CLIP of the image-caption track.

The model is the pretrained CLIP (``--weights`` omitted: the zero-shot row) or
a fine-tuned state of it (backdoored, defended, unlearned); its zero-shot head
comes from its own text tower (``bdunlearn.evaluation.zeroshot_metrics``). CA on
the clean test images, ASR on the triggered non-target test images. Output:
``metrics.json``.
"""

from __future__ import annotations

from bdunlearn.data.io import read_json, write_json
from bdunlearn.evaluation.zeroshot_metrics import zeroshot_ca_asr
from bdunlearn.models.clip_adapter import load_image_split
from bdunlearn.models.open_clip_models import tokenizer_for
from bdunlearn.workflow.cli import add_whole_clip_args, load_whole_clip, parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_whole_clip_args(p, "weights", required=False)  # no --weights: the pretrained CLIP (the zero-shot row)
    p.add_argument("--classes", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--test-triggered", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    model, spec = load_whole_clip(args, device, "weights")
    meta = read_json(args.classes)
    scores = zeroshot_ca_asr(model, spec, tokenizer_for(spec.arch), meta, load_image_split(args.test),
                             load_image_split(args.test_triggered), device, prm["eval_batch_size"])
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "model": prm["model"], "seed": prm["seed"],
                **scores}, args.out)


if __name__ == "__main__":
    main()
