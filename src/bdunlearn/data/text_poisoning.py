"""Poisoning of a text dataset with one attack (rule ``poison_text``): which training rows get the trigger
(injected copies or replaced rows), and the triggered evaluation rows (LFR and PACC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
