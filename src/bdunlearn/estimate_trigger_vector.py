"""Rule ``estimate_trigger_vector``: TBAR's trigger vector (eq. 2).

The backdoored model is fine-tuned on the triggered forget set U_set (target
labels) with the backdoor fine-tuning recipe (``trigger_vector`` config keys
override it; the paper uses the same settings), giving
theta(backdoored+trigger); the output is
tau_trigger = theta(backdoored+trigger) - theta(backdoored) over the visual
encoder's floating-point state, as safetensors.
"""

from __future__ import annotations

from .cli import add_model_args, model_spec, parser
from .finetune_backdoor import run_finetune
from .io import load_weights, save_weights, write_json
from .task_vectors import norm, subtract


def main(argv=None) -> None:
    p = parser(__doc__)
    add_model_args(p)
    p.add_argument("--backdoored", required=True, help="visual weights of the backdoored model")
    p.add_argument("--forget", required=True, help="triggered forget set (Parquet)")
    p.add_argument("--out", required=True, help="trigger vector (.safetensors)")
    p.add_argument("--history", required=True)
    args = p.parse_args(argv)
    prm = dict(args.params)
    prm["finetune"] = prm["trigger_vector"]
    model, report = run_finetune(prm, model_spec(args), args.forget, start_weights=args.backdoored,
                                 threads=args.threads, tag="estimate_trigger_vector")
    tau = subtract(model.editable_state(), load_weights(args.backdoored))
    report["tau_norm"] = norm(tau)
    save_weights(tau, args.out, metadata={"definition": "theta(backdoored+trigger) - theta(backdoored)"})
    write_json(report, args.history)


if __name__ == "__main__":
    main()
