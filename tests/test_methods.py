"""The method registry: what the built-ins declare, a plugin's registration, and what config validation and the
tables read from it."""

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bdunlearn import methods
from bdunlearn.evaluation import unlearning_table as tables
from bdunlearn.workflow.config import ConfigError, load_and_check

REPO = Path(__file__).resolve().parents[1]
TOY = Path(__file__).with_name("toy_method.py")


@pytest.fixture
def registry(registries):
    """The methods registry, restored after the test (conftest's ``registries``)."""
    return methods.REGISTRY


def micro():
    return yaml.safe_load((REPO / "tests" / "micro_config.yaml").read_text())


def test_builtins_in_table_order_with_what_the_workflow_needs():
    assert methods.names() == ["retrain", "retrain_filtered", "ga", "tbar_ga", "npo", "rga", "tbar"]
    got = {m.name: (m.label, m.start, m.forget_rows, m.per_epoch, m.reference, m.needs_val)
           for m in methods.REGISTRY.values()}
    assert got == {"retrain": ("ReTrain", "oracle", False, False, True, False),
                   "retrain_filtered": ("ReTrain (filtered)", "base", True, False, False, False),
                   "ga": ("GA", "backdoored", True, True, False, False),
                   "tbar_ga": ("GA (TBAR)", "backdoored", True, True, False, False),
                   "npo": ("NPO", "backdoored", True, True, False, False),
                   "rga": ("RGA", "backdoored", True, True, False, False),
                   "tbar": ("TBAR", "backdoored", True, False, False, True)}
    assert methods.get("rga").read_keys()[-5:] == ("rga_alpha", "rga_beta", "rga_kl", "rga_l2", "rga_l2_scope")
    assert "npo_beta" not in methods.get("ga").read_keys() and "rga_beta" not in methods.get("npo").read_keys()
    assert all(methods.is_builtin(m) for m in methods.REGISTRY.values())
    with pytest.raises(ValueError, match="unknown unlearning method 'sgd'; registered: retrain, retrain_filtered, ga"):
        methods.get("sgd")


def test_method_params_carry_only_the_keys_each_method_reads():
    view = {"unlearn": {"epochs": 3, "snapshots": [3], "npo_beta": 1.0, "rga_beta": 0.05, "tbar": {"lr": 1e-3}},
            "finetune": {"lr": 2e-5}, "trigger_vector": {"lr": 1e-4, "epochs": 2}, "alpha_search": {"grid": [0, 1]}}
    assert methods.get("ga").params(view) == {"unlearn": {"epochs": 3, "snapshots": [3]}}
    toy = type("Toy", (methods.Method,), {"name": "toy", "hyperparameters": {"toy_t": {"type": "number"}}})()
    assert toy.params({"unlearn": {"toy_t": 0.2, "lr": 1.0}}) == {"unlearn": {"toy_t": 0.2}}  # its hyperparameters
    assert methods.get("npo").params(view) == {"unlearn": {"epochs": 3, "snapshots": [3], "npo_beta": 1.0}}
    assert methods.get("retrain").params(view) == {}
    assert methods.get("retrain_filtered").params(view) == {"finetune": {"lr": 2e-5}}
    assert methods.get("tbar").params(view) == {"tbar_finetune": {"lr": 1e-3, "epochs": 2}, "alpha_search": {"grid": [0, 1]}}


def test_schema_takes_method_names_and_hyperparameters_from_the_registry(registry):
    cfg = micro()
    cfg["unlearn"]["methods"] = ["ga", "interpolate"]
    with pytest.raises(ConfigError, match=r"unlearn\.methods\[1\].*'interpolate' is not one of .*'retrain', 'retrain_filtered'"):
        load_and_check(copy.deepcopy(cfg), base_dir=REPO)
    cfg["plugins"] = [str(TOY)]
    out = load_and_check(copy.deepcopy(cfg), base_dir=REPO)
    assert "interpolate" in methods.names() and out["unlearn"]["interpolate_t"] == 0.5  # the plugin's default
    assert out["unlearn"]["rga_alpha"] == 2.0 and out["unlearn"]["npo_beta"] == 1.0  # built-in defaults
    cfg["datasets"]["synth"]["unlearn"] = {"interpolate_t": 1.5}
    with pytest.raises(ConfigError, match=r"datasets\.synth\.unlearn\.interpolate_t.*1\.5 is greater than the maximum of 1"):
        load_and_check(copy.deepcopy(cfg), base_dir=REPO)


