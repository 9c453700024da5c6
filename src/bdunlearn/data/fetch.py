"""Pinned, checksummed downloads of the data files paper configs need and the dataset hubs do not serve.

``fetch_sources.yaml`` lists bundles: a destination directory (as a config
names it, e.g. ``data/rga/sst2/clean``) and its files, each a path in a source
repository at a pinned commit with its SHA-256 and size. When a config's
``tsv.path`` or ``attack_params.hiddenkiller.path`` is such a destination,
rule ``fetch_data`` downloads the files (``<fetch.base_url>/<repo>/<commit>/<path>``;
GitHub's raw host by default, a ``file://`` mirror offline) and the config
check does not require them to exist yet. Torch-free: the Snakefile imports it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import yaml

SOURCES = Path(__file__).with_name("fetch_sources.yaml")
DEFAULT_BASE_URL = "https://raw.githubusercontent.com"


def _norm(path) -> str:
    return os.path.normpath(str(path))


@functools.cache
def manifest() -> dict[str, dict]:
    """``{dest file: {"url_path", "sha256", "bytes", "bundle"}}`` for every file of every bundle (read once)."""
    out = {}
    for name, b in yaml.safe_load(SOURCES.read_text()).items():
        for file, f in b["files"].items():
            out[_norm(Path(b["dest"]) / file)] = {"url_path": f"{b['repo']}/{b['commit']}/{f['path']}",
                                                  "sha256": f["sha256"], "bytes": int(f["bytes"]), "bundle": name}
    return out


@functools.cache
def fetched_dirs() -> frozenset[str]:
    return frozenset(_norm(Path(p).parent) for p in manifest())


def provides(directory) -> bool:
    """The directory is a fetch destination (its files come from ``fetch_data``)."""
    return _norm(Path(directory).expanduser()) in fetched_dirs()


def files_in(directory, names) -> list[str]:
    """The fetched files ``names`` of a destination directory, as the paths the rule's outputs use."""
    return [_norm(Path(directory).expanduser() / n) for n in names]


def url(dest: str, base_url: str = DEFAULT_BASE_URL) -> str:
    return f"{base_url.rstrip('/')}/{manifest()[_norm(dest)]['url_path']}"


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(src_url: str, out, expected_sha256: str, expected_bytes: int | None = None, timeout: float = 120) -> None:
    """``src_url`` to ``out``, atomically: written to a temporary file beside it, checked, then renamed. A
    checksum or size mismatch raises with both values and leaves nothing at ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(src_url, timeout=timeout) as r:
            while block := r.read(1 << 20):
                f.write(block)
        size, digest = os.path.getsize(tmp), sha256(tmp)
        if digest != expected_sha256 or (expected_bytes is not None and size != expected_bytes):
            raise ValueError(f"{src_url}: checksum mismatch: expected sha256 {expected_sha256} ({expected_bytes} bytes), "
                             f"got {digest} ({size} bytes); the file was not kept")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
