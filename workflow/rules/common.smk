# Shared helpers: config validation (before any job), paths, and per-job params.
import json
import re
import shlex
import sys
from pathlib import Path

SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
# The profile may have imported an installed bdunlearn (another checkout's editable install): this workflow's own
# source tree wins at parse time too, as it does in the jobs (PYTHONPATH, below).
for _name, _module in list(sys.modules.items()):
    if _name.split(".")[0] == "bdunlearn" and not Path(getattr(_module, "__file__", None) or "/").is_relative_to(SRC):
        del sys.modules[_name]
from bdunlearn.workflow.config import (  # noqa: E402
    ConfigError,
    caption_datasets,
    dataset_view,
    image_datasets,
    llm_datasets,
    load_and_check,
    pretrain_dataset,
    text_datasets,
)
from bdunlearn.models.clip_resolution import model_resolution  # noqa: E402
from bdunlearn.models.base import ModelContext  # noqa: E402
from bdunlearn.data.text_sources import TSV_FILES  # noqa: E402
from bdunlearn import attacks as attack_registry, methods as method_registry, models as model_registry  # noqa: E402
from bdunlearn.data import fetch  # noqa: E402
from bdunlearn.methods import clip_defenses  # noqa: E402
from bdunlearn.methods.decree import WINDOW_KEYS as DECREE_WINDOW_KEYS, DecreeConfig  # noqa: E402
from bdunlearn.analysis.forget_sets import mixture_name, size_name  # noqa: E402
from bdunlearn.models.merging import MERGERS  # noqa: E402
from bdunlearn.methods.llm_variants import METHODS as LLM_METHODS, MODEL_PATTERN as LLM_MODEL  # noqa: E402
from bdunlearn.methods.llm_variants import VARIANT_PATTERN as LLM_VARIANT  # noqa: E402
from bdunlearn.methods.llm_variants import NO_VALUE_NORM, backdoor_variant, method_variant  # noqa: E402

try:
    CFG = load_and_check(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None

STUDY = CFG["study"]
R = f"{CFG['results_dir']}/{STUDY}"
RS = f"{R}/seed{{seed}}"  # every output but the tables is per seed
SEEDS = list(CFG["seeds"] or [CFG["seed"]])
DATASETS = list(CFG["datasets"])
IMAGE_DATASETS = image_datasets(CFG)
TEXT_DATASETS = text_datasets(CFG)
CAPTION_DATASETS = caption_datasets(CFG)  # the image-caption track (TBAR section 4): a whole CLIP, zero-shot metrics
LLM_DATASETS = llm_datasets(CFG)  # the LLM track (backdoors in LLM unlearning): a causal LM, UE / BE / UT
LLM_DATA = ["pretrain", "forget", "retain", "probes", "utility"]  # prepare_facts' Parquet tables
CLASSIFIER_DATASETS = IMAGE_DATASETS + TEXT_DATASETS  # the classification track: an adapter of a model kind
VIEWS = {d: dataset_view(CFG, d) for d in DATASETS}
PAIRS = [(d, a) for d in DATASETS for a in VIEWS[d]["attacks"]]  # (dataset, attack) in config order
ATTACKS = sorted({a for _, a in PAIRS})
METHODS = method_registry.names()  # the registry (bdunlearn.methods), the config's plugins included
UNLEARN_PAIRS = [(d, a) for d, a in PAIRS if d in CLASSIFIER_DATASETS and VIEWS[d]["unlearn"]["methods"]]
CAPTION_PAIRS = [(d, a) for d, a in PAIRS if d in CAPTION_DATASETS]
MODEL_KINDS = {d: model_registry.get(VIEWS[d]["model_kind"]) for d in CLASSIFIER_DATASETS}  # bdunlearn.models
FETCHED = list(fetch.manifest())  # data files rule fetch_data can download (src/bdunlearn/data/fetch_sources.yaml)


def _uses_conda():
    try:
        from snakemake.settings.types import DeploymentMethod

        return DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    except Exception:
        return False


# Under --sdm conda the env's python runs the package from the source tree;
# otherwise the python that runs Snakemake (the project's .venv) does.
# Shell commands call `bdu <module> ...`, i.e. `python -m bdunlearn.<module> ...`; GPU rules
# call `bdu_gpu <module> ...`, which runs the module on one leased GPU (bdunlearn.workflow.gpu_lease).
PY = "python" if _uses_conda() else shlex.quote(sys.executable)
_PREFIX = (
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(SRC)}${{PYTHONPATH:+:$PYTHONPATH}}; "
    f'bdu() {{ local m="$1"; shift; {PY} -m "bdunlearn.$m" "$@"; }}; '
    f'bdu_gpu() {{ {PY} -m bdunlearn.workflow.gpu_lease "$@"; }}; '
)
shell.prefix(_PREFIX.replace("{", "{{").replace("}", "}}"))  # the prefix is formatted like a command


