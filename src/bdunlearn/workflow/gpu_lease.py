"""GPU leases: every GPU-tagged job of a workstation run holds one device of its own.

Role in the DAG: GPU rules (``resources: gpu=1``) run their module through
``bdu_gpu <module> ...`` (shell prefix in ``workflow/rules/common.smk``), i.e.
``python -m bdunlearn.workflow.gpu_lease <module> ...``. Snakemake counts the ``gpu``
resource but never says *which* device a job may use, so two GPU jobs started
side by side would both land on ``cuda:0``. This wrapper

1. lists the visible devices: ``BDUNLEARN_GPU_IDS`` if set (to reserve devices,
   or to fake them in tests), else ``CUDA_VISIBLE_DEVICES`` if set, else the
   indices ``nvidia-smi -L`` prints, else none;
2. takes an exclusive ``flock`` on one device's lock file
   (``$BDUNLEARN_GPU_LOCK_DIR``, default ``/tmp/bdunlearn-gpu-locks-<uid>``,
   shared by every run of this user on the machine), waiting while all are held;
3. runs ``python -m bdunlearn.<module>`` with ``CUDA_VISIBLE_DEVICES`` set to
   that device alone, and frees the device when the job ends. The lock belongs
   to this process, so a job that is killed frees its device too.

With no visible device the module runs on the CPU (``device: auto``), unlocked.
``--gpus N`` (rule ``unlearn_lm`` with ``llm_unlearn.gpus: N``) leases N devices at once, all or none, and
starts the module under torchrun with one process per device (without GPUs: N CPU processes).
Inside a SLURM job (``SLURM_JOB_ID`` set) SLURM has already bound the job's
GPUs through cgroups and ``CUDA_VISIBLE_DEVICES``: no lease is taken.

Each job's log gets one ``gpu_lease start=... device=...`` line and one
``gpu_lease end=... device=... rc=...`` line (ISO times with microseconds), so
a run's GPU occupancy can be read back from its logs (``read_lease_log``).
:func:`gpu_limit` gives the Snakefile the number of GPU jobs to allow at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

POLL_SECONDS = 0.5


def visible_gpus(env: dict | None = None) -> list[str]:
    """Device ids a workstation job may use (see the module docstring for the order of sources)."""
    env = os.environ if env is None else env
    for key in ("BDUNLEARN_GPU_IDS", "CUDA_VISIBLE_DEVICES"):
        if key in env:
            return [d.strip() for d in env[key].split(",") if d.strip() and d.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [m.group(1) for m in re.finditer(r"^GPU (\d+):", out, flags=re.M)]


def gpu_limit(env: dict | None = None) -> int | None:
    """How many GPU jobs may run at once on this machine: one per visible device, None (no limit) without any."""
    n = len(visible_gpus(env))
    return n or None


def lock_dir(env: dict | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("BDUNLEARN_GPU_LOCK_DIR") or f"/tmp/bdunlearn-gpu-locks-{os.getuid()}")


def _stamp() -> str:
    return datetime.now().astimezone().isoformat(timespec="microseconds")


def _log(msg: str) -> None:
    print(f"gpu_lease {msg}", file=sys.stderr, flush=True)


def acquire(devices: list[str], directory: Path) -> tuple[str, int]:
    """Block until one device's lock is free; return (device id, locked fd)."""
    ids, fds = acquire_many(devices, 1, directory)
    return ids[0], fds[0]


def acquire_many(devices: list[str], n: int, directory: Path) -> tuple[list[str], list[int]]:
    """Block until ``n`` devices' locks are free together; return their ids and locked fds. All or nothing: a
    job never sits on some devices while it waits for more, so two multi-device jobs cannot deadlock."""
    directory.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        got: list[tuple[str, int]] = []
        for dev in devices:
            fd = os.open(directory / f"gpu{dev}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            got.append((dev, fd))
            if len(got) == n:
                for _, f in got:
                    os.ftruncate(f, 0)
                    os.write(f, f"{os.getpid()}\n".encode())
                return [d for d, _ in got], [f for _, f in got]
        for _, f in got:
            os.close(f)  # fewer than n free: let them go, try again
        if not waited:
            _log(f"waiting: all of devices {','.join(devices)} are leased (locks in {directory})")
            waited = True
        time.sleep(POLL_SECONDS)


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the wrapper dies, so a killed job leaves no orphan holding a GPU."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def command(module: str, args: list[str], gpus: int = 1) -> list[str]:
    """``python -m bdunlearn.<module> args``, or with ``gpus`` > 1 the same under torchrun, one process per device
    (``bdunlearn.models.sharding``; on a machine without GPUs, that many CPU processes)."""
    if gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
                "-m", f"bdunlearn.{module}", *args]
    return [sys.executable, "-m", f"bdunlearn.{module}", *args]


def run_module(module: str, args: list[str], env: dict | None = None, gpus: int = 1) -> int:
    """Run ``python -m bdunlearn.<module> args`` under a lease of ``gpus`` devices; return its exit code."""
    env = dict(os.environ if env is None else env)
    fds: list[int] = []
    if env.get("SLURM_JOB_ID"):
        device = f"slurm:{env.get('CUDA_VISIBLE_DEVICES', '')}"
    else:
        devices = visible_gpus(env)
        if devices and gpus > len(devices):
            _log(f"error: {module} asks for {gpus} GPUs (llm_unlearn.gpus); this machine shows {len(devices)} "
                 f"({','.join(devices)})")
            return 2
        if devices:
            ids, fds = acquire_many(devices, gpus, lock_dir(env))
            device = env["CUDA_VISIBLE_DEVICES"] = ",".join(ids)
        else:
            device = "cpu" if gpus == 1 else f"cpu:{gpus}"
    _log(f"start={_stamp()} device={device} module={module} pid={os.getpid()}")
    child = subprocess.Popen(command(module, args, gpus), env=env, preexec_fn=_die_with_parent)

    def forward(signum, _frame):
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    rc = child.wait()
    _log(f"end={_stamp()} device={device} module={module} rc={rc}")
    for fd in fds:
        os.close(fd)  # frees the devices (the kernel would on exit anyway)
    return rc if rc >= 0 else 128 - rc


_LINE = re.compile(r"^gpu_lease (start|end)=(\S+) device=(\S+)")


def read_lease_log(path: str | Path) -> dict:
    """The lease interval of one job's log: {'start', 'end' (datetimes or None), 'device'}."""
    out = {"start": None, "end": None, "device": None}
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if m:
            out[m.group(1)] = datetime.fromisoformat(m.group(2))
            out["device"] = m.group(3)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    gpus = 1
    if len(argv) >= 2 and argv[0] == "--gpus" and argv[1].isdigit() and int(argv[1]) >= 1:
        gpus, argv = int(argv[1]), argv[2:]
    if not argv or argv[0].startswith("-"):
        print("usage: python -m bdunlearn.workflow.gpu_lease [--gpus N] MODULE [ARGS...]  (runs bdunlearn.MODULE on "
              "N leased GPUs, default one; N > 1 under torchrun, one process per GPU)", file=sys.stderr)
        return 2
    return run_module(argv[0], argv[1:], gpus=gpus)


if __name__ == "__main__":
    sys.exit(main())
