"""Rule ``sweep_forget_variant``: TBAR with one forget-set variant (TBAR Figs. 5-7 and 13).

The variant (``mix<f>``: a clean:triggered mixture; ``size<n>``: n triggered
rows; :mod:`bdunlearn.analysis.forget_sets`) replaces U_set in eq. 2: the
backdoored model is fine-tuned on it with the trigger-vector recipe (a size
variant with ``epochs`` of its analysis), then theta_bd - alpha tau is swept
over the analysis' alpha grid on the validation sets (``alpha_search.csv``,
the curves of Figs. 5-7), alpha is chosen by the dataset's rule, and the test
CA / ASR at that alpha are reported (Fig. 13). Outputs in the variant's
directory: ``alpha_search.{csv,png}``, ``alpha.json``, ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

from bdunlearn.analysis.forget_sets import build, composition, parse
from bdunlearn.data.io import read_json, read_parquet, write_json
from bdunlearn.evaluation.metrics import ca_asr
from bdunlearn.methods.tbar_core import AlphaEvaluator, run_search, trigger_vector
from bdunlearn.models import load_adapter
from bdunlearn.models.task_vectors import negate, norm
from bdunlearn.workflow.cli import add_model_args, model_spec, parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    add_model_args(p)
    p.add_argument("--backdoored", required=True)
    p.add_argument("--classes", required=True)
    p.add_argument("--forget-clean", required=True, help="the clean forget split")
    p.add_argument("--forget-triggered", required=True, help="poison_images' triggered forget set")
    for split in ("val", "val-triggered", "test", "test-triggered"):
        p.add_argument(f"--{split}", required=True)
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    target = int(read_json(args.classes)["target"])
    kind, value = parse(prm["variant"])
    rows = build(prm["variant"], read_parquet(args.forget_clean), read_parquet(args.forget_triggered), prm["seed"],
                 prm.get("size"))
    model = load_adapter(model_spec(args), args.backdoored, device)
    theta_bd = {k: v.detach().clone() for k, v in model.editable_state().items()}
    inputs, labels = model.encode_frame(rows)
    tau, fit = trigger_vector(model, prm, prm["trigger_vector"], inputs, labels, device, tag=f"forget-{prm['variant']}")
    model.load_editable_state(theta_bd)
    ev = AlphaEvaluator(model, theta_bd, tau, model.load_split(args.val), model.load_split(args.val_triggered), target,
                        device, prm["eval_batch_size"])
    out = Path(args.outdir)
    chosen = run_search(ev, prm["alpha_search"], out, f"{prm['dataset']} / {prm['attack']} / forget {prm['variant']}")
    model.load_editable_state(negate(theta_bd, tau, chosen["alpha"]))
    ca, asr = ca_asr(model, model.load_split(args.test), model.load_split(args.test_triggered), target, device,
                     prm["eval_batch_size"])
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "seed": prm["seed"], "variant": prm["variant"],
                "kind": kind, "value": value, **composition(rows), "epochs": prm["trigger_vector"].get("epochs"),
                "alpha": chosen["alpha"], "ca_tbar": ca, "asr_tbar": asr, "tau_norm": norm(tau),
                "final_loss": fit["history"][-1].get("loss") if fit["history"] else None}, out / "metrics.json")


if __name__ == "__main__":
    main()
