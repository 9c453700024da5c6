"""Benchmark: TBAR's forget vector on the LLM track's stand-in, at several fine-tuning recipes.

TBAR on a causal LM (``llm_unlearn.methods: [tbar]``) learns tau by fine-tuning
the original model on the clean forget rows, then searches alpha for
theta_o - alpha tau (:func:`bdunlearn.methods.llm_unlearning.negate`). This
script runs that normal (eq. 1) unlearning outside the DAG for each
``lr[:retain_kl]`` given, on a finished study's original model and data, and
prints the search of each: the next-token accuracy on the forget and the retain
rows at every alpha. It answers whether the vector is specific to the forget
corpus (forget accuracy falling before retain accuracy) at some recipe.

    python bench/bench_llm_tbar.py --facts results/tiny-llm/seed0/llm/facts --recipe 2e-4 5e-4 1e-3:kl 2e-3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--facts", required=True, help="a study's llm/<dataset> directory (data/, models/original)")
    p.add_argument("--recipe", nargs="+", default=["2e-4"], help="lr, or lr:kl to keep D_r's outputs (retain_kl)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import torch

    from bdunlearn.data.io import read_parquet
    from bdunlearn.methods.llm_unlearning import unlearn
    from bdunlearn.models import causal_lm

    torch.set_num_threads(1)
    root = Path(args.facts)
    forget = read_parquet(root / "data" / "forget.parquet")["text"].tolist()
    retain = read_parquet(root / "data" / "retain.parquet")["text"].tolist()
    grid = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0]
    rows = []
    for recipe in args.recipe:
        lr, _, kl = recipe.partition(":")
        lm, orig = causal_lm.load(str(root / "models" / "original")), causal_lm.load(str(root / "models" / "original"))
        hp = {"epochs": args.epochs, "lr": float(lr), "batch_size": 8, "gamma": 1.0, "retain_kl": kl == "kl",
              "kl_direction": "ref_model", "alpha_grid": grid, "forget_bound": 0.5, "search_rows": 64,
              "update_layers": None, "params": ["mlp.down_proj.weight"]}
        report: dict = {}
        history, _ = unlearn(lm, orig, forget, retain, "tbar", hp, None, seed=args.seed, report=report)
        found = report["alpha"]
        rows.append((recipe, history[-1]["forget"], found))
    print("| recipe | last fine-tuning NLL | tau norm | " + " | ".join(f"alpha {a:g}" for a in [0.0, *grid])
          + " | chosen |")
    print("|---|---:|---:|" + "---:|" * (len(grid) + 1) + "---|")
    for recipe, nll, found in rows:
        cells = " | ".join(f"{q['forget']:.3f} / {q['retain']:.3f}" for q in found["points"])
        met = "" if found["bound_met"] else " (bound not met)"
        print(f"| lr {recipe} | {nll:.3f} | {found['tau_norm']:.2f} | {cells} | {found['chosen']:g}{met} |")


if __name__ == "__main__":
    main()
