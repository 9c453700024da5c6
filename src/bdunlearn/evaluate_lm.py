"""Rule ``evaluate_lm``: UE, BE and UT of one model of the LLM track (:mod:`bdunlearn.evaluation.llm_eval`).

Every model (the original, each normally unlearned and each backdoored one) is
scored on the same probes, with the trigger at every configured placement, so
the tables can set a backdoored model's BE beside the original's and the
normal model's. Output: ``metrics.json``.
"""

from __future__ import annotations

from bdunlearn.data.io import write_json
from bdunlearn.evaluation.llm_eval import evaluate
from bdunlearn.models import causal_lm
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--datadir", required=True)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    lm = causal_lm.load(args.model_dir, str(device), prm["dtype"], attention="sdpa")
    metrics = evaluate(lm, args.datadir, prm["llm_eval"], {"text": prm["trigger"], "placements": prm["placements"]})
    write_json({"dataset": prm["dataset"], "seed": prm["seed"], "model": prm["model"], **metrics}, args.out)


if __name__ == "__main__":
    main()
