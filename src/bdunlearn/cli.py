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


def add_tbar_model_args(p: argparse.ArgumentParser) -> None:
    """Inputs shared by the stages that rebuild the backdoored model and its trigger vector."""
    p.add_argument("--pretrained", required=True, help="pretrain_clip output directory")
    p.add_argument("--head", required=True, help="build_head output (.safetensors)")
    p.add_argument("--backdoored", required=True, help="visual weights of the backdoored model")
    p.add_argument("--tau", required=True, help="trigger vector (.safetensors)")
    p.add_argument("--classes", required=True, help="classes.json of prepare_images")
