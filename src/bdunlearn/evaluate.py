"""Rule ``evaluate``: test CA and ASR of the zero-shot, backdoored and TBAR models.

CA is measured on the clean test split, ASR on the triggered test rows whose
true class is not the target (``metrics.attack_success_rate``). The TBAR model
is theta_backdoored - alpha* tau_trigger with alpha* from ``search_alpha``.
Output: ``metrics.json``.
"""

from __future__ import annotations

from .adapters import load_adapter
from .cli import add_tbar_model_args, model_spec, parser
from .io import load_weights, read_json, write_json
from .metrics import ca_asr
from .runtime import setup
from .task_vectors import negate


def main(argv=None) -> None:
    p = parser(__doc__)
    add_tbar_model_args(p)
    p.add_argument("--alpha", required=True, help="alpha.json of search_alpha")
    p.add_argument("--test", required=True)
    p.add_argument("--test-triggered", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    target = int(read_json(args.classes)["target"])
    bs = prm["eval_batch_size"]
    model = load_adapter(model_spec(args))
    clean, triggered = model.load_split(args.test), model.load_split(args.test_triggered)
    alpha = float(read_json(args.alpha)["alpha"])
    out = {"dataset": prm["dataset"], "attack": prm["attack"], "seed": prm["seed"], "alpha": alpha,
           "n_test": int(len(clean[1])), "n_test_triggered": int(len(triggered[1]))}
    out["ca_zeroshot"], out["asr_zeroshot"] = ca_asr(model, clean, triggered, target, device, bs)
    bd = load_weights(args.backdoored)
    model.load_editable_state(bd)
    out["ca_backdoored"], out["asr_backdoored"] = ca_asr(model, clean, triggered, target, device, bs)
    model.load_editable_state(negate(bd, load_weights(args.tau), alpha))
    out["ca_tbar"], out["asr_tbar"] = ca_asr(model, clean, triggered, target, device, bs)
    write_json(out, args.out)


if __name__ == "__main__":
    main()
