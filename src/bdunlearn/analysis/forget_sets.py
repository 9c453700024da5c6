"""Forget-set variants for TBAR's trigger vector (TBAR appendix C.1, Figs. 5-7; appendix D, Fig. 13).

A variant is named by a wildcard-safe string:

- ``mix<f>`` (e.g. ``mix0.25``): a forget set of ``size`` rows of which a
  fraction ``f`` is triggered (the trigger, labelled as the target: U_set's
  rows) and the rest clean (no trigger, true label), drawn from disjoint
  images of the forget split; ``size`` defaults to the triggered forget set's.
- ``size<n>`` (e.g. ``size50``): ``n`` triggered rows only, fine-tuned for the
  ``epochs`` the analysis names (the paper: one epoch each).

Rows are drawn with a seeded generator (the study's seed and the variant), so
a variant's composition is the same on every run; :func:`composition` reports it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bdunlearn.workflow.runtime import derive_seed

PATTERN = re.compile(r"^(mix)(0(?:\.\d+)?|1(?:\.0+)?)$|^(size)(\d+)$")


def mixture_name(fraction: float) -> str:
    return f"mix{fraction:g}"


def size_name(n: int) -> str:
    return f"size{int(n)}"


def parse(name: str) -> tuple[str, float]:
    """``("mix", fraction)`` or ``("size", n)``."""
    m = PATTERN.match(name)
    if not m:
        raise ValueError(f"forget-set variant {name!r}: expected mix<fraction in [0, 1]> or size<n>")
    return ("mix", float(m.group(2))) if m.group(1) else ("size", int(m.group(4)))


def build(name: str, clean: pd.DataFrame, triggered: pd.DataFrame, seed: int, size: int | None = None) -> pd.DataFrame:
    """The variant's forget rows (columns of the triggered set plus ``triggered``), shuffled.

    ``clean``: the clean forget split (``uid, image, label``); ``triggered``: its triggered non-target rows
    labelled as the target (``poison_images``' forget set), keyed by the same ``uid``.
    """
    kind, value = parse(name)
    rng = np.random.default_rng(derive_seed(seed, "forget-variant", name))
    trig = triggered.assign(triggered=True)
    if kind == "size":
        if value > len(trig):
            raise ValueError(f"forget-set size {value} exceeds the {len(trig)} triggered forget rows (splits.forget)")
        return trig.iloc[rng.permutation(len(trig))[:value]].reset_index(drop=True)
    n = len(trig) if size is None else int(size)
    n_trig = int(round(value * n))
    picked = trig.iloc[rng.permutation(len(trig))[:n_trig]]
    rest = clean[~clean["uid"].isin(picked["uid"])]  # the clean rows come from other images than the triggered ones
    if n_trig > len(trig) or n - n_trig > len(rest):
        raise ValueError(f"forget-set mixture {name}: {n_trig} triggered + {n - n_trig} clean rows need more than the "
                         f"{len(trig)} triggered / {len(rest)} remaining clean forget rows (splits.forget)")
    clean_rows = rest.iloc[rng.permutation(len(rest))[: n - n_trig]].assign(triggered=False)
    clean_rows = clean_rows.assign(orig_label=clean_rows["label"], is_poisoned=False)
    out = pd.concat([picked, clean_rows[[c for c in picked.columns if c in clean_rows.columns]]], ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


def composition(df: pd.DataFrame) -> dict:
    return {"rows": int(len(df)), "triggered": int(df["triggered"].sum()), "clean": int((~df["triggered"]).sum())}
