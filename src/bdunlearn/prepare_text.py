"""Rule ``prepare_text``: a text classification dataset to Parquet splits.

Outputs ``train``, ``val`` and ``test`` (columns ``uid, text, label``) and
``classes.json`` (class names, target index, sizes). Sources (see
:mod:`bdunlearn.data.text_sources`): ``tsv`` (train/dev/test files), ``hf``
(``datasets.load_dataset``) and ``synthetic`` (offline). A source without a
validation split gets one carved from its training split (``splits.val`` rows,
seeded). ``splits.<name>`` caps a split at that many rows by a seeded
subsample; ``null`` keeps the whole split.
"""

from __future__ import annotations

from bdunlearn.data.text_splits import prepare
from bdunlearn.workflow.cli import prepare_main


def main(argv=None) -> None:
    prepare_main(__doc__, prepare, argv)


if __name__ == "__main__":
    main()
