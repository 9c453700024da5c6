"""End-to-end check of the SLURM profile on a real (local, one-node) SLURM cluster.

Run by ``tests/slurm/test_slurm.sh`` (``make test-slurm``) once ``local_cluster.sh``
has started slurmctld and slurmd. It

1. checks that bad profile input ends before any submission with a clear message:
   a partition that admits only the account ``bdu`` with no account given, and
   ``set-resources`` naming a rule the workflow does not have;
2. runs the micro config through ``workflow/profiles/slurm``, cancels one running
   GPU job with ``scancel`` (a job killed by the cluster, as on a preempted node):
   the profile's ``retries`` resubmit it and the run must finish; a second run must
   submit nothing and leave every output untouched;
3. checks that every job but the ``localrules`` (tables and plots, run in the main
   process) went through ``sbatch`` (one SLURM job per Snakemake job, all COMPLETED
   but the cancelled one, whose retry completed) and that GPU rules, and only they,
   asked for a GPU of the profile's model (``scontrol show job``: ``TresPerJob=gres:gpu:fake:1``);
4. runs the same config locally (workstation profile) and checks that both runs
   wrote the same files with the same bytes (logs, benchmarks and plots aside).

Exit status 0 when all holds; the first failed check raises with what it saw.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dag import gpu_rules, local_rules  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "workflow" / "profiles" / "slurm"
MICRO = REPO / "tests" / "micro_config.yaml"
GPU_RULES = gpu_rules()  # every rule with resources gpu=1 in workflow/rules/*.smk
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
LOCAL_RULES = local_rules()  # the tables and plots: localrules in workflow/rules/tables.smk
FAST = ["--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "3"]


def log(msg: str) -> None:
    print(f"[check_slurm {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", "micro.yaml", *args]


def slurm_env(**extra: str) -> dict:
    env = dict(os.environ, BDUNLEARN_SLURM_PARTITION="main", BDUNLEARN_SLURM_GPU_MODEL="fake")
    env.update(extra)
    return env


WORKDIRS: list[Path] = []


def workdir(name: str) -> Path:
    """A fresh temp study directory; main() removes them all once every check has passed (a failure keeps them)."""
    d = Path(tempfile.mkdtemp(prefix=f"bdu-slurm-{name}-"))
    shutil.copy(MICRO, d / "micro.yaml")
    WORKDIRS.append(d)
    return d


def check_bad_profiles() -> None:
    d = workdir("bad")
    res = subprocess.run(snakemake_cmd("--workflow-profile", str(PROFILE), "-n"), cwd=d, capture_output=True, text=True,
                         env=slurm_env(BDUNLEARN_SLURM_PARTITION="acct", BDUNLEARN_SLURM_GPU_PARTITION="acct"))
    assert res.returncode != 0, "a partition that needs an account passed without one"
    msg = res.stdout + res.stderr
    assert "partition 'acct'" in msg and "admits only the accounts bdu" in msg and "BDUNLEARN_SLURM_ACCOUNT" in msg, msg
    res = subprocess.run(snakemake_cmd("--workflow-profile", str(PROFILE), "-n", "--set-resources",
                                       "finetune_backdor:mem_mb=16000"), cwd=d, capture_output=True, text=True,
                         env=slurm_env())
    msg = res.stdout + res.stderr
    assert res.returncode != 0 and "set-resources names rule 'finetune_backdor'" in msg, msg
    assert not list(d.glob(".snakemake/slurm_logs/**/*.log")), "a bad profile submitted jobs"
    log("bad profile input: clear messages, nothing submitted")


def submissions(text: str) -> list[tuple[str, str]]:
    """(rule, SLURM job id) of every submission a run log reports."""
    return [(rule, sid) for rule, sid, _ in submitted_jobs(text)]


def submitted_jobs(text: str) -> list[tuple[str, str, str]]:
    """(rule, SLURM job id, Snakemake job) of every submission a run log reports (a retry keeps its job)."""
    out = []
    for job, slurm_id, path in SUBMITTED.findall(text):
        m = re.search(r"/rule_(\w+)/", path)
        out.append((m.group(1) if m else "?", slurm_id, job))
    return out


def local_jobs(text: str) -> list[str]:
    """The rules of the jobs a run log shows run in the main process (``localrule``), the target rule aside."""
    return [r for r in re.findall(r"^localrule (\w+):", text, re.M) if r != "all"]


def scontrol_job(slurm_id: str) -> dict:
    text = subprocess.run(["scontrol", "show", "job", "-o", slurm_id], capture_output=True, text=True,
                          check=True).stdout
    return dict(tok.split("=", 1) for tok in text.split() if "=" in tok)


def run_with_cancel(d: Path) -> tuple[str, str]:
    """First SLURM run: scancel the first GPU finetune job while it runs; return (run log, cancelled id)."""
    cmd = snakemake_cmd("--workflow-profile", str(PROFILE), *FAST)
    with open(d / "run1.log", "w") as out:
        proc = subprocess.Popen(cmd, cwd=d, stdout=out, stderr=subprocess.STDOUT, env=slurm_env())
        cancelled = None
        deadline = time.time() + 900
        while proc.poll() is None and time.time() < deadline:
            if cancelled is None:
                for rule, sid in submissions((d / "run1.log").read_text()):
                    if rule == "finetune_backdoor" and scontrol_job(sid).get("JobState") == "RUNNING":
                        subprocess.run(["scancel", sid], check=True)
                        cancelled = sid
                        log(f"cancelled running finetune_backdoor job {sid}")
                        break
            time.sleep(1)
        if proc.poll() is None:
            proc.kill()
            raise AssertionError("first SLURM run did not end in 15 minutes")
    text = (d / "run1.log").read_text()
    assert cancelled is not None, "no finetune_backdoor job was seen running\n" + text[-3000:]
    assert proc.returncode == 0, "the cancelled job was not retried to success (profile: retries)\n" + text[-3000:]
    return text, cancelled


def outputs(root: Path) -> dict[str, Path]:
    """Result files to compare between runs (logs, benchmarks and plots differ by nature: times, fonts)."""
    skip = ("/logs/", "/benchmarks/")
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*"))
            if p.is_file() and not any(s in f"/{p.relative_to(root)}" for s in skip) and p.suffix != ".png"}


def without_timings(path: Path) -> bytes:
    """A file's bytes; for JSON and CSV with the wall-clock `seconds` fields / column taken out."""
    if path.suffix == ".json":
        obj = json.loads(path.read_text())

        def strip(o):
            if isinstance(o, dict):
                return {k: strip(v) for k, v in o.items() if k != "seconds"}
            return [strip(v) for v in o] if isinstance(o, list) else o

        return json.dumps(strip(obj), sort_keys=True).encode()
    if path.suffix == ".csv" and path.stat().st_size:
        return pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns="seconds", errors="ignore").to_csv(index=False).encode()
    return path.read_bytes()


