"""Rule ``evaluate_backdoored``: CACC / LFR / PACC of a backdoored model (RGA paper Table 6), any adapter.

The reference row of the unlearning tables: how strong the backdoor is before
any method runs. Output: ``metrics.json`` in the layout of ``unlearn``'s, with
method ``backdoored`` and one snapshot.
"""

from __future__ import annotations

from bdunlearn.data.io import read_json, write_json
from bdunlearn.evaluation.metrics import backdoor_metrics
from bdunlearn.models import load_adapter
from bdunlearn.workflow.cli import add_eval_args, add_model_args, load_eval_sets, model_spec, parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_model_args(p)
    add_eval_args(p)
    p.add_argument("--backdoored", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    model = load_adapter(model_spec(args), args.backdoored, device)
    classes = read_json(args.classes)
    m = backdoor_metrics(model, load_eval_sets(model, args), int(classes["target"]), device, prm["eval_batch_size"],
                         n_classes=len(classes["classnames"]))
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "method": "backdoored", "seed": prm["seed"],
                "snapshots": [{"epoch": None, **m}]}, args.out)


if __name__ == "__main__":
    main()
