"""Shared command-line plumbing for the stage modules (``python -m bdunlearn.<stage>``).

Rules pass the config slice a job needs as one JSON argument (``--params``),
so Snakemake's params-based rerun trigger sees every setting that can change
an output.
"""

from __future__ import annotations

import argparse
import json


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", type=json.loads, required=True, help="JSON object with this job's settings")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    return p


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The base model: ``--model``, a JSON model spec (see :mod:`bdunlearn.models`), the same for every rule."""
    p.add_argument("--model", type=json.loads, required=True, help="JSON model spec")


def model_spec(args) -> dict:
    return args.model


def add_whole_clip_args(p: argparse.ArgumentParser, state: str | None = None, required: bool = True) -> None:
    """The image-caption track's whole CLIP: ``--pretrained`` / ``--spec`` (``pretrain_clip``'s outputs) and, with
    ``state``, the flag of a fine-tuned state of every weight (``--backdoored``, ``--weights``)."""
    p.add_argument("--pretrained", required=True, help="pretrain_clip's model.safetensors")
    p.add_argument("--spec", required=True, help="pretrain_clip's spec.json")
    if state:
        p.add_argument(f"--{state}", required=required, default=None, help="a state of every weight of the CLIP")


def load_whole_clip(args, device, state: str | None = None):
    """``(model, spec)``: the CLIP of :func:`add_whole_clip_args`, at the ``state`` weights when that flag is given."""
    from bdunlearn.data.io import load_weights
    from bdunlearn.models.open_clip_models import load_clip

    model, spec = load_clip(args.pretrained, args.spec, device)
    path = getattr(args, state, None) if state else None
    if path:
        model.load_state_dict(load_weights(path), strict=True)
    return model, spec


def add_eval_args(p: argparse.ArgumentParser) -> None:
    """The test sets of the unlearning track (CACC, LFR, PACC)."""
    p.add_argument("--classes", required=True, help="classes.json of the dataset")
    p.add_argument("--test", required=True, help="clean test split")
    p.add_argument("--test-triggered", required=True, help="triggered non-target test rows (LFR)")
    p.add_argument("--test-pacc", required=True, help="triggered test rows with unchanged labels (PACC)")


def load_eval_sets(model, args) -> dict:
    """``{"clean", "triggered", "pacc"}``: the test sets of :func:`add_eval_args`, decoded by ``model``."""
    return {"clean": model.load_split(args.test), "triggered": model.load_split(args.test_triggered),
            "pacc": model.load_split(args.test_pacc)}


def add_tbar_model_args(p: argparse.ArgumentParser) -> None:
    """Inputs shared by the stages that rebuild the backdoored model and its trigger vector."""
    add_model_args(p)
    p.add_argument("--backdoored", required=True, help="visual weights of the backdoored model")
    p.add_argument("--tau", required=True, help="trigger vector (.safetensors)")
    p.add_argument("--classes", required=True, help="classes.json of prepare_images")


def prepare_main(description: str, prepare, argv=None, meta_name: str = "classes.json") -> None:
    """The CLI of the ``prepare_*`` rules: ``prepare(params) -> (frames, meta)``, written as Parquet splits and
    ``meta_name`` (classes.json; the LLM track's facts.json)."""
    import logging
    from pathlib import Path

    from bdunlearn.data.io import write_json, write_parquet
    from bdunlearn.workflow.runtime import setup

    p = parser(description)
    p.add_argument("--outdir", required=True, help=f"directory for the <split>.parquet files and {meta_name}")
    args = p.parse_args(argv)
    setup(args.params["seed"], args.threads, "cpu")
    frames, meta = prepare(args.params)
    out = Path(args.outdir)
    for split, df in frames.items():
        write_parquet(df, out / f"{split}.parquet")
        logging.getLogger(__name__).info("%s: %d rows", split, len(df))
    write_json(meta, out / meta_name)
