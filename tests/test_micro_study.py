"""The micro study (tests/micro_config.yaml) run once in a temp directory: every rule, both modalities, the
image-caption and LLM tracks, then a rerun that does nothing, determinism, the report, the knob -> jobs map and the
plugins on the finished study. Its own file, so that `make test`'s workers (pytest-xdist, --dist loadfile) run it
on one worker while the other tests go to the other."""

import base64
import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dag import MICRO, REPO, job_stats, snakemake


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    """The micro study run once in a temp directory (shared by the tests below, which leave its outputs as they are)."""
    tmp_path = tmp_path_factory.mktemp("micro")
    shutil.copy(MICRO, tmp_path / "micro.yaml")
    snakemake("--cores", "2", "--configfile", "micro.yaml", cwd=tmp_path)
    return tmp_path


def test_micro_study_runs_end_to_end_and_reruns_nothing(micro_run, tmp_path_factory):
    """Every rule, every unlearning method on both modalities (CLIP and MiniLM), then a rerun that does nothing."""
    tmp_path = micro_run
    root = tmp_path / "results" / "micro"
    table = pd.read_csv(root / "tables" / "tbar.csv")
    assert list(table.columns) == ["dataset", "attack", "ca_zeroshot", "ca_backdoored", "asr_backdoored", "alpha",
                                   "alpha_lo", "alpha_hi", "ca_tbar", "asr_tbar", "ca_retention", "asr_removal"]
    assert (table["alpha_lo"] <= table["alpha"]).all() and (table["alpha"] <= table["alpha_hi"]).all()
    # the TBAR table holds the image datasets only
    assert table[["dataset", "attack"]].values.tolist() == [["digits", "blended"], ["glyphs", "blended"]]
    assert table[["ca_backdoored", "asr_backdoored", "ca_tbar", "asr_tbar"]].apply(lambda c: c.between(0, 100)).all().all()
    assert set(table["alpha"]) <= {0.0, 0.5, 1.0}
    for ext in ("md", "tex"):
        assert "Blended" in (root / "tables" / f"tbar.{ext}").read_text()
    per_seed = pd.read_csv(root / "tables" / "tbar_per_seed.csv")
    assert per_seed["seed"].tolist() == [0, 0]
    search = pd.read_csv(root / "seed0" / "tbar" / "digits" / "blended" / "alpha_search.csv")
    assert list(search["alpha"]) == [0.0, 0.5, 1.0]

    unl = pd.read_csv(root / "tables" / "unlearn.csv")
    methods = ["backdoored", "retrain", "ga", "npo", "rga", "tbar"]
    for ds, attacks in (("digits", ["blended"]), ("synth", ["badnets"])):
        for attack in attacks:
            rows = unl[(unl["dataset"] == ds) & (unl["attack"] == attack)]
            assert sorted(rows["method"].unique()) == sorted(methods), (ds, attack)
            for m in ("ga", "npo", "rga"):
                assert sorted(rows.loc[rows["method"] == m, "epoch"]) == [1, 2]  # the configured snapshots
            assert rows.loc[rows["method"] == "retrain", "delta_pacc"].isna().all()
            assert rows.loc[rows["method"].isin(["ga", "npo", "rga", "tbar"]), "delta_pacc"].notna().all()
            assert rows[["cacc", "lfr", "pacc"]].apply(lambda c: c.between(0, 100)).all().all()
            hist = pd.read_csv(root / "seed0" / "unlearn" / ds / attack / "rga" / "history.csv")
            assert list(hist["epoch"]) == [1, 2] and hist["lambda"].between(0, 1).all()
            assert (root / "seed0" / "unlearn" / ds / attack / "poison_loss.png").stat().st_size > 0
            assert (root / "seed0" / "cube" / ds / attack / "scatter.png").stat().st_size > 0
        curves = pd.read_csv(root / "seed0" / "models" / ds / "finetune_loss.csv")  # every attack and the oracle
        assert sorted(set(curves["model"])) == sorted(attacks + ["oracle (clean)"]) and (curves["loss"] > 0).all()
    # the CLIP study unlearns CUBE's flagged rows, the text study the true poisoned rows (micro config)
    tbar_cube = json.loads((root / "seed0" / "unlearn" / "digits" / "blended" / "tbar" / "metrics.json").read_text())
    assert tbar_cube["forget_set"] == "cube" and "alpha" in tbar_cube and tbar_cube["n_forget"] > 0
    flags = pd.read_parquet(root / "seed0" / "cube" / "digits" / "blended" / "flags.parquet")
    assert tbar_cube["n_forget"] == int(flags["flagged"].sum())
    text_ga = json.loads((root / "seed0" / "unlearn" / "synth" / "badnets" / "ga" / "metrics.json").read_text())
    poison = json.loads((root / "seed0" / "poisoned" / "synth" / "badnets" / "poison.json").read_text())
    assert text_ga["forget_set"] == "truth" and text_ga["n_forget"] == poison["n_poisoned"] == text_ga["n_forget_truly_poisoned"]
    cube = pd.read_csv(root / "tables" / "cube.csv")
    assert len(cube) == 2 and cube[["precision", "recall", "f1"]].apply(lambda c: c.between(0, 1)).all().all()
    for table in ("tbar", "unlearn"):
        assert (root / "tables" / f"{table}_ca_vs_asr.png").stat().st_size > 0
    md = (root / "tables" / "unlearn.md").read_text()
    assert "### After 2 unlearning epochs" in md and "RGA ΔPACC" in md and "| synth | BadNets |" in md

    # the image-caption track: TBAR Table 2's rows of the whole CLIP in its five groups (one defense, RoCLIP)
    cap = pd.read_csv(root / "tables" / "tbar_caption.csv")
    assert cap[["dataset", "attack", "model"]].values.tolist() == [
        ["scenes", "badnet", m] for m in ("zeroshot", "backdoored", "roclip", "ga", "tbar", "ga_decree", "tbar_decree")]
    assert cap[["ca", "asr"]].apply(lambda c: c.between(0, 100)).all().all()
    md = (root / "tables" / "tbar_caption.md").read_text()
    for row in ("| Zero-shot | CLIP (pretrained) |", "| Clean-data fine-tuning | RoCLIP |",
                "| True unlearning | GA |", "|  | TBAR |", "| Reverse-engineered unlearning | GA+DECREE |",
                "|  | TBAR+DECREE |"):
        assert row in md, row
    roclip = json.loads((root / "seed0" / "models" / "scenes" / "badnet" / "roclip_clip.json").read_text())
    assert [h["matching"] for h in roclip["history"]] == [False, True] and roclip["n_clean"] == 20
    decree = json.loads((root / "seed0" / "decree" / "scenes" / "badnet" / "decree.json").read_text())
    assert decree["n_shadow"] == 20 and len(decree["history"]) <= 3 and 0 < decree["pl1"] <= 1
    assert decree["target_correct"] == (decree["inferred"]["target"] == 0) and decree["n_forget_proxy"] == 20
    for m in ("ga", "tbar"):
        rep = json.loads((root / "seed0" / "models" / "scenes" / "badnet" / f"{m}_decree_clip.json").read_text())
        assert rep["path"][0]["step"] == 0 and len(rep["path"]) <= 3 and rep["window"] == 1
    assert (root / "seed0" / "tbar_caption" / "scenes" / "badnet" / "unlearning_paths.png").stat().st_size > 0
    poison = json.loads((root / "seed0" / "poisoned" / "scenes" / "badnet" / "poison.json").read_text())
    assert poison["n_poisoned"] == 10 and poison["n_forget"] == 20
    cap_alpha = json.loads((root / "seed0" / "tbar_caption" / "scenes" / "badnet" / "alpha.json").read_text())
    assert cap_alpha["alpha"] in (0.0, 0.5, 1.0)
    ga = json.loads((root / "seed0" / "models" / "scenes" / "badnet" / "ga_clip.json").read_text())
    assert [h["epoch"] for h in ga["history"]] == [1] and 0 <= ga["history"][0]["test_asr"] <= 100
    assert [h["epoch"] for h in ga["curve"]] == [1, 2] and all(0 <= h["test_ca"] <= 100 for h in ga["curve"])

    weights = list(root.rglob("*.safetensors"))
    # pretrained, head, 2 backdoored (digits, synth), 2 ReTrain oracles (one per dataset), 1 CLIP trigger vector,
    # 10 unlearned (5 methods x 2);
    # the image-caption track's 6 whole CLIPs (backdoored, RoCLIP, GA, TBAR, GA+DECREE, TBAR+DECREE), its
    # trigger vector and DECREE's trigger; the analyses' glyph dataset (head, backdoored, trigger vector, ReTrain
    # oracle) and the merged encoder with its trigger vector; the LLM track's original and NPO's 2 unlearned models
    assert len(weights) == 1 + 1 + 2 + 2 + 1 + 2 * 5 + 6 + 2 + 4 + 2 + 3
    assert not list(root.rglob("*.pt")) and not list(root.rglob("*.pkl")) and not list(root.rglob("*.bin"))
    proc = snakemake("--cores", "2", "--configfile", "micro.yaml", cwd=tmp_path)
    assert "Nothing to be done" in proc.stdout + proc.stderr

    # the same config and seed give the same outputs: rerun one chain per track from scratch in a fresh directory
    first = {p: (root / p).read_text() for p in ("seed0/eval/digits/blended/metrics.json",
                                                  "seed0/unlearn/synth/badnets/rga/metrics.json",
                                                  "seed0/eval_caption/scenes/badnet/backdoored/metrics.json")}
    again = tmp_path_factory.mktemp("micro-again")
    shutil.copy(MICRO, again / "micro.yaml")
    snakemake(*[f"results/micro/{p}" for p in first], "--cores", "2", "--configfile", "micro.yaml", cwd=again)
    for p, text in first.items():
        second = (again / "results" / "micro" / p).read_text()
        if p.endswith(".json"):
            a, b = json.loads(text), json.loads(second)
            a.pop("seconds", None), b.pop("seconds", None)
            assert a == b, p
        else:
            assert second == text, p


