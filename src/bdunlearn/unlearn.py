"""Rule ``unlearn``: one registered unlearning method on one backdoored model (any adapter), evaluated.

The method (``method`` wildcard) comes from the registry
(:mod:`bdunlearn.methods`; a plugin's module is in the params). This step
loads what the method declares it needs: the adapter at its ``start`` weights
(backdoored, pretrained, or ReTrain's oracle), the forget set - the rows CUBE
flagged (``--flags``) or, without flags, the truly poisoned rows - and the
retain set (every other training row), theta_base and the validation sets;
then it runs the method and writes what it returns.

If the forget set is empty, a method that starts from the backdoored weights
reports the backdoored model unchanged (``empty_forget_set: true``) instead of
failing the DAG. Outputs: ``metrics.json`` (CACC / LFR / PACC per snapshot,
percent), ``history.csv`` and the final weights ``model.safetensors``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from bdunlearn.data.io import read_json, read_parquet, save_weights, write_csv, write_json
from bdunlearn.evaluation.metrics import backdoor_metrics
from bdunlearn.methods import UnlearnJob, import_method
from bdunlearn.models import load_adapter
from bdunlearn.workflow.cli import add_eval_args, add_model_args, load_eval_sets, model_spec, parser
from bdunlearn.workflow.runtime import setup

log = logging.getLogger(__name__)


def forget_mask(train: pd.DataFrame, flags_path) -> pd.Series:
    """Rows to unlearn: CUBE's flags (matched by uid) or, without them, the truly poisoned rows."""
    if not flags_path:
        return train["is_poisoned"].astype(bool)
    flags = read_parquet(flags_path).set_index("uid")["flagged"]
    missing = set(train["uid"]) - set(flags.index)
    if missing:
        raise ValueError(f"{flags_path}: no flag for {len(missing)} training rows (e.g. uid {sorted(missing)[0]})")
    return train["uid"].map(flags).astype(bool)


def main(argv=None) -> None:
    p = parser(__doc__)
    add_model_args(p)
    add_eval_args(p)
    p.add_argument("--backdoored", default=None, help="backdoored weights (methods that start from them)")
    p.add_argument("--data", required=True, help="poisoned training set (Parquet)")
    p.add_argument("--flags", default=None, help="flags.parquet of detect_cube (omit: ground-truth forget set)")
    p.add_argument("--val", default=None, help="clean val split (methods with needs_val, e.g. tbar)")
    p.add_argument("--val-triggered", default=None, help="triggered val rows (methods with needs_val)")
    p.add_argument("--oracle", default=None, help="weights of retrain_oracle (methods that start from the oracle)")
    p.add_argument("--oracle-history", default=None, help="its fine-tuning report")
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    method = import_method(prm["method"], prm.get("plugin"))
    start = {"backdoored": args.backdoored, "oracle": args.oracle, "base": None}[method.start]
    if method.start != "base" and not start:
        raise SystemExit(f"unlearn: method {method.name} starts from the {method.start} weights: --{method.start} is needed")
    if method.start == "oracle" and not args.oracle_history:
        raise SystemExit(f"unlearn: method {method.name} needs --oracle-history (rule retrain_oracle)")
    if method.needs_val and not (args.val and args.val_triggered):
        raise SystemExit(f"unlearn: method {method.name} needs --val and --val-triggered")
    device = setup(prm["seed"], args.threads, prm["device"])
    spec = model_spec(args)
    classes = read_json(args.classes)
    target, n_classes = int(classes["target"]), len(classes["classnames"])
    train = read_parquet(args.data)
    # a method that reads no forget set (the oracle, trained on the clean split) ignores the detector's flags
    flags = args.flags if method.forget_rows else None
    mask = forget_mask(train, flags)
    out = Path(args.outdir)
    base = load_adapter(spec, None, device) if method.needs_base_state or method.start == "base" else None
    model = base if method.start == "base" else load_adapter(spec, start, device)
    forget = model.encode_frame(train[mask.to_numpy()]) if method.forget_rows else None
    retain = model.encode_frame(train[~mask.to_numpy()]) if method.retain_rows else None
    sets = load_eval_sets(model, args)
    bs = prm["eval_batch_size"]
    report = {"dataset": prm["dataset"], "attack": prm["attack"], "method": method.name, "seed": prm["seed"],
              "forget_set": "cube" if flags else "truth", "n_forget": int(mask.sum()), "n_retain": int((~mask).sum()),
              "n_forget_truly_poisoned": int((mask & train["is_poisoned"].astype(bool)).sum()), "snapshots": []}
    t0 = time.perf_counter()

    def snapshot(epoch):
        m = backdoor_metrics(model, sets, target, device, bs, n_classes=n_classes)
        report["snapshots"].append({"epoch": epoch, **m})
        log.info("epoch %s: CACC %.2f LFR %.2f PACC %.2f", epoch, m["cacc"], m["lfr"], m["pacc"])

    if report["n_forget"] == 0 and method.start == "backdoored":
        # nothing was flagged: a method that edits the backdoored model leaves it as it is
        log.warning("the forget set is empty (CUBE flagged no row): %s leaves the backdoored model unchanged", method.name)
        report["empty_forget_set"] = True
        un = prm.get("unlearn", {})
        for epoch in ((un.get("snapshots") or [None]) if method.per_epoch else [None]):
            snapshot(epoch)
            if un.get("save_snapshot_weights") and epoch is not None:
                save_weights(model.editable_state(), out / f"epoch{epoch}.safetensors", metadata={"method": method.name})
        history = pd.DataFrame(columns=["epoch", "train_loss", "poison_loss"])
    else:
        job = UnlearnJob(params=prm, device=device, model=model, base=base, forget=forget, retain=retain,
                         target=target, out=out, report=report, snapshot=snapshot,
                         paths={"val": args.val, "val_triggered": args.val_triggered, "oracle_history": args.oracle_history})
        del base
        result = method.run(job)
        history = pd.DataFrame(result.pop("history"))
        report.update(result)
    write_csv(history, out / "history.csv")
    report["seconds"] = time.perf_counter() - t0
    save_weights(model.editable_state(), out / "model.safetensors", metadata={"method": method.name})
    write_json(report, out / "metrics.json")


if __name__ == "__main__":
    main()
