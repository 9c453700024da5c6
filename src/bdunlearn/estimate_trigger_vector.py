"""Rule ``estimate_trigger_vector``: TBAR's trigger vector (eq. 2) on the image track.

The backdoored model is fine-tuned on the triggered forget set U_set (target
labels) with the backdoor fine-tuning recipe (``trigger_vector`` config keys
override it; the paper uses the same settings); the output is
tau_trigger = theta(backdoored+trigger) - theta(backdoored) over the visual
encoder's floating-point state, as safetensors (:func:`bdunlearn.methods.tbar_core.trigger_vector`).
"""

from __future__ import annotations

from bdunlearn.data.io import save_weights, write_json
from bdunlearn.methods.tbar_core import trigger_vector
from bdunlearn.models import load_adapter
from bdunlearn.models.task_vectors import norm
from bdunlearn.workflow.cli import add_model_args, model_spec, parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_model_args(p)
    p.add_argument("--backdoored", required=True, help="visual weights of the backdoored model")
    p.add_argument("--forget", required=True, help="triggered forget set (Parquet)")
    p.add_argument("--out", required=True, help="trigger vector (.safetensors)")
    p.add_argument("--history", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    model = load_adapter(model_spec(args), args.backdoored, device)
    inputs, labels = model.load_split(args.forget)
    tau, report = trigger_vector(model, prm, prm["trigger_vector"], inputs, labels, device, tag="estimate_trigger_vector")
    report["tau_norm"] = norm(tau)
    save_weights(tau, args.out, metadata={"definition": "theta(backdoored+trigger) - theta(backdoored)"})
    write_json(report, args.history)


if __name__ == "__main__":
    main()