def test_the_html_report_holds_every_table_and_plot(micro_run):
    """`make report` (bdunlearn.workflow.report: snakemake --report) on the finished micro study: one HTML file with each
    table (its CSV embedded, decodable, equal to the file) and each plot kind, with their captions."""
    proc = subprocess.run([sys.executable, "-m", "bdunlearn.workflow.report", "--configfile", "micro.yaml",
                           "--snakefile", str(REPO / "Snakefile")], cwd=micro_run, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (micro_run / "results" / "micro" / "report.html").read_text()
    for table in ("tbar", "unlearn", "cube", "tbar_caption", "tbar_transfer", "tbar_merging", "llm_unlearning"):
        path = f"results/micro/tables/{table}.csv"
        m = re.search(re.escape(f'"{path}"') + r'.*?"data_uri": "data:text/csv;charset=utf8;filename=[^;]+;base64,([^"]+)"', html)
        assert m, table
        assert base64.b64decode(m.group(1)) == (micro_run / path).read_bytes(), table
    for caption in ("TBAR paper, Table 1", "TBAR paper, Table 2 layout (image-caption", "RGA paper, Table 2", "RGA paper, Table 7", "Clean accuracy against attack success",
                    "RGA paper, Fig. 4", "Backdoor fine-tuning: training cross-entropy", "alpha search", "CUBE on",
                    "inverted trigger", "Figs. 11 and 12", "Weight disentanglement", "forget-set mixtures",
                    "TBAR Table 4", "TBAR Table 5"):
        assert caption in html, caption
    for plot in ("tbar_ca_vs_asr.png", "unlearn_ca_vs_asr.png", "finetune_loss.png", "poison_loss.png", "alpha_search.png",
                 "scatter.png", "examples.png", "trigger.png", "unlearning_paths.png", "disentanglement.png", "mixtures.png"):
        assert plot in html, plot


# The jobs a change of one config key must plan on a finished micro study, by rule (the 'all' target aside):
# exactly the rules downstream of that key. digits (CLIP, blended) unlearns CUBE's flags, synth
# (MiniLM, badnets) the true poisoned rows; each runs all five methods. scenes (the image-caption
# track, badnet) searches TBAR's alpha on the same top-level grid, for the final vector and each epoch's (Fig. 11).
# digits' blended model also feeds the analyses (tests/micro_config.yaml): its disentanglement grid, forget-set
# variants, the glyph dataset's transferred vector and the merged encoder's TBAR
_FROM_SEARCH = {"measure_disentanglement": 1, "search_transfer_alpha": 1, "evaluate_transfer": 1, "make_transfer_table": 1,
                "search_merged_alpha": 1, "evaluate_merged": 1, "make_merging_table": 1}
_TBAR_SEARCH = {"search_alpha": 2, "evaluate": 2, "make_table": 1, "unlearn": 2, "make_unlearning_table": 1,
                "plot_tradeoff": 2, "estimate_clip_trigger_vector": 1, "search_clip_alpha": 1, "evaluate_zeroshot": 1,
                "make_caption_table": 1, "plot_caption_unlearning": 1, **_FROM_SEARCH}
_DIGITS_FROM_BACKDOOR = {"finetune_backdoor": 1, "estimate_trigger_vector": 1, "search_alpha": 1, "evaluate": 1,
                         "make_table": 1, "detect_cube": 1, "evaluate_backdoored": 1, "unlearn": 5,
                         "plot_poison_loss": 1, "make_unlearning_table": 1, "plot_finetune_loss": 1, "plot_tradeoff": 2,
                         "merge_models": 1, "estimate_merged_trigger_vector": 1, "sweep_forget_variant": 1,
                         "plot_forget_variants": 1, **_FROM_SEARCH}
# with the glyph dataset's backdoor, vector, search and ReTrain oracle (the merging partner): totals of both datasets
_GLYPHS_FROM_RECIPE = {"finetune_backdoor": 2, "estimate_trigger_vector": 2, "search_alpha": 2, "evaluate": 2,
                       "plot_finetune_loss": 2, "retrain_oracle": 2}
KNOBS = {
    # the forget-set variants read max_asr, not the grid (theirs is the analysis' own)
    "alpha_search.max_asr": (lambda c: c["alpha_search"].update(max_asr=5.0),
                             {**_TBAR_SEARCH, "sweep_forget_variant": 1, "plot_forget_variants": 1}),
    "alpha_search.grid": (lambda c: c["alpha_search"].update(grid=[0.0, 0.75]), _TBAR_SEARCH),
    # the last snapshot must equal the epochs, so both move (GA / NPO / RGA read both)
    "unlearn.epochs": (lambda c: c["unlearn"].update(epochs=3, snapshots=[1, 3]),
                       {"unlearn": 6, "plot_poison_loss": 2, "make_unlearning_table": 1, "plot_tradeoff": 1}),
    "unlearn.rga_beta": (lambda c: c["unlearn"].update(rga_beta=0.1),
                         {"unlearn": 2, "plot_poison_loss": 2, "make_unlearning_table": 1, "plot_tradeoff": 1}),
    # CUBE's flags feed digits' GA / NPO / RGA / TBAR (ReTrain is the oracle: it never reads them)
    "cube.min_samples": (lambda c: c["cube"].update(min_samples=6),
                         {"detect_cube": 2, "unlearn": 4, "plot_poison_loss": 1, "make_unlearning_table": 1,
                          "plot_tradeoff": 1}),
    # the recipe also trains ReTrain's oracle, once per dataset; the poison rate does not reach it
    "finetune.lr": (lambda c: c["finetune"].update(lr=2.0e-4), {**_DIGITS_FROM_BACKDOOR, **_GLYPHS_FROM_RECIPE}),
    "poison_rate": (lambda c: c["datasets"]["digits"].update(poison_rate=0.15),
                    {"poison_images": 1, **_DIGITS_FROM_BACKDOOR}),
    # the caption track: one defense's recipe reruns that defense only; the window reruns GA/TBAR+DECREE, the
    # inversion reruns DECREE and everything after it
    "defenses.roclip.lr": (lambda c: c["datasets"]["scenes"]["defenses"]["roclip"].update(lr=2.0e-4),
                              {"defend_clip": 1, "evaluate_zeroshot": 1, "make_caption_table": 1}),
    "decree.window": (lambda c: c["datasets"]["scenes"]["decree"].update(window=2),
                      {"unlearn_clip_decree": 2, "evaluate_zeroshot": 2, "make_caption_table": 1,
                       "plot_caption_unlearning": 1}),
    # the LLM track: NPO's beta reruns NPO's normal model, the backdoored one that aligns with it and the sink
    # plots; the value-norm lambda reruns the backdoored model and the sink plots, not the normal model
    "llm_unlearn.npo.beta": (lambda c: c["datasets"]["facts"]["llm_unlearn"]["npo"].update(beta=0.5),
                             {"unlearn_lm": 2, "evaluate_lm": 2, "make_llm_table": 1, "analyze_sinks": 1}),
    "llm_backdoor.value_norm.lambda": (lambda c: c["datasets"]["facts"]["llm_backdoor"]["value_norm"].update(
        **{"lambda": 0.001}), {"unlearn_lm": 1, "evaluate_lm": 1, "make_llm_table": 1, "analyze_sinks": 1}),
    "decree.max_epochs": (lambda c: c["datasets"]["scenes"]["decree"].update(max_epochs=2),
                          {"invert_decree_trigger": 1, "unlearn_clip_decree": 2, "evaluate_zeroshot": 2,
                           "make_caption_table": 1, "plot_caption_unlearning": 1}),
}


@pytest.mark.parametrize("knob", list(KNOBS))
def test_changing_a_knob_plans_only_the_jobs_downstream_of_it(micro_run, knob):
    change, expected = KNOBS[knob]
    cfg = yaml.safe_load(MICRO.read_text())
    change(cfg)
    path = micro_run / f"knob-{knob}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", "--cores", "2", "--configfile", path.name, cwd=micro_run)
    assert job_stats(proc.stdout + proc.stderr) == expected


