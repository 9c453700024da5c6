"""Rule ``prepare_captions``: an image-caption dataset to Parquet splits (the image-caption track, TBAR section 4).

Outputs ``pretrain``, ``train``, ``forget`` and ``clean`` (pairs: ``uid, image, caption, label``), ``val`` and
``test`` (labelled images for zero-shot CA and ASR: ``uid, image, label``), and ``classes.json`` (class names,
prompt templates, target, resolution). Source ``scenes``: the offline captioned scenes; ``hf``: pairs and
evaluation images from the dataset hub, ``pretrain`` empty (:mod:`bdunlearn.data.caption_splits`).
"""

from __future__ import annotations

from bdunlearn.data.caption_splits import prepare
from bdunlearn.workflow.cli import prepare_main


def main(argv=None) -> None:
    prepare_main(__doc__, prepare, argv)


if __name__ == "__main__":
    main()
