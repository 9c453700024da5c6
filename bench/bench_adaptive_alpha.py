"""Benchmark: the adaptive alpha search (``alpha_search.strategy: adaptive``) against the dense grid.

For every (dataset, attack) of a finished study - the image track's
``tbar/<ds>/<att>/alpha_search.csv`` and the unlearning track's
``unlearn/<ds>/<att>/tbar/alpha_search.csv``, both written by the dense grid -
the adaptive search is replayed on the grid's recorded evaluations. One
evaluation of theta_bd - alpha * tau is a deterministic function of alpha
(same weights, same validation sets, CPU), so the replay chooses what a live
adaptive search would. ``--live`` also reruns the adaptive search for real on
the image track's pairs (the backdoored model, its trigger vector and the val
sets of the study) and checks every value it evaluates against the grid's CSV.

Target (issue 12): the adaptive search picks the grid's alpha (or one within
the grid's step) with at most a third of its evaluations.

    python bench/bench_adaptive_alpha.py --study results/default --config config.yaml --live --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from bdunlearn.methods.alpha_strategies import CachedGrid, walk  # noqa: E402
from bdunlearn.methods.tbar_core import choose_alpha  # noqa: E402


def curves(study: Path) -> list[tuple[str, str, str, Path]]:
    """(track, dataset, attack, alpha_search.csv) of every dense search of seed 0."""
    seed = study / "seed0"
    out = [("image", p.parts[-3], p.parts[-2], p) for p in sorted(seed.glob("tbar/*/*/alpha_search.csv"))]
    out += [("text", p.parts[-4], p.parts[-3], p) for p in sorted(seed.glob("unlearn/*/*/tbar/alpha_search.csv"))]
    return out


def replay(csv: Path, rule: str, max_asr: float, patience: int, band: float) -> dict:
    dense = pd.read_csv(csv).to_dict("records")
    grid = [r["alpha"] for r in dense]
    by_alpha = {r["alpha"]: r for r in dense}
    chosen = choose_alpha(dense, rule, max_asr)
    points = CachedGrid(grid, lambda a: by_alpha[a])
    best, _, sens = walk(points, {"grid": grid, "rule": rule, "max_asr": max_asr, "strategy": "adaptive",
                                  "patience": patience, "sensitivity_band": band})
    i_grid = grid.index(chosen["alpha"])
    return {"grid_points": len(grid), "grid_alpha": chosen["alpha"], "grid_val_ca": chosen["val_ca"],
            "adaptive_alpha": grid[best], "adaptive_val_ca": points(best)["val_ca"], "steps_apart": abs(best - i_grid),
            "evaluations": len(points.rows), "fraction": len(points.rows) / len(grid),
            "ca_band": f"[{sens['alpha_lo']:g}, {sens['alpha_hi']:g}]"}


def live(study: Path, config: Path, dataset: str, attack: str, csv: Path, search: dict) -> tuple[int, float]:
    """Rerun the adaptive search on the real model; (evaluations, max |difference| to the grid's values)."""
    from bdunlearn.data.io import load_weights, read_json
    from bdunlearn.methods.tbar_core import AlphaEvaluator
    from bdunlearn.models import ModelContext, get, load_adapter, spec_for
    from bdunlearn.workflow.config import dataset_view, load_file
    from bdunlearn.workflow.runtime import setup

    cfg = load_file(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    view = dataset_view(cfg, dataset)
    root = study / "seed0"
    spec = spec_for(get(view["model_kind"]), ModelContext(root=str(root), seed=0, dataset=dataset, view=view, config=cfg))
    device = setup(0, 1, "cpu")
    bd = root / "models" / dataset / attack / "backdoored.safetensors"
    model = load_adapter(spec, bd)
    target = int(read_json(root / "data" / dataset / "classes.json")["target"])
    ev = AlphaEvaluator(model, load_weights(bd), load_weights(root / "tbar" / dataset / attack / "trigger_vector.safetensors"),
                        model.load_split(root / "data" / dataset / "val.parquet"),
                        model.load_split(root / "poisoned" / dataset / attack / "val_triggered.parquet"), target, device,
                        cfg["eval_batch_size"])
    dense = {r["alpha"]: r for r in pd.read_csv(csv).to_dict("records")}
    points = CachedGrid(search["grid"], ev)
    walk(points, {**search, "strategy": "adaptive"})
    diff = max(max(abs(r["val_ca"] - dense[r["alpha"]]["val_ca"]), abs(r["val_asr"] - dense[r["alpha"]]["val_asr"]))
               for r in points.rows)
    return len(points.rows), diff


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--study", type=Path, default=REPO / "results" / "default")
    p.add_argument("--config", type=Path, default=REPO / "config.yaml")
    p.add_argument("--rule", default="max_ca_under_asr")
    p.add_argument("--max-asr", type=float, default=1.0)
    p.add_argument("--patience", type=int, default=1)
    p.add_argument("--band", type=float, default=1.0)
    p.add_argument("--live", action="store_true", help="rerun the adaptive search on the image track's models")
    p.add_argument("--out", type=Path, help="append the result table to this Markdown file")
    args = p.parse_args()
    rows = []
    for track, ds, att, csv in curves(args.study):
        row = {"track": track, "dataset": ds, "attack": att, **replay(csv, args.rule, args.max_asr, args.patience, args.band)}
        if args.live and track == "image":
            search = {"grid": list(pd.read_csv(csv)["alpha"]), "rule": args.rule, "max_asr": args.max_asr,
                      "patience": args.patience, "sensitivity_band": args.band}
            n, diff = live(args.study, args.config, ds, att, csv, search)
            row["live_evaluations"], row["live_max_abs_diff"] = n, diff
        rows.append(row)
        print(row, flush=True)
    df = pd.DataFrame(rows)
    md = df.to_markdown(index=False, floatfmt=".4g")
    print(md)
    if args.out:
        when = dt.date.today().isoformat()
        cmd = "python bench/bench_adaptive_alpha.py " + " ".join(sys.argv[1:])
        with open(args.out, "a") as f:
            f.write(f"\n### Adaptive alpha search against the dense grid ({when})\n\n`{cmd}` on {platform.node()} "
                    f"({platform.processor() or platform.machine()}, CPU), study `{args.study}` (seed 0), rule "
                    f"{args.rule}, max ASR {args.max_asr}%, patience {args.patience}.\n\n{md}\n")


if __name__ == "__main__":
    main()
