"""Where clean accuracy goes under TBAR (and GA): per-class CA of a finished study, as a benchmarks.md section.

Reads ``evaluate``'s ``metrics.json`` (image study: ``ca_per_class_*`` and
``ca_nontarget_*`` of the zero-shot, backdoored and TBAR models) and the
unlearning track's ``metrics.json`` (``cacc_per_class`` of the backdoored
model and of each method at its last snapshot), and writes one Markdown section:
CA on the target class, CA on the other classes, and the retention of each.

    python bench/bench_per_class.py --results results/default --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from bench_text_sst2 import write_section  # bench/ is on sys.path when run as a script

TITLE = "## Embedded default: where CA goes under TBAR and GA (per class)"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values)


def image_rows(seed_dir: Path) -> list[str]:
    rows = []
    for metrics in sorted(seed_dir.glob("eval/*/*/metrics.json")):
        m = _load(metrics)
        classes = _load(seed_dir / "data" / m["dataset"] / "classes.json")
        t = int(classes["target"])
        bd, tb = m["ca_per_class_backdoored"][t], m["ca_per_class_tbar"][t]
        nb, nt = m["ca_nontarget_backdoored"], m["ca_nontarget_tbar"]
        rows.append(f"| {m['dataset']} | {m['attack']} | {classes['classnames'][t]} | {m['alpha']:g} | "
                    f"{m['ca_backdoored']:.2f} -> {m['ca_tbar']:.2f} ({100 * m['ca_tbar'] / m['ca_backdoored']:.1f}%) | "
                    f"{bd:.1f} -> {tb:.1f} | {nb:.2f} -> {nt:.2f} ({100 * nt / nb:.1f}%) |")
    return rows


def text_rows(seed_dir: Path) -> list[str]:
    rows = []
    for bd_path in sorted(seed_dir.glob("unlearn/*/*/backdoored/metrics.json")):
        bd = _load(bd_path)["snapshots"][-1]
        classes = _load(seed_dir / "data" / bd_path.parts[-4] / "classes.json")
        t = int(classes["target"])
        others = [c for c in range(len(classes["classnames"])) if c != t]
        before = _mean(bd["cacc_per_class"][c] for c in others)
        for method_dir in sorted(p for p in bd_path.parents[1].iterdir() if p.name != "backdoored" and p.is_dir()):
            if not (method_dir / "metrics.json").exists():
                continue
            m = _load(method_dir / "metrics.json")
            last = m["snapshots"][-1]
            after = _mean(last["cacc_per_class"][c] for c in others)
            rows.append(f"| {m['dataset']} | {m['attack']} | {m['method']} | {classes['classnames'][t]} | "
                        f"{bd['cacc']:.2f} -> {last['cacc']:.2f} | {bd['cacc_per_class'][t]:.1f} -> {last['cacc_per_class'][t]:.1f} | "
                        f"{before:.1f} -> {after:.1f} |")
    return rows


def section(results: Path, machine: str) -> str:
    seed_dir = sorted(results.glob("seed*"))[0]
    lines = [TITLE,
             f"Command: `make run`, then `python bench/bench_per_class.py --results {results} --out docs/benchmarks.md`  ",
             f"Machine: {machine}; date {dt.date.today().isoformat()}; {seed_dir.name}.  ", "",
             "Image study (`eval/<dataset>/<attack>/metrics.json`): test CA of the backdoored model -> after TBAR, "
             "on the whole test split (retention), on the target class, and on the other classes "
             "(`ca_nontarget_*`, retention).", "",
             "| dataset | attack | target | alpha | CA (retention) | target-class CA | other classes' CA (retention) |",
             "|---|---|---|---:|---|---|---|", *image_rows(seed_dir), "",
             "Text study (`unlearn/<dataset>/<attack>/<method>/metrics.json`, last snapshot): clean test accuracy "
             "of the backdoored model -> after each method, overall, on the target class and on the other "
             "classes (mean of their per-class accuracies).", "",
             "| dataset | attack | method | target | CACC | target-class CACC | other classes' CACC |",
             "|---|---|---|---|---|---|---|", *text_rows(seed_dir)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", required=True, help="results/<study> of a finished run")
    p.add_argument("--out", default=None, help="benchmarks.md to write the section into (default: print it)")
    p.add_argument("--machine", default="this project's 2-core CPU machine, 24 GiB")
    args = p.parse_args(argv)
    text = section(Path(args.results), args.machine)
    if args.out:
        write_section(TITLE, text, Path(args.out))
        print(f"wrote {TITLE!r} into {args.out}")
    else:
        print(text)


if __name__ == "__main__":
    main()
