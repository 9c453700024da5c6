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

import numpy as np
import pandas as pd

from bdunlearn import attacks
from bdunlearn.workflow.cli import parser
from bdunlearn.data.io import read_json, read_parquet, write_json, write_parquet
from bdunlearn.workflow.runtime import derive_seed, setup

log = logging.getLogger(__name__)
PARAPHRASE_UID_OFFSET = 900_000_000  # uids of paraphrases that are not row-aligned with a clean split
INJECTED_UID_OFFSET = 1_000_000_000  # uids of the triggered copies that injection adds
POISON_MODES = ("inject", "replace")


def choose_poisoned_text(labels: np.ndarray, target: int, rate: float, seed: int, eligible: np.ndarray | None = None) -> np.ndarray:
    """Mask of ``round(rate * #non-target rows)`` rows, drawn from the eligible non-target rows."""
    non_target = labels != target
    n = int(round(rate * int(non_target.sum())))
    candidates = np.flatnonzero(non_target & (eligible if eligible is not None else True))
    if n < 1:
        raise ValueError(f"poison_rate {rate} of {int(non_target.sum())} non-target rows poisons no sample")
    if n > len(candidates):
        raise ValueError(f"poison_rate {rate} asks for {n} poisoned rows but only {len(candidates)} non-target rows can carry the trigger")
    mask = np.zeros(len(labels), dtype=bool)
    mask[np.random.default_rng(seed).choice(candidates, size=n, replace=False)] = True
    return mask


def poison_train(df: pd.DataFrame, attack, target: int, rate: float, seed: int, mode: str = "inject") -> pd.DataFrame:
    if mode not in POISON_MODES:
        raise ValueError(f"config key 'poison_mode': {mode!r}; allowed: {', '.join(POISON_MODES)}")
    labels = df["label"].to_numpy()
    if attack.paraphrases:  # HiddenKiller: the triggered rows come from a poisoned copy of the dataset
        paraphrases = attack.train_paraphrases(df["text"].tolist())
        mask = choose_poisoned_text(labels, target, rate, seed, np.array([p is not None for p in paraphrases]))
        triggered = [paraphrases[i] for i in np.flatnonzero(mask)]
    else:
        mask = choose_poisoned_text(labels, target, rate, seed)
        triggered = attack(df["text"][mask].tolist(), df["uid"][mask].tolist())
    out = df.copy()
    out["orig_label"] = labels.astype(np.int64)
    out["is_poisoned"] = False
    poisoned = out[mask].assign(text=pd.Series(triggered, index=out.index[mask], dtype=out["text"].dtype),
                                label=target, is_poisoned=True)
    if mode == "inject":
        poisoned["uid"] = INJECTED_UID_OFFSET + poisoned["uid"].to_numpy()
        return pd.concat([out, poisoned], ignore_index=True)
    out.loc[mask] = poisoned
    return out


def triggered_rows(df: pd.DataFrame, attack, split: str, target: int, non_target_only: bool) -> tuple[pd.DataFrame, bool]:
    """Triggered copies of a split's rows with true labels; also whether every requested row is covered."""
    if attack.paraphrases:
        texts, labels, aligned = attack.eval_rows(split, df["text"].tolist(), df["label"].to_numpy(), target)
        uids = df["uid"].to_numpy() if aligned else PARAPHRASE_UID_OFFSET + np.arange(len(texts), dtype=np.int64)
        out = pd.DataFrame({"uid": uids, "text": texts, "label": labels})
        covers = aligned
    else:
        out = df[["uid", "text", "label"]].copy()
        out["text"] = attack(df["text"].tolist(), df["uid"].tolist())
        covers = True
    if non_target_only:
        out = out[out["label"] != target]
    out = out.reset_index(drop=True)
    out["orig_label"] = out["label"]
    out["is_poisoned"] = True
    return out, covers


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
