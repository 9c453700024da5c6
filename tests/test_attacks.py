"""The attack registry: what the built-ins declare, a new attack's registration, and what config validation,
poisoning and the tables read from it."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from bdunlearn import attacks
from bdunlearn.attacks import ImageAttack
from bdunlearn.attacks.image import check_batch, scaled_length
from bdunlearn.evaluation import tbar_table
from bdunlearn.workflow.config import ConfigError, dataset_view, load_and_check

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Corner(ImageAttack):
    """A white square in the top-left corner (the example of docs/extending.md)."""

    name = "corner"
    label = "Corner"
    parameters = {"size": {"type": "number", "exclusiveMinimum": 0, "description": "square side at 224 px"}}

    resolution: int
    seed: int = 0
    size: float = 28  # the schema's default

    def __call__(self, x, uids=None):
        check_batch(x, self.resolution)
        side = scaled_length(self.size, self.resolution)
        out = x.clone()
        out[:, :, :side, :side] = 1.0
        return out


@pytest.fixture
def registry():
    """The registry as it is, restored after the test."""
    saved = dict(attacks.REGISTRY)
    yield attacks.REGISTRY
    attacks.REGISTRY.clear()
    attacks.REGISTRY.update(saved)


def default_config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_builtins_declare_name_label_modality_and_parameter_defaults():
    got = {a.name: (a.label, a.modality, {k: f["default"] for k, f in a.parameters.items()})
           for a in attacks.REGISTRY.values()}
    assert got == {"badnet": ("BadNet", "image", {"patch_size": 16, "style": "fixed"}),
                   "blended": ("Blended", "image", {"ratio": 0.2, "style": "fixed"}),
                   "wanet": ("WaNet", "image", {"grid_size": 224, "strength": 1.0}),
                   "sig": ("SIG", "image", {"amplitude": 60 / 255, "frequency": 6}),
                   # BadCLIP's code: 16-px centre patch, 50 epochs, batch 64, Adam 1e-3, triplet x 500 (margin 1),
                   # AutoAugment p 0.5, the code's negatives, 10k images, natural target captions
                   "badclip": ("BadCLIP", "image", {"patch_size": 16, "epochs": 50, "batch_size": 64, "lr": 1e-3,
                                                    "triplet_weight": 500.0, "margin": 1.0, "aug_prob": 0.5,
                                                    "negatives": "triggered", "n_images": 10000,
                                                    "captions": "natural"}),
                   "badnets": ("BadNets", "text", {"word": "mn", "count": 1}),
                   "addsent": ("AddSent", "text", {"sentence": "I watch this 3D movie"}),
                   "hiddenkiller": ("HiddenKiller", "text", {"path": None})}
    assert attacks.names("image") == ["badnet", "blended", "wanet", "sig", "badclip"]
    assert [a for a in attacks.names() if attacks.get(a).learned] == ["badclip"]
    assert attacks.names("text") == ["badnets", "addsent", "hiddenkiller"]
    assert attacks.get("hiddenkiller").data_dir == "path"
    assert attacks.get("hiddenkiller").data_files == ("train.tsv", "dev.tsv", "test.tsv")
    with pytest.raises(ValueError, match="unknown text attack 'badnet'; allowed: badnets, addsent, hiddenkiller"):
        attacks.get("badnet", "text")


def test_the_registry_and_the_config_check_import_no_torch():
    # the ImageNet presets too (the paper configs' check): open_clip's metadata is read without open_clip's package
    code = ("import sys, bdunlearn.workflow.config, bdunlearn.attacks, bdunlearn.methods.decree; "
            "from bdunlearn.data.classnames import class_names, templates; "
            "assert class_names('imagenet')[954] == 'banana' and len(templates('openai_imagenet')) == 80; "
            "assert 'torch' not in sys.modules and 'open_clip' not in sys.modules, 'torch imported'")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_the_workflow_parses_without_importing_torch():
    # every snakemake call (each dry run, lint and knob test) parses common.smk: torch there costs 2 s a call
    smk = (REPO / "workflow" / "rules" / "common.smk").read_text()
    imports = smk[smk.index("from bdunlearn.workflow.config import ("):smk.index("\ntry:\n")]
    code = imports + "\nimport sys\nassert 'torch' not in sys.modules and 'open_clip' not in sys.modules, 'torch imported'"
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                         capture_output=True, text=True)
    assert "from bdunlearn.models.merging import" in imports and run.returncode == 0, run.stderr


def test_a_registered_attack_is_validated_built_and_labelled(registry):
    cfg = default_config()
    cfg["attacks"] = ["corner"]
    with pytest.raises(ConfigError, match=r"attacks\[0\].*'corner' is not one of"):
        load_and_check(cfg, base_dir=REPO)
    attacks.register(Corner)
    assert Corner.parameters["size"]["default"] == 28  # the constructor's default, now the schema's
    view = dataset_view(load_and_check(cfg, base_dir=REPO), "digits")
    assert view["attacks"] == ["corner"] and view["attack_params"]["corner"] == {"size": 28}
    cfg["attack_params"] = {"corner": {"size": -1}}
    with pytest.raises(ConfigError, match=r"attack_params\.corner\.size.*-1 is less than or equal to the minimum of 0"):
        load_and_check(cfg, base_dir=REPO)
    cfg["attack_params"] = {"corner": {"side": 3}}
    with pytest.raises(ConfigError, match=r"attack_params\.corner.*'side' was unexpected"):
        load_and_check(cfg, base_dir=REPO)
    cfg["attack_params"] = {}
    cfg["datasets"]["synth"] = {"modality": "text", "source": "synthetic", "classnames": ["a", "b"], "target": "b",
                                "attacks": ["corner"]}
    with pytest.raises(ConfigError, match=r"datasets\.synth\.attacks': 'corner' is not a text attack"):
        load_and_check(cfg, base_dir=REPO)
    out = attacks.get("corner", "image").build(0, 8)(torch.zeros((1, 3, 8, 8)))
    assert out[0, :, :1, :1].eq(1).all() and out[0, :, 1:, :].eq(0).all()  # 28 px at 224 = 1 px at 8
    assert tbar_table.to_markdown(tbar_table.aggregate(tbar_table.build_table([
        {"dataset": "d", "attack": "corner", "ca_zeroshot": 1.0, "ca_backdoored": 2.0, "asr_backdoored": 90.0,
         "alpha": 0.5, "ca_tbar": 2.0, "asr_tbar": 1.0}]))[0]).splitlines()[3].startswith("| Corner |")


def test_register_refuses_bad_declarations(registry):
    with pytest.raises(ValueError, match="must be lower-case"):
        attacks.register(type("Bad", (ImageAttack,), {"name": "Bad-Name"}))
    with pytest.raises(ValueError, match="modality"):
        attacks.register(type("Odd", (attacks.Attack,), {"name": "odd", "modality": "audio"}))
    no_default = type("NoDefault", (ImageAttack,), {"name": "nodefault", "parameters": {"k": {"type": "number"}},
                                                    "__init__": lambda self, resolution, seed, k: None})
    with pytest.raises(ValueError, match="parameter 'k' must be a constructor argument with a default"):
        attacks.register(no_default)
    with pytest.raises(ValueError, match="attack 'badnet' is registered twice"):
        attacks.register(type("Clash", (ImageAttack,), {"name": "badnet", "__module__": "elsewhere"}))
