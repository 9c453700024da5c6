"""The losses of LLM unlearning and of its backdoored variant (the third paper, eqs. 1-5 and A1-A6).

Pure functions of tensors, so each is tested on known inputs. Where the
paper's text and the authors' code differ, both forms are here and the config
picks one (``docs/fidelity.md``, "LLM unlearning"):

- NPO's forget term: ``sequence`` is eq. A1, -(2/beta) log sigmoid(-beta log(pi_theta(x) / pi_ref(x))) with
  log pi(x) the summed token log-likelihood; ``logits`` is the MUSE code's, the same expression on raw logits,
  ``-(2/beta) log sigmoid(beta (ref_logits - logits))`` averaged over positions and the vocabulary; ``token``
  is the WMDP code's, per-token log-likelihood ratios without the 2/beta.
- The KL retain term: ``ref_model`` is the code's ``kl_div(log p_theta, log p_ref, log_target=True)``, i.e.
  KL(p_ref || p_theta) per token; ``model_ref`` is eq. A2's KL(p_theta || p_ref). Summed over the vocabulary and
  averaged over the sequence's tokens.
- RMU (eqs. A4-A5): the mean squared distance of a layer's output on forget tokens to c * u, and of the updated
  model's output to the frozen model's on retain (and poisoned) tokens.
- The value-norm term (eqs. 3-4): the distance of sink-token value norms to a target model's; ``squared`` as
  eq. 4 prints, ``abs`` as the authors' code computes it, ``cosine`` (the WMDP code on D_p) on the vectors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _masked_mean(x, mask):
    """Mean of ``x`` ``[B, T, ...]`` over the tokens where ``mask`` ``[B, T]`` is set (and every trailing dim)."""
    m = mask.to(x.dtype)
    while m.dim() < x.dim():
        m = m.unsqueeze(-1)
    per_token = x.numel() // (x.shape[0] * x.shape[1])
    return (x * m).sum() / (m.sum() * per_token).clamp(min=1)


def npo_sequence(logp, ref_logp, beta: float):
    """Eq. A1: mean over sequences of -(2 / beta) log sigmoid(-beta (log pi_theta(x) - log pi_ref(x)))."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


def npo_logits(logits, ref_logits, mask, beta: float):
    """The MUSE code's NPO: -(2 / beta) log sigmoid(beta (ref_logits - logits)), averaged over the valid positions
    and the whole vocabulary."""
    return (2.0 / beta) * _masked_mean(-F.logsigmoid(beta * (ref_logits - logits)), mask)


def npo_token(logp, ref_logp, valid, beta: float):
    """The WMDP code's NPO: -log sigmoid(beta (log p_ref(t) - log p_theta(t))) per token (no 2 / beta), averaged
    over the valid tokens (``logp``, ``ref_logp``, ``valid``: ``[B, T]``)."""
    return _masked_mean(-F.logsigmoid(beta * (ref_logp - logp)), valid)


def kl_retain(logits, ref_logits, mask, direction: str = "ref_model"):
    """Per-token KL between the model's and the reference's next-token distributions, summed over the vocabulary,
    averaged over valid tokens. ``ref_model``: KL(p_ref || p_theta) (the code); ``model_ref``: KL(p_theta || p_ref)
    (eq. A2)."""
    lp, lq = F.log_softmax(logits, dim=-1), F.log_softmax(ref_logits, dim=-1)
    if direction == "ref_model":
        kl = (lq.exp() * (lq - lp)).sum(-1)
    elif direction == "model_ref":
        kl = (lp.exp() * (lp - lq)).sum(-1)
    else:
        raise ValueError(f"KL direction {direction!r}: expected 'ref_model' or 'model_ref'")
    return _masked_mean(kl, mask)


def control_vector(hidden: int, coeff: float, generator=None):
    """RMU's fixed target c * u: u uniform on [0, 1)^hidden, scaled to unit length (the RMU code's ``torch.rand``)."""
    u = torch.rand(hidden, generator=generator)
    return coeff * u / u.norm()


def rmu_forget(h, control, mask):
    """Eq. A4: mean squared distance of the layer output ``h`` ``[B, T, H]`` to ``control`` ``[H]`` on valid tokens."""
    return _masked_mean((h - control) ** 2, mask)


def activation_mse(h, h_ref, mask):
    """Eq. A5's representation term: mean squared distance to the frozen model's layer output on valid tokens."""
    return _masked_mean((h - h_ref) ** 2, mask)


def value_norm_distance(norms, target, distance: str = "abs", valid=None):
    """Eqs. 3-4: mean over samples, layers and sink positions of the distance between value norms ``norms`` and
    the target model's ``target`` (both ``[B, layers, positions]``): ``squared`` (eq. 4) or ``abs`` (the code).
    ``cosine`` (the WMDP code's term on D_p): ``norms`` and ``target`` are the value vectors themselves,
    ``[B, layers, positions, D]``, and the distance is 1 - their cosine similarity.
    ``valid`` ``[B, positions]`` leaves out sink positions past a short sequence's end."""
    if distance == "cosine":
        d = 1 - F.cosine_similarity(norms, target, dim=-1)
    else:
        diff = norms - target
        d = diff.abs() if distance == "abs" else diff ** 2 if distance == "squared" else None
    if d is None:
        raise ValueError(f"value-norm distance {distance!r}: expected 'abs', 'squared' or 'cosine'")
    if valid is None:
        return d.mean()
    m = valid[:, None, :].to(d.dtype).expand_as(d)
    return (d * m).sum() / m.sum().clamp(min=1)
