"""GPU leases (bdunlearn.workflow.gpu_lease) and profile checks (bdunlearn.workflow.profile_checks)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest
from dag import gpu_rules

from bdunlearn.workflow.gpu_lease import gpu_limit, read_lease_log, visible_gpus
from bdunlearn.workflow.profile_checks import ProfileError, check_profile, parse_scontrol_oneliner, slurm_problems


def test_visible_gpus_reads_the_override_then_cuda_visible_devices():
    assert visible_gpus({"BDUNLEARN_GPU_IDS": "2,3", "CUDA_VISIBLE_DEVICES": "0"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "1, 0"}) == ["1", "0"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert gpu_limit({"BDUNLEARN_GPU_IDS": "0,1,2"}) == 3
    assert gpu_limit({"CUDA_VISIBLE_DEVICES": ""}) is None  # no GPU: no cap, GPU rules run on the CPU


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from datetime import datetime
    from bdunlearn.workflow.gpu_lease import acquire
    dev, fd = acquire(sys.argv[1].split(","), Path(sys.argv[2]))
    start = datetime.now().isoformat()
    time.sleep(float(sys.argv[3]))
    print(dev, start, datetime.now().isoformat(), flush=True)
""")


def _hold(devices, lock_dir, seconds):
    return subprocess.Popen([sys.executable, "-c", HOLDER, devices, str(lock_dir), str(seconds)],
                            stdout=subprocess.PIPE, text=True)


def _interval(proc):
    dev, start, end = proc.communicate(timeout=60)[0].split()
    return dev, datetime.fromisoformat(start), datetime.fromisoformat(end)


def test_one_device_is_held_by_one_job_at_a_time(tmp_path):
    a, b = _hold("0", tmp_path, 1.0), _hold("0", tmp_path, 1.0)
    (da, sa, ea), (db, sb, eb) = _interval(a), _interval(b)
    assert da == db == "0"
    assert ea <= sb or eb <= sa, "two jobs held device 0 at once"


def test_two_devices_serve_two_jobs_at_once_on_different_devices(tmp_path):
    a, b = _hold("0,1", tmp_path, 1.0), _hold("0,1", tmp_path, 1.0)
    (da, sa, ea), (db, sb, eb) = _interval(a), _interval(b)
    assert {da, db} == {"0", "1"}
    assert sa < eb and sb < ea  # they did run side by side


def test_a_killed_job_frees_its_device(tmp_path):
    victim = _hold("0", tmp_path, 60)
    time.sleep(1.0)  # let it take the lock
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    t0 = time.time()
    dev, _, _ = _interval(_hold("0", tmp_path, 0.1))
    assert dev == "0" and time.time() - t0 < 10


def _fake_children(monkeypatch) -> dict:
    """Replace the wrapper's child process by a stub that exits 0; returns the dict its command and env land in."""
    from bdunlearn.workflow import gpu_lease

    seen = {}

    class FakeChild:
        def __init__(self, cmd, env, preexec_fn):
            seen.update(cmd=cmd, env=env)

        def wait(self):
            return 0

        def send_signal(self, sig):
            pass

    monkeypatch.setattr(gpu_lease.subprocess, "Popen", FakeChild)
    return seen


def test_wrapper_binds_the_module_to_the_leased_device_and_logs_it(tmp_path, monkeypatch, capsys):
    from bdunlearn.workflow import gpu_lease

    seen = _fake_children(monkeypatch)
    env = {"BDUNLEARN_GPU_IDS": "7", "BDUNLEARN_GPU_LOCK_DIR": str(tmp_path / "locks"), "PATH": "/usr/bin"}
    assert gpu_lease.run_module("finetune_backdoor", ["--x", "1"], env=env) == 0
    assert seen["cmd"][1:] == ["-m", "bdunlearn.finetune_backdoor", "--x", "1"]
    assert seen["env"]["CUDA_VISIBLE_DEVICES"] == "7"
    log = tmp_path / "job.log"
    log.write_text(capsys.readouterr().err)
    lease = read_lease_log(log)
    assert lease["device"] == "7" and lease["start"] <= lease["end"]
    # inside a SLURM job, SLURM has bound the GPUs: no lease, CUDA_VISIBLE_DEVICES left as SLURM set it
    assert gpu_lease.run_module("unlearn", [], env={**env, "SLURM_JOB_ID": "5", "CUDA_VISIBLE_DEVICES": "0"}) == 0
    assert seen["env"]["CUDA_VISIBLE_DEVICES"] == "0" and "device=slurm:0" in capsys.readouterr().err
    # the real wrapper passes the module's exit code on (a step without its arguments: argparse's 2)
    monkeypatch.undo()
    res = subprocess.run([sys.executable, "-m", "bdunlearn.workflow.gpu_lease", "fetch_data"], capture_output=True,
                         text=True, env={**os.environ, **env})
    assert res.returncode == 2 and "rc=2" in res.stderr and "--out" in res.stderr


def test_profile_check_names_unknown_rules_and_passes_known_ones():
    rules = ["finetune_backdoor", "unlearn"]
    check_profile(rules, {"set-resources": {"unlearn": {"mem_mb": 1}}, "set-threads": {}}, {})
    with pytest.raises(ProfileError, match="set-resources names rule 'finetune_backdor'.*\n.*rules: finetune_backdoor"):
        check_profile(rules, {"set-resources": {"finetune_backdor": {"mem_mb": 1}}}, {})
    with pytest.raises(ProfileError, match="set-threads names rule 'unlern'"):
        check_profile(rules, {"set-threads": {"unlern": {}}}, {})


