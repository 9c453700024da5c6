"""CUBE (Cui et al., 2022) as the RGA paper applies it (appendix B.2): cluster embeddings, flag the minority.

1. Representation: the backdoored model embeds every training row ([CLS] for
   encoders, the last real token for decoders, the normalised image embedding
   for CLIP; :meth:`features` of each adapter).
2. Clustering: UMAP reduces the embeddings, HDBSCAN clusters them.
3. Filtering: within each (poisoned-set) label, the largest cluster is kept and
   the other rows are flagged as poisoned, on the assumption that poisoned rows
   are a minority that clusters apart. HDBSCAN's noise (-1) counts as one more
   cluster.

Variants (``cube.variant``; explicit keys override):

- ``paper`` (default): UMAP to 4 dimensions (umap-learn's n_neighbors 15 and
  min_dist 0.1), HDBSCAN with min_cluster_size 5 and min_samples 100, and every
  row outside the largest cluster of its label is flagged. The paper names no
  HDBSCAN setting. Choice: min_samples 100, the value of every public CUBE
  implementation (OpenBackdoor and its forks), because HDBSCAN's own default
  (min_samples = min_cluster_size = 5) split the clean classes of the default
  study into about 70 clusters (measured: 1,153 of 1,400 rows flagged,
  precision 0.06; with 100: 5 clusters, 635 flagged). Clamped to n - 1 rows.
- ``openbackdoor``: the public OpenBackdoor ``CUBEDefender``: PCA to 20, UMAP to
  2 dimensions with n_neighbors 100 and min_dist 0, HDBSCAN with min_samples
  100, and a non-largest cluster is dropped only if it holds fewer than half
  the rows of its label.

UMAP runs with ``random_state`` (single-threaded, reproducible on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VARIANTS = {
    "paper": dict(pca_components=None, umap_components=4, n_neighbors=15, min_dist=0.1, min_cluster_size=5,
                  min_samples=100, drop="all_but_largest"),
    "openbackdoor": dict(pca_components=20, umap_components=2, n_neighbors=100, min_dist=0.0, min_cluster_size=5,
                         min_samples=100, drop="smaller_than_half"),
}


@dataclass
class CubeConfig:
    pca_components: int | None
    umap_components: int
    n_neighbors: int
    min_dist: float
    min_cluster_size: int
    min_samples: int | None
    drop: str

    @classmethod
    def from_dict(cls, d: dict) -> "CubeConfig":
        variant = d.get("variant", "paper")
        if variant not in VARIANTS:
            raise ValueError(f"config key 'cube.variant': unknown variant {variant!r}; allowed: {', '.join(VARIANTS)}")
        return cls(**{**VARIANTS[variant], **{k: v for k, v in d.items() if k in VARIANTS[variant]}})


def reduce(embeddings: np.ndarray, cfg: CubeConfig, seed: int) -> np.ndarray:
    """Optional PCA, then UMAP to ``cfg.umap_components`` dimensions."""
    import umap
    from sklearn.decomposition import PCA

    x = np.asarray(embeddings, dtype=np.float32)
    if cfg.pca_components and cfg.pca_components < min(x.shape):
        x = PCA(n_components=cfg.pca_components, random_state=seed % (2**32)).fit_transform(x)
    n_neighbors = max(2, min(cfg.n_neighbors, len(x) - 1))
    reducer = umap.UMAP(n_components=cfg.umap_components, n_neighbors=n_neighbors, min_dist=cfg.min_dist,
                        random_state=seed % (2**32))
    return reducer.fit_transform(x)


def cluster(points: np.ndarray, cfg: CubeConfig) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    min_samples = None if cfg.min_samples is None else min(cfg.min_samples, len(points) - 1)
    return HDBSCAN(min_cluster_size=min(cfg.min_cluster_size, len(points)), min_samples=min_samples, copy=True).fit_predict(points)


def filter_clusters(labels: np.ndarray, clusters: np.ndarray, drop: str = "all_but_largest") -> np.ndarray:
    """Flags per row: within each label, rows outside its largest cluster (see the module docstring)."""
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    flags = np.zeros(len(labels), dtype=bool)
    for y in np.unique(labels):
        rows = np.flatnonzero(labels == y)
        ids, counts = np.unique(clusters[rows], return_counts=True)
        if len(ids) < 2:
            continue
        order = sorted(zip(counts.tolist(), ids.tolist()), key=lambda t: (-t[0], t[1]))  # ties: the lower cluster id is kept
        for count, cid in order[1:]:
            if drop == "all_but_largest" or (drop == "smaller_than_half" and count < 0.5 * len(rows)):
                flags[rows[clusters[rows] == cid]] = True
    return flags


def detect(embeddings: np.ndarray, labels: np.ndarray, cfg: CubeConfig, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flags, cluster ids, reduced coordinates) of CUBE on ``embeddings`` with poisoned-set ``labels``."""
    points = reduce(embeddings, cfg, seed)
    clusters = cluster(points, cfg)
    return filter_clusters(labels, clusters, cfg.drop), clusters, points
