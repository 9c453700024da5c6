"""Rule ``merge_models``: a backdoored task vector merged with clean ones (TBAR appendix C.4, Table 5).

tau_bd = theta(this dataset, backdoored) - theta_pre and the clean task
vectors tau_j = theta(dataset j, ReTrain's clean fine-tuning) - theta_pre, all
of one pretrained encoder, merged by ``--method`` (Task Arithmetic or TIES,
:mod:`bdunlearn.models.merging`) into theta_merged. The merged encoder then
goes through TBAR like any backdoored one: its trigger vector from this
dataset's forget set, the alpha search, the test evaluation.
Outputs: ``model.safetensors`` (the merged encoder) and ``merge.json``.
"""

from __future__ import annotations

from bdunlearn.data.io import load_weights, save_weights, write_json
from bdunlearn.models import load_adapter
from bdunlearn.models.merging import merge
from bdunlearn.models.task_vectors import norm, subtract
from bdunlearn.workflow.cli import add_model_args, model_spec, parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_model_args(p)
    p.add_argument("--backdoored", required=True)
    p.add_argument("--clean", nargs="+", required=True, help="clean fine-tuned encoders of the other tasks")
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    args = p.parse_args(argv)
    prm = args.params
    setup(prm["seed"], args.threads, "cpu")
    pre = {k: v.detach().clone() for k, v in load_adapter(model_spec(args)).editable_state().items()}
    models = [load_weights(args.backdoored)] + [load_weights(c) for c in args.clean]
    merged = merge(prm["merger"], pre, models, **prm["options"])
    save_weights(merged, args.out, metadata={"merger": prm["merger"]})
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "merger": prm["merger"], "options": prm["options"],
                "with": prm["with"], "norm_backdoored_tau": norm(subtract(models[0], pre)),
                "norm_merged_tau": norm(subtract(merged, pre))}, args.report)


if __name__ == "__main__":
    main()
