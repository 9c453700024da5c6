import copy
from pathlib import Path

import pytest
import yaml

from bdunlearn.workflow.config import ConfigError, dataset_view, load_and_check, load_file

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
def test_paper_configs_are_valid(path, tmp_path, stand_in_local_data):
    copy = tmp_path / path.name
    copy.write_text(path.read_text())
    stand_in_local_data(path, tmp_path)
    cfg = load_file(copy)
    assert cfg["expected_gpu_hours"] > 0


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
    check(copy.deepcopy(cfg))  # the default pretrains on glyphs: pretrain.dataset is not read
    cfg["pretrain"]["source"] = "dataset"
    with pytest.raises(ConfigError, match=r"pretrain\.dataset"):
        check(cfg)
    cfg = default_config()
    cfg["datasets"]["digits"]["finetune"] = {"epochs": 3}
    cfg["trigger_vector"] = {"lr": 1e-6}
    view = dataset_view(check(copy.deepcopy(cfg)), "digits")
    assert view["finetune"]["epochs"] == 3
    assert view["finetune"]["lr"] == cfg["finetune"]["lr"]
    assert view["trigger_vector"]["epochs"] == 3 and view["trigger_vector"]["lr"] == 1e-6


def text_dataset(**kw):
    return {"modality": "text", "source": "synthetic", "classnames": ["negative", "positive"], "target": "positive",
            "attacks": ["badnets", "addsent"], **kw}


def test_text_dataset_defaults_and_views():
    cfg = default_config()
    cfg.pop("unlearn")
    cfg["datasets"]["synth"] = text_dataset()
    cfg = check(cfg)
    view = dataset_view(cfg, "synth")
    assert view["finetune"]["optimizer"] == "adamw" and view["finetune"]["lr"] == 2e-5 and view["finetune"]["batch_size"] == 32
    assert view["attack_params"]["badnets"]["word"] == "mn"
    assert view["attack_params"]["addsent"]["sentence"] == "I watch this 3D movie"
    assert view["splits"] == {"train": None, "val": None, "test": None}
    assert cfg["unlearn"]["rga_alpha"] == 2.0 and cfg["unlearn"]["rga_beta"] == 0.05
    assert cfg["unlearn"]["snapshots"] == [10, 20, 30] and cfg["cube"]["variant"] == "reference"


REFERENCE = {"unlearn": {"optimizer": "adamw", "weight_decay": 0.01, "grad_clip": 1.0, "fresh_optimizer": True,
                         "retain_pairing": "random", "npo_beta": 1.0, "rga_kl": "reference_current",
                         "rga_l2": "per_tensor", "rga_l2_scope": "encoder"},
             "finetune": {"optimizer": "adamw", "weight_decay": 0.01, "grad_clip": 1.0, "fresh_optimizer": True},
             "head": "linear", "cube": "reference", "poison_mode": "inject"}
PAPER = {"unlearn": {"optimizer": "adam", "weight_decay": 0.0, "grad_clip": None, "fresh_optimizer": False,
                     "retain_pairing": "cycle", "npo_beta": 0.1, "rga_kl": "current_reference",
                     "rga_l2": "global", "rga_l2_scope": "all"},
         "finetune": {"optimizer": "adam", "weight_decay": 0.0, "grad_clip": None, "fresh_optimizer": False},
         "head": "auto", "cube": "paper", "poison_mode": "replace"}


def _fidelity_view(cfg):
    cfg = check(cfg)
    view = dataset_view(cfg, "synth")
    return {"unlearn": {k: view["unlearn"][k] for k in REFERENCE["unlearn"]},
            "finetune": {k: view["finetune"][k] for k in REFERENCE["finetune"]},
            "head": cfg["text"]["model"]["head"], "cube": view["cube"]["variant"], "poison_mode": view["poison_mode"]}


@pytest.mark.parametrize("fidelity, expected", [(None, REFERENCE), ("reference", REFERENCE), ("paper", PAPER)])
def test_fidelity_presets_fill_every_key_where_code_and_paper_differ(fidelity, expected):
    cfg = default_config()
    cfg.pop("unlearn")
    cfg["datasets"]["synth"] = text_dataset()
    if fidelity:
        cfg["fidelity"] = fidelity
    assert _fidelity_view(cfg) == expected


def test_an_explicit_key_wins_over_its_fidelity_preset():
    cfg = default_config()
    cfg["fidelity"] = "paper"
    cfg["unlearn"] = {"npo_beta": 0.5, "rga_kl": "reference_current"}
    cfg["cube"] = {"min_dist": 0.15}
    cfg["datasets"]["synth"] = text_dataset(poison_mode="inject", cube={"min_dist": 0.3})
    view = _fidelity_view(cfg)
    assert view["unlearn"]["npo_beta"] == 0.5 and view["unlearn"]["rga_kl"] == "reference_current"
    assert view["unlearn"]["rga_l2"] == "global" and view["poison_mode"] == "inject" and view["cube"] == "paper"
    assert dataset_view(check(cfg), "synth")["cube"]["min_dist"] == 0.3
    cfg["fidelity"] = "literal"
    with pytest.raises(ConfigError, match="fidelity"):
        check(cfg)


