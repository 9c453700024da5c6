"""Test helpers for reading Snakemake's output and the workflow's rule files."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "workflow" / "rules"
MICRO = Path(__file__).with_name("micro_config.yaml")


def snakemake(*args, cwd=REPO, check=True):
    """Snakemake on this repository's Snakefile in ``cwd``; raises with the output's tail when it fails."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def job_stats(text: str) -> dict[str, int]:
    """{rule: count} of the 'Job stats' table Snakemake prints before running ({} when nothing is to be done);
    the 'all' target and the total are left out."""
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    rows = (r.split() for r in table)
    return {r[0]: int(r[1]) for r in rows if r and r[0] not in ("total", "all")}


def gpu_rules(rules_dir: Path = RULES_DIR) -> set[str]:
    """The rules that ask for GPUs (``resources: gpu=1``, or a count per job: ``gpu=lambda w: ...``) in
    ``workflow/rules/*.smk``; each must run its module through ``bdu_gpu`` (the GPU lease), checked here."""
    rules = set()
    for smk in rules_dir.glob("*.smk"):
        for block in smk.read_text().split("\nrule ")[1:]:
            name = block.split(":", 1)[0]
            if "gpu=1" in block or "gpu=lambda" in block:
                assert "bdu_gpu " in block and "bdu " not in block.replace("bdu_gpu ", ""), \
                    f"GPU rule {name} must run its module through bdu_gpu (the GPU lease)"
                rules.add(name)
    return rules


def local_rules(rules_dir: Path = RULES_DIR) -> set[str]:
    """The rules named in a ``localrules:`` block of ``workflow/rules/*.smk`` (run in Snakemake's main process)."""
    rules = set()
    for smk in rules_dir.glob("*.smk"):
        text = smk.read_text()
        if "\nlocalrules:" in text:
            block = text.split("\nlocalrules:", 1)[1].split("\n\n", 1)[0]
            rules |= {name.strip() for name in block.replace("\n", " ").split(",") if name.strip()}
    return rules
