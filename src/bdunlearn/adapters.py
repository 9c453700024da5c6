"""Model adapters: one interface for every model family the unlearning methods edit.

An adapter is an ``nn.Module`` that maps a batch of inputs to class logits
(``forward``), to the sample embedding CUBE clusters (``features``), and names
its *editable* parameters: the ones backdoor fine-tuning trains, task vectors
are computed over, and unlearning methods update. It also turns a Parquet split
into model inputs (``load_split``). Methods (TBAR, GA, NPO, RGA, ReTrain) and
CUBE only talk to this interface, so each runs on each modality; a job builds
its adapter from a JSON *model spec* with :func:`load_adapter`:

- ``{"kind": "clip", "pretrained": <pretrain_clip dir>, "head": <head.safetensors>}``
- ``{"kind": "text", "name": <hub id, local dir or offline alias>, "classes": <classes.json>
  (or "num_labels": K), "max_length": 128, "dtype": "auto", "head": "linear" | "auto", "seed": S}``;
  the seed fixes the fresh classification head's initialisation.

``ClipClassifier`` is CLIP with a frozen zero-shot head (Ilharco et al., 2022):
``logits = head(normalize(visual(normalize_pixels(x))))`` where the head rows
are the normalised class text embeddings scaled by the CLIP logit scale. Inputs
are uint8 images ``(N, 3, H, W)``; pixel normalisation happens inside, so data
stays compact in memory.
"""

from __future__ import annotations

import torch
from torch import nn


