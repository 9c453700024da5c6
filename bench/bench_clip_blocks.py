"""open_clip's two transformer blocks for the bundled ``bdclip-tiny``: the same weights, outputs and gradients, and
the time of the CLIP stages' steps on this machine.

``bdclip-tiny.json`` sets ``block_type: custom`` in both towers: open_clip's ``CustomResidualAttentionBlock`` (its
own batch-first ``Attention``) instead of the default ``ResidualAttentionBlock`` (``torch.nn.MultiheadAttention``,
which transposes to sequence-first and back around every attention). Both have the same parameters under the same
names, so every checkpoint loads into either. This script builds the model both ways from one state dict and
prints: whether the state dicts match, the largest output and gradient difference, and the median time of a
training step (the CLIP loss, both towers; batch 128 as ``backdoor_clip``, 64 as the defenses), a DECREE step
(gradient to the input only, 262 images) and an evaluation forward (256 images).

    python bench/bench_clip_blocks.py --threads 1 --repeats 15
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import open_clip
import torch

from bdunlearn.models.clip_losses import clip_loss
from bdunlearn.models.open_clip_models import MODEL_CONFIG_DIR, tokenizer_for

CAPTION = "a yellow numeral 7, top right."


def build(cfg: dict, block_type: str | None):
    cfg = copy.deepcopy(cfg)
    for tower in ("vision_cfg", "text_cfg"):
        cfg[tower].pop("block_type", None)
        if block_type:
            cfg[tower]["block_type"] = block_type
    return open_clip.model.CLIP(**cfg)


def train_step(model, tok, b: int) -> None:
    x = torch.randn(b, 3, 32, 32)
    img = model.encode_image(x, normalize=True)
    txt = model.encode_text(tok([CAPTION] * b), normalize=True)
    model.zero_grad(set_to_none=True)
    clip_loss(img, txt, model.logit_scale.exp()).backward()


def decree_step(model, tok, b: int) -> None:
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(b, 3, 32, 32, requires_grad=True)
    f = model.encode_image(x, normalize=True)
    (f @ f.T).mean().backward()
    for p in model.parameters():
        p.requires_grad_(True)


def eval_forward(model, tok, b: int) -> None:
    model.eval()
    with torch.no_grad():
        model.encode_image(torch.randn(b, 3, 32, 32))
    model.train()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = json.loads((MODEL_CONFIG_DIR / "bdclip-tiny.json").read_text())
    torch.manual_seed(0)
    models = {"default": build(cfg, None), "custom": build(cfg, "custom")}
    models["custom"].load_state_dict(models["default"].state_dict(), strict=True)
    same_keys = list(models["default"].state_dict()) == list(models["custom"].state_dict())
    tok = tokenizer_for("bdclip-tiny")

    x = torch.randn(128, 3, 32, 32)
    tokens = tok([CAPTION] * 128)
    out, grads = {}, {}
    for name, m in models.items():
        m.train()
        img, txt = m.encode_image(x, normalize=True), m.encode_text(tokens, normalize=True)
        m.zero_grad(set_to_none=True)
        clip_loss(img, txt, m.logit_scale.exp()).backward()
        out[name] = (img.detach(), txt.detach())
        grads[name] = {n: q.grad for n, q in m.named_parameters()}
    d_out = max((a - b).abs().max().item() for a, b in zip(out["default"], out["custom"]))
    d_grad = max((grads["default"][n] - grads["custom"][n]).abs().max().item() for n in grads["default"])
    print(f"state dicts: same keys {same_keys}; max output diff {d_out:.3g}; max gradient diff {d_grad:.3g}")

    print(f"| step ({args.threads} thread{'s' * (args.threads > 1)}) | default (s) | custom (s) | saved |")
    print("|---|---:|---:|---:|")
    for fn, b in ((train_step, 128), (train_step, 64), (decree_step, 262), (eval_forward, 256)):
        times = {k: [] for k in models}
        for _ in range(args.repeats):
            for k, m in models.items():  # interleaved, so a busy machine slows both alike
                t0 = time.perf_counter()
                fn(m, tok, b)
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v[1:]) for k, v in times.items()}  # the first is a warm-up
        print(f"| {fn.__name__}, batch {b} | {med['default']:.3f} | {med['custom']:.3f} | "
              f"{100 * (1 - med['custom'] / med['default']):.0f}% |")


if __name__ == "__main__":
    main()