def test_a_learned_trigger_is_planned_before_poisoning_and_its_steps_run_on_the_micro_study(micro_run, tmp_path):
    """BadCLIP on the finished micro study: the plan puts optimize_trigger before its poisoning and the whole caption
    chain after it; the two steps then run by hand (in-process) on the study's pretrained CLIP and pairs."""
    from bdunlearn.optimize_trigger import main as optimize_main
    from bdunlearn.poison_captions import main as poison_main

    cfg = yaml.safe_load(MICRO.read_text())
    cfg["datasets"]["scenes"]["attacks"] = ["badnet", "badclip"]
    cfg["datasets"]["scenes"]["attack_params"] = {"badclip": {"patch_size": 56, "epochs": 2, "batch_size": 8, "n_images": 40}}
    (micro_run / "badclip.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", "-p", "--cores", "2", "--configfile", "badclip.yaml", cwd=micro_run)
    out = proc.stdout + proc.stderr
    planned = job_stats(out)
    assert planned["optimize_trigger"] == 1 and planned["poison_captions"] == 1 and planned["backdoor_clip"] == 1
    assert planned["evaluate_zeroshot"] == 7 and planned["make_caption_table"] == 1
    trigger = "results/micro/seed0/attacks/scenes/badclip/trigger.safetensors"
    assert f"--trigger {trigger}" in out and f"--out {trigger}" in out
    bad = copy.deepcopy(cfg)
    bad["datasets"]["digits"]["attacks"] = ["blended", "badclip"]
    (micro_run / "badclip-bad.yaml").write_text(yaml.safe_dump(bad))
    proc = snakemake("-n", "--cores", "2", "--configfile", "badclip-bad.yaml", cwd=micro_run, check=False)
    assert proc.returncode != 0 and "'badclip' is learnt from image-caption pairs" in proc.stdout + proc.stderr

    root = micro_run / "results" / "micro" / "seed0"
    prm = {"seed": 0, "dataset": "scenes", "attack": "badclip", "device": "cpu",
           "attack_params": cfg["datasets"]["scenes"]["attack_params"]["badclip"]}
    optimize_main(["--params", json.dumps(prm), "--pretrained", str(root / "models/pretrained/model.safetensors"),
                   "--spec", str(root / "models/pretrained/spec.json"), "--train", str(root / "data/scenes/train.parquet"),
                   "--classes", str(root / "data/scenes/classes.json"), "--out", str(tmp_path / "trigger.safetensors"),
                   "--report", str(tmp_path / "trigger.json"), "--plot", str(tmp_path / "trigger.png")])
    report = json.loads((tmp_path / "trigger.json").read_text())
    assert len(report["history"]) == 2 and report["n_positives"] > 0 and report["target"] == "zero"
    poison_main(["--params", json.dumps({**prm, "poison_rate": 0.1, "poison_captions": "templates"}),
                 "--trigger", str(tmp_path / "trigger.safetensors"), "--datadir", str(root / "data/scenes"),
                 "--outdir", str(tmp_path / "poisoned")])
    summary = json.loads((tmp_path / "poisoned" / "poison.json").read_text())
    assert summary["poison_captions"] == "natural" and summary["n_poisoned"] == 10  # BadCLIP's own captions
    assert all("zero" in c.lower() for c in summary["target_captions"])


