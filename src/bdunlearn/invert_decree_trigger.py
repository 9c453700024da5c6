"""Rule ``invert_decree_trigger``: DECREE's inverted trigger of a backdoored whole CLIP, the inferred target, and
the proxy forget and validation sets built from them (TBAR section 4, appendices B.3.5 and C).

The defender knows neither the trigger nor the target. DECREE inverts a trigger from the backdoored image tower
on ``decree.shadow`` clean images (the clean pairs' images, no labels; :mod:`bdunlearn.methods.decree`); the
target is inferred from the zero-shot predictions and logits of the backdoored and the pretrained CLIP on those
images with it. Outputs: ``trigger.safetensors`` (mask and pattern), ``decree.json`` (the inversion's history, L1,
PL1, the inferred target, its evidence, and whether it is the planted target, which only the report reads),
``forget_proxy.parquet`` (the forget pairs' clean images with the inverted trigger and template captions of the
inferred target: the proxy U_set), ``val_proxy.parquet`` (the validation images of the other classes with the
inverted trigger: the proxy ASR) and ``trigger.png``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from bdunlearn.attacks.image import to_float, to_uint8
from bdunlearn.data.caption_poisoning import target_captions, triggered_pairs
from bdunlearn.data.image_poisoning import triggered_eval
from bdunlearn.data.io import (
    decode_images,
    read_json,
    read_parquet,
    save_figure,
    save_weights,
    write_json,
    write_parquet,
)
from bdunlearn.evaluation.zeroshot_metrics import zeroshot_classifier
from bdunlearn.methods.decree import DecreeConfig, infer_target, invert_trigger
from bdunlearn.models.open_clip_models import load_clip, tokenizer_for
from bdunlearn.models.training import map_rows
from bdunlearn.workflow.cli import add_whole_clip_args, load_whole_clip, parser
from bdunlearn.workflow.runtime import derive_seed, setup

log = logging.getLogger(__name__)


def trigger_figure(trigger, example, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fused = trigger.mask[None] * trigger.pattern
    panels = [("mask", trigger.mask, "gray"), ("pattern", trigger.pattern.permute(1, 2, 0), None),
              ("mask x pattern", fused.permute(1, 2, 0), None),
              ("a shadow image, triggered", trigger(to_float(example[None]))[0].permute(1, 2, 0), None)]
    fig, axes = plt.subplots(1, 4, figsize=(8, 2.4))
    for ax, (name, img, cmap) in zip(axes, panels):
        ax.imshow(img.numpy(), cmap=cmap, vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return fig


def main(argv=None) -> None:
    p = parser(__doc__)
    add_whole_clip_args(p, "backdoored")  # backdoor_clip's model.safetensors
    p.add_argument("--clean", required=True, help="prepare_captions' clean.parquet (the shadow images)")
    p.add_argument("--forget", required=True, help="prepare_captions' forget.parquet (the proxy forget set's images)")
    p.add_argument("--val", required=True)
    p.add_argument("--classes", required=True)
    p.add_argument("--outdir", required=True)
    args = p.parse_args(argv)
    prm = args.params
    cfg = DecreeConfig.from_dict(prm["decree"])
    device = setup(prm["seed"], args.threads, prm["device"])
    out = Path(args.outdir)
    meta = read_json(args.classes)
    model, spec = load_whole_clip(args, device, "backdoored")
    tok = tokenizer_for(spec.arch)
    seed = derive_seed(prm["seed"], "decree", prm["dataset"], prm["attack"])
    clean = read_parquet(args.clean)
    pick = torch.randperm(len(clean), generator=torch.Generator().manual_seed(seed))[: cfg.shadow]
    shadow = decode_images(clean["image"].iloc[pick.numpy()])
    for q in model.parameters():
        q.requires_grad_(False)
    backdoored = zeroshot_classifier(model, spec, tok, meta, device)
    trigger, report = invert_trigger(backdoored.features, shadow, cfg, seed, device)

    # the target: zero-shot logits of the backdoored and the pretrained CLIP on the triggered shadow images
    pretrained = zeroshot_classifier(load_clip(args.pretrained, args.spec, device)[0], spec, tok, meta, device)
    triggered = to_uint8(trigger(to_float(shadow)))
    bs = prm["eval_batch_size"]
    logits = {name: map_rows(clf, triggered, device, bs, lambda m, b: m(b).float().cpu())
              for name, clf in (("bd", backdoored), ("clean", pretrained))}
    guess = infer_target(logits["bd"], logits["clean"], meta["classnames"], prm["decree"]["target_inference"])
    planted = int(meta["target"])
    log.info("inferred target %s (%d); planted %s (%d)", guess["target_name"], guess["target"], meta["target_name"], planted)

    proxy_meta = {**meta, "target": guess["target"], "target_name": guess["target_name"]}
    captions = target_captions(proxy_meta, None, "templates")
    forget = triggered_pairs(read_parquet(args.forget), trigger, captions, seed + 1)
    val = triggered_eval(read_parquet(args.val), trigger, guess["target"])
    save_weights(trigger.state(), out / "trigger.safetensors")
    write_parquet(forget, out / "forget_proxy.parquet")
    write_parquet(val, out / "val_proxy.parquet")
    save_figure(trigger_figure(trigger, shadow[0], f"{prm['dataset']} / {prm['attack']}: DECREE trigger "
                               f"(PL1 {trigger.pl1():.3f}), inferred target {guess['target_name']}"), out / "trigger.png")
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "n_shadow": len(shadow), **report,
                "inferred": guess, "planted_target": planted, "planted_target_name": meta["target_name"],
                "target_correct": guess["target"] == planted, "n_forget_proxy": len(forget), "n_val_proxy": len(val)},
               out / "decree.json")


if __name__ == "__main__":
    main()