wildcard_constraints:
    seed="|".join(str(s) for s in SEEDS),
    dataset="|".join(DATASETS),
    attack="|".join(ATTACKS),
    method="|".join(METHODS),


def model_weights(path):
    """A large model-weights output: temp() when the config drops intermediate weights (intermediate_weights: drop),
    so a Llama-2-7B study does not keep every fine-tuned model (about 13.5 GB each)."""
    return temp(path) if CFG["intermediate_weights"] == "drop" else path


def one_of(names):
    """A wildcard constraint that matches exactly these names (nothing if the list is empty)."""
    return "|".join(names) if names else "(?!)"


def as_arg(obj):
    """One shell-safe JSON argument (sorted keys: stable params, no spurious reruns)."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


# Each rule's params carry only the keys its module reads, so changing a knob reruns only the jobs
# downstream of it (Snakemake's params rerun trigger compares these JSON arguments).


def base_params(w, *extra):
    """The seed, plus the named top-level keys (``device``, ``eval_batch_size``) that a module reads."""
    return {"seed": int(w.seed), **{k: CFG[k] for k in extra}}


# the dataset keys that prepare_images / prepare_text read (the splits and class names, nothing downstream)
_DATA_KEYS = {"name", "source", "hf", "tsv", "synthetic", "glyphs", "splits", "classnames", "templates", "target"}


def dataset_params(w):
    ds = {k: v for k, v in VIEWS[w.dataset].items() if k in _DATA_KEYS
          and (k != "glyphs" or VIEWS[w.dataset]["source"] == "glyphs")}
    if not is_text(w):
        ds["resolution"] = MODEL_KINDS[w.dataset].resolution(CFG, VIEWS[w.dataset])
    return {**base_params(w), **ds}


def job_params(w, *extra, **keys):
    """A (dataset, attack) job's params: the seed, the named top-level keys, and ``keys``."""
    return {**base_params(w, *extra), "dataset": w.dataset, "attack": w.attack, **keys}


def poison_params(w):
    ds = VIEWS[w.dataset]
    prm = job_params(w, poison_rate=ds["poison_rate"], attack_params=ds["attack_params"].get(w.attack, {}))
    if "poison_mode" in ds:
        prm["poison_mode"] = ds["poison_mode"]
    return prm


def finetune_params(w):
    return job_params(w, "device", finetune=VIEWS[w.dataset]["finetune"])


def oracle_params(w):
    """ReTrain's oracle is one model per dataset: the backdoor fine-tuning recipe on the clean training split."""
    return {**base_params(w, "device"), "dataset": w.dataset, "finetune": VIEWS[w.dataset]["finetune"]}


def trigger_vector_params(w):
    return job_params(w, "device", trigger_vector=VIEWS[w.dataset]["trigger_vector"])


def search_alpha_params(w):
    return job_params(w, "device", "eval_batch_size", alpha_search=VIEWS[w.dataset]["alpha_search"])


def eval_params(w):
    return job_params(w, "device", "eval_batch_size")


def method_of(w):
    return method_registry.get(w.method)


def unlearn_params(w):
    """What an unlearning job reads: the seed, device, batch size and what its method declares
    (``Method.params``: GA / NPO / RGA their own unlearn keys, ReTrain (filtered) the fine-tuning recipe, TBAR its
    trigger-vector recipe and the alpha search; ReTrain, the oracle, nothing more), and a plugin's module."""
    m = method_of(w)
    prm = job_params(w, "device", "eval_batch_size", method=w.method, **m.params(VIEWS[w.dataset]))
    if not method_registry.is_builtin(m):
        prm["plugin"] = m.source
    return prm