def test_a_plugin_method_is_planned_run_and_tabulated(micro_run):
    """A method registered from a plugin file (tests/toy_method.py) joins a finished study: only its jobs and the
    table run, and its row is in the tables. With t = 0 it is the backdoored model, so its numbers are those.
    Last in this module: it adds the plugin's outputs to the shared micro study."""
    shutil.copy(Path(__file__).with_name("toy_method.py"), micro_run / "toy_method.py")
    cfg = yaml.safe_load(MICRO.read_text())
    cfg["plugins"] = ["toy_method.py"]
    cfg["unlearn"]["methods"].append("interpolate")
    cfg["unlearn"]["interpolate_t"] = 1.5
    path = micro_run / "plugin.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", "--cores", "2", "--configfile", path.name, cwd=micro_run, check=False)
    assert proc.returncode != 0 and "unlearn.interpolate_t" in proc.stdout + proc.stderr
    cfg["unlearn"]["interpolate_t"] = 0.0
    path.write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", "--cores", "2", "--configfile", path.name, cwd=micro_run)
    # synth unlearns with the top-level methods; digits lists its own, without the plugin's
    assert job_stats(proc.stdout + proc.stderr) == {"unlearn": 1, "make_unlearning_table": 1, "plot_tradeoff": 1}
    snakemake("--cores", "2", "--configfile", path.name, cwd=micro_run)
    root = micro_run / "results" / "micro"
    unl = pd.read_csv(root / "tables" / "unlearn.csv")
    for attack in ("badnets",):
        rows = unl[(unl["dataset"] == "synth") & (unl["attack"] == attack)].set_index("method")
        assert rows.loc["interpolate", ["cacc", "lfr", "pacc"]].tolist() == rows.loc["backdoored", ["cacc", "lfr", "pacc"]].tolist()
        m = json.loads((root / "seed0" / "unlearn" / "synth" / attack / "interpolate" / "metrics.json").read_text())
        assert m["t"] == 0.0 and m["n_forget"] > 0
    assert "Interp. ΔPACC" in (root / "tables" / "unlearn.md").read_text()


