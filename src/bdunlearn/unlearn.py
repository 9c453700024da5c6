"""Rule ``unlearn``: one unlearning method on one backdoored model (any adapter), evaluated at its snapshots.

Methods (``method`` wildcard):

- ``ga``, ``npo``, ``rga``: :func:`bdunlearn.unlearning.unlearn` from the
  backdoored weights; metrics at every ``unlearn.snapshots`` epoch (paper: 10,
  20, 30) and the poisoned-set loss per epoch (Fig. 4).
- ``retrain``: the oracle (the paper's gold standard, and what the RGA
  authors' code trains): the backdoor fine-tuning recipe from the pretrained
  weights on the whole clean training split, whatever the detector found.
  It does not depend on the attack, so rule ``retrain_oracle`` trains it once
  per dataset (``--oracle``) and this rule evaluates it on each attack's test
  sets. Every delta-PACC is measured against it.
- ``retrain_filtered``: the same recipe on the training set minus the forget
  rows (detect-then-retrain, as CUBE itself proposes): whatever the detector
  misses is learned again.
- ``tbar``: TBAR with the forget rows as U_set: the trigger vector
  tau = theta(backdoored fine-tuned on the forget rows, with their labels) -
  theta(backdoored), then the alpha grid search of ``search_alpha`` on the clean
  and triggered validation sets (TBAR's rule), and theta_bd - alpha* tau. With
  ``forget_set: cube`` this is detect-then-negate: the trigger is never used to
  build the forget set (the triggered validation set still picks alpha).

The forget set is the rows CUBE flagged (``--flags``) or, without flags, the
truly poisoned rows; the clean retain set is every other training row. If the
forget set is empty, every method but ReTrain reports the backdoored model
unchanged (``empty_forget_set: true``) instead of failing the DAG.
Outputs: ``metrics.json`` (CACC / LFR / PACC per snapshot, percent),
``history.csv`` and the final weights ``model.safetensors``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from .adapters import load_adapter
from .cli import add_model_args, model_spec, parser
from .finetune_backdoor import finetune_adapter
from .io import read_json, read_parquet, save_weights, write_csv, write_json
from .metrics import backdoor_metrics
from .runtime import derive_seed, setup
from .search_alpha import AlphaEvaluator, run_search
from .task_vectors import negate, norm, subtract
from .unlearning import UnlearnConfig, unlearn

log = logging.getLogger(__name__)


def add_eval_args(p) -> None:
    p.add_argument("--classes", required=True, help="classes.json of the dataset")
    p.add_argument("--test", required=True, help="clean test split")
    p.add_argument("--test-triggered", required=True, help="triggered non-target test rows (LFR)")
    p.add_argument("--test-pacc", required=True, help="triggered test rows with unchanged labels (PACC)")


def load_eval_sets(model, args) -> dict:
    return {"clean": model.load_split(args.test), "triggered": model.load_split(args.test_triggered),
            "pacc": model.load_split(args.test_pacc)}


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
    p.add_argument("--backdoored", default=None, help="backdoored weights (every method but retrain, retrain_filtered)")
    p.add_argument("--data", required=True, help="poisoned training set (Parquet)")
    p.add_argument("--flags", default=None, help="flags.parquet of detect_cube (omit: ground-truth forget set)")
    p.add_argument("--val", default=None, help="clean val split (tbar)")
    p.add_argument("--val-triggered", default=None, help="triggered val rows (tbar)")
    p.add_argument("--oracle", default=None, help="weights of retrain_oracle (retrain)")
    p.add_argument("--oracle-history", default=None, help="its fine-tuning report (retrain)")
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    method = prm["method"]
    device = setup(prm["seed"], args.threads, prm["device"])
    spec = model_spec(args)
    classes = read_json(args.classes)
    target, n_classes = int(classes["target"]), len(classes["classnames"])
    train = read_parquet(args.data)
    if method == "retrain" and not (args.oracle and args.oracle_history):
        raise SystemExit("unlearn: method retrain needs --oracle and --oracle-history (rule retrain_oracle)")
    if not method.startswith("retrain") and not args.backdoored:
        raise SystemExit(f"unlearn: method {method} needs --backdoored")
    # the oracle was trained on the clean training split (retrain_oracle), whatever a detector found
    flags = None if method == "retrain" else args.flags
    mask = forget_mask(train, flags)
    out = Path(args.outdir)
    base = load_adapter(spec, None, device) if method in ("rga", "retrain_filtered") else None
    if method == "retrain":
        model = load_adapter(spec, args.oracle, device)
    elif method == "retrain_filtered":
        model = base
    else:
        model = load_adapter(spec, args.backdoored, device)
    forget = None if method.startswith("retrain") else model.encode_frame(train[mask.to_numpy()])
    retain = None if method == "retrain" else model.encode_frame(train[~mask.to_numpy()])
    sets = load_eval_sets(model, args)
    bs = prm["eval_batch_size"]
    report = {"dataset": prm["dataset"], "attack": prm["attack"], "method": method, "seed": prm["seed"],
              "forget_set": "cube" if flags else "truth", "n_forget": int(mask.sum()), "n_retain": int((~mask).sum()),
              "n_forget_truly_poisoned": int((mask & train["is_poisoned"].astype(bool)).sum()), "snapshots": []}
    t0 = time.perf_counter()

    def snapshot(epoch):
        m = backdoor_metrics(model, sets, target, device, bs, n_classes=n_classes)
        report["snapshots"].append({"epoch": epoch, **m})
        log.info("epoch %s: CACC %.2f LFR %.2f PACC %.2f", epoch, m["cacc"], m["lfr"], m["pacc"])
        if prm.get("unlearn", {}).get("save_snapshot_weights") and epoch is not None:
            save_weights(model.editable_state(), out / f"epoch{epoch}.safetensors", metadata={"method": method})

    if report["n_forget"] == 0 and not method.startswith("retrain"):
        # nothing was flagged: every method but ReTrain leaves the backdoored model as it is
        log.warning("the forget set is empty (CUBE flagged no row): %s leaves the backdoored model unchanged", method)
        report["empty_forget_set"] = True
        for epoch in (prm["unlearn"]["snapshots"] if method in ("ga", "npo", "rga") else [None]):
            snapshot(epoch)
        write_csv(pd.DataFrame(columns=["epoch", "train_loss", "poison_loss"]), out / "history.csv")
    elif method in ("ga", "npo", "rga"):
        cfg = UnlearnConfig.from_dict(prm["unlearn"])
        base_state = {k: v.detach().clone() for k, v in base.editable_state().items()} if base is not None else None
        del base
        history = unlearn(model, method, forget, retain, cfg, device, derive_seed(prm["seed"], prm["dataset"], prm["attack"]),
                          base_state=base_state, on_snapshot=snapshot)
        write_csv(pd.DataFrame(history), out / "history.csv")
    elif method == "retrain":
        fit = read_json(args.oracle_history)
        report["n_retain"] = fit["n_samples"]  # the rows the oracle was trained on
        snapshot(None)
        write_csv(pd.DataFrame(fit["history"]), out / "history.csv")
    elif method == "retrain_filtered":
        fit = finetune_adapter(model, prm, *retain, device, tag="retrain")
        snapshot(None)
        write_csv(pd.DataFrame(fit["history"]), out / "history.csv")
    elif method == "tbar":
        theta_bd = {k: v.detach().clone() for k, v in model.editable_state().items()}
        fit = finetune_adapter(model, {**prm, "finetune": prm["tbar_finetune"]}, *forget, device, tag="unlearn-tbar")
        tau = subtract(model.editable_state(), theta_bd)
        model.load_editable_state(theta_bd)
        ev = AlphaEvaluator(model, theta_bd, tau, model.load_split(args.val), model.load_split(args.val_triggered),
                            target, device, bs)
        chosen = run_search(ev, prm["alpha_search"], out, f"{prm['dataset']} / {prm['attack']} (forget set: {report['forget_set']})")
        model.load_editable_state(negate(theta_bd, tau, chosen["alpha"]))
        report.update(alpha=chosen["alpha"], tau_norm=norm(tau))
        snapshot(None)
        write_csv(pd.DataFrame(fit["history"]), out / "history.csv")
    else:
        raise ValueError(f"unknown method {method!r}; allowed: ga, npo, rga, retrain, retrain_filtered, tbar")
    report["seconds"] = time.perf_counter() - t0
    save_weights(model.editable_state(), out / "model.safetensors", metadata={"method": method})
    write_json(report, out / "metrics.json")


if __name__ == "__main__":
    main()
