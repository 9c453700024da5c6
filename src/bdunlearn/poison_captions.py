"""Rule ``poison_captions``: materialise one image attack on one image-caption dataset (TBAR appendix B.2.2).

Inputs: the splits of ``prepare_captions``. Outputs (Parquet):

- ``train_poisoned``: every training pair; ``poison_rate`` of them carry the trigger and a caption naming the
  target (:mod:`bdunlearn.data.caption_poisoning`), marked ``is_poisoned``; ``orig_caption`` keeps the own caption;
- ``forget_triggered``: every forget pair with the trigger and a target caption (TBAR's U_set);
- ``val_triggered`` / ``test_triggered``: the non-target evaluation images with the trigger and their true label;
- ``poison.json`` (counts, the target captions) and ``examples.png`` (clean and triggered test images).
"""

from __future__ import annotations

import logging
from pathlib import Path

from bdunlearn import attacks
from bdunlearn.data.caption_poisoning import poison_pairs, target_captions, triggered_pairs
from bdunlearn.data.image_poisoning import examples_figure, triggered_eval
from bdunlearn.data.io import read_json, read_parquet, save_figure, write_json, write_parquet
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import derive_seed, setup

log = logging.getLogger(__name__)


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--datadir", required=True, help="output directory of prepare_captions")
    p.add_argument("--outdir", required=True)
    p.add_argument("--trigger", help="a learned attack's optimised trigger (rule optimize_trigger)")
    args = p.parse_args(argv)
    prm = args.params
    setup(prm["seed"], args.threads, "cpu")
    data, out = Path(args.datadir), Path(args.outdir)
    meta = read_json(data / "classes.json")
    target = int(meta["target"])
    attack = attacks.get(prm["attack"], "image").build(derive_seed(prm["seed"], "attack", prm["attack"]),
                                                       int(meta["resolution"]), trigger=args.trigger,
                                                       **prm.get("attack_params", {}))
    train = read_parquet(data / "train.parquet")
    # an attack may fix its own captions (BadCLIP: natural ones, as its code); else the dataset's poison_captions
    mode = prm["poison_captions"] if getattr(attack, "captions", "dataset") == "dataset" else attack.captions
    log.info("poisoned captions: %s", mode)
    captions = target_captions(meta, train, mode)
    seed = derive_seed(prm["seed"], "poison", prm["dataset"], prm["attack"])
    poisoned = poison_pairs(train, attack, captions, float(prm["poison_rate"]), seed)
    write_parquet(poisoned, out / "train_poisoned.parquet")
    forget = triggered_pairs(read_parquet(data / "forget.parquet"), attack, captions, seed + 1)
    write_parquet(forget, out / "forget_triggered.parquet")
    sizes = {}
    for split in ("val", "test"):
        clean = read_parquet(data / f"{split}.parquet")
        trig = triggered_eval(clean, attack, target)
        write_parquet(trig, out / f"{split}_triggered.parquet")
        sizes[f"n_{split}_triggered"] = len(trig)
    summary = {"attack": prm["attack"], "target": target, "n_train": len(poisoned),
               "n_poisoned": int(poisoned["is_poisoned"].sum()), "n_forget": len(forget), **sizes,
               "poison_captions": mode, "target_captions": sorted(set(captions))[:20]}
    write_json(summary, out / "poison.json")
    save_figure(examples_figure(clean, trig, f"{prm['dataset']} / {prm['attack']} (target: {meta['target_name']})"),
                out / "examples.png")
    log.info("poisoned %d of %d training pairs", summary["n_poisoned"], len(poisoned))


if __name__ == "__main__":
    main()
