"""Sharded training of the LLM track's large models: several processes, one model cut across them (FSDP).

The paper configs unlearn 7B models and hold three at once (the model, the
original and the normally unlearned one); the authors used four 48 GB cards.
A job with ``llm_unlearn.gpus`` > 1 asks Snakemake for that many GPUs; the
workstation lease (``bdunlearn.workflow.gpu_lease``) or SLURM hands it that many
whole devices, and the lease starts one process per device with
``torch.distributed.run`` (torchrun). Each process then:

- joins the process group (``nccl`` on GPUs, ``gloo`` on CPUs: two CPU processes is how the tests run it);
- shards the trained model with torch's FSDP2 (``fully_shard`` on every decoder layer, then on the root), so its
  gradients and AdamW state, and its weights between steps, are split across the devices; the frozen reference
  models are replicated. Weights gathered for a forward stay gathered until its backward
  (``reshard_after_forward=False``): with resharding after each forward, the backward of these multi-term losses
  failed on freed weights (torch 2.14, CPU and gloo). So a 7B step holds the full weights once, plus the shards;
- takes its share of every batch (:func:`rank_slice`); FSDP averages the gradients. Each loss term's forward is
  followed by its own backward (``methods/llm_unlearning.py``): FSDP2 reshards a layer after its first backward,
  so two forwards through one layer before a single backward fail the same way;
- gathers the full weights to rank 0, which alone writes the outputs.

Choice: torch's own FSDP2 and torchrun, not Hugging Face accelerate: accelerate's FSDP plugin drives the same
``fully_shard`` (``fsdp_version: 2``) and adds a launcher config the workflow does not need.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, size)`` of this process (``(0, 1)`` outside a torchrun launch)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init(device: torch.device) -> torch.device:
    """Join the process group when torchrun started several processes; returns this process' device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def shard(model) -> None:
    """FSDP2 on a Hugging Face causal LM: each decoder layer, then the root (embeddings, norm, head)."""
    from torch.distributed.fsdp import fully_shard

    for layer in model.model.layers:
        fully_shard(layer, reshard_after_forward=False)
    fully_shard(model, reshard_after_forward=False)


def rank_slice(idx, rank: int, size: int) -> list:
    """This rank's share of a batch's indices: every ``size``-th from ``rank``; never empty (a batch smaller than
    the world repeats its items), because every rank must run each step's forward and backward."""
    idx = list(idx)
    mine = idx[rank::size]
    return mine or [idx[rank % len(idx)]]


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """The mean of each value over the processes (the logged loss terms)."""
    if world()[1] == 1:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / world()[1] for k, v in zip(keys, t.tolist())}


def full_state_dict(model) -> dict:
    """The full (unsharded) weights on CPU, gathered on every rank (rank 0 writes them)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def finish() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