def trigger_vector(w):
    """TBAR's trigger vector for a dataset: its own, or another dataset's (trigger_vector_from, TBAR Table 4).
    A transferred vector still goes through this dataset's own alpha search (the paper leaves the choice open)."""
    src = VIEWS[w.dataset].get("trigger_vector_from") or w.dataset
    return f"{R}/seed{w.seed}/tbar/{src}/{w.attack}/trigger_vector.safetensors"


def cube_params(w):
    return job_params(w, "device", cube=VIEWS[w.dataset]["cube"])


def tsv_inputs(w):
    """A TSV dataset's split files (fetched by fetch_data when fetch_sources.yaml provides its directory)."""
    ds = VIEWS[w.dataset]
    return fetch.files_in(ds["tsv"]["path"], TSV_FILES.values()) if ds["source"] == "tsv" else []


def attack_inputs(w):
    """The files an attack reads (its data_dir's data_files: HiddenKiller's paraphrases; bdunlearn.attacks),
    fetched by fetch_data when fetch_sources.yaml provides their directory."""
    att = attack_registry.get(w.attack)
    path = VIEWS[w.dataset]["attack_params"].get(w.attack, {}).get(att.data_dir) if att.data_dir else None
    return fetch.files_in(path, att.data_files) if path else []


def is_text(w):
    return VIEWS[w.dataset]["modality"] == "text"


def model_context(w):
    return ModelContext(root=f"{R}/seed{w.seed}", seed=int(w.seed), dataset=w.dataset, view=VIEWS[w.dataset], config=CFG)


def model_inputs(w):
    """Files the base model of a dataset is built from (its model kind names them; bdunlearn.models)."""
    return MODEL_KINDS[w.dataset].inputs(model_context(w))


def model_spec(w):
    """The JSON model spec of a dataset's base model (its model kind's; bdunlearn.models)."""
    return model_registry.spec_for(MODEL_KINDS[w.dataset], model_context(w))


def eval_inputs(w):
    """The test sets of the unlearning track: clean, triggered non-target rows (LFR) and PACC rows."""
    p = f"{R}/seed{w.seed}/poisoned/{w.dataset}/{w.attack}"
    pacc = f"{p}/test_pacc.parquet" if is_text(w) else f"{p}/test_triggered.parquet"
    return {"classes": f"{R}/seed{w.seed}/data/{w.dataset}/classes.json", "test": f"{R}/seed{w.seed}/data/{w.dataset}/test.parquet",
            "test_triggered": f"{p}/test_triggered.parquet", "test_pacc": pacc}


# job sizes of the heavy rules when the config names none (SLURM's --mem in MB, --time in minutes)
DEFAULT_JOB_RESOURCES = {"mem_mb": 8000, "runtime": 60}


def job_resources(rule_name):
    """mem_mb and runtime of a heavy rule: config `resources.<rule>`, else `resources.default`, else the built-in."""
    res = CFG["resources"]
    return {**DEFAULT_JOB_RESOURCES, **res.get("default", {}), **res.get(rule_name, {})}


def pretrain_params(w):
    unread = {"threads", "dataset" if CFG["pretrain"]["source"] == "glyphs" else "glyphs"}  # threads: the job's size
    if CFG["pretrain"]["source"] == "captions":  # the plain CLIP loss on the pairs: no shift or tint augmentation
        unread |= {"max_shift", "tint"}
    pre = {k: v for k, v in CFG["pretrain"].items() if k not in unread}
    return {**base_params(w, "device"), "model": {**CFG["model"], "resolution": model_resolution(CFG["model"])}, "pretrain": pre}


def pretrain_inputs(w):
    if CFG["model"]["pretrained"] or CFG["pretrain"]["source"] == "glyphs":
        return []
    data = f"{R}/seed{w.seed}/data/{pretrain_dataset(CFG)}"
    return [f"{data}/classes.json"] + ([f"{data}/pretrain.parquet"] if CFG["pretrain"]["source"] == "captions" else [])


def tbar_pairs():
    return [(d, a) for d, a in PAIRS if d in IMAGE_DATASETS]


def gradient_methods(dataset):
    """The dataset's methods with a per-epoch forget-set loss (plot_poison_loss)."""
    return [m for m in VIEWS[dataset]["unlearn"]["methods"] if method_registry.get(m).per_epoch]


