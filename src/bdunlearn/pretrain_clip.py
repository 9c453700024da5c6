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
- ``captions``: the ``pretrain`` pairs of the caption dataset ``pretrain.dataset``
  (``prepare_captions``: captioned scenes), standing in for CLIP's web-scale
  pretraining on the image-caption track; the zero-shot check uses that
  dataset's ``val`` images (plain digits). Choice: the multi-positive loss below,
  with the scenes of one digit as positives. With the plain CLIP loss the tiny
  CLIP learnt the colours and positions the captions name but not the digits
  (zero-shot 14% on plain digits after 20 epochs on 6,000 scenes, chance 10%);
  with the scenes of a digit as positives, 92.5% (``configs/tiny-caption.yaml``,
  docs/benchmarks.md). The backdoor and everything after it use the plain loss.

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

from bdunlearn.data.io import decode_images, read_json, read_parquet, write_json
from bdunlearn.models.clip_adapter import load_image_split
from bdunlearn.models.clip_pretraining import glyph_corpus, train_contrastive, zeroshot_accuracy
from bdunlearn.models.contrastive import ContrastiveConfig, train_pairs
from bdunlearn.models.open_clip_models import create_clip, save_clip, tokenizer_for
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import setup

log = logging.getLogger(__name__)


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
                raise SystemExit(f"pretrain_clip: --datadir is required when pretrain.source is {pre['source']!r}")
            data = Path(args.datadir)
            meta = read_json(data / "classes.json")
            caps = [[t.format(c) for t in meta["templates"]] for c in meta["classnames"]]
            held_out = "val" if pre["source"] == "captions" else "test"  # a caption dataset's test split is reported
            test_x, test_y = load_image_split(data / f"{held_out}.parquet")
            report["dataset"] = meta.get("dataset", data.name)
        if pre["source"] == "captions":  # the caption dataset's pretraining pairs; the scenes of a digit are positives
            pairs = read_parquet(data / "pretrain.parquet")
            cfg = ContrastiveConfig.from_dict({**pre, "loss": "clip"})
            report["history"] = train_pairs(model, tok, decode_images(pairs["image"]), list(pairs["caption"]),
                                            spec.mean, spec.std, cfg, device, prm["seed"], desc="pretrain_clip",
                                            positives=torch.tensor(pairs["label"].to_numpy(), dtype=torch.long))
        else:
            if pre["source"] == "dataset":
                images, labels = load_image_split(data / "train.parquet")
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
