"""Transformers text classifiers (the ``text`` model kind) behind the adapter interface.

Texts are tokenized once (:class:`TextInputs`, no padding) and padded per batch
(:class:`TextBatch`). :class:`TextClassifier` wraps an
``AutoModelForSequenceClassification``, or a bare ``AutoModel`` with a linear
head on the first token (the RGA authors' classifier); decoders pool the last
real token.
"""

from __future__ import annotations

import torch
from torch import nn


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
        from bdunlearn.data.io import read_parquet

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