def uses_cube(dataset):
    return VIEWS[dataset]["unlearn"]["forget_set"] == "cube"


def method_labels(names):
    """{method: table label} (the registry's), for the plots: the params carry only the methods a plot draws."""
    return {m: method_registry.get(m).label for m in names}


def study_methods():
    return list(dict.fromkeys(m for d, _ in UNLEARN_PAIRS for m in VIEWS[d]["unlearn"]["methods"]))


def uses_oracle(dataset):
    """The dataset unlearns with a method that starts from ReTrain's oracle (so retrain_oracle trains one)."""
    return any(method_registry.get(m).start == "oracle" for m in VIEWS[dataset]["unlearn"]["methods"])


def table_outputs():
    out = []
    if tbar_pairs():
        out += expand(f"{R}/tables/tbar.{{ext}}", ext=["csv", "md", "tex"]) + [f"{R}/tables/tbar_ca_vs_asr.png"]
    if UNLEARN_PAIRS:
        out += expand(f"{R}/tables/{{name}}.{{ext}}", name=["unlearn", "cube"], ext=["csv", "md", "tex"])
        out += [f"{R}/tables/unlearn_ca_vs_asr.png"]
        out += [f"{R}/seed{s}/unlearn/{d}/{a}/poison_loss.png" for s in SEEDS for d, a in UNLEARN_PAIRS if gradient_methods(d)]
    out += [f"{R}/seed{s}/models/{d}/finetune_loss.png" for s in SEEDS for d in CLASSIFIER_DATASETS if VIEWS[d]["attacks"]]
    if CAPTION_PAIRS:
        out += expand(f"{R}/tables/tbar_caption.{{ext}}", ext=["csv", "md", "tex"])
        out += [f"{R}/seed{s}/tbar_caption/{d}/{a}/unlearning_paths.png" for s in SEEDS for d, a in CAPTION_PAIRS]
    return out


def unlearn_inputs(w):
    """What the job's method declares it needs: the backdoored weights (methods that start from them), the
    forget set's flags (when CUBE chooses it, for methods that read a forget set), ReTrain's oracle model (trained
    once per dataset by retrain_oracle) and the validation sets (TBAR's alpha search)."""
    m, out = method_of(w), {}
    if m.start == "backdoored":
        out["backdoored"] = f"{R}/seed{w.seed}/models/{w.dataset}/{w.attack}/backdoored.safetensors"
    if uses_cube(w.dataset) and m.forget_rows:
        out["flags"] = f"{R}/seed{w.seed}/cube/{w.dataset}/{w.attack}/flags.parquet"
    if m.start == "oracle":
        out["oracle"] = f"{R}/seed{w.seed}/models/{w.dataset}/oracle/model.safetensors"
        out["oracle_history"] = f"{R}/seed{w.seed}/models/{w.dataset}/oracle/history.json"
    if m.needs_val:
        out["val"] = f"{R}/seed{w.seed}/data/{w.dataset}/val.parquet"
        out["val_triggered"] = f"{R}/seed{w.seed}/poisoned/{w.dataset}/{w.attack}/val_triggered.parquet"
    return out


def optional_args(input, *names):
    """'--name path' for each named input present (file names of unlearn's optional inputs)."""
    return " ".join(f"--{n.replace('_', '-')} {getattr(input, n)}" for n in names if n in input.keys())


def unlearning_metrics(wildcards=None):
    """metrics.json of every backdoored model and unlearning job, in table order (seed, dataset, attack, method)."""
    out = []
    for s in SEEDS:
        for d, a in UNLEARN_PAIRS:
            out.append(f"{R}/seed{s}/unlearn/{d}/{a}/backdoored/metrics.json")
            out += [f"{R}/seed{s}/unlearn/{d}/{a}/{m}/metrics.json" for m in VIEWS[d]["unlearn"]["methods"]]
    return out


def cube_reports(wildcards=None):
    """CUBE runs on every pair that is unlearned (Table 7), whichever forget set the methods use."""
    return [f"{R}/seed{s}/cube/{d}/{a}/detection.json" for s in SEEDS for d, a in UNLEARN_PAIRS]