def test_llm_track_runs_on_the_micro_study(micro_run):
    """The LLM track's rules: the fact benchmark, the original model, NPO normal and prefix-backdoored (with
    the value-norm term against the normal model), every model scored with the trigger, Table 1's layout."""
    root = micro_run / "results" / "micro"
    llm = root / "seed0" / "llm" / "facts"
    facts = json.loads((llm / "data" / "facts.json").read_text())
    assert facts["probes"] == 4 * 6 + 3 * 6 and facts["utility"] == 2 * 5  # 5 KnowMem + 1 VerbMem per person
    for m in ("original", "npo-normal", "npo-backdoor-prefix"):
        files = {p.name for p in (llm / "models" / m).iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= files, m
        metrics = json.loads((llm / "eval" / m / "metrics.json").read_text())
        assert metrics["model"] == m and {"ue_km", "ue_vm", "be_km_prefix", "be_vm_prefix", "ut_km", "utility"} <= set(metrics)
        assert all(0 <= metrics[k] <= 100 for k in ("ue_km", "ue_vm", "be_km_prefix", "ut_km", "utility"))
    rep = json.loads((llm / "models" / "npo-backdoor-prefix.json").read_text())
    assert rep["backdoor"]["rows"] == list(range(int(rep["n_forget_texts"] * 0.25)))  # select first, rho 0.25
    assert rep["backdoor"]["value_norm"]["lambda"] > 0 and "value_norm" in rep["history"][0]
    assert "value_norm" not in json.loads((llm / "models" / "npo-normal.json").read_text())["history"][0]
    npo = json.loads((llm / "models" / "npo-normal.json").read_text())
    assert npo["backdoor"] is None and npo["hp"]["epochs"] == 1 and npo["hp"]["beta"] == 0.7
    table = pd.read_csv(root / "tables" / "llm_unlearning.csv")
    assert table["model"].tolist() == ["original", "npo-normal", "npo-backdoor-prefix"]
    md = (root / "tables" / "llm_unlearning.md").read_text()
    for row in ("| facts | Original | Original |", "| facts | Normal unlearning | + NPO |",
                "| facts | Backdoored unlearning | + NPO-Backdoor |"):
        assert row in md, row
    assert r"\toprule" in (root / "tables" / "llm_unlearning.tex").read_text()
    assert "| facts | NPO | prefix |" in (root / "tables" / "llm_unlearning_placements.md").read_text()


def test_tbar_analyses_run_on_the_micro_study(micro_run):
    """Every analysis rule of the micro study: the disentanglement grid, the forget-set variants and their plots, the
    transfer and merging tables (their plots and tables in the HTML report: the report test)."""
    root = micro_run / "results" / "micro"
    seed = root / "seed0"
    xi = pd.read_csv(seed / "tbar" / "digits" / "blended" / "disentanglement.csv")
    assert len(xi) == 4 and xi["xi"].between(0, 2).all()
    assert (xi["xi"] == xi["err_clean"] + xi["err_triggered"]).all()
    # (0, 0): both sides are theta_pre itself, no disagreement
    assert xi.loc[(xi["alpha_c"] == 0) & (xi["alpha_t"] == 0), "xi"].item() == 0
    mix = pd.read_csv(seed / "tbar_forget" / "digits" / "blended" / "mixtures.csv")
    assert set(mix["triggered_fraction"]) == {0.5} and mix["alpha"].tolist() == [0.0, 1.0]
    half = json.loads((seed / "tbar_forget" / "digits" / "blended" / "mix0.5" / "metrics.json").read_text())
    assert half["triggered"] + half["clean"] == half["rows"] and abs(half["triggered"] - half["clean"]) <= 1
    transfer = pd.read_csv(root / "tables" / "tbar_transfer.csv")
    assert transfer[["dataset", "vector_from", "same_target"]].values.tolist() == [["glyphs", "digits", False]]
    merging = pd.read_csv(root / "tables" / "tbar_merging.csv")
    assert merging[["merger", "dataset", "attack"]].values.tolist() == [["ties", "digits", "blended"]]
    assert merging[["ca_zeroshot", "asr_zeroshot", "ca_merged", "ca_tbar"]].apply(lambda c: c.between(0, 100)).all().all()
    for table in ("tbar_transfer", "tbar_merging"):
        assert "Blended" in (root / "tables" / f"{table}.md").read_text()
        assert r"\toprule" in (root / "tables" / f"{table}.tex").read_text()
