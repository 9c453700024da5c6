# Shared helpers: config validation (before any job), paths, and per-job params.
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from bdunlearn.config import ConfigError, dataset_view, load_and_check, pretrain_dataset  # noqa: E402
from bdunlearn.clip_resolution import model_resolution  # noqa: E402

try:
    CFG = load_and_check(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None

STUDY = CFG["study"]
R = f"{CFG['results_dir']}/{STUDY}"
RS = f"{R}/seed{{seed}}"  # every output but the tables is per seed
SEEDS = list(CFG["seeds"] or [CFG["seed"]])
DATASETS = list(CFG["datasets"])
ATTACKS = list(CFG["attacks"])
RESOLUTION = model_resolution(CFG["model"])
SRC = str(Path(workflow.basedir) / "src")


def _uses_conda():
    try:
        from snakemake.settings.types import DeploymentMethod

        return DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    except Exception:
        return False


# Under --sdm conda the env's python runs the package from the source tree;
# otherwise the python that runs Snakemake (the project's .venv) does.
# Shell commands call `bdu <module> ...`, i.e. `python -m bdunlearn.<module> ...`.
PY = "python" if _uses_conda() else shlex.quote(sys.executable)
_PREFIX = (
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(SRC)}${{PYTHONPATH:+:$PYTHONPATH}}; "
    f'bdu() {{ local m="$1"; shift; {PY} -m "bdunlearn.$m" "$@"; }}; '
)
shell.prefix(_PREFIX.replace("{", "{{").replace("}", "}}"))  # the prefix is formatted like a command


wildcard_constraints:
    seed="|".join(str(s) for s in SEEDS),
    dataset="|".join(DATASETS),
    attack="|".join(ATTACKS),


def as_arg(obj):
    """One shell-safe JSON argument (sorted keys: stable params, no spurious reruns)."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def base_params(w):
    return {"seed": int(w.seed), "device": CFG["device"], "eval_batch_size": CFG["eval_batch_size"]}


def dataset_params(w):
    return {**base_params(w), **dataset_view(CFG, w.dataset), "resolution": RESOLUTION}


def attack_params(w):
    ds = dataset_view(CFG, w.dataset)
    return {**base_params(w), "dataset": w.dataset, "attack": w.attack, "poison_rate": ds["poison_rate"],
            "attack_params": CFG["attack_params"].get(w.attack, {}),
            "finetune": ds["finetune"], "trigger_vector": ds["trigger_vector"],
            "alpha_search": CFG["alpha_search"]}


def pretrain_params(w):
    return {**base_params(w), "model": {**CFG["model"], "resolution": RESOLUTION}, "pretrain": CFG["pretrain"]}


def pretrain_inputs(w):
    if CFG["model"]["pretrained"]:
        return []
    return [f"{R}/seed{w.seed}/data/{pretrain_dataset(CFG)}/classes.json"]


def table_outputs():
    return expand(f"{R}/tables/tbar.{{ext}}", ext=["csv", "md", "tex"])
