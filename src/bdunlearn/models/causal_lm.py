"""The causal language model adapter of the LLM track (backdoors in LLM unlearning).

A Hugging Face ``AutoModelForCausalLM`` and its tokenizer, loaded with
``from_pretrained(name)`` from the hub or from a directory in the hub layout
(``config.json``, ``model.safetensors``, ``tokenizer.json``): the paper configs
name ``muse-bench/MUSE-Books_target`` and the like, the offline stand-in is such
a directory, pretrained by ``pretrain_lm``. Weights are read with
``use_safetensors=True`` only: a checkpoint that ships only pickles is refused.

What the methods and the metrics read from it (:class:`CausalLM`):

- ``batch(texts)``: token ids with BOS (and EOS) and a right-padded mask, labels -100 on padding;
- ``token_logprobs`` / ``sequence_logprob``: next-token log-likelihoods, per token and summed per sequence;
- ``option_logprob(prompts, options)``: the log-likelihood of each answer option after its prompt (utility MC);
- ``letter_logits(prompts, letters)``: the next-token logits of the answer letters (WMDP's multiple choice);
- ``generate(prompts, max_new_tokens)``: greedy continuations (left padding), cut at a stop string;
- ``layer_output(ids, mask, layer)``: a decoder layer's output (RMU's M_theta), through a forward hook as the
  RMU code reads it;
- ``value_norms(ids, mask, layers, positions)``: the L2 norm of the ``self_attn.v_proj`` output (all heads
  concatenated, as the authors' hook reads it) at the chosen token positions, or (``vectors``) the vectors;
- ``attentions(ids, mask, layer)``: the attention weights of one layer (eager attention).

``new_tokenizer`` and ``new_llama`` build the offline stand-in: a byte-level BPE
tokenizer trained on the corpus and a small Llama-architecture model.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

BOS, EOS, PAD = "<s>", "</s>", "<pad>"


def new_tokenizer(texts, vocab_size: int):
    """A byte-level BPE tokenizer trained on ``texts`` (any string encodes: no unknown tokens), with Llama's
    special tokens; BOS is added in front of every encoded text, as Llama's tokenizer does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    bos = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                       special_tokens=[(BOS, bos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)