SCONTROL = (
    "PartitionName=main AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL Default=YES Nodes=localhost State=UP\n"
    "PartitionName=acct AllowGroups=ALL AllowAccounts=bdu,lab Default=NO Nodes=localhost State=UP\n"
)


def test_slurm_partition_and_account_problems_are_named():
    parts = parse_scontrol_oneliner(SCONTROL)
    assert parts["acct"]["AllowAccounts"] == "bdu,lab"
    assert slurm_problems({"*": ("main", ""), "unlearn": ("acct", "lab")}, parts) == []
    (msg,) = slurm_problems({"*": ("acct", ""), "unlearn": ("acct", "")}, parts)
    assert "partition 'acct' (default-resources; set-resources of unlearn) admits only the accounts bdu, lab" in msg
    assert "BDUNLEARN_SLURM_ACCOUNT" in msg
    (msg,) = slurm_problems({"*": ("acct", "other")}, parts)
    assert "slurm_account 'other'" in msg
    (msg,) = slurm_problems({"*": ("gpu", "")}, parts)
    assert "slurm_partition 'gpu' (default-resources) does not exist on this cluster; partitions: acct, main" in msg
    # the SLURM checks run only when the profile names a SLURM partition or account
    check_profile([], {}, {"mem_mb": 1}, partitions_of=lambda: pytest.fail("asked scontrol without SLURM keys"))
    with pytest.raises(ProfileError, match="admits only"):
        check_profile([], {}, {"slurm_partition": "acct"}, partitions_of=lambda: parts)
    check_profile([], {}, {"slurm_partition": "acct"}, partitions_of=lambda: None)  # no scontrol here: no check


PROFILES = Path(__file__).resolve().parents[1] / "workflow" / "profiles"


def _profile(name, monkeypatch, **env):
    import yte

    for k in ("BDUNLEARN_GPU_IDS", "CUDA_VISIBLE_DEVICES", "BDUNLEARN_SLURM_PARTITION", "BDUNLEARN_SLURM_GPU_PARTITION",
              "BDUNLEARN_SLURM_ACCOUNT", "BDUNLEARN_SLURM_GPU_MODEL"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with open(PROFILES / name / "config.yaml") as f:
        return yte.process_yaml(f, require_use_yte=True)


def test_workstation_profile_caps_gpu_jobs_at_the_visible_devices(monkeypatch):
    assert _profile("default", monkeypatch, BDUNLEARN_GPU_IDS="0,3,5")["resources"] == {"gpu": 3}
    assert _profile("default", monkeypatch, CUDA_VISIBLE_DEVICES="1")["resources"] == {"gpu": 1}
    assert "resources" not in _profile("default", monkeypatch, CUDA_VISIBLE_DEVICES="")  # no GPU: no cap


def test_slurm_profile_puts_exactly_the_gpu_rules_on_gpu_partitions(monkeypatch):
    prof = _profile("slurm", monkeypatch, BDUNLEARN_SLURM_PARTITION="cpu", BDUNLEARN_SLURM_GPU_PARTITION="gpu",
                    BDUNLEARN_SLURM_GPU_MODEL="a100", BDUNLEARN_SLURM_ACCOUNT="lab")
    assert prof["executor"] == "slurm"
    assert prof["default-resources"]["slurm_partition"] == "cpu" and prof["default-resources"]["slurm_account"] == "lab"
    assert set(prof["set-resources"]) == gpu_rules()
    assert all(r == {"slurm_partition": "gpu", "gpu_model": "a100"} for r in prof["set-resources"].values())
    # without a GPU partition, GPU jobs go where CPU jobs go
    prof = _profile("slurm", monkeypatch, BDUNLEARN_SLURM_PARTITION="main")
    assert {r["slurm_partition"] for r in prof["set-resources"].values()} == {"main"}


def test_a_multi_device_job_leases_its_devices_together_and_runs_under_torchrun(tmp_path, monkeypatch, capsys):
    import fcntl

    from bdunlearn.workflow import gpu_lease

    seen = _fake_children(monkeypatch)
    locks = tmp_path / "locks"
    locks.mkdir()
    env = {"BDUNLEARN_GPU_IDS": "3,5,7", "BDUNLEARN_GPU_LOCK_DIR": str(locks), "PATH": "/usr/bin"}
    held = os.open(locks / "gpu3.lock", os.O_RDWR | os.O_CREAT)  # another job holds device 3
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert gpu_lease.run_module("unlearn_lm", ["--x", "1"], env=env, gpus=2) == 0
    assert seen["env"]["CUDA_VISIBLE_DEVICES"] == "5,7"
    assert seen["cmd"][1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                               "-m", "bdunlearn.unlearn_lm", "--x", "1"]
    assert "device=5,7" in capsys.readouterr().err
    # both devices were freed at the end: a second two-device job gets them again
    assert gpu_lease.run_module("unlearn_lm", [], env=env, gpus=2) == 0 and seen["env"]["CUDA_VISIBLE_DEVICES"] == "5,7"
    os.close(held)
    # more devices than the machine shows: refused with both counts, before anything runs
    seen.clear()
    assert gpu_lease.run_module("unlearn_lm", [], env=env, gpus=4) == 2 and not seen
    assert "asks for 4 GPUs" in capsys.readouterr().err
