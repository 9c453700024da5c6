"""Study configuration: schema validation with defaults, cross-key checks, per-dataset views.

The Snakefile calls :func:`load_and_check` on the merged config at parse time,
so a bad config fails before any job runs, with a message naming the key and
what is allowed. Rules then pass each job only the slice it needs
(:func:`dataset_view`), so changing one dataset's settings reruns only its jobs.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from .classnames import class_names, resolve_target
from .clip_resolution import model_config_file
from .image_sources import DIGITS_DEFAULT_TEST, DIGITS_POOL_SIZE

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value is invalid; the message names the key."""


def _with_defaults(base):
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(base, {"properties": set_defaults})


DefaultFillingValidator = _with_defaults(Draft202012Validator)


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def validate(config: dict, schema_path: str | Path | None = None) -> dict:
    """Validate against the JSON schema, filling defaults; returns a new dict."""
    schema = yaml.safe_load(Path(schema_path or DEFAULT_SCHEMA).read_text())
    cfg = copy.deepcopy(config)
    errors = sorted(DefaultFillingValidator(schema).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors:
            desc = e.schema.get("description") if isinstance(e.schema, dict) else None
            lines.append(f"config key '{_key(e.absolute_path)}': {e.message}" + (f" ({desc})" if desc else ""))
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    return cfg


def _looks_local(path: str) -> bool:
    return path.startswith(("/", "./", "../", "~"))


def check_semantics(cfg: dict, base_dir: str | Path = ".") -> None:
    """Cross-key checks the schema cannot express."""
    base_dir = Path(base_dir)
    problems = []
    model = cfg["model"]
    if model_config_file(model["arch"]) is None:
        problems.append(f"config key 'model.arch': unknown open_clip architecture {model['arch']!r}")
    if model["pretrained"] is None:
        pre_ds = cfg["pretrain"]["dataset"]
        if pre_ds is not None and pre_ds not in cfg["datasets"]:
            problems.append(f"config key 'pretrain.dataset': {pre_ds!r} is not a configured dataset; allowed: {', '.join(cfg['datasets'])}")
    elif _looks_local(model["pretrained"]) and not (base_dir / Path(model["pretrained"]).expanduser()).is_file():
        problems.append(f"config key 'model.pretrained': weights file {model['pretrained']!r} does not exist")
    for name, ds in cfg["datasets"].items():
        key = f"datasets.{name}"
        if ds["source"] == "hf":
            if "hf" not in ds:
                problems.append(f"config key '{key}.hf': required for source 'hf' (path, splits, image/label columns)")
                continue
            path = ds["hf"]["path"]
            if _looks_local(path) and not (base_dir / Path(path).expanduser()).exists():
                problems.append(f"config key '{key}.hf.path': dataset directory {path!r} does not exist")
        elif ds["source"] == "digits":
            sp = ds["splits"]
            fixed = sp["val"] + sp["forget"] + (sp["test"] or DIGITS_DEFAULT_TEST) + (sp["train"] or 0)
            if fixed > DIGITS_POOL_SIZE:
                problems.append(f"config key '{key}.splits': train+val+test+forget = {fixed} exceeds the {DIGITS_POOL_SIZE} digits images")
        preset = ds.get("classnames", "digits" if ds["source"] == "digits" else "features")
        if preset == "features" and ds["source"] != "hf":
            problems.append(f"config key '{key}.classnames': 'features' needs source 'hf'")
            continue
        names = class_names(preset)
        if names is not None:
            try:
                resolve_target(ds["target"], names)
            except ValueError as e:
                problems.append(f"config key '{key}.target': {e}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def load_and_check(config: dict, schema_path=None, base_dir=".") -> dict:
    cfg = validate(config, schema_path)
    check_semantics(cfg, base_dir)
    return cfg


def load_file(path, schema_path=None) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    return load_and_check(yaml.safe_load(p.read_text()) or {}, schema_path, base_dir=p.parent)


def dataset_view(cfg: dict, name: str) -> dict:
    """Everything the jobs of one dataset need, with the finetune overrides merged."""
    ds = copy.deepcopy(cfg["datasets"][name])
    ds["name"] = name
    ds.setdefault("classnames", "digits" if ds["source"] == "digits" else "features")
    ds.setdefault("templates", "digits" if ds["source"] == "digits" else "openai_imagenet")
    ft = {**cfg["finetune"], **ds.pop("finetune", {})}
    ds["finetune"] = ft
    ds["trigger_vector"] = {**ft, **cfg.get("trigger_vector", {}), **ds.get("trigger_vector", {})}
    return ds


def pretrain_dataset(cfg: dict) -> str:
    return cfg["pretrain"]["dataset"] or next(iter(cfg["datasets"]))
