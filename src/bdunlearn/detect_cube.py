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

from bdunlearn.models import load_adapter
from bdunlearn.workflow.cli import add_model_args, model_spec, parser
from bdunlearn.detection.cube import CubeConfig, detect
from bdunlearn.data.io import read_parquet, save_figure, write_json, write_parquet
from bdunlearn.evaluation.metrics import detection_scores
from bdunlearn.workflow.runtime import derive_seed, setup
from bdunlearn.models.training import map_rows

log = logging.getLogger(__name__)


def embed(model, inputs, device, batch_size: int = 128) -> np.ndarray:
    """``model.features`` of every row, in order, as float32 (N, D)."""
    return map_rows(model, inputs, device, batch_size, lambda m, x: m.features(x).float().cpu(), desc="embed").numpy()


def scatter(df: pd.DataFrame, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, col, name in ((axes[0], "is_poisoned", "true poison status"), (axes[1], "cluster", "HDBSCAN cluster")):
        if col == "is_poisoned":
            for val, colour, lab in ((False, "tab:blue", "clean"), (True, "tab:red", "poisoned")):
                sel = df[df[col] == val]
                ax.scatter(sel["x"], sel["y"], s=4, c=colour, label=f"{lab} ({len(sel)})", alpha=0.6, linewidths=0)
            ax.legend(fontsize=8, markerscale=3)
        else:
            ax.scatter(df["x"], df["y"], s=4, c=df[col], cmap="tab20", alpha=0.6, linewidths=0)
            flagged = df[df["flagged"]]
            ax.scatter(flagged["x"], flagged["y"], s=14, facecolors="none", edgecolors="black", linewidths=0.4,
                       label=f"flagged ({len(flagged)})")
            ax.legend(fontsize=8)
        ax.set_title(f"coloured by {name}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return fig


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
