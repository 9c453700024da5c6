"""Rule ``prepare_images``: load an image dataset and write train / val / test / forget splits.

Outputs (Parquet, columns ``uid, image, label``; images PNG at model resolution):
``train``, ``val``, ``test`` and ``forget`` plus ``classes.json`` (class names,
prompt templates, target index, resolution). The forget set is disjoint from
the training set (TBAR appendix B.2.1): train, val and forget are drawn without
overlap from the source's training pool by one seeded permutation; the test
set is the source's test split (``hf``) or a further disjoint slice (``digits``).
"""

from __future__ import annotations

from bdunlearn.data.image_splits import prepare
from bdunlearn.workflow.cli import prepare_main


def main(argv=None) -> None:
    prepare_main(__doc__, prepare, argv)


if __name__ == "__main__":
    main()
