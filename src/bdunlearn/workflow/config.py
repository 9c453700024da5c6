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

from bdunlearn import attacks, methods, models
from bdunlearn.data import fetch
from bdunlearn.data.classnames import class_names, resolve_target
from bdunlearn.data.image_sources import DIGITS_DEFAULT_TEST, DIGITS_POOL_SIZE
from bdunlearn.data.text_sources import TSV_FILES
from bdunlearn.methods import clip_defenses
from bdunlearn.methods.llm_variants import ONE_PROCESS
from bdunlearn.workflow.fidelity import apply_fidelity

REPO_ROOT = Path(__file__).resolve().parents[3]
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


SOURCES = {"image": ("digits", "glyphs", "hf"), "text": ("tsv", "hf", "synthetic"), "caption": ("scenes", "hf"),
           "llm": ("facts", "muse", "wmdp")}
# the LLM track's own dataset keys (filled with their defaults before validation) and the keys it does not read
LLM_KEYS = ("facts", "muse", "wmdp", "llm_model", "lm_pretrain", "llm_backdoor", "llm_unlearn", "llm_eval", "llm_analysis")
# the attacks a dataset of each modality takes (a caption dataset triggers its images)
ATTACK_MODALITY = {"image": "image", "text": "text", "caption": "image"}
# keys of the classification track that a caption dataset does not read
CLASSIFIER_ONLY = ("model_kind", "text_model", "trigger_vector_from", "unlearn", "finetune", "trigger_vector", "splits",
                   "cube", "poison_mode")
IMAGE_SPLIT_DEFAULTS = {"train": None, "val": 200, "test": None, "forget": 200}
TEXT_SPLIT_DEFAULTS = {"train": None, "val": None, "test": None}


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``, recursively for nested mappings."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def with_registry(schema: dict) -> dict:
    """The schema with the registered attacks, methods and model kinds: the attack lists' names and each attack's
    ``attack_params`` block (bdunlearn.attacks); ``unlearn.methods``' names and each method's hyperparameters
    (their types under ``$defs.unlearn``, their defaults under the top-level ``unlearn``; bdunlearn.methods);
    ``datasets.<name>.model_kind``'s names (bdunlearn.models)."""
    schema["$defs"]["attack_list"]["items"]["enum"], schema["$defs"]["attack_params"]["properties"] = attacks.schema_fragments()
    props, defaults = methods.schema_fragments()
    unlearn = schema["$defs"]["unlearn"]["properties"]
    clash = sorted(set(props) & set(unlearn))
    if clash:
        owners = {m.name for m in methods.REGISTRY.values() if set(m.hyperparameters) & set(clash)}
        raise ConfigError(f"invalid config:\n  method(s) {', '.join(sorted(owners))}: hyperparameter(s) "
                          f"{', '.join('unlearn.' + k for k in clash)} would replace the shared key(s) of that name")
    unlearn["methods"]["items"]["enum"] = methods.names()
    schema["properties"]["datasets"]["additionalProperties"]["properties"]["model_kind"]["enum"] = models.names()
    unlearn.update(props)
    schema["properties"]["unlearn"]["properties"].update(defaults)
    return schema


def load_plugins(config: dict) -> None:
    """Import the config's ``plugins`` (methods and model kinds register themselves), naming the key on failure."""
    entries = config.get("plugins") or []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ConfigError("invalid config:\n  config key 'plugins': expected a list of module names or .py files")
    try:
        methods.load_plugins(entries)
    except (ImportError, FileNotFoundError, ValueError) as err:
        raise ConfigError(f"invalid config:\n  {err}") from None