class ClipClassifier(nn.Module):
    def __init__(self, visual: nn.Module, head_weight: torch.Tensor, mean, std):
        super().__init__()
        self.visual = visual
        self.register_buffer("head_weight", head_weight.detach().clone(), persistent=False)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def num_classes(self) -> int:
        return self.head_weight.shape[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.to(torch.float32) / 255.0
        x = (x - self.mean) / self.std
        f = self.visual(x)
        return f / f.norm(dim=-1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.head_weight.to(torch.float32).T

    def editable_state(self) -> dict[str, torch.Tensor]:
        """The visual encoder's floating-point state (what TBAR's task vectors span)."""
        return {k: v for k, v in self.visual.state_dict().items() if v.is_floating_point()}

    def editable_parameters(self):
        return [p for p in self.visual.parameters()]

    def head_parameter_names(self) -> list[str]:
        """None: the zero-shot head is a frozen buffer, every editable tensor is the encoder's."""
        return []

    def named_editable_parameters(self) -> dict[str, nn.Parameter]:
        return dict(self.visual.named_parameters())

    def load_split(self, path):
        return load_image_split(path)

    def encode_frame(self, df):
        """Rows of a split's DataFrame (``image`` PNG bytes, ``label``) as (uint8 images, int64 labels)."""
        from .io import decode_images

        return decode_images(df["image"]), torch.tensor(df["label"].to_numpy(), dtype=torch.long)

    def load_editable_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy ``state`` into the editable tensors in place (no reallocation)."""
        own = self.visual.state_dict()
        missing = set(own) - set(state)
        missing = {k for k in missing if own[k].is_floating_point()}
        if missing:
            raise KeyError(f"state is missing {len(missing)} editable tensors, e.g. {sorted(missing)[:3]}")
        with torch.no_grad():
            for k, v in state.items():
                own[k].copy_(v)


def load_clip_classifier(pretrained_dir, head_path, visual_weights=None, device="cpu") -> ClipClassifier:
    """CLIP classifier from ``pretrain_clip``'s directory, a ``build_head`` head and optional visual weights."""
    from pathlib import Path

    from .clip_models import load_visual
    from .io import load_weights

    pretrained_dir = Path(pretrained_dir)
    visual, spec = load_visual(pretrained_dir / "model.safetensors", pretrained_dir / "spec.json", visual_weights)
    head = load_weights(head_path)["weight"]
    return ClipClassifier(visual, head, spec.mean, spec.std).to(device).eval()


def load_image_split(path) -> tuple[torch.Tensor, torch.Tensor]:
    """A Parquet split as (uint8 images (N, 3, H, W), int64 labels)."""
    from .io import decode_images, read_parquet

    df = read_parquet(path)
    return decode_images(df["image"]), torch.tensor(df["label"].to_numpy(), dtype=torch.long)


class TextBatch:
    """A padded batch of token ids (right padding) that moves to a device as one unit."""

    def __init__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        self.input_ids, self.attention_mask = input_ids, attention_mask

    def to(self, device, non_blocking: bool = False) -> "TextBatch":
        return TextBatch(self.input_ids.to(device, non_blocking=non_blocking),
                         self.attention_mask.to(device, non_blocking=non_blocking))

    def __len__(self) -> int:
        return self.input_ids.shape[0]


class TextInputs:
    """Texts tokenized once (no padding); indexing returns a :class:`TextBatch` padded to its longest row.

    Per-batch padding (not to ``max_length``) keeps short-sentence batches
    cheap. Supports the indexing the training loops use: a slice, or an index
    tensor / array / list.
    """

    def __init__(self, ids: list[list[int]], pad_id: int):
        self.ids, self.pad_id = ids, pad_id

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def shape(self) -> tuple[int]:
        return (len(self.ids),)

    def length_order(self) -> torch.Tensor:
        """Row indices from the shortest text to the longest (stable): batches of similar lengths pad little."""
        return torch.argsort(torch.tensor([len(r) for r in self.ids], dtype=torch.long), stable=True)

    def take(self, order) -> "TextInputs":
        """The rows ``order`` (indices), as a new :class:`TextInputs`."""
        return TextInputs([self.ids[int(i)] for i in order], self.pad_id)

    def __getitem__(self, idx) -> TextBatch:
        rows = self.ids[idx] if isinstance(idx, slice) else [self.ids[int(i)] for i in idx]
        width = max((len(r) for r in rows), default=1)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        return TextBatch(input_ids, mask)


class TextClassifier(nn.Module):
    """A transformers text classifier; ``features`` is [CLS] for encoders and the last real token for decoders.

    With ``head`` (an ``nn.Linear``), ``model`` is a bare ``AutoModel`` and the
    logits are ``head(features)``: no pooler, no dropout before the head (the
    RGA authors' classifier); without it, ``model`` is an
    ``AutoModelForSequenceClassification`` and its own head gives the logits.
    """

    def __init__(self, model: nn.Module, tokenizer, max_length: int = 128, decoder: bool = False,
                 head: nn.Linear | None = None):
        super().__init__()
        self.model, self.tokenizer, self.max_length, self.decoder = model, tokenizer, int(max_length), bool(decoder)
        self.head = head

    @property
    def num_classes(self) -> int:
        return int(self.head.out_features if self.head is not None else self.model.config.num_labels)

    def forward(self, batch: TextBatch) -> torch.Tensor:
        if self.head is not None:
            return self.head(self._pool(self._last_hidden(batch), batch)).float()
        return self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits.float()

    def _last_hidden(self, batch: TextBatch) -> torch.Tensor:
        if self.head is not None:
            return self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        out = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True)
        return out.hidden_states[-1]

    def _pool(self, hidden: torch.Tensor, batch: TextBatch) -> torch.Tensor:
        if self.decoder:
            last = batch.attention_mask.sum(dim=1) - 1
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        return hidden[:, 0]

    def features(self, batch: TextBatch) -> torch.Tensor:
        return self._pool(self._last_hidden(batch), batch).float()

    def tokenize(self, texts) -> TextInputs:
        texts = list(texts)
        if not texts:  # an empty set (e.g. CUBE flagged no row): the tokenizer refuses an empty batch
            return TextInputs([], self.tokenizer.pad_token_id)
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        return TextInputs(enc["input_ids"], self.tokenizer.pad_token_id)

    def load_split(self, path):
        """A Parquet split (``text``, ``label``) as (TextInputs, int64 labels)."""
        from .io import read_parquet

        return self.encode_frame(read_parquet(path))

    def encode_frame(self, df):
        return self.tokenize(df["text"]), torch.tensor(df["label"].to_numpy(), dtype=torch.long)

    def editable_state(self) -> dict[str, torch.Tensor]:
        """Every trainable weight (tied weights once), i.e. what fine-tuning changes."""
        return {k: p.data for k, p in self.named_editable_parameters().items() if p.is_floating_point()}

    def editable_parameters(self):
        return list(self.named_editable_parameters().values())

    def named_editable_parameters(self) -> dict[str, nn.Parameter]:
        named = dict(self.model.named_parameters())
        if self.head is not None:
            named.update({f"head.{k}": p for k, p in self.head.named_parameters()})
        return named

    def head_parameter_names(self) -> list[str]:
        """The classification head's tensors (RGA's L2 term leaves them out): ``head.*``, or the task head of
        an ``AutoModelForSequenceClassification`` (``classifier`` / ``pre_classifier`` / ``score``)."""
        return [k for k in self.named_editable_parameters()
                if k.split(".")[0] in ("head", "classifier", "pre_classifier", "score")]

    def load_editable_state(self, state: dict[str, torch.Tensor]) -> None:
        own = self.editable_state()
        missing, unexpected = set(own) - set(state), set(state) - set(own)
        if missing or unexpected:
            raise KeyError(f"text weights do not match the model: {len(missing)} missing (e.g. {sorted(missing)[:3]}), "
                           f"{len(unexpected)} unexpected (e.g. {sorted(unexpected)[:3]})")
        with torch.no_grad():
            for k, v in state.items():
                own[k].copy_(v)


def load_adapter(spec: dict, weights=None, device="cpu") -> nn.Module:
    """The adapter a model spec describes, with ``weights`` (a safetensors file of its editable state) loaded."""
    kind = spec.get("kind")
    if kind == "clip":
        return load_clip_classifier(spec["pretrained"], spec["head"], weights, device)
    if kind == "text":
        from .io import load_weights
        from .runtime import derive_seed
        from .text_models import load_text_model

        from .io import read_json

        num_labels = spec.get("num_labels") or len(read_json(spec["classes"])["classnames"])
        head_kind = spec.get("head", "auto")
        torch.manual_seed(derive_seed(spec.get("seed", 0), "text-head"))  # the fresh head's init is part of theta_base
        tokenizer, model, decoder = load_text_model(spec["name"], int(num_labels), spec.get("dtype", "auto"),
                                                    torch.device(device), head_kind)
        head = None
        if head_kind == "linear":
            torch.manual_seed(derive_seed(spec.get("seed", 0), "text-head"))
            head = nn.Linear(model.config.hidden_size, int(num_labels)).to(model.dtype)
        adapter = TextClassifier(model, tokenizer, spec.get("max_length", 128), decoder, head)
        if weights is not None:
            adapter.load_editable_state(load_weights(weights))
        return adapter.to(device).eval()
    raise ValueError(f"unknown model spec kind {kind!r}; allowed: clip, text")
