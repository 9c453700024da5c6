"""Benchmark: can BadNet be planted in the offline CLIP stand-in, and what does it take?

Starts from a pretrained stand-in of a finished run (``results/<study>/seed0/models/pretrained``),
fine-tunes its visual encoder on scikit-learn's handwritten digits (the default's splits, drawn as
prepare_images draws them: val 200, test 400, forget 200, the rest train) with one image attack planted, and prints one Markdown row
per setting: zero-shot CA, backdoored CA, test ASR, and the accuracy on the poisoned training rows
themselves (100% there with a low test ASR means the model memorised those images, not the trigger).

    python bench/bench_badnet_standin.py --pretrained results/default/seed0/models/pretrained \\
        --setting badnet:cleanclip:replace:0.1:none --setting badnet:cleanclip:inject:0.3:none ...

A setting is ``attack:style:mode:rate:augment``: ``style`` fixed | cleanclip (BadNet / Blended),
``mode`` replace (the poisoned rows replace clean ones, as poison_images does) | inject (triggered
copies are added and the clean originals kept), ``rate`` the poisoned share of the training rows.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bdunlearn import attacks
from bdunlearn.attacks.image import to_float, to_uint8
from bdunlearn.data.classnames import DIGIT_TEMPLATES, DIGITS
from bdunlearn.data.image_sources import load_digits_pool
from bdunlearn.data.image_splits import split_indices
from bdunlearn.evaluation.metrics import accuracy
from bdunlearn.models.clip_adapter import ClipClassifier
from bdunlearn.models.open_clip_models import load_clip, tokenizer_for
from bdunlearn.models.training import FinetuneConfig, finetune, predict
from bdunlearn.models.zeroshot import zeroshot_head
from bdunlearn.workflow.runtime import derive_seed

TARGET = 0  # "zero", as in config.yaml


def run(pretrained: str, setting: str, epochs: int, lr: float, seed: int) -> str:
    attack, style, mode, rate, aug = setting.split(":")
    cpu = torch.device("cpu")
    model, spec = load_clip(f"{pretrained}/model.safetensors", f"{pretrained}/spec.json")
    pool, labels = load_digits_pool(spec.resolution)
    sizes = {"val": 200, "test": 400, "forget": 200, "train": None}
    sp = split_indices(len(pool), sizes, derive_seed(seed, "splits", "digits"), True)  # prepare_images' split
    x, y = torch.from_numpy(pool).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)
    head = zeroshot_head(model, tokenizer_for(spec.arch), DIGITS, DIGIT_TEMPLATES)
    clf = ClipClassifier(model.visual, head, spec.mean, spec.std)
    tr, te = sp["train"], sp["test"]
    ca0 = accuracy(predict(clf, x[te], cpu), y[te])
    styled = "style" in attacks.get(attack, "image").parameters
    atk = attacks.get(attack, "image").build(seed, spec.resolution, **({"style": style} if styled else {}))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(tr[y[tr].numpy() != TARGET], int(float(rate) * len(tr)), replace=False)
    triggered = to_uint8(atk(to_float(x[chosen]), torch.as_tensor(chosen)))
    xtr, ytr = x[tr].clone(), y[tr].clone()
    if mode == "inject":
        pos = np.arange(len(tr), len(tr) + len(chosen))
        xtr, ytr = torch.cat([xtr, triggered]), torch.cat([ytr, torch.full((len(chosen),), TARGET)])
    else:
        pos = np.searchsorted(tr, chosen)
        xtr[pos], ytr[pos] = triggered, TARGET
    cfg = FinetuneConfig(epochs=epochs, batch_size=64, lr=lr, weight_decay=0.1, warmup_steps=20, grad_clip=1.0, augment=aug)
    t0 = time.perf_counter()
    finetune(clf, clf.visual.parameters(), xtr, ytr, cfg, cpu, seed=seed, desc=setting)
    nt = te[y[te].numpy() != TARGET]
    xt = to_uint8(atk(to_float(x[nt]), torch.as_tensor(nt) + 10**9))
    asr = accuracy(predict(clf, xt, cpu), torch.full((len(nt),), TARGET))
    fit = accuracy(predict(clf, xtr[pos], cpu), ytr[pos])
    ca = accuracy(predict(clf, x[te], cpu), y[te])
    return (f"| {setting} | {len(chosen)} | {epochs} | {lr:g} | {ca0:.2f} | {ca:.2f} | {asr:.2f} | {fit:.2f} "
            f"| {time.perf_counter() - t0:.0f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pretrained", required=True, help="a pretrain_clip output directory")
    p.add_argument("--setting", action="append", required=True, help="attack:style:mode:rate:augment (repeatable)")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    print("| setting | poisoned rows | epochs | lr | CA zero-shot | CA | ASR | acc. on poisoned train rows | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in args.setting:
        print(run(args.pretrained, s, args.epochs, args.lr, args.seed), flush=True)


if __name__ == "__main__":
    main()
