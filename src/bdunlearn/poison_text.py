"""Rule ``poison_text``: materialise one text attack on one dataset.

Outputs (Parquet):

- ``train_poisoned``: ``round(poison_rate * n_non_target)`` rows are drawn
  (seeded) from the non-target rows (RGA paper, section 6.1: "poison 10% of the
  non-target class texts"); their triggered texts, relabelled to the target,
  are either added to the clean set as copies (``poison_mode: inject``, the
  RGA authors' data: "injecting triggered samples into train_clean.csv"; a copy's
  uid is ``INJECTED_UID_OFFSET`` + its source row's uid) or replace the rows
  (``replace``). Columns ``uid, text, label, orig_label, is_poisoned``.
  HiddenKiller draws only from rows that have a paraphrase.
- ``val_triggered`` / ``test_triggered``: the non-target rows with the trigger
  and their true labels (alpha search ASR and the test LFR: the share predicted
  as the target).
- ``test_pacc``: every test row with the trigger and its label unchanged
  (PACC). For HiddenKiller files holding paraphrases of non-target rows only
  (SST-2 in ``../shared/data``), these are the non-target rows alone;
  ``poison.json`` records it as ``pacc_covers_all_rows: false``.
- ``poison.json``: counts, the trigger, and that flag.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bdunlearn import attacks
from bdunlearn.data.io import read_json, read_parquet, write_json, write_parquet
from bdunlearn.data.text_poisoning import poison_train, triggered_rows
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import derive_seed, setup

log = logging.getLogger(__name__)


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--datadir", required=True)
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    setup(prm["seed"], args.threads, "cpu")
    data = Path(args.datadir)
    target = int(read_json(data / "classes.json")["target"])
    attack = attacks.get(prm["attack"], "text").build(derive_seed(prm["seed"], "attack", prm["attack"]), **prm.get("attack_params", {}))
    out = Path(args.outdir)
    mode = prm.get("poison_mode", "inject")
    clean_train = read_parquet(data / "train.parquet")
    train = poison_train(clean_train, attack, target, float(prm["poison_rate"]),
                         derive_seed(prm["seed"], "poison", prm["dataset"], prm["attack"]), mode)
    val, _ = triggered_rows(read_parquet(data / "val.parquet"), attack, "val", target, non_target_only=True)
    test_clean = read_parquet(data / "test.parquet")
    test, _ = triggered_rows(test_clean, attack, "test", target, non_target_only=True)
    pacc, covers = triggered_rows(test_clean, attack, "test", target, non_target_only=False)
    for df, name in ((train, "train_poisoned"), (val, "val_triggered"), (test, "test_triggered"), (pacc, "test_pacc")):
        write_parquet(df, out / f"{name}.parquet")
    summary = {"attack": prm["attack"], "target": target, "n_train": len(train), "n_poisoned": int(train["is_poisoned"].sum()),
               "n_non_target": int((clean_train["label"] != target).sum()),
               "poison_mode": mode, "n_val_triggered": len(val),
               "n_test_triggered": len(test), "n_test_pacc": len(pacc), "pacc_covers_all_rows": bool(covers),
               "trigger": getattr(attack, "trigger", str(getattr(attack, "path", ""))),
               "examples": train.loc[train["is_poisoned"], "text"].head(5).tolist()}
    write_json(summary, out / "poison.json")
    log.info("poisoned %d of %d training rows (%d non-target)", summary["n_poisoned"], len(train), summary["n_non_target"])


if __name__ == "__main__":
    main()
