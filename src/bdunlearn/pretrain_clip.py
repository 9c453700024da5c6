"""Rule ``pretrain_clip``: the pretrained CLIP every later stage starts from.

With ``model.pretrained`` set (an open_clip tag such as ``openai``, or a local
weights file) the real open_clip loader is used and the model is exported to
safetensors. Without it, a small open_clip architecture (``bdclip-tiny`` by
default) is trained contrastively offline, standing in for a pretrained CLIP,
on one of two sources (``pretrain.source``):

- ``glyphs`` (the embedded default): printed digits rendered offline
  (``bdunlearn.data.glyphs``) paired with captions ("a printed three"). The
  handwritten digits it is then fine-tuned on are a different distribution,
  so, as for CLIP on CIFAR100, zero-shot accuracy is moderate and backdoor
  fine-tuning has clean-task learning to do.
- ``dataset``: the clean training images of ``pretrain.dataset`` paired with
  ``template.format(class name)`` ("a photo of the digit three"); the stand-in
  then already knows the fine-tuning task.

Choice: with ten classes, captions repeat inside a batch, and the standard CLIP
loss would treat an image and another image's identical caption as a negative
pair. We use the multi-positive form of the symmetric CLIP loss: the target
distribution of each image (and each caption) is uniform over the batch items
of its class. Images are randomly translated (``pretrain.max_shift``) and
tinted with a random RGB gain and offset (``pretrain.tint``). Without the tint,
grey-level digits never exercise the colour-difference directions of the patch
embedding, weight decay shrinks them, and the stand-in CLIP becomes blind to
colour. Small coloured patch triggers (BadNet) then look like stroke fragments.
A real pretrained CLIP has seen colour. The rule fails if zero-shot accuracy on the pretraining
data's held-out split (the dataset's test split, or ``pretrain.glyphs.n_test`` further glyphs) is below
``pretrain.min_zeroshot_accuracy``.

Outputs: ``model.safetensors``, ``spec.json`` (architecture, resolution,
normalisation) and ``pretrain.json`` (loss history, zero-shot accuracy).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from bdunlearn.data import glyphs
from bdunlearn.models.clip_adapter import ClipClassifier, load_image_split
from bdunlearn.data.classnames import DIGITS
from bdunlearn.workflow.cli import parser
from bdunlearn.models.open_clip_models import create_clip, save_clip, tokenizer_for
from bdunlearn.data.io import read_json, write_json
from bdunlearn.evaluation.metrics import accuracy
from bdunlearn.workflow.runtime import derive_seed, setup
from bdunlearn.models.training import batch_indices, cosine_lr, predict, progress
from bdunlearn.models.zeroshot import caption_embeddings

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


def glyph_corpus(prm: dict, resolution: int, seed: int):
    """The printed-glyph corpus (bdunlearn.data.glyphs): training images and labels, per-class captions, held-out split."""
    n_classes = len(DIGITS) if prm["classes"] == "digits" else len(glyphs.CLASSNAMES)

    def tensors(n, tag):
        x, y = glyphs.make_glyphs(n, resolution, derive_seed(seed, tag), n_classes)
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y)

    return tensors(prm["n"], "glyphs-train"), glyphs.captions()[:n_classes], tensors(prm["n_test"], "glyphs-test")


def zeroshot_accuracy(model, spec, tokenizer, captions, images, labels, device) -> float:
    """Zero-shot accuracy (a fraction) of ``model`` on ``images`` with a head built from per-class ``captions``."""
    head = caption_embeddings(model, tokenizer, captions, device)
    clf = ClipClassifier(model.visual, head, spec.mean, spec.std)
    return accuracy(predict(clf, images, device), labels) / 100


def caption_table(captions: list[list[str]]) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Flatten per-class caption lists: (all captions, offset of each class's first, number per class)."""
    flat = [c for cs in captions for c in cs]
    counts = torch.tensor([len(cs) for cs in captions], dtype=torch.long)
    offsets = torch.cumsum(counts, 0) - counts
    return flat, offsets, counts


def train_contrastive(model, spec, tokenizer, captions, images, labels, prm, device, seed):
    """Contrastive pretraining on ``images`` (uint8 NCHW) whose class ``y`` is paired with one of ``captions[y]``."""
    flat, offsets, counts = caption_table(captions)
    tokens = tokenizer(flat).to(device)
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
            y = labels[idx]
            tid = (offsets[y] + torch.randint(0, 1 << 30, (len(idx),), generator=gen) % counts[y]).to(device)
            y = y.to(device)
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
        pre = prm["pretrain"]
        tok = tokenizer_for(spec.arch)
        if pre["source"] == "glyphs":
            (images, labels), caps, (test_x, test_y) = glyph_corpus(pre["glyphs"], spec.resolution, prm["seed"])
            report["dataset"] = "glyphs"
        else:
            if not args.datadir:
                raise SystemExit("pretrain_clip: --datadir is required when pretrain.source is 'dataset'")
            data = Path(args.datadir)
            meta = read_json(data / "classes.json")
            caps = [[t.format(c) for t in meta["templates"]] for c in meta["classnames"]]
            images, labels = load_image_split(data / "train.parquet")
            test_x, test_y = load_image_split(data / "test.parquet")
            report["dataset"] = meta["dataset"]
        report["history"] = train_contrastive(model, spec, tok, caps, images, labels, pre, device, prm["seed"])
        acc = zeroshot_accuracy(model, spec, tok, caps, test_x, test_y, device)
        report["zeroshot_test_accuracy"] = acc
        log.info("zero-shot accuracy on the held-out %s split %.4f", report["dataset"], acc)
        need = pre["min_zeroshot_accuracy"]
        if acc < need:
            raise SystemExit(f"pretrain_clip: zero-shot accuracy {acc:.4f} on the held-out {report['dataset']} split is "
                             f"below pretrain.min_zeroshot_accuracy = {need}; raise pretrain.epochs or pretrain.lr")
    save_clip(model.cpu(), spec, out / "model.safetensors", out / "spec.json")
    write_json(report, out / "pretrain.json")


if __name__ == "__main__":
    main()
