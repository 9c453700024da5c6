"""CUBE (Cui et al., 2022) as the RGA paper applies it (appendix B.2): cluster embeddings, flag the minority.

1. Representation: the backdoored model embeds every training row ([CLS] for
   encoders, the last real token for decoders, the normalised image embedding
   for CLIP; :meth:`features` of each adapter).
2. Clustering: UMAP reduces the embeddings, HDBSCAN clusters them.
3. Filtering: the rows outside the clusters taken as clean are flagged.

Variants (``cube.variant``; explicit keys override):

- ``reference`` (default): the RGA authors' code (``bert_unlearn.py``): UMAP to
  4 dimensions with n_neighbors 100, min_dist 0.25 (0.15 for DistilBERT; set
  ``min_dist`` per dataset), metric cosine; HDBSCAN of the ``hdbscan`` package
  with min_cluster_size 150 and min_samples 120; the K largest non-noise
  clusters over all rows (K = number of classes) are clean, every other row,
  noise included, is flagged (``drop: keep_k_largest``).
- ``paper``: the text alone: UMAP to 4 dimensions (umap-learn's n_neighbors 15
  and min_dist 0.1, euclidean), scikit-learn's HDBSCAN with min_cluster_size 5;
  within each (poisoned-set) label every row outside its largest cluster is
  flagged (``drop: all_but_largest``; noise counts as one more cluster). The
  text names no HDBSCAN setting; min_samples 100 as in OpenBackdoor, because
  HDBSCAN's default split the clean classes of the default study into about 70
  clusters (1,153 of 1,400 rows flagged). This variant flags every row the
  backdoored model embeds with the other class, so misclassified clean rows
  join the forget set.
- ``openbackdoor``: the public OpenBackdoor ``CUBEDefender``: PCA to 20, UMAP to
  2 dimensions with n_neighbors 100 and min_dist 0, HDBSCAN with min_samples
  100, and a non-largest cluster is dropped only if it holds fewer than half
  the rows of its label.

Sizes are clamped to the data (n_neighbors, min_samples <= n - 1). UMAP runs
with ``random_state`` (single-threaded, reproducible on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VARIANTS = {
    "reference": dict(pca_components=None, umap_components=4, n_neighbors=100, min_dist=0.25, metric="cosine",
                      min_cluster_size=150, min_samples=120, hdbscan="hdbscan", drop="keep_k_largest"),
    "paper": dict(pca_components=None, umap_components=4, n_neighbors=15, min_dist=0.1, metric="euclidean",
                  min_cluster_size=5, min_samples=100, hdbscan="sklearn", drop="all_but_largest"),
    "openbackdoor": dict(pca_components=20, umap_components=2, n_neighbors=100, min_dist=0.0, metric="euclidean",
                         min_cluster_size=5, min_samples=100, hdbscan="sklearn", drop="smaller_than_half"),
}
DROPS = ("keep_k_largest", "all_but_largest", "smaller_than_half")


@dataclass
class CubeConfig:
    pca_components: int | None
    umap_components: int
    n_neighbors: int
    min_dist: float
    metric: str
    min_cluster_size: int
    min_samples: int | None
    hdbscan: str
    drop: str

    @classmethod
    def from_dict(cls, d: dict) -> "CubeConfig":
        variant = d.get("variant", "reference")
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
                        metric=cfg.metric, random_state=seed % (2**32))
    return reducer.fit_transform(x)


def cluster(points: np.ndarray, cfg: CubeConfig) -> np.ndarray:
    """HDBSCAN cluster ids (-1: noise) with the ``hdbscan`` package or scikit-learn's port."""
    min_samples = None if cfg.min_samples is None else min(cfg.min_samples, len(points) - 1)
    min_cluster_size = max(2, min(cfg.min_cluster_size, len(points)))
    if cfg.hdbscan == "hdbscan":
        import hdbscan

        return hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples).fit_predict(points)
    if cfg.hdbscan == "sklearn":
        from sklearn.cluster import HDBSCAN

        return HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True).fit_predict(points)
    raise ValueError(f"config key 'cube.hdbscan': {cfg.hdbscan!r}; allowed: hdbscan, sklearn")


def keep_k_largest(clusters: np.ndarray, k: int) -> np.ndarray:
    """Flags: every row outside the ``k`` largest non-noise clusters (noise included; ties: lower id kept)."""
    clusters = np.asarray(clusters)
    ids, counts = np.unique(clusters[clusters >= 0], return_counts=True)
    order = sorted(zip(counts.tolist(), ids.tolist()), key=lambda t: (-t[0], t[1]))
    clean = [cid for _, cid in order[:k]]
    return ~np.isin(clusters, clean)


def filter_clusters(labels: np.ndarray, clusters: np.ndarray, drop: str = "all_but_largest",
                    n_classes: int | None = None) -> np.ndarray:
    """Flags per row under the ``drop`` rule (see the module docstring)."""
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    if drop == "keep_k_largest":
        return keep_k_largest(clusters, n_classes or len(np.unique(labels)))
    if drop not in DROPS:
        raise ValueError(f"config key 'cube.drop': {drop!r}; allowed: {', '.join(DROPS)}")
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


def detect(embeddings: np.ndarray, labels: np.ndarray, cfg: CubeConfig, seed: int,
           n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flags, cluster ids, reduced coordinates) of CUBE on ``embeddings`` with poisoned-set ``labels``."""
    points = reduce(embeddings, cfg, seed)
    clusters = cluster(points, cfg)
    return filter_clusters(labels, clusters, cfg.drop, n_classes), clusters, points
