"""Rule ``optimize_trigger``: the trigger of an attack that is learnt against the clean model before poisoning
(``learned`` attacks: BadCLIP, :mod:`bdunlearn.attacks.badclip`).

From the dataset's training pairs (``prepare_captions``' ``train.parquet``): the pairs whose caption names the
target class (as a word) are the positives and the pool of natural target captions; ``n_images`` of the others,
drawn at random, each get one of those captions. The pretrained CLIP is frozen; AutoAugment (ImageNet policy)
views come from a seeded generator. Outputs: ``trigger.safetensors`` (the patch), ``trigger.json`` (the loss per
epoch, the counts) and ``trigger.png``.
"""

from __future__ import annotations

import numpy as np

from bdunlearn import attacks
from bdunlearn.attacks.image import to_float
from bdunlearn.data.caption_poisoning import names_class
from bdunlearn.data.io import decode_images, read_json, read_parquet, save_figure, save_weights, write_json
from bdunlearn.models.contrastive import augmenter
from bdunlearn.models.open_clip_models import tokenizer_for
from bdunlearn.workflow.cli import add_whole_clip_args, load_whole_clip, parser
from bdunlearn.workflow.runtime import derive_seed, setup


def trigger_figure(attack, patch, example, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(4.8, 2.6))
    axes[0].imshow(patch.permute(1, 2, 0).numpy(), vmin=0, vmax=1)
    axes[0].set_title("patch", fontsize=8)
    axes[1].imshow(attack.paste(to_float(example[None]), patch)[0].permute(1, 2, 0).numpy(), vmin=0, vmax=1)
    axes[1].set_title("a training image, triggered", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return fig


def main(argv=None) -> None:
    p = parser(__doc__)
    add_whole_clip_args(p)
    p.add_argument("--train", required=True, help="prepare_captions' train.parquet")
    p.add_argument("--classes", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--plot", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    meta = read_json(args.classes)
    attack = attacks.get(prm["attack"], "image").build(derive_seed(prm["seed"], "attack", prm["attack"]),
                                                       int(meta["resolution"]), **prm["attack_params"])
    train = read_parquet(args.train)
    names = train["caption"].map(lambda c: names_class(c, meta["target_name"])).to_numpy()
    if names.sum() == 0:
        raise ValueError(f"config key 'datasets.{prm['dataset']}.target': no training caption names "
                         f"{meta['target_name']!r}, so {prm['attack']} has no target images or captions to learn from")
    seed = derive_seed(prm["seed"], "optimize_trigger", prm["dataset"], prm["attack"])
    rng = np.random.default_rng(seed)
    others = np.flatnonzero(~names)
    pick = np.sort(rng.choice(others, size=min(attack.n_images, len(others)), replace=False))
    pool = list(train["caption"][names])
    captions = [pool[int(i)] for i in rng.integers(len(pool), size=len(pick))]
    images, positives = decode_images(train["image"].iloc[pick]), decode_images(train["image"][names])
    model, spec = load_whole_clip(args, device)
    patch, history = attack.optimize(model, spec, tokenizer_for(spec.arch), images, captions, positives, device, seed,
                                     augment=augmenter(seed, "cleanclip", int(meta["resolution"])))
    save_weights({"patch": patch}, args.out)
    write_json({"dataset": prm["dataset"], "attack": prm["attack"], "n_images": len(pick), "n_positives": int(names.sum()),
                "target": meta["target_name"], "history": history}, args.report)
    save_figure(trigger_figure(attack, patch, images[0], f"{prm['dataset']} / {prm['attack']}: optimised patch "
                               f"(target {meta['target_name']})"), args.plot)


if __name__ == "__main__":
    main()
