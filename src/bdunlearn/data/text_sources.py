"""Readers for the text sources of ``prepare_text``: ``tsv``, ``hf`` and ``synthetic``.

Each reader returns ``{split: (texts, labels)}`` for the splits ``train``,
``val`` and ``test``:

- ``tsv``: a directory with ``train.tsv``, ``dev.tsv`` and ``test.tsv``, each
  with a header and ``sentence<TAB>label`` rows (the HiddenKiller / OpenBackdoor
  layout, e.g. ``../shared/data/hiddenkiller/clean/sst-2``). ``dev`` becomes
  ``val``. Rows are read verbatim: no quoting, so a sentence may contain ``"``.
- ``hf``: ``datasets.load_dataset(path, name, split=...)`` with configured text
  and label columns (a hub name, or a local directory in the hub's layout).
- ``synthetic``: :mod:`bdunlearn.data.synthetic_text`, offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TSV_FILES = {"train": "train.tsv", "val": "dev.tsv", "test": "test.tsv"}


def read_tsv(path) -> tuple[list[str], np.ndarray]:
    """One ``sentence<TAB>label`` file with a header row."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text split file not found: {path} (expected a 'sentence<TAB>label' TSV)")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise ValueError(f"{path}: empty file, expected a header 'sentence<TAB>label'")
    texts, labels = [], []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        text, sep, label = line.rpartition("\t")
        if not sep or not label.strip().lstrip("-").isdigit():
            raise ValueError(f"{path}:{i}: expected 'sentence<TAB>integer label', got {line[:80]!r}")
        texts.append(text)
        labels.append(int(label))
    return texts, np.asarray(labels, dtype=np.int64)


def load_tsv_dir(directory) -> dict[str, tuple[list[str], np.ndarray]]:
    directory = Path(directory)
    return {split: read_tsv(directory / name) for split, name in TSV_FILES.items()}


def load_hf(spec: dict) -> dict[str, tuple[list[str], np.ndarray]]:
    """Splits of a hub (or local hub-layout) dataset; ``val_split: null`` carves val from train later."""
    from datasets import load_dataset

    out = {}
    for split in ("train", "val", "test"):
        name = spec.get(f"{split}_split")
        if name is None:
            continue
        ds = load_dataset(spec["path"], spec.get("name"), data_dir=spec.get("data_dir"), split=name)
        for col in (spec["text_column"], spec["label_column"]):
            if col not in ds.column_names:
                raise KeyError(f"dataset {spec['path']!r} split {name!r} has no column {col!r}; columns: {ds.column_names}")
        out[split] = ([str(t) for t in ds[spec["text_column"]]], np.asarray(ds[spec["label_column"]], dtype=np.int64))
    return out


def load_synthetic(n: int, seed: int, test_fraction: float = 0.2, val_fraction: float = 0.1):
    from bdunlearn.data.synthetic_text import generate

    texts, labels = generate(n, seed)
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    cut = {"test": slice(0, n_test), "val": slice(n_test, n_test + n_val), "train": slice(n_test + n_val, n)}
    return {k: (texts[s], labels[s]) for k, s in cut.items()}