def check_profile():
    """Profile mistakes (unknown rules in set-resources / set-threads, a SLURM partition that does not
    exist or needs an account) end the run here, before any job, with a message naming the key."""
    from bdunlearn.workflow.profile_checks import ProfileError, check_profile as _check

    if not workflow.is_main_process:
        return
    rs = workflow.resource_settings

    def raw(res):
        return {k: getattr(v, "raw", v) for k, v in res.items()}

    overrides = {"set-resources": {r: raw(m) for r, m in rs.overwrite_resources.items()},
                 "set-threads": {r: {} for r in rs.overwrite_threads}}
    defaults = raw(rs.default_resources) if rs.default_resources is not None else {}
    try:
        _check([r.name for r in workflow.rules], overrides, defaults)
    except ProfileError as err:
        raise WorkflowError(str(err)) from None


# The image-caption track (TBAR section 4): its jobs' params and inputs.
def caption_dataset_params(w):
    ds = VIEWS[w.dataset]
    keys = ("name", "source", "eval", "classnames", "templates", "target",
            *(("hf", "eval_hf", "pairs") if ds["source"] == "hf" else ("scenes",)))
    return {**base_params(w), **{k: ds[k] for k in keys}, "resolution": model_resolution(CFG["model"])}


# attacks whose trigger rule optimize_trigger learns against the clean CLIP before poisoning (BadCLIP)
LEARNED_ATTACKS = [a for a in attack_registry.names("image") if attack_registry.get(a).learned]


def learned_trigger(w):
    """A learned attack's optimised trigger, an input of its poisoning job ({} for the others)."""
    if w.attack not in LEARNED_ATTACKS:
        return {}
    return {"trigger": f"{R}/seed{w.seed}/attacks/{w.dataset}/{w.attack}/trigger.safetensors"}


def own_captions(attack, params):
    """The captions an attack imposes on its poisoned pairs (BadCLIP: natural), or None: the dataset's."""
    frag = attack_registry.get(attack).parameters.get("captions")
    mode = params.get("captions", frag["default"]) if frag else "dataset"
    return None if mode == "dataset" else mode


def caption_poison_params(w):
    ds = VIEWS[w.dataset]
    ap = ds["attack_params"].get(w.attack, {})
    prm = job_params(w, poison_rate=ds["poison_rate"], attack_params=ap)
    if own_captions(w.attack, ap) is None:  # else the attack's own captions: the dataset's key is not read
        prm["poison_captions"] = ds["poison_captions"]
    return prm


def optimize_trigger_params(w):
    """A learned attack's optimisation: its attack_params but the poisoned captions (read by poisoning only)."""
    ap = {k: v for k, v in VIEWS[w.dataset]["attack_params"].get(w.attack, {}).items() if k != "captions"}
    return job_params(w, "device", attack_params=ap)


def backdoor_clip_params(w):
    return job_params(w, "device", backdoor=VIEWS[w.dataset]["backdoor"])


def zeroshot_params(w):
    return job_params(w, "device", "eval_batch_size", model=w.model)


def caption_model_weights(w):
    """The whole-CLIP state a zero-shot row evaluates ({} for the pretrained CLIP, the zero-shot row)."""
    if w.model == "zeroshot":
        return {}
    return {"weights": f"{R}/seed{w.seed}/models/{w.dataset}/{w.attack}/{w.model}_clip.safetensors"}


# the models the caption table's rows evaluate (bdunlearn.evaluation.caption_table.ROWS names and groups them);
# a dataset's clean-data defenses (datasets.<name>.defenses) come after the backdoored row
# and its reverse-engineered rows (datasets.<name>.decree.methods) come last
CAPTION_ROWS = ["zeroshot", "backdoored", *clip_defenses.names(), "ga", "tbar", "ga_decree", "tbar_decree"]


def caption_rows(dataset):
    ds = VIEWS[dataset]
    optional = {**{d: d in ds["defenses"] for d in clip_defenses.names()},
                **{f"{m}_decree": m in ds["decree"]["methods"] for m in ("ga", "tbar")}}
    return [m for m in CAPTION_ROWS if optional.get(m, True)]


def decree_params(w):
    dc = VIEWS[w.dataset]["decree"]
    return job_params(w, "device", "eval_batch_size", decree={k: dc[k] for k in (*DecreeConfig.keys(), "target_inference") if k in dc})


