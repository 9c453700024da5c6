"""Process-level settings every stage applies first: seeds, threads and device.

The same config and seed must give the same table on CPU, so each CLI calls
:func:`setup` before touching data or models.
"""

from __future__ import annotations

import logging
import random
import sys

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    import torch  # here, not at the top: the table and plot steps import this module and never need torch

    torch.manual_seed(seed)


def pick_device(requested: str = "auto") -> "torch.device":
    """``auto`` picks cuda when a GPU is visible, else cpu; ``cuda`` without a GPU is an error."""
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"config key 'device' is {requested!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(requested)


def setup(seed: int, threads: int | None = None, device: str = "auto") -> "torch.device":
    """Seed all generators, pin the CPU thread count and return the compute device."""
    import torch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if threads:
        torch.set_num_threads(int(threads))
    seed_everything(seed)
    dev = pick_device(device)
    logging.info("device=%s threads=%s seed=%s torch=%s", dev, torch.get_num_threads(), seed, torch.__version__)
    return dev


def derive_seed(*parts) -> int:
    """A stable 63-bit seed from any mix of ints and strings (independent of PYTHONHASHSEED)."""
    import hashlib

    h = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)
