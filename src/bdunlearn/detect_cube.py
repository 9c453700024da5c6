"""Rule ``detect_cube``: CUBE detection of the poisoned training rows with the backdoored model (any adapter).

Embeds the poisoned training set with the backdoored model, runs
:func:`bdunlearn.detection.cube.detect` and writes:

- ``flags.parquet``: ``uid, label, is_poisoned, flagged, cluster, x, y`` (x, y:
  the first two reduced coordinates);
- ``detection.json``: precision / recall / F1 against the ground truth (RGA
  paper Table 7), counts and the settings used;
- ``scatter.png``: the reduced embeddings coloured by true poison status and by
  cluster, side by side (with 4-D UMAP, its first two axes).

Unlearning reads ``flags.parquet`` when ``unlearn.forget_set`` is ``cube``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from bdunlearn.data.io import read_parquet, save_figure, write_json, write_parquet
from bdunlearn.detection.cube import CubeConfig, detect
from bdunlearn.detection.embeddings import embed, scatter
from bdunlearn.evaluation.metrics import detection_scores
from bdunlearn.models import load_adapter
from bdunlearn.workflow.cli import add_model_args, model_spec, parser
from bdunlearn.workflow.runtime import derive_seed, setup

log = logging.getLogger(__name__)


def main(argv=None) -> None:
    p = parser(__doc__)
    add_model_args(p)
    p.add_argument("--backdoored", required=True, help="editable weights of the backdoored model")
    p.add_argument("--data", required=True, help="poisoned training set (Parquet)")
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    cfg = CubeConfig.from_dict(prm["cube"])
    model = load_adapter(model_spec(args), args.backdoored, device)
    inputs, labels = model.load_split(args.data)
    emb = embed(model, inputs, device, prm["cube"].get("embed_batch_size", 128))
    log.info("embedded %d rows to %d dimensions; clustering", *emb.shape)
    flags, clusters, points = detect(emb, labels.numpy(), cfg, derive_seed(prm["seed"], "cube", prm["dataset"], prm["attack"]),
                                     n_classes=model.num_classes)
    train = read_parquet(args.data)
    df = pd.DataFrame({"uid": train["uid"], "label": train["label"], "is_poisoned": train["is_poisoned"].astype(bool),
                       "flagged": flags, "cluster": clusters.astype(np.int64), "x": points[:, 0], "y": points[:, 1]})
    scores = detection_scores(df["flagged"], df["is_poisoned"])
    report = {"dataset": prm["dataset"], "attack": prm["attack"], "seed": prm["seed"], **scores,
              "n_rows": len(df), "n_clusters": int(len(set(clusters.tolist()) - {-1})), "n_noise": int((clusters == -1).sum()),
              "settings": cfg.__dict__}
    out = Path(args.outdir)
    write_parquet(df, out / "flags.parquet")
    write_json(report, out / "detection.json")
    save_figure(scatter(df, f"CUBE on {prm['dataset']} / {prm['attack']}: P {scores['precision']:.2f} "
                            f"R {scores['recall']:.2f} F1 {scores['f1']:.2f}"), out / "scatter.png")
    log.info("flagged %d rows: precision %.3f recall %.3f F1 %.3f", scores["n_flagged"], scores["precision"],
             scores["recall"], scores["f1"])


if __name__ == "__main__":
    main()
