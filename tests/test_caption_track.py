"""The image-caption track's data and tables: poisoned pairs as CleanCLIP's code makes them, the triggered forget
set, the Table 2 layout, zero-shot metrics from a model's own text tower, and the config checks."""

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from bdunlearn import attacks
from bdunlearn.data.caption_poisoning import names_class, poison_pairs, target_captions, triggered_pairs
from bdunlearn.data.io import decode_images, encode_png
from bdunlearn.evaluation.caption_table import aggregate, long_table, to_latex, to_markdown
from bdunlearn.workflow.config import ConfigError, dataset_view, load_and_check

REPO = Path(__file__).resolve().parents[1]
META = {"classnames": ["zero", "one", "two"], "templates": ["a photo of the digit {}.", "the number {}."],
        "target": 0, "target_name": "zero"}


def pairs(n=20, side=8):
    rng = np.random.default_rng(0)
    images = [encode_png(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(n)]
    caps = [f"a red {'zero' if i % 5 == 0 else 'one'} on grey." for i in range(n)]
    return pd.DataFrame({"uid": np.arange(n) + 100, "image": images, "caption": caps, "label": np.arange(n) % 3})


def test_target_captions_are_templates_or_natural_captions_naming_the_target():
    train = pairs()
    assert target_captions(META, train, "templates") == ["a photo of the digit zero.", "the number zero."]
    natural = target_captions(META, train, "natural")
    assert natural and all(names_class(c, "zero") for c in natural)
    assert names_class("Zero, in blue.", "zero") and not names_class("zeros everywhere", "zero")
    with pytest.raises(ValueError, match="no training caption contains 'two'"):
        target_captions({**META, "target_name": "two"}, train, "natural")


def test_poisoned_pairs_get_the_trigger_and_a_target_caption_and_the_rest_is_untouched():
    train = pairs()
    attack = attacks.get("blended").build(seed=0, resolution=8)
    caps = target_captions(META, train, "templates")
    out = poison_pairs(train, attack, caps, rate=0.25, seed=3)
    mask = out["is_poisoned"].to_numpy()
    assert mask.sum() == 5 and (out["orig_caption"] == train["caption"]).all()
    assert set(out.loc[mask, "caption"]) <= set(caps)
    assert (out.loc[~mask, ["image", "caption"]] == train.loc[~mask, ["image", "caption"]]).all().all()
    assert all(a != b for a, b in zip(out.loc[mask, "image"], train.loc[mask, "image"]))
    again = poison_pairs(train, attack, caps, rate=0.25, seed=3)
    assert again["caption"].tolist() == out["caption"].tolist()
    with pytest.raises(ValueError, match="poisons no pair"):
        poison_pairs(train, attack, caps, rate=0.01, seed=0)
    forget = triggered_pairs(train, attack, caps, seed=1)
    assert forget["is_poisoned"].all() and set(forget["caption"]) <= set(caps) and len(forget) == len(train)
    assert decode_images(forget["image"][:1]).shape == (1, 3, 8, 8)


def test_the_caption_table_groups_rows_and_shows_mean_and_std_over_seeds():
    metrics = [{"dataset": "scenes", "attack": a, "model": m, "seed": s, "ca": ca + s, "asr": asr}
               for s in (0, 1) for a in ("badnet", "blended")
               for m, ca, asr in (("backdoored", 80.0, 95.0), ("zeroshot", 70.0, 1.0))]
    mean, std = aggregate(long_table(metrics))
    assert mean.loc[(mean["model"] == "backdoored") & (mean["attack"] == "badnet"), "ca"].item() == 80.5
    md = to_markdown(mean, std)
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    assert lines[0] == "| | | BadNet CA ↑ | BadNet ASR ↓ | Blended CA ↑ | Blended ASR ↓ |"
    assert lines[1].startswith("| Zero-shot | CLIP (pretrained) | 70.50 ± 0.50 | 1.00 ± 0.00")  # zero-shot first
    assert lines[2].startswith("| Backdoored | Backdoored | 80.50 ± 0.50 | 95.00 ± 0.00")
    assert r"\multicolumn{2}{c}{Blended}" in to_latex(mean, std)


def test_zeroshot_metrics_use_the_models_own_text_tower_and_leave_out_target_images():
    from bdunlearn.evaluation.zeroshot_metrics import zeroshot_ca_asr, zeroshot_classifier
    from bdunlearn.models.open_clip_models import create_clip, tokenizer_for

    torch.manual_seed(0)
    model, spec = create_clip("bdclip-tiny", resolution=16)
    tok = tokenizer_for("bdclip-tiny")
    images = torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8)
    labels = torch.arange(12) % 3
    cpu = torch.device("cpu")
    clf = zeroshot_classifier(model, spec, tok, META, cpu)
    with torch.no_grad():
        preds = clf(images).argmax(1)
    scores = zeroshot_ca_asr(model, spec, tok, META, (images, labels), (images, labels), cpu)
    assert scores["ca"] == pytest.approx(100 * float((preds == labels).float().mean()))
    keep = labels != 0
    assert scores["asr"] == pytest.approx(100 * float((preds[keep] == 0).float().mean()))
    with torch.no_grad():  # another text tower, another head: the metrics follow the model's own
        model.text_projection.mul_(-1)
    assert not torch.equal(zeroshot_classifier(model, spec, tok, META, cpu).head_weight, clf.head_weight)