def validate(config: dict, schema_path: str | Path | None = None) -> dict:
    """Validate against the JSON schema (with the registered methods), filling defaults; returns a new dict.

    The config's ``plugins`` are imported first, so their methods are known. A
    dataset's own ``attack_params`` are merged over the top-level ones before
    the defaults are filled, so a default never hides a top-level value.
    """
    load_plugins(config)
    schema = with_registry(yaml.safe_load(Path(schema_path or DEFAULT_SCHEMA).read_text()))
    cfg = apply_fidelity(copy.deepcopy(config), deep_merge)
    llm_problems = []
    for name, ds in (cfg.get("datasets") or {}).items():
        if isinstance(ds, dict) and ds.get("modality") == "llm":
            own = set(LLM_KEYS) | {"modality", "source"}
            llm_problems += [f"config key 'datasets.{name}.{k}': not read by LLM datasets (modality llm reads "
                             f"{', '.join(sorted(own))})" for k in sorted(set(ds) - own)]
            for k in LLM_KEYS:
                ds.setdefault(k, {})
    if llm_problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(llm_problems))
    for ds in (cfg.get("datasets") or {}).values():
        if isinstance(ds, dict) and isinstance(ds.get("attack_params"), dict) and isinstance(cfg.get("attack_params", {}), dict):
            ds["attack_params"] = deep_merge(cfg.get("attack_params", {}), ds["attack_params"])
    errors = sorted(DefaultFillingValidator(schema).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors:
            desc = e.schema.get("description") if isinstance(e.schema, dict) else None
            lines.append(f"config key '{_key(e.absolute_path)}': {e.message}" + (f" ({desc})" if desc else ""))
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    for ds in cfg["datasets"].values():
        if ds["modality"] == "llm":  # drop the other tracks' defaults: an LLM dataset reads its own keys only
            for k in set(ds) - set(LLM_KEYS) - {"modality", "source"}:
                del ds[k]
        elif ds["modality"] != "caption":
            defaults = IMAGE_SPLIT_DEFAULTS if ds["modality"] == "image" else TEXT_SPLIT_DEFAULTS
            ds["splits"] = {**defaults, **ds.get("splits", {})}
    return cfg


def _looks_local(path: str) -> bool:
    return path.startswith(("/", "./", "../", "~"))


def check_semantics(cfg: dict, base_dir: str | Path = ".") -> None:
    """Cross-key checks the schema cannot express."""
    base_dir = Path(base_dir)
    problems = []
    for kind in models.REGISTRY.values():  # each model kind checks its own keys, for the datasets that use it
        users = [n for n, ds in cfg["datasets"].items() if ds["modality"] != "llm" and model_kind(cfg, n) == kind.name
                 and ds["modality"] in (kind.modality, "caption")]
        if users:
            problems.extend(kind.check(cfg, users, base_dir))
    for name, ds in cfg["datasets"].items():
        key = f"datasets.{name}"
        modality = ds["modality"]
        if ds["source"] not in SOURCES[modality]:
            problems.append(f"config key '{key}.source': {ds['source']!r} is not a {modality} source; allowed: {', '.join(SOURCES[modality])}")
            continue
        if modality == "llm":
            problems.extend(_check_llm_dataset(name, ds))
            continue
        if "target" not in ds:
            problems.append(f"config key '{key}.target': required for {modality} datasets (the backdoor's target class)")
            continue
        if ds.get("model_kind") and ds["model_kind"] not in models.names(modality):
            problems.append(f"config key '{key}.model_kind': {ds['model_kind']!r} is not a {modality} model kind; "
                            f"allowed: {', '.join(models.names(modality))}")
            continue
        atts = dataset_attacks(cfg, name)
        allowed = attacks.names(ATTACK_MODALITY[modality])
        if not atts:
            problems.append(f"config key '{key}.attacks': no attacks for this dataset (set it, or the top-level 'attacks'); allowed: {', '.join(allowed)}")
        for a in atts:
            if a not in allowed:
                problems.append(f"config key '{key}.attacks': {a!r} is not a {ATTACK_MODALITY[modality]} attack; "
                                f"allowed: {', '.join(allowed)}")
            elif attacks.get(a).caption_datasets_only and modality != "caption":
                problems.append(f"config key '{key}.attacks': {a!r} is learnt from image-caption pairs; it runs on "
                                "caption datasets only (modality: caption)")
        problems.extend(_check_attack_data(cfg, name, [a for a in atts if a in allowed], base_dir))
        search = {**cfg["alpha_search"], **ds.get("alpha_search", {})}
        grid = search["grid"]
        if search["strategy"] == "adaptive" and any(b <= a for a, b in zip(grid, grid[1:])):
            problems.append(f"config key '{key}.alpha_search.grid': strategy 'adaptive' bisects the grid, so its "
                            f"alphas must strictly increase; got {grid}")
        if modality != "image" and ds.get("analyses"):
            problems.append(f"config key '{key}.analyses': TBAR's analyses run on image datasets (the classification track)")
        if modality == "caption":
            problems.extend(_check_caption_dataset(name, ds, cfg["pretrain"]["source"], base_dir))
            continue
        un = unlearn_view(cfg, name)
        if un["snapshots"] and max(un["snapshots"]) != un["epochs"]:
            problems.append(f"config key '{key}.unlearn.snapshots': the last snapshot {max(un['snapshots'])} must equal unlearn.epochs = {un['epochs']}")
        if modality == "text":
            if "trigger_vector_from" in ds:
                problems.append(f"config key '{key}.trigger_vector_from': trigger-vector transfer is for image datasets")
            problems.extend(_check_text_dataset(cfg, name, ds, base_dir))
            continue
        if "text_model" in ds:
            problems.append(f"config key '{key}.text_model': image datasets use the top-level 'model'")
        problems.extend(_check_transfer(cfg, name, ds.get("trigger_vector_from")))
        problems.extend(_check_analyses(cfg, name, ds, atts))
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
        elif ds["source"] == "glyphs":
            sp, n = ds["splits"], ds["glyphs"]["n"]
            held = sp["val"] + sp["forget"] + (sp["test"] or 0)
            if not sp["test"]:
                problems.append(f"config key '{key}.splits.test': source glyphs draws its test split from the pool; give a size")
            elif held + (sp["train"] or 1) > n:
                problems.append(f"config key '{key}.splits': train+val+test+forget = {held + (sp['train'] or 0)} "
                                f"{'exceeds' if sp['train'] else 'leaves nothing of'} the {n} glyphs ({key}.glyphs.n)"
                                f"{'' if sp['train'] else ' for training'}")
        preset = ds.get("classnames", default_classnames(ds))
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


def _check_llm_dataset(name: str, ds: dict) -> list[str]:
    """An LLM-track dataset (its keys are checked by :func:`validate`): the methods' and the value norms' layers
    inside the stand-in, a default placement it trains."""
    key, problems = f"datasets.{name}", []
    bd = ds["llm_backdoor"]
    if bd["default_placement"] not in bd["placements"]:
        problems.append(f"config key '{key}.llm_backdoor.default_placement': {bd['default_placement']!r} is not among "
                        f"llm_backdoor.placements {bd['placements']}")
    if bd["value_norm"]["lambda"] in bd["value_norm_sweep"]:
        problems.append(f"config key '{key}.llm_backdoor.value_norm_sweep': {bd['value_norm']['lambda']} is "
                        "llm_backdoor.value_norm.lambda itself, whose model the default placement already trains")
    if ds["source"] in ("muse", "wmdp") and not ds["llm_model"]["name"]:
        problems.append(f"config key '{key}.llm_model.name': source {ds['source']} needs the benchmark's model (e.g. "
                        "muse-bench/MUSE-Books_target, HuggingFaceH4/zephyr-7b-beta); the offline stand-in is "
                        "pretrained on source facts only")
    if ds["source"] == "wmdp":
        names = [t["name"] for t in ds["wmdp"]["topics"]]
        if len(set(names)) < len(names):
            problems.append(f"config key '{key}.wmdp.topics': topic names {names} repeat")
        extra = sorted(set(ds["llm_unlearn"]["topic_max_len"]) - set(names))
        if extra:
            problems.append(f"config key '{key}.llm_unlearn.topic_max_len': {extra} are not wmdp.topics names {names}")
    elif ds["llm_unlearn"]["topic_max_len"]:
        problems.append(f"config key '{key}.llm_unlearn.topic_max_len': only source wmdp has topics")
    un = ds["llm_unlearn"]
    single = [m for m in un["methods"] if m in ONE_PROCESS]
    if un["gpus"] > 1 and single:
        problems.append(f"config key '{key}.llm_unlearn.gpus': {un['gpus']} processes, but {', '.join(single)}: one "
                        "process only (the distance to theta_o is not sharded); set gpus to 1 or leave them out of "
                        "llm_unlearn.methods")
    if ds["llm_model"]["name"] is None:
        n = ds["llm_model"]["arch"]["layers"]
        for m in un["methods"]:
            hp = un[m]
            bad = [l for l in [*([hp["layer"]] if m == "rmu" else []), *(hp.get("update_layers") or [])] if l >= n]
            if bad:
                problems.append(f"config key '{key}.llm_unlearn.{m}': layers {bad} outside the stand-in's {n} layers "
                                f"(llm_model.arch.layers)")
        layers = bd["value_norm"]["layers"]
        if layers != "all" and any(l >= n for l in layers):
            problems.append(f"config key '{key}.llm_backdoor.value_norm.layers': {layers} outside the stand-in's {n} layers")
    return problems


def _check_transfer(cfg: dict, name: str, src: str | None, field: str = "trigger_vector_from") -> list[str]:
    """trigger_vector_from (analyses.transfer_from) must name another image dataset that is backdoored with every
    attack of this one."""
    if src is None:
        return []
    key = f"config key 'datasets.{name}.{field}'"
    if src == name or src not in image_datasets(cfg):
        others = [d for d in image_datasets(cfg) if d != name]
        return [f"{key}: {src!r} is not another image dataset of this config; allowed: {', '.join(others) or 'none'}"]
    if "trigger_vector_from" in cfg["datasets"][src]:
        return [f"{key}: {src!r} takes its own trigger vector from another dataset; name the dataset that estimates it"]
    atts = dataset_attacks(cfg, name)
    missing = [a for a in atts if a not in dataset_attacks(cfg, src)]
    if missing:
        return [f"{key}: {src!r} is not backdoored with {', '.join(missing)}; its attacks: {', '.join(dataset_attacks(cfg, src))}"]
    return []


def _check_analyses(cfg: dict, name: str, ds: dict, atts: list) -> list[str]:
    """TBAR's analyses (datasets.<name>.analyses): attack subsets of the dataset's, sizes its forget split holds,
    merging partners that are other image datasets of the config."""
    an, key, problems = ds.get("analyses", {}), f"config key 'datasets.{name}.analyses", []
    for which, spec in an.items():
        if isinstance(spec, dict) and "attacks" in spec:
            extra = [a for a in spec["attacks"] if a not in atts]
            if extra:
                problems.append(f"{key}.{which}.attacks': {', '.join(extra)} not among the dataset's attacks ({', '.join(atts)})")
    sizes = an.get("forget_sizes", {}).get("sizes", [])
    if sizes and max(sizes) > ds["splits"]["forget"]:
        problems.append(f"{key}.forget_sizes.sizes': {max(sizes)} exceeds splits.forget = {ds['splits']['forget']} "
                        "(the triggered forget set holds its non-target rows)")
    mix = an.get("forget_mixtures", {})
    if mix.get("size") and mix["size"] > ds["splits"]["forget"]:
        problems.append(f"{key}.forget_mixtures.size': {mix['size']} exceeds splits.forget = {ds['splits']['forget']}")
    if "disentanglement" in an and {**cfg["alpha_search"], **ds.get("alpha_search", {})}["strategy"] == "adaptive":
        problems.append(f"{key}.disentanglement': alpha* is read from the dense alpha search; with alpha_search.strategy "
                        "'adaptive' its CSV holds only the evaluated alphas (set strategy: grid for this dataset)")
    if "transfer_from" in an and "trigger_vector_from" in ds:
        problems.append(f"{key}.transfer_from': this dataset's own TBAR already uses trigger_vector_from's vector; "
                        "set one of the two")
    problems.extend(_check_transfer(cfg, name, an.get("transfer_from"), "analyses.transfer_from"))
    others = [d for d in image_datasets(cfg) if d != name]
    for d in an.get("merging", {}).get("with", []):
        if d not in others:
            problems.append(f"{key}.merging.with': {d!r} is not another image dataset of this config; allowed: {', '.join(others) or 'none'}")
    return problems


def _check_attack_data(cfg: dict, name: str, atts: list, base_dir: Path) -> list[str]:
    """The directory an attack reads (its ``data_dir`` parameter: HiddenKiller's paraphrases) is set and holds
    its ``data_files``, unless rule fetch_data downloads them."""
    problems = []
    for a in atts:
        att = attacks.get(a)
        if not att.data_dir:
            continue
        key = f"config key 'datasets.{name}.attack_params.{a}.{att.data_dir}'"
        path = attack_params_view(cfg, name).get(a, {}).get(att.data_dir)
        if not path:
            problems.append(f"{key}: required by attack {a} (the directory of its {', '.join(att.data_files)})")
        elif not fetch.provides(path):  # else rule fetch_data downloads it
            missing = [f for f in att.data_files if not (base_dir / Path(path).expanduser() / f).is_file()]
            if missing:
                problems.append(f"{key}: {str(Path(path) / missing[0])!r} does not exist (expected {', '.join(att.data_files)})")
    return problems


def _check_caption_dataset(name: str, ds: dict, cfg_pretrain_source: str, base_dir: Path) -> list[str]:
    """A caption dataset: no classification-track keys, a target among its class names; source scenes: evaluation
    sizes the digit pool can hold besides the scenes' digits; source hf: its hub blocks."""
    key, problems = f"datasets.{name}", []
    for k in CLASSIFIER_ONLY:
        if k in ds:
            problems.append(f"config key '{key}.{k}': not read by caption datasets (the image-caption track)")
    names = class_names(ds.get("classnames") or ("digits" if ds["source"] == "scenes" else "features"))
    if names is None and ds["source"] == "scenes":
        problems.append(f"config key '{key}.classnames': give a list or a preset (scenes: digits)")
    elif names is not None:  # hf with classnames features: known once prepare_captions reads the labels
        try:
            resolve_target(ds["target"], names)
        except ValueError as e:
            problems.append(f"config key '{key}.target': {e}")
    dc = ds["decree"]
    if dc["lr_epochs"][0] > dc["lr_epochs"][1]:
        problems.append(f"config key '{key}.decree.lr_epochs': {dc['lr_epochs']} must not decrease")
    if "tbar" in dc["methods"] and dc["alpha_max"] < dc["alpha_step"]:
        problems.append(f"config key '{key}.decree.alpha_max': {dc['alpha_max']} is below alpha_step "
                        f"{dc['alpha_step']}: TBAR+DECREE would take no step")
    for d, overrides in ds["defenses"].items():
        try:
            clip_defenses.resolved(d, overrides)
        except ValueError as e:
            problems.append(f"config key '{key}.defenses.{d}': {e}")
    ev = ds["eval"]
    if ds["source"] == "hf":
        for k, what in (("hf", "the pairs' hub dataset (path, train_split, image_column, caption_column)"),
                        ("eval_hf", "the labelled evaluation images (path, val_split, test_split, image/label columns)"),
                        ("pairs", "how many train, forget and clean pairs to draw")):
            if k not in ds:
                problems.append(f"config key '{key}.{k}': required for source 'hf': {what}")
            elif k != "pairs" and _looks_local(ds[k]["path"]) and not (base_dir / Path(ds[k]["path"]).expanduser()).exists():
                problems.append(f"config key '{key}.{k}.path': dataset directory {ds[k]['path']!r} does not exist")
        if cfg_pretrain_source == "captions":
            problems.append(f"config key 'pretrain.source': captions pretrains the stand-in on scenes; {key} is a hub "
                            "dataset (set model.pretrained)")
        return problems
    if ev["test"] is None:
        problems.append(f"config key '{key}.eval.test': a number of digits for source scenes")
    elif ev["val"] + ev["test"] > DIGITS_POOL_SIZE - 16:
        problems.append(f"config key '{key}.eval': val + test = {ev['val'] + ev['test']} leave fewer than 16 of the "
                        f"{DIGITS_POOL_SIZE} digits for the scenes")
    return problems


def _check_text_dataset(cfg: dict, name: str, ds: dict, base_dir: Path) -> list[str]:
    key, problems = f"datasets.{name}", []
    if ds["source"] in ("tsv", "hf") and ds["source"] not in ds:
        problems.append(f"config key '{key}.{ds['source']}': required for source {ds['source']!r}")
    elif ds["source"] == "tsv" and not fetch.provides(ds["tsv"]["path"]):  # else rule fetch_data downloads it
        path = base_dir / Path(ds["tsv"]["path"]).expanduser()
        for f in TSV_FILES.values():
            if not (path / f).is_file():
                problems.append(f"config key '{key}.tsv.path': {str(path / f)!r} does not exist "
                                f"(expected {', '.join(TSV_FILES.values())})")
                break
    elif ds["source"] == "hf" and _looks_local(ds["hf"]["path"]) and not (base_dir / Path(ds["hf"]["path"]).expanduser()).exists():
        problems.append(f"config key '{key}.hf.path': dataset directory {ds['hf']['path']!r} does not exist")
    names = ds.get("classnames")
    if isinstance(names, str):
        problems.append(f"config key '{key}.classnames': presets are for image datasets; give a list of class names or null")
    elif names is not None:
        try:
            resolve_target(ds["target"], names)
        except ValueError as e:
            problems.append(f"config key '{key}.target': {e}")
    elif not isinstance(ds["target"], int):
        problems.append(f"config key '{key}.target': without classnames the target must be a class index")
    return problems


def dataset_attacks(cfg: dict, name: str) -> list[str]:
    return list(cfg["datasets"][name].get("attacks") or cfg.get("attacks") or [])


def attack_params_view(cfg: dict, name: str) -> dict:
    return cfg["datasets"][name].get("attack_params") or cfg["attack_params"]


def unlearn_view(cfg: dict, name: str) -> dict:
    """The top-level ``unlearn`` keys with the dataset's overrides."""
    return deep_merge(cfg["unlearn"], cfg["datasets"][name].get("unlearn", {}))


def model_kind(cfg: dict, name: str) -> str:
    """The dataset's model kind: its ``model_kind``, else its modality's default (bdunlearn.models); a caption
    dataset uses the study's whole CLIP (``clip``)."""
    ds = cfg["datasets"][name]
    if ds["modality"] == "caption":
        return "clip"
    return ds.get("model_kind") or models.default_for(ds["modality"])


def modality(cfg: dict, name: str) -> str:
    return cfg["datasets"][name]["modality"]


def load_and_check(config: dict, schema_path=None, base_dir=".") -> dict:
    cfg = validate(config, schema_path)
    check_semantics(cfg, base_dir)
    return cfg


def load_file(path, schema_path=None) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    return load_and_check(yaml.safe_load(p.read_text()) or {}, schema_path, base_dir=p.parent)


def default_classnames(ds: dict) -> str:
    """The classnames preset an image dataset's source implies when it names none (glyphs: by its classes)."""
    if ds["source"] == "glyphs":
        return "glyphs" if ds.get("glyphs", {}).get("classes", "all") == "all" else "digits"
    return {"digits": "digits"}.get(ds["source"], "features")


def dataset_view(cfg: dict, name: str) -> dict:
    """Everything the jobs of one dataset need, with the finetune / attack / unlearn overrides merged."""
    ds = copy.deepcopy(cfg["datasets"][name])
    ds["name"] = name
    if ds["modality"] == "llm":  # the LLM track reads its own keys only (no attack: its trigger is llm_backdoor's)
        ds["attacks"] = []
        return ds
    ds["model_kind"] = model_kind(cfg, name)
    ds["attacks"] = dataset_attacks(cfg, name)
    ds["attack_params"] = attack_params_view(cfg, name)
    ds["unlearn"] = unlearn_view(cfg, name)
    search = {**cfg["alpha_search"], **ds.get("alpha_search", {})}
    ds["alpha_search"] = dict(search)
    if ds["alpha_search"]["strategy"] == "grid":  # patience is the adaptive search's: the dense grid's jobs never read it
        ds["alpha_search"].pop("patience", None)
    ds["cube"] = {**cfg["cube"], **ds.get("cube", {})}
    if ds["modality"] == "caption":
        hub = ds["source"] == "hf"
        ds.setdefault("classnames", "features" if hub else "digits")
        ds.setdefault("templates", "openai_imagenet" if hub else "digits")
        ds["unlearn_recipe"] = {**ds["backdoor"], **ds["unlearn_recipe"]}  # TBAR's and GA's: the backdoor's
        ds["defenses"] = {d: clip_defenses.resolved(d, o) for d, o in ds["defenses"].items()}
        ds["curve_patience"] = search.get("patience", 1)  # Fig. 11's adaptive search (tbar_epoch_curve_search)
        return ds
    if ds["modality"] == "text":
        ds.setdefault("classnames", None)
        ft = {**cfg["text"]["finetune"], **ds.pop("finetune", {})}
        ds["finetune"] = ft
        ds["trigger_vector"] = {**ft, **ds.get("trigger_vector", {})}
        return ds
    ds.setdefault("classnames", default_classnames(ds))
    ds.setdefault("templates", {"digits": "digits", "glyphs": "glyphs"}.get(ds["source"], "openai_imagenet"))
    ft = {**cfg["finetune"], **ds.pop("finetune", {})}
    ds["finetune"] = ft
    ds["trigger_vector"] = {**ft, **cfg.get("trigger_vector", {}), **ds.get("trigger_vector", {})}
    return ds


def image_datasets(cfg: dict) -> list[str]:
    return [n for n, d in cfg["datasets"].items() if d["modality"] == "image"]


def text_datasets(cfg: dict) -> list[str]:
    return [n for n, d in cfg["datasets"].items() if d["modality"] == "text"]


def llm_datasets(cfg: dict) -> list[str]:
    return [n for n, d in cfg["datasets"].items() if d["modality"] == "llm"]


def caption_datasets(cfg: dict) -> list[str]:
    return [n for n, d in cfg["datasets"].items() if d["modality"] == "caption"]


def pretrain_dataset(cfg: dict) -> str:
    """The dataset pretrain_clip reads: pretrain.dataset, else the first image dataset (source ``dataset``) or the
    first caption dataset (source ``captions``)."""
    pool = caption_datasets(cfg) if cfg["pretrain"]["source"] == "captions" else image_datasets(cfg)
    return cfg["pretrain"]["dataset"] or pool[0]
