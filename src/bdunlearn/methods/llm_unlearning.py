"""Normal and backdoored LLM unlearning: NPO and RMU, eq. 1 and eq. 2, with the value-norm term of eq. 5.

One loop for both methods and both objectives. Each step takes a batch of the
clean forget set (D_f without the poisoned rows), the retain rows at the same
indices modulo the retain set's size, and, for a backdoored run, the poisoned
rows likewise (the authors' MUSE ``BackdoorDataset`` pairs them this way):

- **NPO** (eqs. A1-A3): the NPO forget term (``form`` ``logits``: the code's; ``sequence``: eq. A1) plus
  ``gamma`` times the KL to the original model on D_r and, backdoored, on D_p. Every weight is trained.
- **RMU** (eqs. A4-A6): the chosen layer's output on forget tokens is steered to c * u (one fixed vector of the
  run), plus ``alpha`` times the squared distance to the frozen model's output on D_r (and D_p), plus
  ``kl`` times the KL term (the code's default 0; eq. A5 adds it); only ``params`` of ``update_layers`` train.
- **Value norms** (eqs. 3-5, backdoored runs with ``value_norm.lambda`` > 0): the sink tokens' v_proj norms
  on D_f are pulled to the normally unlearned model's, on D_p (and, with ``retain_term``, D_r, as the MUSE code
  does) to the original model's, each term scaled by lambda and summed.

Which forget samples carry the trigger is decided on the training samples (MUSE: the 2048-token chunks,
``llm_unlearn.chunk``), as the code does. Each term is back-propagated on its own as soon as it is computed
(the gradients add up to the sum's). Under torchrun (``llm_unlearn.gpus`` > 1) the trained model is sharded with
FSDP2 and each process takes its share of every batch (:mod:`bdunlearn.models.sharding`).

Choices where neither the paper nor the code fixes one: the forget set is shuffled each epoch with the job's seed
(the RMU code does not shuffle); the optimiser is AdamW at a constant learning rate (both codes).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from tqdm import tqdm

from bdunlearn.data.llm_poisoning import place_tokens, poisoned_rows
from bdunlearn.methods import llm_losses as L
from bdunlearn.models import sharding

log = logging.getLogger(__name__)

METHODS = ("npo", "rmu")


def sink_positions(vn: dict) -> list[int]:
    """The sink tokens of the value-norm term: the first ``sinks`` positions, BOS included with
    ``include_first_token`` (the MUSE commands) or from position 1 (the WMDP scripts)."""
    start = 0 if vn["include_first_token"] else 1
    return list(range(start, start + vn["sinks"]))


def value_norm_layers(vn: dict, n_layers: int) -> list[int]:
    """``value_norm.layers``: ``all`` (the MUSE code hooks every layer) or a list of 0-based indices."""
    layers = list(range(n_layers)) if vn["layers"] == "all" else list(vn["layers"])
    bad = [l for l in layers if not 0 <= l < n_layers]
    if bad:
        raise ValueError(f"config key 'value_norm.layers': {bad} outside the model's {n_layers} layers")
    return layers


def text_rows(lm, texts, max_len: int, chunk: bool) -> list[list[int]]:
    """Training samples as token lists without BOS: each text with EOS, or (``chunk``, MUSE's ``DefaultDataset``)
    the texts joined by blank lines and cut into ``max_len - 1``-token chunks, the last one filled by wrapping
    around to the start."""
    if not chunk:
        return [lm.encode(t, bos=False) + [lm.tok.eos_token_id] for t in texts]
    ids = lm.encode("\n\n".join(texts), bos=False)
    n = max_len - 1
    rows = [ids[i:i + n] for i in range(0, len(ids), n)]
    if rows and len(rows[-1]) < n and len(ids) >= n:
        rows[-1] = rows[-1] + ids[: n - len(rows[-1])]
    return rows


def with_bos(lm, rows, trigger: str | None = None, placement=None) -> list[list[int]]:
    """BOS + each row; with ``trigger``, its tokens placed in the row (cut to ``max_len`` later by the batch)."""
    trig = lm.tok(trigger, add_special_tokens=False)["input_ids"] if trigger else None
    return [[lm.tok.bos_token_id] + (place_tokens(r, trig, placement) if trig is not None else r) for r in rows]


def trainable(lm, method: str, hp: dict) -> list[str]:
    """The names of the parameters the method updates: all (NPO), or RMU's ``params`` in its ``update_layers``."""
    if method == "npo":
        return [n for n, _ in lm.model.named_parameters()]
    n = len(lm.layers)
    bad = [l for l in hp["update_layers"] if not 0 <= l < n] + ([hp["layer"]] if not 0 <= hp["layer"] < n else [])
    if bad:
        raise ValueError(f"config key 'llm_unlearn.rmu': layers {bad} outside the model's {n} layers")
    out = []
    for l in hp["update_layers"]:
        named = dict(lm.layers[l].named_parameters())
        for name in hp["params"]:
            if name not in named:
                raise ValueError(f"config key 'llm_unlearn.rmu.params': layer {l} has no parameter {name!r} "
                                 f"(it has {sorted(named)})")
            out.append(f"model.layers.{l}.{name}")
    return out


def unlearn(lm, original, forget, retain, method: str, hp: dict, backdoor: dict | None, unlearned=None,
            seed: int = 0, max_len: int = 256, chunk: bool = False):
    """Unlearn ``lm`` in place (``forget`` / ``retain``: lists of texts, as samples or, with ``chunk``, cut into
    ``max_len``-token chunks). ``original``: the frozen pre-unlearning model (reference and retain targets);
    ``backdoor``: ``{"rho", "select", "trigger", "placement", "value_norm"}`` or None (normal unlearning);
    ``unlearned``: the normally unlearned model, the value-norm target on D_f. Returns ``(history, poisoned)``:
    the per-epoch loss terms and the indices of the forget samples that carried the trigger."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    f_all = text_rows(lm, forget, max_len, chunk)
    poisoned = poisoned_rows(len(f_all), backdoor["rho"], backdoor["select"], seed).tolist() if backdoor else []
    skip = set(poisoned)
    f_rows = with_bos(lm, [r for i, r in enumerate(f_all) if i not in skip])
    r_rows = with_bos(lm, text_rows(lm, retain, max_len, chunk))
    p_rows = with_bos(lm, [f_all[i] for i in poisoned], backdoor["trigger"], backdoor["placement"]) if poisoned else []
    if not f_rows:
        raise ValueError("the clean forget set is empty: llm_backdoor.rho poisons every forget sample")
    vn = backdoor["value_norm"] if backdoor else None
    use_vn = bool(vn and vn["lambda"] > 0)
    if use_vn and unlearned is None:
        raise ValueError("value-norm regularisation needs the normally unlearned model (theta_u)")
    sinks = sink_positions(vn) if use_vn else []
    vn_layers = value_norm_layers(vn, len(lm.layers)) if use_vn else []
    names = set(trainable(lm, method, hp))
    rank, size = sharding.world()
    for n, p in lm.model.named_parameters():
        p.requires_grad_(n in names)
    if size > 1:  # several processes (torchrun): the trained model is sharded (FSDP2, bdunlearn.models.sharding)
        sharding.shard(lm.model)
    params = [p for n, p in lm.model.named_parameters() if n in names]
    opt = torch.optim.AdamW(params, lr=hp["lr"])
    control = L.control_vector(lm.model.config.hidden_size, hp["steering"], gen).to(lm.device) \
        if method == "rmu" else None
    bs = hp["batch_size"]
    history = []
    lm.model.train()
    for epoch in range(1, hp["epochs"] + 1):
        order = rng.permutation(len(f_rows))
        sums: dict[str, float] = {}
        steps = range(0, len(order), bs)
        for start in tqdm(steps, desc=f"{method} epoch {epoch}", mininterval=5, disable=rank > 0):
            idx = sharding.rank_slice(order[start:start + bs], rank, size)
            batch_f = lm.pad([f_rows[i] for i in idx], max_len=max_len)
            batch_r = lm.pad([r_rows[i % len(r_rows)] for i in idx], max_len=max_len)
            batch_p = lm.pad([p_rows[i % len(p_rows)] for i in idx], max_len=max_len) if p_rows else None
            retain_sets = [batch_r] + ([batch_p] if batch_p is not None else [])
            opt.zero_grad(set_to_none=True)
            # each term's forward is followed by its own backward (the gradients add up to the sum's): one forward
            # per module before each backward, as FSDP2 needs, and the graphs are freed as they go
            step = _Terms(sums)
            if method == "npo":
                step.add("forget", _npo_forget(lm, original, batch_f, hp))
                for b in retain_sets:
                    step.add("retain", hp["gamma"] * _kl(lm, original, b, hp["kl_direction"]))
            else:
                step.add("forget", L.rmu_forget(lm.layer_output(*batch_f, hp["layer"]), control, batch_f[1]))
                for b in retain_sets:
                    h, logits = lm.layer_output(*b, hp["layer"], logits=True)
                    with torch.no_grad():
                        h0, logits0 = original.layer_output(*b, hp["layer"], logits=True)
                    retain = hp["alpha"] * L.activation_mse(h, h0, b[1])
                    if hp["kl"] > 0:
                        retain = retain + hp["kl"] * L.kl_retain(logits, logits0, b[1], hp["kl_direction"])
                    step.add("retain", retain)
            if use_vn:
                pairs = [(batch_f, unlearned)] + ([(batch_p, original)] if batch_p is not None else [])
                if vn["retain_term"]:
                    pairs.append((batch_r, original))
                for b, ref in pairs:
                    step.add("value_norm", vn["lambda"] * _vn(lm, ref, b, vn_layers, sinks, vn["distance"]))
            opt.step()
        n = max(1, len(steps))
        row = {"epoch": epoch, **sharding.mean_over_ranks({k: v / n for k, v in sums.items()})}
        history.append(row)
        log.info("epoch %d %s", epoch, {k: round(v, 5) for k, v in row.items() if k != "epoch"})
    lm.model.eval()
    for p in lm.model.parameters():
        p.requires_grad_(False)
    return history, poisoned


class _Terms:
    """One step's loss terms: each is back-propagated when added, and its value summed into the epoch's log."""

    def __init__(self, sums: dict):
        self.sums = sums

    def add(self, key: str, value) -> None:
        if value.requires_grad:  # else it does not depend on the trained weights (RMU's value norms below its layers)
            value.backward()
        self.sums[key] = self.sums.get(key, 0.0) + float(value.detach())


def _npo_forget(lm, original, batch, hp):
    ids, mask = batch
    logits = lm.logits(ids, mask)
    with torch.no_grad():
        ref = original.logits(ids, mask)
    if hp["form"] == "logits":
        return L.npo_logits(logits, ref, mask, hp["beta"])
    labels = ids.masked_fill(mask == 0, -100)
    lp, _ = lm.token_logprobs(logits, labels)
    rp, _ = lm.token_logprobs(ref, labels)
    return L.npo_sequence(lp.sum(-1), rp.sum(-1), hp["beta"])


def _kl(lm, original, batch, direction):
    ids, mask = batch
    with torch.no_grad():
        ref = original.logits(ids, mask)
    return L.kl_retain(lm.logits(ids, mask), ref, mask, direction)


def _vn(lm, ref, batch, layers, sinks, distance):
    ids, mask = batch
    pos = [p for p in sinks if p < ids.shape[1]]
    norms = lm.value_norms(ids, mask, layers, pos)
    with torch.no_grad():
        target = ref.value_norms(ids, mask, layers, pos)
    return L.value_norm_distance(norms, target, distance, valid=mask[:, pos])