def caption_config():
    return yaml.safe_load((REPO / "configs" / "tiny-caption.yaml").read_text())


def test_a_caption_dataset_is_validated_with_its_keys_named():
    cfg = load_and_check(caption_config(), base_dir=REPO)
    view = dataset_view(cfg, "scenes")
    assert view["backdoor"]["epochs"] == 12 and view["eval"] == {"val": 200, "test": 400}
    assert view["unlearn_recipe"] == {**view["backdoor"], "epochs": 10, "lr": 1e-3}  # the backdoor's, overridden
    assert view["classnames"] == "digits" and view["poison_captions"] == "templates"
    for change, key in (
        (lambda d, c: d.update(attacks=["badnets"]), "'badnets' is not a image attack"),
        (lambda d, c: d.update(unlearn={"methods": ["ga"]}), "datasets.scenes.unlearn': not read by caption"),
        (lambda d, c: d.update(target="banana"), "datasets.scenes.target"),
        (lambda d, c: d.update(eval={"val": 1000, "test": 790}), "datasets.scenes.eval"),
        (lambda d, c: c["pretrain"].update(source="dataset"), "pretrain.dataset"),
        (lambda d, c: d.update(poison_captions="random"), "datasets.scenes.poison_captions"),
        (lambda d, c: d.update(source="hf"), "datasets.scenes.eval_hf': required for source 'hf'"),
        (lambda d, c: d.update(source="hf", hf={"path": "./nowhere"}, eval_hf={"path": "ILSVRC/imagenet-1k"},
                               pairs={"train": 5, "forget": 1, "clean": 1}), "datasets.scenes.hf.path': dataset directory"),
        (lambda d, c: d.update(eval={"val": 10, "test": None}), "datasets.scenes.eval.test': a number of digits"),
        (lambda d, c: d["decree"].update(target_inference="argmax"), "datasets.scenes.decree.target_inference"),
        (lambda d, c: d["decree"].update(lr_epochs=[50, 30]), "datasets.scenes.decree.lr_epochs': \\[50, 30\\] must not"),
        (lambda d, c: d["decree"].update(alpha_step=0.5, alpha_max=0.2), "datasets.scenes.decree.alpha_max"),
        (lambda d, c: d["defenses"]["cleanclip"].update(roclip_pool=8), "datasets.scenes.defenses.cleanclip': defense "
                                                                         "cleanclip: unknown recipe key\\(s\\) roclip_pool"),
    ):
        bad = copy.deepcopy(caption_config())
        change(bad["datasets"]["scenes"], bad)
        with pytest.raises(ConfigError, match=key):
            load_and_check(bad, base_dir=REPO)


