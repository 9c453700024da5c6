import copy
from pathlib import Path

import pytest
import yaml

from bdunlearn.config import ConfigError, dataset_view, load_and_check, load_file

REPO = Path(__file__).resolve().parents[1]


def default_config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def check(cfg, base_dir=REPO):
    return load_and_check(cfg, base_dir=base_dir)


def test_default_config_is_valid_and_defaults_are_filled():
    cfg = check(default_config())
    assert cfg["seed"] == 0
    assert cfg["attack_params"]["badnet"]["patch_size"] == 16
    assert cfg["attack_params"]["sig"]["frequency"] == 6
    assert cfg["datasets"]["digits"]["splits"]["val"] == 200
    assert cfg["alpha_search"]["rule"] == "max_ca_under_asr"


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_paper_configs_are_valid(path):
    load_file(path)


def test_unknown_attack_names_key_and_allowed_values():
    cfg = default_config()
    cfg["attacks"] = ["badnet", "trojannn"]
    with pytest.raises(ConfigError) as e:
        check(cfg)
    msg = str(e.value)
    assert "attacks[1]" in msg and "trojannn" in msg and "badnet" in msg and "wanet" in msg


@pytest.mark.parametrize("rate", [0, 1, 1.5, -0.1])
def test_poison_rate_outside_open_unit_interval(rate):
    cfg = default_config()
    cfg["datasets"]["digits"]["poison_rate"] = rate
    with pytest.raises(ConfigError, match=r"datasets\.digits\.poison_rate"):
        check(cfg)


def test_target_that_is_not_a_class():
    cfg = default_config()
    cfg["datasets"]["digits"]["target"] = "banana"
    with pytest.raises(ConfigError, match=r"datasets\.digits\.target.*'banana' is not a class; allowed: zero, one"):
        check(cfg)
    cfg["datasets"]["digits"]["target"] = 10
    with pytest.raises(ConfigError, match=r"out of range.*10 classes"):
        check(cfg)
    cfg["datasets"]["digits"]["target"] = 3
    check(cfg)


def test_missing_dataset_path(tmp_path):
    cfg = default_config()
    cfg["datasets"]["local"] = {"source": "hf", "hf": {"path": "./no/such/dir"}, "classnames": "cifar10", "target": "cat"}
    with pytest.raises(ConfigError, match=r"datasets\.local\.hf\.path.*does not exist"):
        check(cfg, base_dir=tmp_path)
    (tmp_path / "no" / "such" / "dir").mkdir(parents=True)
    check(cfg, base_dir=tmp_path)


def test_hf_source_needs_hf_block_and_unknown_keys_rejected():
    cfg = default_config()
    cfg["datasets"]["x"] = {"source": "hf", "classnames": "cifar10", "target": 0}
    with pytest.raises(ConfigError, match=r"datasets\.x\.hf.*required"):
        check(cfg)
    cfg = default_config()
    cfg["finetune"]["learning_rate"] = 1e-3
    with pytest.raises(ConfigError, match=r"finetune.*learning_rate"):
        check(cfg)


def test_digits_split_sizes_must_fit_the_pool():
    cfg = default_config()
    cfg["datasets"]["digits"]["splits"] = {"train": 1500, "val": 200, "test": 400, "forget": 200}
    with pytest.raises(ConfigError, match="exceeds the 1797"):
        check(cfg)


def test_pretrain_dataset_must_exist_and_dataset_view_merges_overrides():
    cfg = default_config()
    cfg["pretrain"]["dataset"] = "cifar"
    with pytest.raises(ConfigError, match=r"pretrain\.dataset"):
        check(cfg)
    cfg = default_config()
    cfg["datasets"]["digits"]["finetune"] = {"epochs": 3}
    cfg["trigger_vector"] = {"lr": 1e-6}
    view = dataset_view(check(copy.deepcopy(cfg)), "digits")
    assert view["finetune"]["epochs"] == 3
    assert view["finetune"]["lr"] == cfg["finetune"]["lr"]
    assert view["trigger_vector"]["epochs"] == 3 and view["trigger_vector"]["lr"] == 1e-6