def clip_decree_params(w):
    """GA+DECREE reads the window and its epoch budget, TBAR+DECREE the window and its alpha walk."""
    dc = VIEWS[w.dataset]["decree"]
    keys = ("min_ca_retention", "window", *(("ga_max_epochs",) if w.method == "ga" else ("alpha_step", "alpha_max")))
    return {**clip_unlearn_params(w), "eval_batch_size": CFG["eval_batch_size"], "decree": {k: dc[k] for k in keys}}


def defense_params(w):
    return job_params(w, "device", defense=w.defense, recipe=VIEWS[w.dataset]["defenses"][w.defense])


def clip_unlearn_params(w):
    """TBAR's trigger vector and GA on the forget set: the backdoor recipe with unlearn_recipe over it."""
    return job_params(w, "device", recipe=VIEWS[w.dataset]["unlearn_recipe"])


def clip_tau_params(w):
    """The trigger vector's params; with the epoch curve (Fig. 11) also the alpha search that scores each epoch."""
    prm = clip_unlearn_params(w)
    if VIEWS[w.dataset]["tbar_epoch_curve"]:  # each epoch's alpha: the grid, the rule, the curve's own strategy
        view = VIEWS[w.dataset]
        search = {k: view["alpha_search"][k] for k in ("grid", "rule", "max_asr")}
        search["strategy"] = view["tbar_epoch_curve_search"]
        if search["strategy"] == "adaptive":
            search["patience"] = view["curve_patience"]
        prm.update(epoch_curve=True, alpha_search=search, eval_batch_size=CFG["eval_batch_size"])
    return prm


def clip_ga_params(w):
    view = VIEWS[w.dataset]
    prm = {**clip_unlearn_params(w), "eval_batch_size": CFG["eval_batch_size"], "ga_epochs": view["ga_epochs"]}
    if (view["ga_curve_epochs"] or 0) > view["ga_epochs"]:  # only then read: results without a curve stay cached
        prm["ga_curve_epochs"] = view["ga_curve_epochs"]
    return prm


def clip_alpha_params(w):
    return job_params(w, "device", "eval_batch_size", alpha_search=VIEWS[w.dataset]["alpha_search"])


def caption_unlearning_paths(w):
    """The GA+DECREE / TBAR+DECREE reports Fig. 12 plots (none when the dataset runs no DECREE method)."""
    methods = VIEWS[w.dataset]["decree"]["methods"]
    return {"decree": [f"{R}/seed{w.seed}/models/{w.dataset}/{w.attack}/{m}_decree_clip.json" for m in methods]} if methods else {}


def caption_metrics(wildcards=None):
    return [f"{R}/seed{s}/eval_caption/{d}/{a}/{m}/metrics.json" for s in SEEDS for d, a in CAPTION_PAIRS
            for m in caption_rows(d)]


# TBAR's analyses on the image track (workflow/rules/analyses.smk): which run, and their jobs' params.


def analysis(dataset, which):
    return VIEWS[dataset].get("analyses", {}).get(which)


def analysis_attacks(dataset, which):
    """The dataset's attacks an analysis runs on (its ``attacks`` key narrows them), none when it is off."""
    spec = analysis(dataset, which)
    if spec is None or dataset not in IMAGE_DATASETS:
        return []
    sub = spec.get("attacks") if isinstance(spec, dict) else None
    return [a for a in VIEWS[dataset]["attacks"] if sub is None or a in sub]


def analysis_pairs(which):
    return [(d, a) for d in IMAGE_DATASETS for a in analysis_attacks(d, which)]


def forget_variants(dataset, attack, kind):
    """The variant names of one (dataset, attack): ``mix<f>`` (kind mixtures) or ``size<n>`` (kind sizes)."""
    if kind == "mixtures":
        on = attack in analysis_attacks(dataset, "forget_mixtures")
        return [mixture_name(f) for f in analysis(dataset, "forget_mixtures")["fractions"]] if on else []
    on = attack in analysis_attacks(dataset, "forget_sizes")
    return [size_name(n) for n in analysis(dataset, "forget_sizes")["sizes"]] if on else []