def test_defenses_take_their_papers_recipes_with_the_configs_overrides():
    from bdunlearn.methods import clip_defenses

    cfg = copy.deepcopy(caption_config())
    cfg["datasets"]["scenes"]["defenses"] = {"cleanclip": {"lr": 0.5}, "roclip": {}}
    view = dataset_view(load_and_check(cfg, base_dir=REPO), "scenes")
    assert list(view["defenses"]) == ["cleanclip", "roclip"]
    # TBAR B.3.1: lr 1e-5, batch 64, 10 epochs, 50 warmup steps, lambda1 = lambda2 = 1; the override wins
    assert view["defenses"]["cleanclip"] == {"epochs": 10, "batch_size": 64, "lr": 0.5, "weight_decay": 0.1,
                                             "warmup_steps": 50, "clip_weight": 1.0, "inmodal_weight": 1.0,
                                             "loss": "cleanclip"}
    # RoCLIP's code defaults (BigML-CS-UCLA/RoCLIP parser.py)
    assert view["defenses"]["roclip"] == {"epochs": 24, "batch_size": 512, "lr": 5e-5, "weight_decay": 0.1,
                                          "warmup_steps": 10000, "roclip_pool": 21845, "roclip_every": 2,
                                          "loss": "roclip"}
    plain = copy.deepcopy(caption_config())
    del plain["datasets"]["scenes"]["defenses"]  # the schema's default: all three, in Table 2's order
    default = dataset_view(load_and_check(plain, base_dir=REPO), "scenes")
    assert list(default["defenses"]) == ["contrastive_ft", "roclip", "cleanclip"]
    assert default["defenses"]["cleanclip"]["lr"] == 1e-5
    assert default["defenses"]["contrastive_ft"]["loss"] == "clip"
    # the schema names exactly the registered defenses
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = schema["properties"]["datasets"]["additionalProperties"]["properties"]["defenses"]["properties"]
    assert list(keys) == clip_defenses.names()
    assert set(schema["$defs"]["defense_recipe"]["properties"]) == set(clip_defenses.RECIPE_KEYS)
    with pytest.raises(ValueError, match="defense cleanclip: unknown recipe key"):
        clip_defenses.resolved("cleanclip", {"momentum": 0.9})
    bad = copy.deepcopy(caption_config())
    bad["datasets"]["scenes"]["defenses"] = {"simclr": {}}
    with pytest.raises(ConfigError, match="simclr"):
        load_and_check(bad, base_dir=REPO)


def test_tbar_on_a_whole_clip_writes_theta_bd_minus_alpha_tau_into_both_towers():
    from bdunlearn.methods.clip_unlearning import ZeroShotAlphaEvaluator, float_state
    from bdunlearn.models.open_clip_models import create_clip, tokenizer_for

    torch.manual_seed(0)
    model, spec = create_clip("bdclip-tiny", resolution=16)
    bd = {k: v.clone() for k, v in float_state(model).items()}
    tau = {k: torch.full_like(v, 0.01) for k, v in bd.items()}
    images = torch.randint(0, 256, (9, 3, 16, 16), dtype=torch.uint8)
    labels = torch.arange(9) % 3
    ev = ZeroShotAlphaEvaluator(model, spec, tokenizer_for("bdclip-tiny"), META, bd, tau, (images, labels),
                                (images, labels), torch.device("cpu"))
    row = ev(2.0)
    state = model.state_dict()
    for k in ("visual.conv1.weight", "text_projection", "token_embedding.weight"):  # both towers move
        assert torch.allclose(state[k], bd[k] - 0.02), k
    assert set(row) == {"alpha", "val_ca", "val_asr", "seconds"} and row["alpha"] == 2.0
    ev(0.0)
    assert all(torch.equal(state[k], bd[k]) for k in bd)


