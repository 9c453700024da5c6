"""Normal and backdoored LLM unlearning: NPO, RMU, GA, RGA and TBAR, eq. 1 and eq. 2, with eq. 5's value-norm term.

One loop for every method and both objectives. Each step takes a batch of the
clean forget set (D_f without the poisoned rows), the retain rows at the same
indices modulo the retain set's size, and, for a backdoored run, the poisoned
rows likewise (the authors' MUSE ``BackdoorDataset`` pairs them this way). With
several forget topics (WMDP: bio and cyber, one model for both) the topics take
turns batch by batch, each with its own poisoned rows and, for RMU, its own
control vector, for as many steps as the smallest topic has batches (capped by
``max_batches``), as the authors' WMDP scripts do:

- **NPO** (eqs. A1-A3): the NPO forget term (``form`` ``logits``: the MUSE code's; ``sequence``: eq. A1;
  ``token``: the WMDP code's) against the original model (or, backdoored with ``reference`` ``normal``, the normal
  NPO model, as the WMDP scripts do), plus ``gamma`` times the KL to the original model on D_r and, backdoored, on
  D_p; with ``mse_layer`` also ``mse_weight`` times that layer's activation distance (the WMDP code). Every
  weight is trained, or (``update_layers``) RMU's selection.
- **RMU** (eqs. A4-A6): the chosen layer's output on forget tokens is steered to c * u (one fixed vector of the
  run), plus ``alpha`` times the squared distance to the frozen model's output on D_r (and D_p), plus
  ``kl`` times the KL term (the code's default 0; eq. A5 adds it); only ``params`` of ``update_layers`` train.
- **GA** (beyond the paper; MUSE's GA / GA_GDR / GA_KLR baselines): gradient ascent on the forget tokens' mean
  negative log-likelihood, plus ``gamma`` times a retain term on D_r and, backdoored, on D_p: ``retain`` ``nll``
  (gradient difference: the RGA paper's GA, eq. 3) or ``kl`` (the KL to the original model);
  ``gamma`` 0 is plain GA (and a backdoored run then has no term that keeps D_p).
- **RGA** (beyond the paper; the RGA paper's eqs. 6-7 on next tokens): the forget term -lambda NLL with
  lambda = exp(-alpha KL) from the batch's per-token KL to the original model (no gradient through lambda), the
  retain NLL on D_r (and D_p), and ``beta`` times the L2 distance of the trained weights to the original's
  (:func:`bdunlearn.methods.rga.l2_distance`; theta_o plays theta_base).
- **TBAR** (beyond the paper; the first paper's trigger-vector negation on a causal LM): the forget vector tau is
  estimated by fine-tuning on the clean forget rows (next-token loss) and, backdoored, ``gamma`` times the KL to
  the original model on D_p (eq. 2's retain data: the vector then leaves the triggered rows' outputs unchanged,
  and so, to first order, does its negation); the unlearned model is theta_o - alpha tau on the trained weights,
  alpha from :func:`search_alpha`. The value-norm term does not apply (it regularises the unlearned weights, not
  a learnt vector), so TBAR's backdoored runs are eq. 2 alone. RGA and TBAR run in one process (no FSDP).
- **Value norms** (eqs. 3-5, backdoored runs with ``value_norm.lambda`` > 0): the sink tokens' v_proj norms
  on D_f are pulled to the normally unlearned model's, on D_p (and, with ``retain_term``, D_r, as the MUSE code
  does) to the original model's, each term scaled by lambda and summed; the D_p term can use another distance
  and weight (the WMDP code: 0.05 times 1 - the cosine of the value vectors).

Which forget samples carry the trigger is decided on the training samples (MUSE: the 2048-token chunks,
``llm_unlearn.chunk``), as the code does. Each term is back-propagated on its own as soon as it is computed
(the gradients add up to the sum's). Under torchrun (``llm_unlearn.gpus`` > 1) the trained model is sharded with
FSDP2 and each process takes its share of every batch (:mod:`bdunlearn.models.sharding`).

Choices where neither the paper nor the code fixes one: the forget set is shuffled each epoch with the job's seed
(``shuffle``; the RMU and WMDP codes do not shuffle); the optimiser is AdamW at a constant learning rate (both codes).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from tqdm import tqdm

from bdunlearn.data.llm_poisoning import place_tokens, poisoned_rows
from bdunlearn.methods import llm_losses as L
from bdunlearn.methods.llm_variants import METHODS, NO_VALUE_NORM, ONE_PROCESS
from bdunlearn.methods.rga import l2_distance
from bdunlearn.models import sharding

log = logging.getLogger(__name__)

ALL_WEIGHTS = ("npo", "ga", "rga", "tbar")  # train every weight unless update_layers names some (RMU always names them)


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
    """The names of the parameters the method updates: every weight (NPO, GA, RGA and TBAR without ``update_layers``,
    the MUSE code), or ``params`` in ``update_layers`` (RMU; NPO in the WMDP code, which trains RMU's weights)."""
    if method in ALL_WEIGHTS and hp.get("update_layers") is None:
        return [n for n, _ in lm.model.named_parameters()]
    n = len(lm.layers)
    read = hp["layer"] if method == "rmu" else hp.get("mse_layer")
    bad = [l for l in hp["update_layers"] if not 0 <= l < n] + ([read] if read is not None and not 0 <= read < n
                                                               else [])
    if bad:
        raise ValueError(f"config key 'llm_unlearn.{method}': layers {bad} outside the model's {n} layers")
    out = []
    for l in hp["update_layers"]:
        named = dict(lm.layers[l].named_parameters())
        for name in hp["params"]:
            if name not in named:
                raise ValueError(f"config key 'llm_unlearn.{method}.params': layer {l} has no parameter {name!r} "
                                 f"(it has {sorted(named)})")
            out.append(f"model.layers.{l}.{name}")
    return out


SCHEDULE = {"max_batches": None, "shuffle": True, "topic_max_len": {}}


def _split_topics(lm, f_all, topics, backdoor, seed):
    """Per topic (in order of first appearance): its clean forget rows and its poisoned rows (BOS added, the
    trigger placed), and the poisoned rows' global indices. Each topic poisons ``rho`` of its own rows, as the WMDP
    code does; with one topic this is the MUSE code's selection."""
    names = list(dict.fromkeys(topics))
    clean, triggered, poisoned = {}, {}, []
    sel_seed = seed if not backdoor or backdoor.get("select_seed") is None else backdoor["select_seed"]
    for t in names:
        rows = [i for i, x in enumerate(topics) if x == t]
        pois = [rows[j] for j in poisoned_rows(len(rows), backdoor["rho"], backdoor["select"], sel_seed)] \
            if backdoor else []
        skip = set(pois)
        clean[t] = with_bos(lm, [f_all[i] for i in rows if i not in skip])
        triggered[t] = with_bos(lm, [f_all[i] for i in pois], backdoor["trigger"], backdoor["placement"]) \
            if pois else []
        if not clean[t]:
            raise ValueError(f"the clean forget set{f' of topic {t}' if t else ''} is empty: llm_backdoor.rho "
                             "poisons every forget sample")
        poisoned += pois
    return names, clean, triggered, sorted(poisoned)


def unlearn(lm, original, forget, retain, method: str, hp: dict, backdoor: dict | None, unlearned=None,
            seed: int = 0, max_len: int = 256, chunk: bool = False, topics=None, schedule: dict | None = None,
            reference=None, report: dict | None = None):
    """Unlearn ``lm`` in place (``forget`` / ``retain``: lists of texts, as samples or, with ``chunk``, cut into
    ``max_len``-token chunks). ``original``: the frozen pre-unlearning model (reference and retain targets);
    ``backdoor``: ``{"rho", "select", "trigger", "placement", "value_norm"}`` or None (normal unlearning);
    ``unlearned``: the normally unlearned model, the value-norm target on D_f; ``reference``: NPO's forget-term
    reference when it is not ``original``. ``topics``: each forget text's topic (WMDP: bio, cyber), or None (one);
    ``schedule``: ``max_batches`` (steps per epoch), ``shuffle``, ``topic_max_len`` (:data:`SCHEDULE`).
    Returns ``(history, poisoned)``: the per-epoch loss terms and the indices of the forget samples that carried
    the trigger; TBAR's alpha search goes into ``report`` (a dict, when given) as ``alpha``."""
    sched = {**SCHEDULE, **(schedule or {})}
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    f_all = text_rows(lm, forget, max_len, chunk)
    topics = [""] * len(f_all) if topics is None else [str(t) for t in topics]
    if len(topics) != len(f_all):
        raise ValueError("llm_unlearn.chunk joins the forget texts into one corpus: it takes no topics")
    if method not in METHODS:
        raise ValueError(f"unknown LLM unlearning method {method!r}; allowed: {', '.join(METHODS)}")
    names, f_rows, p_rows, poisoned = _split_topics(lm, f_all, topics, backdoor, seed)
    r_rows = with_bos(lm, text_rows(lm, retain, max_len, chunk))
    vn = backdoor["value_norm"] if backdoor else None
    use_vn = bool(vn and vn["lambda"] > 0) and method not in NO_VALUE_NORM
    if use_vn and unlearned is None:
        raise ValueError("value-norm regularisation needs the normally unlearned model (theta_u)")
    sinks = sink_positions(vn) if use_vn else []
    vn_layers = value_norm_layers(vn, len(lm.layers)) if use_vn else []
    names_trained = set(trainable(lm, method, hp))
    rank, size = sharding.world()
    if method in ONE_PROCESS and size > 1:
        raise ValueError(f"llm_unlearn.gpus > 1: {method}'s distance to theta_o runs in one process; set gpus to 1")
    for n, p in lm.model.named_parameters():
        p.requires_grad_(n in names_trained)
    if size > 1:  # several processes (torchrun): the trained model is sharded (FSDP2, bdunlearn.models.sharding)
        sharding.shard(lm.model)
    params = [p for n, p in lm.model.named_parameters() if n in names_trained]
    # RGA's theta_base, the original model's weights, in the order of ``params``
    ref = dict(original.model.named_parameters())
    l2_base = [ref[n].detach() for n, _ in lm.model.named_parameters() if n in names_trained] if method == "rga" else []
    opt = torch.optim.AdamW(params, lr=hp["lr"])
    # RMU: one fixed control vector per topic (the WMDP code's control_vectors_list)
    control = {t: L.control_vector(lm.model.config.hidden_size, hp["steering"], gen).to(lm.device)
               for t in names} if method == "rmu" else None
    bs = hp["batch_size"]
    # steps per epoch: the fewest batches of any topic (the WMDP code's num_batches), topics taking turns
    steps = min(-(-len(f_rows[t]) // bs) for t in names)
    if sched["max_batches"] is not None:
        steps = min(steps, sched["max_batches"])
    history = []
    lm.model.train()
    for epoch in range(1, hp["epochs"] + 1):
        orders = {t: rng.permutation(len(f_rows[t])) if sched["shuffle"] else np.arange(len(f_rows[t]))
                  for t in names}
        sums: dict[str, float] = {}
        for s in tqdm(range(steps), desc=f"{method} epoch {epoch}", mininterval=5, disable=rank > 0):
            t, k = names[s % len(names)], s // len(names)
            ml = sched["topic_max_len"].get(t, max_len)
            idx = sharding.rank_slice(orders[t][k * bs:(k + 1) * bs], rank, size)
            batch_f = lm.pad([f_rows[t][i] for i in idx], max_len=ml)
            batch_r = lm.pad([r_rows[i % len(r_rows)] for i in idx], max_len=max_len)
            pt = p_rows[t]
            batch_p = lm.pad([pt[i % len(pt)] for i in idx], max_len=ml) if pt else None
            retain_sets = [batch_r] + ([batch_p] if batch_p is not None else [])
            opt.zero_grad(set_to_none=True)
            # each term's forward is followed by its own backward (the gradients add up to the sum's): one forward
            # per module before each backward, as FSDP2 needs, and the graphs are freed as they go
            step = _Terms(sums)
            if method == "npo":
                step.add("forget", _npo_forget(lm, reference or original, batch_f, hp))
                for b in retain_sets:
                    step.add("retain", _npo_retain(lm, original, b, hp))
            elif method == "ga":
                step.add("forget", -_nll(lm, batch_f))
                for b in retain_sets if hp["gamma"] > 0 else []:
                    step.add("retain", hp["gamma"] * (_nll(lm, b) if hp["retain"] == "nll"
                                                      else _kl(lm, original, b, hp["kl_direction"])))
            elif method == "rga":
                lam = _rga_forget(lm, original, batch_f, hp, step)
                step.add("lambda", torch.tensor(lam))
                for b in retain_sets:
                    step.add("retain", _nll(lm, b))
                step.add("l2", hp["beta"] * l2_distance(params, l2_base, hp["l2"]))
            elif method == "tbar":  # learn the forget rows; keep D_p's outputs (and, with retain_kl, D_r's)
                step.add("forget", _nll(lm, batch_f))
                for b in retain_sets[1:] + (retain_sets[:1] if hp["retain_kl"] else []):
                    step.add("retain", hp["gamma"] * _kl(lm, original, b, hp["kl_direction"]))
            else:
                step.add("forget", L.rmu_forget(lm.layer_output(*batch_f, hp["layer"]), control[t], batch_f[1]))
                for b in retain_sets:
                    step.add("retain", _activation_retain(lm, original, b, hp["layer"], hp["alpha"], hp["kl"],
                                                          hp["kl_direction"]))
            if use_vn:
                pairs = [(batch_f, unlearned, vn["distance"], 1.0)]
                if batch_p is not None:
                    pairs.append((batch_p, original, vn.get("poisoned_distance") or vn["distance"],
                                  vn.get("poisoned_weight", 1.0)))
                if vn["retain_term"]:
                    pairs.append((batch_r, original, vn["distance"], 1.0))
                for b, ref, dist, w in pairs:
                    step.add("value_norm", vn["lambda"] * w * _vn(lm, ref, b, vn_layers, sinks, dist))
            opt.step()
        n = max(1, steps)
        row = {"epoch": epoch, **sharding.mean_over_ranks({k: v / n for k, v in sums.items()})}
        history.append(row)
        log.info("epoch %d %s", epoch, {k: round(v, 5) for k, v in row.items() if k != "epoch"})
    lm.model.eval()
    for p in lm.model.parameters():
        p.requires_grad_(False)
    if method == "tbar":
        found = negate(lm, original, sorted(names_trained), [r for t in names for r in f_rows[t]], r_rows, hp,
                       max_len, bs)
        if report is not None:
            report["alpha"] = found
    return history, poisoned


def token_accuracy(lm, rows, max_len: int, batch_size: int) -> float:
    """The share of next tokens the model's argmax predicts on ``rows`` (token lists with BOS), teacher forced."""
    hit = total = 0
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            ids, mask = lm.pad(rows[i:i + batch_size], max_len=max_len)
            pred = lm.logits(ids, mask)[:, :-1].argmax(-1)
            valid = mask[:, 1:].bool()
            hit += int(((pred == ids[:, 1:]) & valid).sum())
            total += int(valid.sum())
    return hit / max(total, 1)


def search_alpha(points: list[dict], bound: float) -> dict:
    """TBAR's rule on the LLM track (the first paper's ``max_ca_under_asr`` with forget-row accuracy as ASR and
    retain-row accuracy as CA): among the alphas whose forget accuracy is at most ``bound`` times the original's
    (``points[i]``: ``alpha``, ``forget``, ``retain``; alpha 0 first), the one with the highest retain accuracy,
    the smallest on ties; when none meets the bound, the one with the lowest forget accuracy (``bound_met``
    false)."""
    base = points[0]["forget"]
    ok = [p for p in points[1:] if p["forget"] <= bound * base]
    best = max(ok, key=lambda p: (p["retain"], -p["alpha"])) if ok else min(points[1:], key=lambda p: p["forget"])
    return {**best, "bound_met": bool(ok), "forget_bound": bound * base}


def _spread(rows: list, n: int) -> list:
    """``n`` of ``rows`` evenly spaced (all of them when there are no more), so every topic is scored."""
    return rows if len(rows) <= n else [rows[int(i * len(rows) / n)] for i in range(n)]


def negate(lm, original, trained: list[str], forget_rows, retain_rows, hp: dict, max_len: int, bs: int) -> dict:
    """TBAR's step 2 on a causal LM: tau = theta_ft - theta_o on the ``trained`` weights, then theta_o - alpha tau
    for each alpha of ``hp["alpha_grid"]``, scored on ``search_rows`` evenly spaced forget and retain rows
    (:func:`token_accuracy`); ``lm`` is left at the chosen alpha. Returns the search (every point and the
    choice)."""
    own, ref = dict(lm.model.named_parameters()), dict(original.model.named_parameters())
    theta0 = {n: ref[n].detach().to(own[n].device, torch.float32) for n in trained}  # in float32, cast once
    tau = {n: own[n].detach().float() - theta0[n] for n in trained}
    f, r = _spread(forget_rows, hp["search_rows"]), _spread(retain_rows, hp["search_rows"])

    def place(alpha: float) -> None:
        with torch.no_grad():
            for n in trained:
                own[n].copy_((theta0[n] - alpha * tau[n]).to(own[n].dtype))

    points = []
    for alpha in tqdm([0.0, *hp["alpha_grid"]], desc="tbar alpha search", mininterval=5):
        place(alpha)
        points.append({"alpha": float(alpha), "forget": token_accuracy(lm, f, max_len, bs),
                       "retain": token_accuracy(lm, r, max_len, bs)})
        log.info("tbar alpha %.3g: forget %.4f retain %.4f", alpha, points[-1]["forget"], points[-1]["retain"])
    chosen = search_alpha(points, hp["forget_bound"])
    place(chosen["alpha"])
    tau_norm = float(torch.sqrt(sum((t ** 2).sum() for t in tau.values())))
    return {"chosen": chosen["alpha"], "bound_met": chosen["bound_met"], "forget_bound": chosen["forget_bound"],
            "tau_norm": tau_norm, "points": points}


class _Terms:
    """One step's loss terms: each is back-propagated when added, and its value summed into the epoch's log."""

    def __init__(self, sums: dict):
        self.sums = sums

    def add(self, key: str, value) -> None:
        if value.requires_grad:  # else it does not depend on the trained weights (RMU's value norms below its layers)
            value.backward()
        self.sums[key] = self.sums.get(key, 0.0) + float(value.detach())


def _rga_forget(lm, original, batch, hp, step) -> float:
    """RGA's forget term -lambda NLL on a forget batch, back-propagated into ``step``; returns lambda =
    exp(-alpha KL(p_o || p_theta)) (``kl_direction``), the batch's per-token KL without gradient (eq. 7)."""
    ids, mask = batch
    logits = lm.logits(ids, mask)
    with torch.no_grad():
        kl = float(L.kl_retain(logits, original.logits(ids, mask), mask, hp["kl_direction"]))
    lam = math.exp(-hp["alpha"] * kl)
    step.add("forget", -lam * _nll(lm, batch, logits))
    return lam


def _npo_forget(lm, original, batch, hp):
    ids, mask = batch
    logits = lm.logits(ids, mask)
    with torch.no_grad():
        ref = original.logits(ids, mask)
    if hp["form"] == "logits":
        return L.npo_logits(logits, ref, mask, hp["beta"])
    labels = ids.masked_fill(mask == 0, -100)
    lp, valid = lm.token_logprobs(logits, labels)
    rp, _ = lm.token_logprobs(ref, labels)
    if hp["form"] == "token":
        return L.npo_token(lp, rp, valid, hp["beta"])
    return L.npo_sequence(lp.sum(-1), rp.sum(-1), hp["beta"])


def _activation_retain(lm, original, batch, layer, weight, kl, direction):
    """``weight`` times the squared distance of ``layer``'s output to the frozen model's, plus ``kl`` times the KL
    of the outputs (RMU's retain term; NPO's in the WMDP code)."""
    h, logits = lm.layer_output(*batch, layer, logits=True)
    with torch.no_grad():
        h0, logits0 = original.layer_output(*batch, layer, logits=True)
    out = weight * L.activation_mse(h, h0, batch[1])
    if kl > 0:
        out = out + kl * L.kl_retain(logits, logits0, batch[1], direction)
    return out


def _npo_retain(lm, original, batch, hp):
    """NPO's retain term on D_r or D_p: ``gamma`` times the KL (the MUSE code), or with ``mse_layer`` set also
    ``mse_weight`` times that layer's activation distance (the WMDP code)."""
    if hp.get("mse_layer") is None:
        return hp["gamma"] * _kl(lm, original, batch, hp["kl_direction"])
    return _activation_retain(lm, original, batch, hp["mse_layer"], hp["mse_weight"], hp["gamma"], hp["kl_direction"])


def _nll(lm, batch, logits=None):
    """The mean next-token negative log-likelihood of a batch's real tokens (from ``logits`` when given)."""
    ids, mask = batch
    logits = lm.logits(ids, mask) if logits is None else logits
    lp, valid = lm.token_logprobs(logits, ids.masked_fill(mask == 0, -100))
    return -lp.sum() / valid.sum().clamp(min=1)


def _kl(lm, original, batch, direction):
    ids, mask = batch
    with torch.no_grad():
        ref = original.logits(ids, mask)
    return L.kl_retain(lm.logits(ids, mask), ref, mask, direction)


def _vn(lm, ref, batch, layers, sinks, distance):
    ids, mask = batch
    pos = [p for p in sinks if p < ids.shape[1]]
    vec = distance == "cosine"  # the value vectors themselves, not their norms
    norms = lm.value_norms(ids, mask, layers, pos, vectors=vec)
    with torch.no_grad():
        target = ref.value_norms(ids, mask, layers, pos, vectors=vec)
    return L.value_norm_distance(norms, target, distance, valid=mask[:, pos])
