"""Rule ``finetune_backdoor`` (and the shared fine-tuning of ``estimate_trigger_vector`` and ReTrain).

Fine-tunes the editable weights of any adapter on the poisoned training set
with cross-entropy. CLIP: the visual encoder through the frozen zero-shot head
(TBAR section 3, appendix B.2.1: AdamW, cosine schedule with warmup). Text:
the whole ``AutoModelForSequenceClassification`` (RGA paper 6.1: Adam, lr 2e-5,
batch 32, max length 128, 5 epochs, per-batch padding). Output: the editable
weights (safetensors) and the per-epoch loss history (JSON).
"""

from __future__ import annotations

from .adapters import load_adapter
from .cli import add_model_args, model_spec, parser
from .io import save_weights, write_json
from .runtime import derive_seed, setup
from .training import FinetuneConfig, finetune


def finetune_adapter(model, params: dict, inputs, labels, device, tag: str) -> dict:
    """Fine-tune ``model``'s editable weights with ``params["finetune"]``; returns the report."""
    cfg = FinetuneConfig.from_dict(params["finetune"])
    history = finetune(model, model.editable_parameters(), inputs, labels, cfg, device,
                       seed=derive_seed(params["seed"], tag, params.get("dataset", ""), params.get("attack", "")), desc=tag)
    return {"config": cfg.__dict__, "n_samples": int(len(labels)), "history": history}


def run_finetune(params: dict, spec: dict, data, start_weights=None, threads=1, tag="finetune"):
    """Fine-tune the adapter of ``spec`` (from ``start_weights``) on the Parquet split ``data``; returns (model on CPU, report)."""
    device = setup(params["seed"], threads, params["device"])
    model = load_adapter(spec, start_weights, device)
    inputs, labels = model.load_split(data)
    report = finetune_adapter(model, params, inputs, labels, device, tag)
    return model.cpu(), report


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