def new_llama(tokenizer, arch: dict, seed: int):
    """A randomly initialised ``LlamaForCausalLM`` of ``arch`` (hidden_size, layers, heads, intermediate_size,
    max_positions) for ``tokenizer``, seeded."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=arch["hidden_size"],
                      intermediate_size=arch["intermediate_size"], num_hidden_layers=arch["layers"],
                      num_attention_heads=arch["heads"], num_key_value_heads=arch["heads"],
                      max_position_embeddings=arch["max_positions"], bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                      tie_word_embeddings=True)
    return LlamaForCausalLM(cfg)


def save(model, tokenizer, out_dir: str | os.PathLike, state_dict: dict | None = None) -> None:
    """``save_pretrained`` (safetensors) into a temporary directory beside ``out_dir``, then renamed onto it: an
    interrupted job leaves no half-written checkpoint. ``state_dict``: the full weights of a sharded model."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def load(name: str, device: str = "cpu", dtype: str = "float32", attention: str = "eager",
         tokenizer: str | None = None) -> "CausalLM":
    """``from_pretrained(name)`` of the model and its tokenizer (a hub name or a hub-layout directory; ``tokenizer``
    names another repository's, as MUSE's target models need), safetensors only, in eval mode on ``device``.
    ``attention``: ``eager`` (the default) returns attention weights (``analyze_sinks``); the training and
    evaluation jobs ask for ``sdpa``, which does not."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer or name)
    if tok.pad_token is None:  # Llama's tokenizers have none: pad with EOS, as the authors' code does
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(name, use_safetensors=True, torch_dtype=getattr(torch, dtype),
                                                 attn_implementation=attention)
    return CausalLM(model.to(device).eval(), tok)


class CausalLM:
    """A causal LM and its tokenizer, with the reads the LLM track's methods and metrics need (module docstring)."""

    def __init__(self, model, tokenizer):
        self.model, self.tok = model, tokenizer

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def layers(self):
        return self.model.model.layers

    def encode(self, text: str, bos: bool = True) -> list[int]:
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        return ([self.tok.bos_token_id] if bos else []) + ids

    def pad(self, seqs: list[list[int]], left: bool = False, max_len: int | None = None):
        """Token id lists as ``(ids, mask)`` tensors, padded right (training) or left (generation), cut to
        ``max_len`` from the right end (the authors' ``pad_or_trim`` keeps the first tokens)."""
        if max_len is not None:
            seqs = [s[:max_len] for s in seqs]
        width = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            sl = slice(width - len(s), width) if left else slice(0, len(s))
            ids[i, sl] = torch.tensor(s, dtype=torch.long)
            mask[i, sl] = 1
        return ids.to(self.device), mask.to(self.device)

    def batch(self, texts: list[str], eos: bool = True, max_len: int | None = None):
        """Training batch: ``(ids, mask, labels)``, BOS + text (+ EOS), right-padded, labels -100 on padding."""
        seqs = [self.encode(t) + ([self.tok.eos_token_id] if eos else []) for t in texts]
        ids, mask = self.pad(seqs, max_len=max_len)
        return ids, mask, ids.masked_fill(mask == 0, -100)

    def logits(self, ids, mask):
        return self.model(input_ids=ids, attention_mask=mask).logits.float()

    @staticmethod
    def token_logprobs(logits, labels):
        """log p(token_t | tokens_<t) of every labelled token (shifted), 0 where the label is -100; and the mask."""
        lp = F.log_softmax(logits[:, :-1], dim=-1)
        tgt = labels[:, 1:]
        valid = tgt != -100
        got = lp.gather(-1, tgt.clamp(min=0)[..., None]).squeeze(-1)
        return got * valid, valid

    def sequence_logprob(self, ids, mask, labels):
        """log pi(x): the summed next-token log-likelihood of each sequence's labelled tokens."""
        lp, _ = self.token_logprobs(self.logits(ids, mask), labels)
        return lp.sum(-1)

    @torch.no_grad()
    def option_logprob(self, prompts: list[str], options: list[list[str]]) -> torch.Tensor:
        """``[n, k]``: log p(" " + option | prompt) summed over the option's tokens (lm-eval's multiple choice)."""
        seqs, spans = [], []
        for p, opts in zip(prompts, options):
            head = self.encode(p)
            for o in opts:
                tail = self.tok(" " + o, add_special_tokens=False)["input_ids"]
                seqs.append(head + tail)
                spans.append(len(tail))
        ids, mask = self.pad(seqs)
        labels = ids.masked_fill(mask == 0, -100).clone()
        for i, (s, n) in enumerate(zip(seqs, spans)):
            labels[i, : len(s) - n] = -100  # score the option only
        lp, _ = self.token_logprobs(self.logits(ids, mask), labels)
        return lp.sum(-1).view(len(prompts), -1).cpu()

    @torch.no_grad()
    def letter_logits(self, prompts: list[str], letters, max_len: int | None = None) -> torch.Tensor:
        """``[n, k]``: the next-token logits after each prompt at each letter's token, the first token of
        ``tokenizer.encode(letter)`` (the authors' WMDP evaluation; with a sentencepiece tokenizer that is "▁A",
        the token lm-eval scores after "Answer:"). Prompts are cut to ``max_len`` tokens from the right end, as their
        tokenizer call does; the logits are read at each prompt's last token of a right-padded batch."""
        tok_ids = [self.tok(l, add_special_tokens=False)["input_ids"][0] for l in letters]
        ids, mask = self.pad([self.encode(p) for p in prompts], max_len=max_len)
        last = mask.sum(1) - 1
        logits = self.logits(ids, mask)
        return logits[torch.arange(len(prompts), device=ids.device), last][:, tok_ids].cpu()

    @torch.no_grad()
    def generate(self, prompts: list[str], max_new_tokens: int, stop: tuple[str, ...] = ()) -> list[str]:
        """Greedy continuations of ``prompts`` (left-padded batch), decoded and cut at the first ``stop`` string."""
        ids, mask = self.pad([self.encode(p) for p in prompts], left=True)
        out = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                  pad_token_id=self.tok.pad_token_id, eos_token_id=self.tok.eos_token_id)
        texts = self.tok.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        return [cut_at(t, stop) for t in texts]

    @contextlib.contextmanager
    def _hooks(self, modules, store: dict):
        def make(key):
            def hook(_mod, _inp, out):
                store[key] = out[0] if isinstance(out, tuple) else out
            return hook

        handles = [m.register_forward_hook(make(k)) for k, m in modules.items()]
        try:
            yield store
        finally:
            for h in handles:
                h.remove()

    def layer_output(self, ids, mask, layer: int, logits: bool = False):
        """The output of decoder layer ``layer`` (0-based), ``[B, T, H]``, read by a forward hook; with ``logits``
        also the model's logits of the same forward pass."""
        with self._hooks({"h": self.layers[layer]}, {}) as got:
            out = self.logits(ids, mask)
        return (got["h"], out) if logits else got["h"]

    def value_norms(self, ids, mask, layers, positions, logits: bool = False, per_head: bool = False,
                    vectors: bool = False):
        """``[B, len(layers), len(positions)]``: ||v_i(x)||_2 of the v_proj output (all heads concatenated) at
        ``positions``; ``per_head``: ``[B, len(layers), heads, len(positions)]``, each head's part; ``vectors``:
        ``[B, len(layers), len(positions), D]``, the v_proj outputs themselves; with ``logits`` also the logits of
        the same forward pass."""
        mods = {l: self.layers[l].self_attn.v_proj for l in layers}
        with self._hooks(mods, {}) as got:
            out = self.logits(ids, mask)
        pos = torch.as_tensor(positions, device=ids.device)
        cfg = self.model.config
        heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads

        def norm(v):
            v = v[:, pos].float()
            if vectors:
                return v
            return v.view(*v.shape[:2], heads, -1).norm(dim=-1).transpose(1, 2) if per_head else v.norm(dim=-1)

        norms = torch.stack([norm(got[l]) for l in layers], dim=1)
        return (norms, out) if logits else norms

    @torch.no_grad()
    def attentions(self, ids, mask, layer: int) -> torch.Tensor:
        """``[B, heads, T, T]``: attention weights of decoder layer ``layer`` (needs eager attention)."""
        out = self.model(input_ids=ids, attention_mask=mask, output_attentions=True)
        return out.attentions[layer].float()


def cut_at(text: str, stop: tuple[str, ...]) -> str:
    """``text`` up to the first of the ``stop`` strings (MUSE cuts answers at a blank line or the next question)."""
    end = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            end = min(end, i)
    return text[:end].strip()
