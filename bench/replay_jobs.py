"""Replay a Snakemake DAG's shell commands on a machine without Snakemake (e.g. a lent GPU box).

Here:   snakemake -n -p --forceall --configfile CFG > plan.txt
There:  python bench/replay_jobs.py plan.txt --python python3 --workers 4

The dry run's job blocks give each job's rule, inputs, outputs and shell
command. Jobs run as soon as every input they list exists (inputs made by an
earlier job of the plan, or already on disk), up to ``--workers`` at a time;
the ``bdu`` function of the workflow's shell prefix is defined with the given
Python. A failed job stops the replay (its log is printed). This runs only
commands that Snakemake itself printed for this workflow; it adds no logic.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path


def parse_plan(text: str) -> list[dict]:
    jobs, cur, cmd_lines = [], None, []
    for line in text.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            if cur is not None:
                cur["cmd"] = "\n".join(cmd_lines).strip()
                jobs.append(cur)
            cur, cmd_lines = {"rule": m.group(1), "input": [], "output": [], "log": []}, []
            continue
        if cur is None:
            continue
        m = re.match(r"^    (input|output|log): (.*)$", line)
        if m:
            cur[m.group(1)] = [p.strip() for p in m.group(2).split(",") if p.strip()]
        elif line.startswith("    ") or not line.strip():
            continue
        elif line.startswith("Shell command: "):
            cmd_lines.append(line[len("Shell command: "):])
        elif cmd_lines and not line.startswith(("[", "Job stats", "Reasons", "This was", "job ", "---", "total")):
            cmd_lines.append(line)
    if cur is not None:
        cur["cmd"] = "\n".join(cmd_lines).strip()
        jobs.append(cur)
    return [j for j in jobs if j["rule"] != "all"]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    jobs = parse_plan(Path(args.plan).read_text())
    made = {o for j in jobs for o in j["output"]}
    prefix = (f"set -euo pipefail; export PYTHONPATH={args.src}${{PYTHONPATH:+:$PYTHONPATH}}; "
              f'bdu() {{ local m="$1"; shift; {args.python} -m "bdunlearn.$m" "$@"; }}; ')
    done = {o for j in jobs if all(Path(o).exists() for o in j["output"]) for o in j["output"]}  # resume
    pending, running = [j for j in jobs if not set(j["output"]) <= done], {}
    print(f"{len(jobs)} jobs in the plan, {len(jobs) - len(pending)} already done", flush=True)
    t0 = time.time()

    def ready(j):
        return all((i not in made) or (i in done) for i in j["input"])

    def run(j):
        for o in j["output"] + j["log"]:
            Path(o).parent.mkdir(parents=True, exist_ok=True)
        start = time.time()
        proc = subprocess.run(["bash", "-c", prefix + j["cmd"]])
        return j, proc.returncode, time.time() - start

    with ThreadPoolExecutor(args.workers) as pool:
        while pending or running:
            for j in [j for j in pending if ready(j)][: args.workers - len(running)]:
                pending.remove(j)
                running[pool.submit(run, j)] = j
            if not running:
                sys.exit(f"no runnable job; waiting on inputs of {pending[0]['rule']}: {pending[0]['input']}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                j, rc, secs = f.result()
                del running[f]
                print(f"[{time.time() - t0:7.1f}s] {j['rule']} {j['output'][:1]} rc={rc} ({secs:.1f}s)", flush=True)
                if rc != 0:
                    for log in j["log"]:
                        if Path(log).exists():
                            print(Path(log).read_text()[-3000:])
                    sys.exit(f"job {j['rule']} failed")
                done.update(j["output"])


if __name__ == "__main__":
    main()