def main() -> int:
    t0 = time.time()
    check_bad_profiles()

    d = workdir("run")
    text, cancelled = run_with_cancel(d)
    first = submissions(text)
    jobs = submitted_jobs(text)
    retried = [j for r, sid, j in jobs if sid == cancelled]
    again = [sid for r, sid, j in jobs if j == retried[0] and sid != cancelled]
    assert len(again) == 1, f"the cancelled job {cancelled} was resubmitted {len(again)} times"
    log(f"first run: {len(first)} jobs submitted; the cancelled job was retried as {again[0]} and the run finished")
    in_main = local_jobs(text)
    # every table and plot rule ran in the main process (fetch_data is local too, but the micro config fetches nothing)
    assert set(in_main) == LOCAL_RULES - {"fetch_data"} and not LOCAL_RULES & {r for r, _ in first}, (in_main, LOCAL_RULES)
    steps = re.search(r"(\d+) of (\d+) steps \(100%\) done", text)
    # every step but the target rule `all` and the localrules was an sbatch job (the retry: one more submission)
    assert steps and int(steps.group(2)) == len(first) - 1 + len(in_main) + 1, \
        f"ran {steps and steps.group(0)}, submitted {len(first)}, local {len(in_main)}"
    log(f"{len(in_main)} table and plot jobs ran in the main process (localrules): {', '.join(sorted(set(in_main)))}")

    before = {k: p.stat().st_mtime_ns for k, p in outputs(d / "results").items()}
    res = subprocess.run(snakemake_cmd("--workflow-profile", str(PROFILE), *FAST), cwd=d, capture_output=True,
                         text=True, env=slurm_env())
    (d / "run2.log").write_text(res.stdout + res.stderr)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    second = submissions(res.stdout + res.stderr)
    assert not second and "Nothing to be done" in res.stdout + res.stderr, second
    after = outputs(d / "results")
    redone = [k for k, m in before.items() if after[k].stat().st_mtime_ns != m]
    assert not redone, f"the second run rewrote finished outputs: {redone[:10]}"
    log(f"second run: nothing submitted, no output of the first run rewritten ({len(before)} outputs)")

    for rule, sid in first:
        job = scontrol_job(sid)
        expected = "CANCELLED" if sid == cancelled else "COMPLETED"
        assert job.get("JobState") == expected, (rule, sid, job.get("JobState"), expected)
        tres = job.get("TresPerJob", "")
        if rule in GPU_RULES:
            assert tres == "gres:gpu:fake:1", (rule, sid, tres)
        else:
            assert "gpu" not in tres, (rule, sid, tres)
    rules_seen = {r for r, _ in first}
    log(f"{len(first)} SLURM jobs checked with scontrol; rules: {', '.join(sorted(rules_seen))}")

    local = workdir("local")
    res = subprocess.run(snakemake_cmd("--cores", "2"), cwd=local, capture_output=True, text=True)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    a, b = outputs(d / "results"), outputs(local / "results")
    assert sorted(a) == sorted(b), f"different files: {sorted(set(a) ^ set(b))[:10]}"
    differ = [k for k in a if without_timings(a[k]) != without_timings(b[k])]
    assert not differ, f"SLURM and local runs differ in {differ}"
    log(f"SLURM and local runs wrote the same {len(a)} files (byte for byte but for wall-clock 'seconds' fields)")
    log(f"all SLURM checks passed in {time.time() - t0:.0f} s")
    for w in WORKDIRS:  # about 1 GB each: a CI disk must not fill up with passed runs
        shutil.rmtree(w, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
