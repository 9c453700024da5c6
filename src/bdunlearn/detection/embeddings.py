"""What CUBE clusters and how it is shown (rule ``detect_cube``): an adapter's features of every row, and the
scatter plot of the reduced embeddings by true poison status and by cluster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bdunlearn.models.training import map_rows


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