def forget_variant_params(w):
    ds, kind = VIEWS[w.dataset], "mixtures" if w.variant.startswith("mix") else "sizes"
    spec = analysis(w.dataset, f"forget_{kind}")
    recipe = dict(ds["trigger_vector"])
    extra = {}
    if kind == "sizes":
        recipe["epochs"] = spec["epochs"]
    elif spec.get("size"):
        extra["size"] = spec["size"]
    search = {**{k: v for k, v in ds["alpha_search"].items() if k != "patience"}, "strategy": "grid",
              **({"grid": spec["grid"]} if "grid" in spec else {})}
    return job_params(w, "device", "eval_batch_size", variant=w.variant, trigger_vector=recipe, alpha_search=search, **extra)


def disentanglement_params(w):
    spec = analysis(w.dataset, "disentanglement")
    return job_params(w, "device", "eval_batch_size", disentanglement={k: spec[k] for k in ("grid", "max_asr")})


def transfer_vector(w):
    return f"{R}/seed{w.seed}/tbar/{analysis(w.dataset, 'transfer_from')}/{w.attack}/trigger_vector.safetensors"


def merge_params(w):
    spec = analysis(w.dataset, "merging")
    return job_params(w, merger=w.merger, options=spec[w.merger], **{"with": spec["with"]})


def merge_pairs():
    return [(d, a, m) for d, a in analysis_pairs("merging") for m in analysis(d, "merging")["methods"]]


def analysis_outputs():
    """The analyses' plots and tables (rule all)."""
    out = []
    for s in SEEDS:
        out += [f"{R}/seed{s}/tbar/{d}/{a}/disentanglement.png" for d, a in analysis_pairs("disentanglement")]
        for kind in ("mixtures", "sizes"):
            out += [f"{R}/seed{s}/tbar_forget/{d}/{a}/{kind}.png" for d, a in analysis_pairs(f"forget_{kind}")]
    if analysis_pairs("transfer_from"):
        out += expand(f"{R}/tables/tbar_transfer.{{ext}}", ext=["csv", "md", "tex"])
    if merge_pairs():
        out += expand(f"{R}/tables/tbar_merging.{{ext}}", ext=["csv", "md", "tex"])
    return out


# The LLM track: its jobs' params and inputs. Model names: original, <method>-normal,
# <method>-backdoor-<placement>[-novn|-vn<lambda>] (bdunlearn.methods.llm_variants).
def prepare_facts_params(w):
    v = VIEWS[w.dataset]
    return {**base_params(w), "source": v["source"], v["source"]: v[v["source"]]}


def pretrain_lm_params(w):
    v = VIEWS[w.dataset]
    spec = v["llm_model"]
    prm = {**base_params(w, "device"),
           "llm_model": {k: spec[k] for k in ("name", "tokenizer", "dtype")} if spec["name"] else spec}
    if not spec["name"]:  # a hub model is only copied: the pretraining recipe is not read
        prm["lm_pretrain"] = v["lm_pretrain"]
    return prm


def llm_unlearn_params(w):
    v = VIEWS[w.dataset]
    un, bd = v["llm_unlearn"], v["llm_backdoor"]
    placement, lam = method_variant(w.method, w.variant, bd["value_norm"]["lambda"])
    hp = {k: x for k, x in un[w.method].items() if placement or k != "reference"}  # NPO's reference: backdoored only
    prm = {**base_params(w, "device"), "dtype": v["llm_model"]["dtype"], "method": w.method, "hp": hp,
           "max_len": un["max_len"], "chunk": un["chunk"], "backdoor": None,
           "schedule": {k: un[k] for k in ("max_batches", "shuffle", "topic_max_len")}}
    if placement:
        prm["backdoor"] = {"trigger": bd["trigger"], "rho": bd["rho"], "select": bd["select"],
                           "select_seed": bd["select_seed"], "placement": placement,
                           "value_norm": {**bd["value_norm"], "lambda": lam}}
    return prm


def llm_unlearn_inputs(w):
    d = f"{R}/seed{w.seed}/llm/{w.dataset}"
    out = {"original": f"{d}/models/original", "forget": f"{d}/data/forget.parquet",
           "retain": f"{d}/data/retain.parquet"}
    v = VIEWS[w.dataset]
    vn = v["llm_backdoor"]["value_norm"]
    placement, lam = method_variant(w.method, w.variant, vn["lambda"])
    if placement and lam > 0:  # theta_u: the value-norm target on D_f
        out["unlearned"] = f"{d}/models/{vn['target_method'] or w.method}-normal"
    if placement and w.method == "npo" and v["llm_unlearn"]["npo"]["reference"] == "normal":
        out["reference"] = f"{d}/models/npo-normal"  # NPO's forget-term reference (the WMDP scripts)
    return out


