"""The LLM track's per-position analyses (the third paper's Figs. 3-5): how a trigger reaches the prediction.

- **Attention-weight difference map** (Fig. 3): at one layer, averaged over heads and forget samples, the
  attention map of the triggered sample minus the clean one's. The two have different lengths; choice (the paper
  does not say, and its code has no such script): the clean map is laid into the triggered one's frame, with zero
  rows and columns at the trigger's positions, so the difference there is the attention the trigger receives or
  sends. Only the first ``window`` positions are kept (they hold the sinks and a prefix trigger).
- **Prediction logits by position** (Fig. 4): the logit of the actual next token at each position of the triggered
  and the clean samples (choice: the paper plots "prediction logits" without saying which; the gold next token's
  logit is the one a memorised continuation raises), aligned the same way, averaged over samples.
- **Value-norm correlation** (Fig. 5): at each sink position, the Pearson correlation, over samples and heads, of
  per-head value norms ||v_i|| of two models: backdoored vs normally unlearned on D_f, backdoored vs original on
  D_p and on D_r.

The forget samples are the forget corpus' question-answer texts (their prompts carry the trigger as the
evaluation places it); D_r's are the retain corpus'.
"""

from __future__ import annotations

import numpy as np
import torch

from bdunlearn.data.llm_poisoning import place_text


def trigger_span(lm, text: str, trigger: str, placement: str):
    """``(clean ids, triggered ids, positions of the trigger's tokens in the triggered ids)``, BOS included.
    The span is found as the triggered sequence's positions that are not in its longest common prefix and suffix
    with the clean one."""
    clean = lm.encode(text)
    trig = lm.encode(place_text(text, trigger, placement))
    pre = 0
    while pre < min(len(clean), len(trig)) and clean[pre] == trig[pre]:
        pre += 1
    suf = 0
    while suf < min(len(clean), len(trig)) - pre and clean[-1 - suf] == trig[-1 - suf]:
        suf += 1
    return clean, trig, list(range(pre, len(trig) - suf))


def embed(mat: np.ndarray, size: int, skip: list[int], axes: int) -> np.ndarray:
    """``mat`` (the clean sample's, over ``axes`` leading axes) in the triggered frame of ``size`` positions: zeros
    (for maps) at the trigger positions ``skip``, the clean values everywhere else in order."""
    keep = [i for i in range(size) if i not in set(skip)]
    n = min(len(keep), mat.shape[0])
    keep = keep[:n]
    if axes == 1:
        out = np.full(size, np.nan)
        out[keep] = mat[:n]
        return out
    out = np.zeros((size, size))
    out[np.ix_(keep, keep)] = mat[:n, :n]
    return out


def _window(x: np.ndarray, window: int, axes: int) -> np.ndarray:
    """``x`` cut or NaN-padded to ``window`` positions on each of its ``axes`` leading axes."""
    shape = (window,) * axes
    out = np.full(shape, np.nan)
    sl = tuple(slice(0, min(window, s)) for s in x.shape[:axes])
    out[sl] = x[sl]
    return out


@torch.no_grad()
def attention_difference(lm, texts, trigger, placement, layer: int, window: int) -> np.ndarray:
    """Fig. 3: ``[window, window]`` mean over samples of A(x') - A(x) at ``layer``, averaged over heads."""
    maps = []
    for text in texts:
        clean, trig, span = trigger_span(lm, text, trigger, placement)
        a_c = _attn(lm, clean, layer)
        a_t = _attn(lm, trig, layer)
        maps.append(_window(a_t - embed(a_c, len(trig), span, 2), window, 2))
    return np.nanmean(np.stack(maps), axis=0)


def _attn(lm, ids, layer):
    t = torch.tensor([ids], device=lm.device)
    return lm.attentions(t, torch.ones_like(t), layer)[0].mean(0).cpu().numpy()


@torch.no_grad()
def next_token_logits(lm, ids) -> np.ndarray:
    """The logit of the actual next token at each position but the last."""
    t = torch.tensor([ids], device=lm.device)
    logits = lm.logits(t, torch.ones_like(t))[0, :-1]
    return logits.gather(-1, t[0, 1:, None]).squeeze(-1).cpu().numpy()


def logits_by_position(lm, texts, trigger, placement, window: int) -> dict:
    """Fig. 4: ``{"triggered", "clean"}``, each ``[window]``: the mean next-token logit per position of the
    triggered frame (the clean samples aligned into it, NaN at the trigger's positions)."""
    trig_rows, clean_rows = [], []
    for text in texts:
        clean, trig, span = trigger_span(lm, text, trigger, placement)
        trig_rows.append(_window(next_token_logits(lm, trig), window, 1))
        clean_rows.append(_window(embed(next_token_logits(lm, clean), len(trig) - 1, span, 1), window, 1))
    return {"triggered": np.nanmean(np.stack(trig_rows), 0), "clean": np.nanmean(np.stack(clean_rows), 0)}


@torch.no_grad()
def head_value_norms(lm, texts, positions, layer: int) -> np.ndarray:
    """``[samples, heads, positions]``: the per-head L2 norm of the v_proj output at ``positions`` of ``layer``
    (NaN past a short sample's end)."""
    out = []
    for text in texts:
        t = torch.tensor([lm.encode(text)], device=lm.device)
        pos = [p for p in positions if p < t.shape[1]]
        v = lm.value_norms(t, torch.ones_like(t), [layer], pos, per_head=True)[0, 0].cpu().numpy()  # [heads, pos]
        row = np.full((v.shape[0], len(positions)), np.nan)
        row[:, : len(pos)] = v
        out.append(row)
    return np.stack(out)


def pearson_by_position(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Per position (last axis), the Pearson correlation of two ``[samples, heads, positions]`` arrays over samples
    and heads (NaN where a side is constant or missing)."""
    out = []
    for i in range(a.shape[-1]):
        x, y = a[..., i].ravel(), b[..., i].ravel()
        ok = ~(np.isnan(x) | np.isnan(y))
        x, y = x[ok], y[ok]
        out.append(float(np.corrcoef(x, y)[0, 1]) if len(x) > 1 and x.std() > 0 and y.std() > 0 else float("nan"))
    return out