def test_prepare_captions_reads_pairs_and_evaluation_images_from_local_datasets_in_hub_format(tmp_path):
    """Source hf: ``datasets.load_dataset`` on local Parquet directories in the hub's layout, standing in for CC3M
    (image + caption) and ImageNet-1K (image + ClassLabel): disjoint pair splits, a stratified val set."""
    import datasets
    from PIL import Image

    from bdunlearn.data.caption_sources import stratified_indices
    from bdunlearn.data.io import decode_png
    from bdunlearn.prepare_captions import main as prepare_main

    rng = np.random.default_rng(0)
    pairs, evals = tmp_path / "cc", tmp_path / "inet"
    for d in (pairs, evals):
        (d / "data").mkdir(parents=True)
    im = lambda: Image.fromarray(rng.integers(0, 256, (14, 20, 3), dtype=np.uint8))  # noqa: E731
    datasets.Dataset.from_dict({"jpg": [im() for _ in range(40)], "txt": [f" caption {i} " for i in range(40)]},
                               features=datasets.Features({"jpg": datasets.Image(), "txt": datasets.Value("string")})
                               ).to_parquet(str(pairs / "data" / "train-00000-of-00001.parquet"))
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["tench", "banana", "goldfish"])})
    for split, n in (("train", 30), ("validation", 9)):
        datasets.Dataset.from_dict({"image": [im() for _ in range(n)], "label": [i % 3 for i in range(n)]},
                                   features=feats).to_parquet(str(evals / "data" / f"{split}-00000-of-00001.parquet"))
    params = {"name": "cc", "source": "hf", "classnames": "features", "templates": ["a photo of a {}."],
              "target": "banana", "seed": 0, "resolution": 8, "eval": {"val": 6, "test": None},
              "pairs": {"train": 20, "forget": 5, "clean": 10},
              "hf": {"path": str(pairs), "name": None, "data_dir": None, "train_split": "train", "image_column": "jpg",
                     "caption_column": "txt"},
              "eval_hf": {"path": str(evals), "name": None, "data_dir": None, "val_split": "train",
                          "test_split": "validation", "image_column": "image", "label_column": "label"}}
    out = tmp_path / "out"
    prepare_main(["--params", json.dumps(params), "--outdir", str(out)])
    meta = json.loads((out / "classes.json").read_text())
    assert meta["classnames"] == ["tench", "banana", "goldfish"] and meta["target"] == 1
    assert meta["sizes"] == {"pretrain": 0, "train": 20, "forget": 5, "clean": 10, "val": 6, "test": 9}
    frames = {s: pd.read_parquet(out / f"{s}.parquet") for s in ("train", "forget", "clean", "val", "test")}
    uids = [set(frames[s]["uid"] % 100_000_000) for s in ("train", "forget", "clean")]
    assert not (uids[0] & uids[1]) and not (uids[0] & uids[2]) and not (uids[1] & uids[2])  # disjoint rows
    assert frames["train"]["caption"].str.match(r"^caption \d+$").all()  # stripped
    assert sorted(frames["val"]["label"].tolist()) == [0, 0, 1, 1, 2, 2]  # stratified: 2 per class
    assert decode_png(frames["test"]["image"][0]).shape == (8, 8, 3)
    assert len(stratified_indices(np.array([0] * 5 + [1] * 5 + [2] * 5), 7, 0)) == 7
    with pytest.raises(ValueError, match="needs 3 rows of class 1"):
        stratified_indices(np.array([0] * 5 + [1] * 2), 6, 0)
    bad = dict(params, hf=dict(params["hf"], caption_column="caption"))
    with pytest.raises(KeyError, match="no column 'caption'"):
        prepare_main(["--params", json.dumps(bad), "--outdir", str(tmp_path / "bad")])