def plugin(tmp_path, name, hyperparameters=None, file=None) -> str:
    """A plugin file registering one method ``name`` with these hyperparameters; returns its path."""
    path = tmp_path / f"{file or name}.py"
    path.write_text("from bdunlearn.methods import Method, register\n\n"
                    f"@register\nclass Plugin(Method):\n    name = {name!r}\n"
                    f"    hyperparameters = {hyperparameters or {}!r}\n")
    return str(path)


def test_bad_plugins_fail_with_the_key_named(registry, tmp_path):
    cfg = micro()
    cfg["plugins"] = [str(tmp_path / "missing.py")]
    with pytest.raises(ConfigError, match=r"config key 'plugins': no file .*missing\.py"):
        load_and_check(cfg, base_dir=REPO)
    cfg["plugins"] = ["no_such_module_xyz"]
    with pytest.raises(ConfigError, match=r"config key 'plugins': cannot import 'no_such_module_xyz'"):
        load_and_check(cfg, base_dir=REPO)
    cfg["plugins"] = [plugin(tmp_path, "ga", file="clash")]
    with pytest.raises(ConfigError, match="method 'ga' is registered twice"):
        load_and_check(cfg, base_dir=REPO)
    with pytest.raises(ValueError, match="must be lower-case"):
        methods.register(type("Bad", (methods.Method,), {"name": "Bad-Name"}))
    # a hyperparameter of another method's, or one named like a shared key, is refused
    cfg["plugins"] = [plugin(tmp_path, "steal", {"rga_beta": {"type": "number"}})]
    with pytest.raises(ConfigError, match="hyperparameter unlearn.rga_beta is already method 'rga'"):
        load_and_check(cfg, base_dir=REPO)
    # a plugin that fails to import is named, and a corrected one loads on the next try
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_dependency_xyz\n")
    cfg["plugins"] = [str(broken)]
    with pytest.raises(ConfigError, match=r"config key 'plugins': .*broken\.py failed to import: ModuleNotFoundError"):
        load_and_check(cfg, base_dir=REPO)
    broken.write_text(TOY.read_text())
    assert load_and_check(cfg, base_dir=REPO)["unlearn"]["interpolate_t"] == 0.5
    cfg["plugins"] = [plugin(tmp_path, "shadow", {"lr": {"type": "string"}})]
    with pytest.raises(ConfigError, match="shadow: hyperparameter.*unlearn.lr would replace the shared key"):
        load_and_check(cfg, base_dir=REPO)


def test_tables_lay_out_a_registered_method_with_its_label(registry):
    methods.load_plugins([str(TOY)])
    rows = [{"dataset": "d", "attack": "badnets", "method": m, "seed": 0,
             "snapshots": [{"epoch": None, "cacc": 90.0, "lfr": lfr, "pacc": pacc}]}
            for m, lfr, pacc in (("backdoored", 100.0, 50.0), ("retrain", 10.0, 88.0), ("interpolate", 20.0, 80.0))]
    mean, std = tables.aggregate(tables.long_table(rows))
    md = tables.to_markdown(mean, std)
    assert "| Dataset | Attack | Backdoored CACC ↑ | Backdoored LFR ↓ | Backdoored PACC ↑ | ReTrain CACC ↑" in md
    assert md.splitlines()[2].endswith("| Interp. CACC ↑ | Interp. LFR ↓ | Interp. PACC ↑ | Interp. ΔPACC ↓ |")
    assert "| d | BadNets | 90.00 | 100.00 | 50.00 | 90.00 | 10.00 | 88.00 | 90.00 | 20.00 | 80.00 | 8.00 |" in md
    assert r"\multicolumn{4}{c}{Interp.}" in tables.to_latex(mean, std)
    assert pd.isna(mean.loc[mean["method"] == "retrain", "delta_pacc"]).all()
