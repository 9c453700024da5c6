"""Rule ``pretrain_clip``: the pretrained CLIP every later stage starts from.

With ``model.pretrained`` set (an open_clip tag such as ``openai``, or a local
weights file) the real open_clip loader is used and the model is exported to
safetensors. Without it, a small open_clip architecture (``bdclip-tiny`` by
default) is trained contrastively on the clean training images of one dataset
paired with captions ``template.format(class name)`` ("a photo of the digit
three"), standing in for a pretrained CLIP offline.

Choice: with ten classes, captions repeat inside a batch, and the standard CLIP
loss would treat an image and another image's identical caption as a negative
pair. We use the multi-positive form of the symmetric CLIP loss: the target
distribution of each image (and each caption) is uniform over the batch items
of its class. Images are randomly translated (``pretrain.max_shift``) and
tinted with a random RGB gain and offset (``pretrain.tint``). Without the tint,
grey-level digits never exercise the colour-difference directions of the patch
embedding, weight decay shrinks them, and the stand-in CLIP becomes blind to
colour. Small coloured patch triggers (BadNet) then look like stroke fragments.
A real pretrained CLIP has seen colour. The rule fails if zero-shot accuracy on the clean test split
is below ``pretrain.min_zeroshot_accuracy``.

Outputs: ``model.safetensors``, ``spec.json`` (architecture, resolution,
normalisation) and ``pretrain.json`` (loss history, zero-shot accuracy).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from .adapters import ClipClassifier
from .cli import parser
from .clip_models import create_clip, save_clip, tokenizer_for
from .io import decode_images, read_json, read_parquet, write_json
from .metrics import accuracy
from .runtime import setup
from .training import batch_indices, cosine_lr, predict, progress
from .zeroshot import class_embeddings

log = logging.getLogger(__name__)


def multi_positive_clip_loss(image_feats, text_feats, labels, logit_scale) -> torch.Tensor:
    """Symmetric CLIP loss where all pairs of the same class are positives (uniform targets)."""
    logits = logit_scale * image_feats @ text_feats.T
    same = (labels[:, None] == labels[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    loss_i = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    loss_t = -(targets * F.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
    return 0.5 * (loss_i + loss_t)


def random_tint(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Per-image random colour: RGB gains in [1 - strength, 1] and an RGB offset in [0, strength / 3]."""
    if strength <= 0:
        return x
    n = x.shape[0]
    gain = 1 - strength * torch.rand((n, 3, 1, 1), generator=gen)
    offset = (strength / 3) * torch.rand((n, 3, 1, 1), generator=gen)
    return (x * gain + offset).clamp_(0, 1)


def random_shift(x: torch.Tensor, max_shift: float, gen: torch.Generator) -> torch.Tensor:
    """Translate the whole batch by one random offset (cyclic), at most ``max_shift`` of the side."""
    m = int(round(max_shift * x.shape[-1]))
    if m == 0:
        return x
    dy, dx = torch.randint(-m, m + 1, (2,), generator=gen).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def zeroshot_accuracy(model, spec, tokenizer, meta, test_df, device) -> float:
    """Zero-shot accuracy (a fraction) of ``model`` on a Parquet split, through the classifier adapter."""
    head = class_embeddings(model, tokenizer, meta["classnames"], meta["templates"], device)
    clf = ClipClassifier(model.visual, head, spec.mean, spec.std)
    labels = torch.tensor(test_df["label"].to_numpy(), dtype=torch.long)
    return accuracy(predict(clf, decode_images(test_df["image"]), device), labels) / 100


def train_contrastive(model, spec, tokenizer, meta, train_df, prm, device, seed):
    classnames, templates = meta["classnames"], meta["templates"]
    tokens = tokenizer([t.format(c) for c in classnames for t in templates]).to(device)
    images = decode_images(train_df["image"])
    labels = torch.tensor(train_df["label"].to_numpy(), dtype=torch.long)
    mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=prm["lr"], weight_decay=prm["weight_decay"])
    per_epoch = -(-len(labels) // prm["batch_size"])
    steps = per_epoch * prm["epochs"]
    gen = torch.Generator()
    gen.manual_seed(seed)
    history, step = [], 0
    bar = progress(total=steps, desc="pretrain_clip", unit="step")
    for epoch in range(prm["epochs"]):
        total = 0.0
        for idx in batch_indices(len(labels), prm["batch_size"], seed, epoch):
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, prm["lr"], prm["warmup_steps"], steps)
            x = random_shift(images[idx], prm["max_shift"], gen).float() / 255
            x = random_tint(x, prm["tint"], gen).to(device)
            y = labels[idx].to(device)
            tid = y * len(templates) + torch.randint(0, len(templates), (len(idx),), generator=gen).to(device)
            img_f = model.encode_image((x - mean) / std, normalize=True)
            txt_f = model.encode_text(tokens, normalize=True)[tid]  # each distinct caption encoded once
            loss = multi_positive_clip_loss(img_f, txt_f, y, model.logit_scale.exp())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, 4.6052)  # CLIP's cap of 100
            total += loss.item() * len(idx)
            step += 1
            bar.update(1)
        history.append({"epoch": epoch + 1, "loss": total / len(labels)})
        log.info("pretrain epoch %d loss %.4f", epoch + 1, history[-1]["loss"])
    bar.close()
    model.eval()
    return history


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--datadir", help="prepare_images output of the pretraining dataset (offline training only)")
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    model_cfg = prm["model"]
    out = Path(args.outdir)
    model, spec = create_clip(model_cfg["arch"], model_cfg["pretrained"], model_cfg["resolution"])
    report = {"arch": spec.arch, "pretrained": spec.pretrained, "resolution": spec.resolution}
    if not model_cfg["pretrained"]:
        if not args.datadir:
            raise SystemExit("pretrain_clip: --datadir is required when model.pretrained is null")
        data = Path(args.datadir)
        meta = read_json(data / "classes.json")
        tok = tokenizer_for(spec.arch)
        report["history"] = train_contrastive(model, spec, tok, meta, read_parquet(data / "train.parquet"),
                                              prm["pretrain"], device, prm["seed"])
        acc = zeroshot_accuracy(model, spec, tok, meta, read_parquet(data / "test.parquet"), device)
        report["zeroshot_test_accuracy"] = acc
        report["dataset"] = meta["dataset"]
        log.info("zero-shot test accuracy %.4f", acc)
        need = prm["pretrain"]["min_zeroshot_accuracy"]
        if acc < need:
            raise SystemExit(f"pretrain_clip: zero-shot test accuracy {acc:.4f} is below pretrain.min_zeroshot_accuracy "
                             f"= {need}; raise pretrain.epochs or pretrain.lr")
    save_clip(model.cpu(), spec, out / "model.safetensors", out / "spec.json")
    write_json(report, out / "pretrain.json")


if __name__ == "__main__":
    main()
