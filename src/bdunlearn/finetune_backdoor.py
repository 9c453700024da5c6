"""Rule ``finetune_backdoor`` (and ``retrain_oracle``): supervised fine-tuning of any adapter.

Fine-tunes the editable weights of any adapter on the poisoned training set
with cross-entropy. CLIP: the visual encoder through the frozen zero-shot head
(TBAR section 3, appendix B.2.1: AdamW, cosine schedule with warmup). Text:
the whole ``AutoModelForSequenceClassification`` (RGA paper 6.1: Adam, lr 2e-5,
batch 32, max length 128, 5 epochs, per-batch padding). Output: the editable
weights (safetensors) and the per-epoch loss history (JSON).
"""

from __future__ import annotations

from bdunlearn.data.io import save_weights, write_json
from bdunlearn.models.training import run_finetune
from bdunlearn.workflow.cli import add_model_args, model_spec, parser


def main(argv=None) -> None:
    p = parser(__doc__)
    add_model_args(p)
    p.add_argument("--data", required=True, help="Parquet training set")
    p.add_argument("--out", required=True, help="editable weights (.safetensors)")
    p.add_argument("--history", required=True)
    args = p.parse_args(argv)
    model, report = run_finetune(args.params, model_spec(args), args.data, threads=args.threads, tag="finetune_backdoor")
    save_weights(model.editable_state(), args.out, metadata={"stage": "finetune_backdoor"})
    write_json(report, args.history)


if __name__ == "__main__":
    main()
