"""Data-parallel training over ``torch.distributed`` (launched with ``torchrun``).

Training and retraining - the baseline every method is scored against - run full-batch
message passing on every rank (each holds the graph) while the *supervision* is sharded:
rank ``r`` of ``W`` takes every W-th training edge / training node / BPR triple, with its own
negative-sampling stream. After each backward pass the gradients are averaged over ranks
(:class:`GradientSync`), which is what ``DistributedDataParallel`` does; it is done
explicitly because the models are driven through ``encode``/``decode`` rather than
``forward``, which DDP's reducer needs to see. All ranks start from the same seeded weights
(and rank 0's are broadcast), take identical steps and so make identical early-stopping
decisions without extra communication.

Backends: ``gloo`` on CPU (tested with 2 processes), ``nccl`` on CUDA (one GPU per rank,
``LOCAL_RANK``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Shard:
    """This process's part of the supervision: ``rank`` of ``world_size``."""
    rank: int = 0
    world_size: int = 1

    @classmethod
    def current(cls) -> "Shard":
        """The shard of the initialised process group (``Shard(0, 1)`` without one)."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def edges(self, pairs: Tensor) -> Tensor:
        """Every ``world_size``-th column of ``[2, k]`` pairs, starting at ``rank``."""
        return pairs[:, self.rank::self.world_size]

    def mask(self, mask: Tensor) -> Tensor:
        """Every ``world_size``-th ``True`` entry of a node mask."""
        idx = mask.nonzero().view(-1)[self.rank::self.world_size]
        out = torch.zeros_like(mask)
        out[idx] = True
        return out

    def seed(self, seed: int) -> int:
        """A distinct sampling seed per rank (rank 0 keeps ``seed``)."""
        return seed + 1_000_003 * self.rank


class GradientSync:
    """Averages gradients over the process group after ``backward`` (no-op on one process)."""

    def __init__(self, model: nn.Module, shard: Shard):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shard = shard
        if shard.active:
            for t in model.state_dict().values():       # same start everywhere (shared storage)
                dist.broadcast(t, src=0)

    def __call__(self) -> None:
        if not self.shard.active:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.shard.world_size
        offset = 0
        for p, g in zip(self.params, grads):
            n = g.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n


def init_from_env(device: str = "cpu") -> tuple[Shard, str]:
    """Initialises the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    Returns the shard and the device this rank should use (``cuda:LOCAL_RANK`` on CUDA).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard(), device
    cuda = str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    return Shard.current(), device
