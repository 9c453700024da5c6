"""Rule ``poison_images``: materialise one attack on one dataset.

Inputs: the clean splits of ``prepare_images``. Outputs (Parquet):

- ``train_poisoned``: every training row; a ``poison_rate`` fraction of the
  *training set size*, drawn from the non-target rows, carries the trigger and
  is relabelled to the target. Columns ``uid, image, label, orig_label, is_poisoned``.
- ``val_triggered`` / ``test_triggered``: the non-target rows with the trigger and
  their true label (ASR counts how many are predicted as the target).
- ``forget_triggered``: the non-target forget rows with the trigger, labelled as
  the target (the TBAR forget set U_set of eq. 2). Choice: rows whose true class
  is the target are left out, as in the ASR sets. A triggered target-class image
  labelled as the target is a correctly labelled clean-task example, so it adds
  clean signal for the target class to the trigger vector, and negating the
  vector then removes that class. With 100 or 1,000 classes (the paper's
  datasets) this affects about 1% or 0.1% of the forget set. With 10 classes it
  affects 10%.
- ``examples.png``: clean and triggered images side by side, to eyeball the trigger.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bdunlearn import attacks
from bdunlearn.data.image_poisoning import examples_figure, poison_train, triggered_eval, triggered_forget
from bdunlearn.data.io import read_json, read_parquet, save_figure, write_json, write_parquet
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import derive_seed, setup

log = logging.getLogger(__name__)


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--datadir", required=True, help="output directory of prepare_images")
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    setup(prm["seed"], args.threads, "cpu")
    data = Path(args.datadir)
    meta = read_json(data / "classes.json")
    target = int(meta["target"])
    attack = attacks.get(prm["attack"], "image").build(derive_seed(prm["seed"], "attack", prm["attack"]),
                                                       int(meta["resolution"]), **prm.get("attack_params", {}))
    out = Path(args.outdir)
    train = poison_train(read_parquet(data / "train.parquet"), attack, target, float(prm["poison_rate"]),
                         derive_seed(prm["seed"], "poison", prm["dataset"], prm["attack"]))
    write_parquet(train, out / "train_poisoned.parquet")
    val = triggered_eval(read_parquet(data / "val.parquet"), attack, target)
    write_parquet(val, out / "val_triggered.parquet")
    test_clean = read_parquet(data / "test.parquet")
    test = triggered_eval(test_clean, attack, target)
    write_parquet(test, out / "test_triggered.parquet")
    forget = triggered_forget(read_parquet(data / "forget.parquet"), attack, target)
    write_parquet(forget, out / "forget_triggered.parquet")
    summary = {"attack": prm["attack"], "target": target, "n_train": len(train), "n_poisoned": int(train["is_poisoned"].sum()),
               "n_val_triggered": len(val), "n_test_triggered": len(test), "n_forget": len(forget)}
    write_json(summary, out / "poison.json")
    save_figure(examples_figure(test_clean, test, f"{prm['dataset']} / {prm['attack']} (target: {meta['target_name']})"),
                out / "examples.png")
    log.info("poisoned %d of %d training rows", summary["n_poisoned"], len(train))


if __name__ == "__main__":
    main()
