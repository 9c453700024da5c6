"""Rule ``evaluate``: test CA and ASR of the zero-shot, backdoored and TBAR models.

CA is measured on the clean test split, ASR on the triggered test rows whose
true class is not the target (``metrics.attack_success_rate``). The TBAR model
is theta_backdoored - alpha* tau_trigger with alpha* from ``search_alpha``.
Beside Table 1's numbers, each model's CA on the non-target classes
(``ca_nontarget_*``) and per class (``ca_per_class_*``, in class order): the
negated trigger vector also pushes predictions away from the target class, a
loss of at most 1/K of the test set (K classes), so with few classes the
non-target CA says what TBAR kept of the rest of the task.
Output: ``metrics.json``.
"""

from __future__ import annotations

from bdunlearn.data.io import load_weights, read_json, write_json
from bdunlearn.evaluation.metrics import accuracy, attack_success_rate, class_accuracies, nontarget_accuracy
from bdunlearn.models import load_adapter
from bdunlearn.models.task_vectors import negate
from bdunlearn.models.training import predict
from bdunlearn.workflow.cli import add_tbar_model_args, model_spec, parser
from bdunlearn.workflow.runtime import setup


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
    classes = read_json(args.classes)
    target, n_classes = int(classes["target"]), len(classes["classnames"])
    bs = prm["eval_batch_size"]
    model = load_adapter(model_spec(args))
    clean, triggered = model.load_split(args.test), model.load_split(args.test_triggered)
    chosen = read_json(args.alpha)
    alpha, band = float(chosen["alpha"]), chosen.get("sensitivity", {})
    out = {"dataset": prm["dataset"], "attack": prm["attack"], "seed": prm["seed"], "alpha": alpha,
           "alpha_lo": band.get("alpha_lo"), "alpha_hi": band.get("alpha_hi"),
           # False when no alpha met the search's val ASR bound (the rule then took the lowest-ASR alpha)
           "alpha_met_bound": bool(chosen["val_asr"] <= chosen.get("max_asr", 100.0)),
           "n_test": int(len(clean[1])), "n_test_triggered": int(len(triggered[1]))}
    bd = load_weights(args.backdoored)
    for name, state in (("zeroshot", None), ("backdoored", bd), ("tbar", negate(bd, load_weights(args.tau), alpha))):
        if state is not None:
            model.load_editable_state(state)
        preds = predict(model, clean[0], device, bs)
        out[f"ca_{name}"] = accuracy(preds, clean[1])
        out[f"asr_{name}"] = attack_success_rate(predict(model, triggered[0], device, bs), triggered[1], target)
        out[f"ca_nontarget_{name}"] = nontarget_accuracy(preds, clean[1], target)
        out[f"ca_per_class_{name}"] = class_accuracies(preds, clean[1], n_classes)
    write_json(out, args.out)


if __name__ == "__main__":
    main()
