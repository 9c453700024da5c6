"""``make report``: the HTML report of a finished study, written to ``results/<study>/report.html``.

Runs ``snakemake --report`` on the study's config (the embedded default, or
``--configfile``): one self-contained HTML file with every table and plot the
rules annotate with ``report()`` (captions in ``workflow/report/``), grouped by
category, plus the run's timeline and the rules' code.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def report_path(config: dict) -> Path:
    return Path(config.get("results_dir") or "results") / config["study"] / "report.html"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--configfile", default=None, help="the study's config (default: the embedded config.yaml)")
    p.add_argument("--snakefile", default=str(REPO / "Snakefile"))
    args = p.parse_args(argv)
    cfg_path = Path(args.configfile) if args.configfile else Path(args.snakefile).with_name("config.yaml")
    out = report_path(yaml.safe_load(cfg_path.read_text()) or {})
    cmd = [sys.executable, "-m", "snakemake", "-s", args.snakefile, "--report", str(out)]
    if args.configfile:
        cmd += ["--configfile", args.configfile]
    proc = subprocess.run(cmd)
    if proc.returncode == 0:
        print(f"report: {out}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
