import os
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def _stand_in_local_data(config, root):
    """Empty stand-ins, under root, for the local files a paper config names (the README says where the real
    ones come from): the config check needs them to exist; a dry run or a config check never reads them."""
    if config is None:
        return
    cfg = yaml.safe_load(Path(config).read_text())
    for ds in cfg["datasets"].values():
        if ds.get("source") == "tsv":
            d = Path(root) / ds["tsv"]["path"]
            d.mkdir(parents=True, exist_ok=True)
            for split in ("train", "dev", "test"):
                (d / f"{split}.tsv").touch()
        hk = (ds.get("attack_params") or {}).get("hiddenkiller", {}).get("path")
        if hk:
            (Path(root) / hk).mkdir(parents=True, exist_ok=True)
            for split in ("train", "dev", "test"):
                (Path(root) / hk / f"{split}.tsv").touch()


@pytest.fixture
def stand_in_local_data():
    return _stand_in_local_data


@pytest.fixture
def registries():
    """The method and model-kind registries as they are, restored after the test (a plugin registers into the
    process's registries), with the plugin modules forgotten so that the next test imports them afresh."""
    from bdunlearn import methods, models

    saved = [(r, dict(r)) for r in (methods.REGISTRY, models.REGISTRY)]
    modules = set(sys.modules)
    yield
    for registry, entries in saved:
        registry.clear()
        registry.update(entries)
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def pytest_collection_modifyitems(config, items):
    """The micro study's tests (tests/test_micro_study.py, fixture ``micro_run``) go first: under pytest-xdist's
    ``--dist loadfile`` (``make test``) their file is the first a worker takes, and it runs the study once while the
    other files go to the other worker."""
    micro = [item for item in items if "micro_run" in getattr(item, "fixturenames", ())]
    items[:] = micro + [item for item in items if item not in micro]