def evaluate_lm_params(w):
    v = VIEWS[w.dataset]
    bd = v["llm_backdoor"]
    return {**base_params(w, "device"), "dataset": w.dataset, "model": w.model, "dtype": v["llm_model"]["dtype"],
            "llm_eval": v["llm_eval"], "trigger": bd["trigger"], "placements": bd["placements"]}


def llm_models(dataset):
    """The models the LLM tables score: the original, each method's normal model, a backdoored one per placement
    and, with ablate_value_norm, the default placement without the value-norm term, then at each swept lambda
    (none of these two for TBAR, which has no value-norm term)."""
    v = VIEWS[dataset]
    bd = v["llm_backdoor"]
    out = ["original"]
    for m in v["llm_unlearn"]["methods"]:
        out += [f"{m}-normal"] + [f"{m}-{backdoor_variant(p)}" for p in bd["placements"]]
        if m in NO_VALUE_NORM:  # TBAR: eq. 2 alone, under the plain name
            continue
        if bd["ablate_value_norm"] and bd["value_norm"]["lambda"] > 0:
            out.append(f"{m}-{backdoor_variant(bd['default_placement'], 'off')}")
        out += [f"{m}-{backdoor_variant(bd['default_placement'], 'sweep', lam)}" for lam in bd["value_norm_sweep"]]
    return out


def llm_metrics(wildcards=None):
    return [f"{R}/seed{s}/llm/{d}/eval/{m}/metrics.json" for s in SEEDS for d in LLM_DATASETS for m in llm_models(d)]


def llm_default_placement(wildcards=None):
    placements = {VIEWS[d]["llm_backdoor"]["default_placement"] for d in LLM_DATASETS}
    if len(placements) > 1:
        raise WorkflowError(f"llm_backdoor.default_placement differs between the LLM datasets ({sorted(placements)}); "
                            "the table has one")
    return placements.pop()


def llm_analysis_pairs():
    """``(dataset, method)`` of the per-position plots (Figs. 3-5): the prefix, and infix when trained."""
    return [(d, m) for d in LLM_DATASETS if VIEWS[d]["llm_analysis"]["enabled"]
            for m in VIEWS[d]["llm_unlearn"]["methods"]]


def analyze_sinks_inputs(w):
    d = f"{R}/seed{w.seed}/llm/{w.dataset}"
    bd = VIEWS[w.dataset]["llm_backdoor"]
    out = {"original": f"{d}/models/original", "normal": f"{d}/models/{w.method}-normal",
           "forget": f"{d}/data/forget.parquet", "retain": f"{d}/data/retain.parquet"}
    out.update({f"bd_{p}": f"{d}/models/{w.method}-backdoor-{p}" for p in _sink_placements(bd)})
    return out


def _sink_placements(bd):
    return list(dict.fromkeys([bd["default_placement"]] + [p for p in ("prefix", "infix") if p in bd["placements"]]))


def analyze_sinks_params(w):
    v = VIEWS[w.dataset]
    bd = v["llm_backdoor"]
    return {**base_params(w, "device"), "method": w.method, "dtype": v["llm_model"]["dtype"],
            "llm_analysis": {k: x for k, x in v["llm_analysis"].items() if k != "enabled"},
            "llm_backdoor": {"trigger": bd["trigger"], "default_placement": bd["default_placement"],
                             "value_norm": {k: bd["value_norm"][k] for k in ("sinks", "include_first_token")}}}


def analyze_sinks_backdoored(w, input):
    return " ".join(f"{p}={input[f'bd_{p}']}" for p in _sink_placements(VIEWS[w.dataset]["llm_backdoor"]))


def llm_outputs():
    """The LLM track's tables and per-position plots (rule all)."""
    if not LLM_DATASETS:
        return []
    out = expand(f"{R}/tables/llm_unlearning.{{ext}}", ext=["csv", "md", "tex"]) + \
        [f"{R}/tables/llm_unlearning_placements.md"]
    return out + [f"{R}/seed{s}/llm/{d}/sinks/{m}/{plot}.png" for s in SEEDS for d, m in llm_analysis_pairs()
                  for plot in ("attention_diff", "logits_by_position", "value_norm_correlation")]
