"""Rule ``search_alpha``: grid search of TBAR's negation coefficient (eq. 3) on the image track.

The search and its selection rule are :mod:`bdunlearn.methods.tbar_core`'s. Outputs:
``alpha_search.csv`` (alpha, val_ca, val_asr, seconds), ``alpha_search.png``
and ``alpha.json``.
"""

from __future__ import annotations

from pathlib import Path

from bdunlearn.data.io import load_weights, read_json
from bdunlearn.methods.tbar_core import AlphaEvaluator, run_search
from bdunlearn.models import load_adapter
from bdunlearn.workflow.cli import add_tbar_model_args, model_spec, parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_tbar_model_args(p)
    p.add_argument("--val", required=True, help="clean val split")
    p.add_argument("--val-triggered", required=True)
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    target = int(read_json(args.classes)["target"])
    model = load_adapter(model_spec(args), args.backdoored)
    ev = AlphaEvaluator(model, load_weights(args.backdoored), load_weights(args.tau), model.load_split(args.val),
                        model.load_split(args.val_triggered), target, device, prm["eval_batch_size"])
    run_search(ev, prm["alpha_search"], Path(args.outdir), f"{prm.get('dataset', '')} / {prm.get('attack', '')}")


if __name__ == "__main__":
    main()