def test_dataset_attack_params_merge_over_the_top_level():
    cfg = default_config()
    cfg["attack_params"] = {"badnets": {"word": "cf"}, "addsent": {"sentence": "no cross no crown"}}
    cfg["datasets"]["synth"] = text_dataset(attack_params={"badnets": {"count": 2}})
    view = dataset_view(check(cfg), "synth")
    assert view["attack_params"]["badnets"] == {"word": "cf", "count": 2}
    assert view["attack_params"]["addsent"]["sentence"] == "no cross no crown"


@pytest.mark.parametrize("change, key, words", [
    ({"attacks": ["badnet"]}, "datasets.synth.attacks", "not a text attack"),
    ({"source": "digits"}, "datasets.synth.source", "not a text source"),
    ({"attacks": ["hiddenkiller"]}, "datasets.synth.attack_params.hiddenkiller.path", "required"),
    ({"attacks": ["hiddenkiller"], "attack_params": {"hiddenkiller": {"path": "/no/such/dir"}}},
     "datasets.synth.attack_params.hiddenkiller.path", "does not exist"),
    ({"source": "tsv", "tsv": {"path": "/no/such/dir"}}, "datasets.synth.tsv.path", "does not exist"),
    ({"target": "neutral"}, "datasets.synth.target", "not a class"),
    ({"unlearn": {"epochs": 5, "snapshots": [2, 4]}}, "datasets.synth.unlearn.snapshots", "must equal unlearn.epochs"),
])
def test_text_config_errors_name_the_key(change, key, words):
    cfg = default_config()
    cfg["datasets"]["synth"] = text_dataset(**change)
    with pytest.raises(ConfigError) as e:
        check(cfg)
    assert key in str(e.value) and words in str(e.value)


def test_unknown_unlearning_method_is_rejected_by_the_schema():
    cfg = default_config()
    cfg["unlearn"] = {"methods": ["ga", "sam"]}
    with pytest.raises(ConfigError, match=r"unlearn.methods\[1\].*'sam'"):
        check(cfg)


def glyph_dataset(**over):
    return {"source": "glyphs", "glyphs": {"n": 400}, "target": "k", "splits": {"val": 40, "test": 60, "forget": 40}, **over}


@pytest.mark.parametrize("analyses, extra, key, words", [
    ({"disentanglement": {"attacks": ["trojannn"]}}, {}, "datasets.digits.analyses.disentanglement.attacks", "not among"),
    ({"forget_sizes": {"sizes": [500]}}, {}, "datasets.digits.analyses.forget_sizes.sizes", "exceeds splits.forget"),
    ({"merging": {"with": ["digits"]}}, {}, "datasets.digits.analyses.merging.with", "not another image dataset"),
    ({"transfer_from": "letters"}, {}, "datasets.digits.analyses.transfer_from", "not another image dataset"),
    ({}, {"splits": {"val": 200, "test": 200, "forget": 10}}, "datasets.glyphs.splits", "leaves nothing"),
])
def test_analysis_config_errors_name_the_key(analyses, extra, key, words):
    cfg = default_config()
    cfg["datasets"]["digits"]["analyses"] = analyses
    cfg["datasets"]["glyphs"] = glyph_dataset(**extra)
    with pytest.raises(ConfigError) as e:
        check(cfg)
    assert key in str(e.value) and words in str(e.value)


def test_analyses_and_the_glyph_source_check_out():
    cfg = default_config()
    cfg["datasets"]["glyphs"] = glyph_dataset(analyses={"transfer_from": "digits"})
    cfg["datasets"]["digits"]["analyses"] = {"merging": {"with": ["glyphs"]}, "disentanglement": {}}
    view = dataset_view(check(cfg), "glyphs")
    assert view["classnames"] == "glyphs" and view["templates"] == "glyphs"
    digits = dataset_view(check(cfg), "digits")["analyses"]
    assert digits["merging"]["ties"] == {"lam": 1.0, "k": 0.2} and digits["disentanglement"]["max_asr"] == 0.0
    cfg["alpha_search"]["strategy"] = "adaptive"  # alpha* needs the dense search's CSV
    with pytest.raises(ConfigError, match="datasets.digits.analyses.disentanglement'.*strategy: grid"):
        check(cfg)
    del cfg["datasets"]["digits"]["analyses"]["disentanglement"]
    assert dataset_view(check(cfg), "digits")["alpha_search"]["patience"] == 1
    cfg["alpha_search"]["grid"] = [0.0, 0.5, 0.5]
    with pytest.raises(ConfigError, match="strictly increase"):
        check(cfg)
    cfg = default_config()
    cfg["datasets"]["synth"]["analyses"] = {"disentanglement": {}}
    with pytest.raises(ConfigError, match="datasets.synth.analyses"):
        check(cfg)
