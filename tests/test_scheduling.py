"""Workstation scheduling on the real DAG: GPU jobs under `--resources gpu=1` never overlap, and a
run whose job is killed resumes without redoing finished outputs. GPUs are faked with
BDUNLEARN_GPU_IDS (the jobs see CUDA_VISIBLE_DEVICES=<id>, find no CUDA device and run on the CPU)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from dag import job_stats

from bdunlearn.workflow.gpu_lease import read_lease_log

REPO = Path(__file__).resolve().parents[1]
MICRO = Path(__file__).with_name("micro_config.yaml")
RES = "results/micro/seed0"
FINETUNES = [f"{RES}/models/synth/{a}/backdoored.safetensors" for a in ("badnets", "addsent")]
EVALS = [f"{RES}/unlearn/synth/{a}/backdoored/metrics.json" for a in ("badnets", "addsent")]


def _cmd(*targets, resources=("--resources", "gpu=1")):
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", "micro.yaml",
            "--cores", "2", *resources, "--", *targets]


def _env(tmp_path, gpus="0,1"):
    return dict(os.environ, BDUNLEARN_GPU_IDS=gpus, BDUNLEARN_GPU_LOCK_DIR=str(tmp_path / "gpu-locks"))


def _run(tmp_path, *targets, check=True):
    proc = subprocess.run(_cmd(*targets), cwd=tmp_path, capture_output=True, text=True, env=_env(tmp_path))
    if check:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc


def _outputs(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and "/logs/" not in str(p)}


def _child_of(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def test_gpu_jobs_never_overlap_and_a_killed_job_resumes(tmp_path):
    cfg = yaml.safe_load(MICRO.read_text())
    cfg["datasets"]["synth"]["attacks"] = ["badnets", "addsent"]  # two fine-tunings that become ready together
    (tmp_path / "micro.yaml").write_text(yaml.safe_dump(cfg))
    # two GPU-tagged fine-tunings become ready together (two cores, two fake devices, --resources gpu=1)
    _run(tmp_path, *FINETUNES)
    leases = [read_lease_log(tmp_path / f"{RES}/logs/finetune_backdoor/synth_{a}.log") for a in ("badnets", "addsent")]
    for lease in leases:
        assert lease["start"] is not None and lease["end"] is not None, lease
        assert lease["device"] in ("0", "1")
    first, second = sorted(leases, key=lambda x: x["start"])
    assert first["end"] <= second["start"], f"GPU jobs overlapped: {leases}"

    # kill the module of one GPU job while it runs (as an OOM killer would); the run fails. This run gives no
    # --resources: the workstation profile caps GPU jobs at the one visible (fake) device
    logs = [tmp_path / f"{RES}/logs/evaluate_backdoored/synth_{a}.log" for a in ("badnets", "addsent")]
    proc = subprocess.Popen(_cmd(*EVALS, resources=()), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(tmp_path, gpus="0"))
    killed, deadline = None, time.time() + 300
    while killed is None and proc.poll() is None and time.time() < deadline:
        for log in logs:
            text = log.read_text() if log.exists() else ""
            if "gpu_lease start=" in text and "gpu_lease end=" not in text:
                wrapper = int(text.split(" pid=")[1].split()[0])
                child = _child_of(wrapper)
                if child:
                    os.kill(child, signal.SIGKILL)
                    killed = log
                    break
        time.sleep(0.05)
    out = proc.communicate(timeout=300)[0]
    assert killed is not None, "no GPU job was caught running\n" + out[-3000:]
    assert proc.returncode != 0, out[-3000:]
    assert "rc=-9" in killed.read_text() or "rc=137" in killed.read_text()
    assert 'Provided resources: gpu=Resource("gpu", 1)' in out or "Provided resources: gpu=1" in out, out[:2000]

    # the rerun finishes the study and leaves every finished output as it was
    before = _outputs(tmp_path / "results")
    rerun = _run(tmp_path, *EVALS)
    after = _outputs(tmp_path / "results")
    assert all(after[p] == m for p, m in before.items()), [str(p) for p, m in before.items() if after[p] != m]
    assert all((tmp_path / e).exists() for e in EVALS)
    assert set(job_stats(rerun.stdout + rerun.stderr)) == {"evaluate_backdoored"}
