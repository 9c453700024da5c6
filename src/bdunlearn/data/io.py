"""Atomic file I/O shared by every stage of the DAG.

Every writer goes through a temporary file in the destination directory and an
``os.replace``, so an interrupted job never leaves a half-written output that
Snakemake could mistake for a finished one. Weights are safetensors only and
tables are Parquet/CSV/JSON: nothing here ever unpickles.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

import numpy as np
import pandas as pd
from PIL import Image

if TYPE_CHECKING:  # torch is imported where tensors are read or written: the table and plot steps never load it
    import torch


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(obj, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text())


def write_text(text: str, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet(df: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def read_parquet(path) -> pd.DataFrame:
    return pd.read_parquet(path)


def write_csv(df: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def save_weights(tensors: Mapping[str, "torch.Tensor"], path, metadata: Mapping[str, str] | None = None) -> None:
    """Save a flat name -> tensor mapping as safetensors (contiguous CPU copies)."""
    from safetensors.torch import save_file

    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=dict(metadata) if metadata else None)


def load_weights(path, device: "str | torch.device" = "cpu") -> "dict[str, torch.Tensor]":
    """Load safetensors weights; a missing file gets an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path} (expected a .safetensors file)")
    from safetensors.torch import load_file

    return load_file(str(path), device=str(device))


def save_figure(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")


def encode_png(image: np.ndarray) -> bytes:
    """Encode an HxWx3 uint8 array losslessly as PNG bytes."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.dtype} {image.shape}")
    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG (or any PIL-readable) bytes to an HxWx3 uint8 array."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def decode_images(blobs) -> "torch.Tensor":
    """Decode a sequence of encoded images into one uint8 tensor of shape (N, 3, H, W)."""
    import torch

    arrays = [decode_png(b) for b in blobs]
    if not arrays:
        return torch.empty((0, 3, 0, 0), dtype=torch.uint8)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
