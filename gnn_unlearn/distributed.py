r"""Data-parallel training and unlearning with PyTorch's ``DistributedDataParallel`` (launched
by ``torchrun``).

Under ``torchrun --nproc_per_node W -m gnn_unlearn.cli train|unlearn ...`` every one of the
``W`` processes (ranks) holds the model and the graph, and :func:`gnn_unlearn.training.fit` /
:func:`gnn_unlearn.loader.fit_minibatch` (training, retraining) and the fine-tuning methods
(gradient ascent, GNNDelete, D2DGN, UnlearnRec's pre-training and serving: the methods with
``data_parallel = True``) wrap the module that trains in
:class:`~torch.nn.parallel.DistributedDataParallel` (DDP), which starts every rank from rank
0's weights and averages the gradients over the ranks during ``backward`` (GNNDelete: its
deletion operators, the frozen base model is not reduced). The supervision is
split the way :class:`torch.utils.data.DistributedSampler` splits a data set:

* mini-batches (:meth:`Replica.epoch_batches`): each epoch one seeded permutation of the seed
  nodes / edges, the same on every rank, is padded by wrapping around to a multiple of ``W``
  and rank ``r`` takes positions ``r, r + W, ...``; the ranks' shares are disjoint up to the
  padding, cover the epoch, and have equal sizes, so every rank runs the same number of steps
  (DDP's collectives never wait on a rank that has stopped). Step ``k`` of the ``W`` ranks
  together is the single-process step ``k`` with a batch ``W`` times larger. Each rank samples
  neighbours and negatives from its own stream (:meth:`Replica.generator`).
* full batch (:meth:`Replica.share`): every rank encodes the whole graph and takes the loss of
  its share (positions ``r, r + W, ...``) of the epoch's training nodes / positive and negative
  pairs / BPR triples, drawn from the run's generator identically on all ranks. The share's
  loss is scaled by :meth:`Replica.weight` so that DDP's average of the ranks' gradients is the
  gradient of the mean loss over the union: full-batch training on ``W`` ranks is the
  single-process training, up to float round-off. A loss of several mean terms (the
  unlearning methods': deleted items, retained items, reference pairs) scales each term
  apart (:meth:`Replica.share_mean`, :meth:`Replica.take`).

The unlearning methods draw everything the ranks must agree on (permutations, full-batch
negatives and reference pairs) from the run's generator, identically on every rank, and a
rank's own mini-batch draws from :meth:`Replica.local_generator`; mini-batches take
:meth:`Replica.shard` of each epoch's order. Validation runs on every rank (identical
weights); rank 0's score (training) or stopping verdict (unlearning, :meth:`Replica.decide`)
is broadcast so that all ranks make the same decision and stop at the same step. Backends: ``gloo`` on CPU, ``nccl`` on CUDA
(one GPU per rank, ``cuda:LOCAL_RANK``), chosen by :func:`init_from_env`; the code is the same.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

#: offset between the sampling seeds of consecutive ranks (a prime, so streams do not collide)
RANK_SEED_STRIDE = 1_000_003


class LossStep(nn.Module):
    """``forward(loss_fn, *args) = loss_fn(model, *args)``: a module whose forward is one
    training loss, so that :class:`DistributedDataParallel` sees the whole computation (the
    library's models are driven through ``encode`` / ``decode``, not through ``forward``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, loss_fn: Callable[..., Tensor], *args: Any) -> Tensor:
        return loss_fn(self.model, *args)


@dataclass(frozen=True)
class Replica:
    """This process's place in data-parallel training: ``rank`` of ``world_size``."""
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={self.rank}, "
                             f"world_size={self.world_size}")

    @classmethod
    def current(cls) -> "Replica":
        """The replica of the initialised process group (``Replica(0, 1)`` without one)."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` as a :class:`LossStep`, inside :class:`DistributedDataParallel` when the
        process group has more than one rank (DDP broadcasts rank 0's weights on
        construction). ``model`` itself is trained in place and stays unwrapped."""
        step = LossStep(model)
        return DistributedDataParallel(step) if self.active else step

    def generator(self, seed: int) -> torch.Generator:
        """This rank's stream for neighbour sampling and negatives (rank 0 keeps ``seed``)."""
        return torch.Generator().manual_seed(seed + RANK_SEED_STRIDE * self.rank)

    def share(self) -> slice:
        """Full batch: this rank's positions ``rank, rank + W, ...`` of the epoch's items."""
        return slice(self.rank, None, self.world_size)

    def take(self, items: Tensor, dim: int = -1) -> Tensor:
        """Full batch: this rank's share (positions :meth:`share`) of ``items`` along ``dim``
        (all of them on one process)."""
        if not self.active:
            return items
        index = [slice(None)] * items.dim()
        index[dim] = self.share()
        return items[tuple(index)]

    def shard(self, order: Tensor) -> Tensor:
        """Mini-batches: this rank's share of an epoch's ``order`` of items (the same on every
        rank), as :meth:`epoch_indices`: wrapped around to ``ceil(n / W) * W`` entries, every
        ``W``-th from ``rank``; every rank gets ``ceil(n / W)`` (``order`` itself on one process)."""
        if not self.active:
            return order
        n = order.numel()
        total = math.ceil(n / self.world_size) * self.world_size
        if total > n:                           # pad by wrapping around, as DistributedSampler
            order = order.repeat(math.ceil(total / n))[:total]
        return order[self.rank::self.world_size]

    def share_mean(self, values: Tensor, total: int | None = None) -> Tensor:
        r"""One mean term of a loss from this rank's share of its items.

        ``values``: the per-item (or per-element) losses of this rank's share (:meth:`take`);
        ``total``: how many there are on all ranks together. Returns
        :math:`\tfrac{W}{n}\sum_{\text{share}} v`, whose average over the ranks (DDP's gradient
        average) is the mean over all ``n`` items, empty shares included. ``total=None`` (a
        mini-batch of the rank's own, all ranks' batches of one size) and one process: the
        plain mean of ``values``.
        """
        if not self.active or total is None:
            return values.mean()
        return values.sum() * (self.world_size / total)

    def check_shares(self, total: int, what: str) -> None:
        """Raises unless ``total`` items give every rank a non-empty full-batch share."""
        if total < self.world_size:
            raise ValueError(f"{total} {what} cannot be shared by {self.world_size} processes; "
                             f"launch at most {max(total, 1)} (torchrun --nproc_per_node)")

    def weight(self, own: int, total: int) -> float:
        r"""Loss scale :math:`W\,n_r / n` of a share of ``own`` of ``total`` items, so that the
        average over ranks of the scaled share means is the mean over all items."""
        return self.world_size * own / total if total else 0.0

    def local_generator(self, shared: torch.Generator, seed: int) -> torch.Generator:
        """The stream of the draws each rank makes for itself (neighbour sampling, the retained
        items and negatives of its mini-batches), beside ``shared``, the run's stream that every
        rank draws identically (permutations, full-batch samples). One process: ``shared``
        itself, so a single-process run draws exactly as without data parallelism."""
        return self.generator(seed) if self.active else shared

    def epoch_indices(self, n: int, epoch: int, seed: int) -> Tensor:
        """This rank's positions in ``range(n)`` for ``epoch``, shuffled (as
        ``DistributedSampler(shuffle=True, drop_last=False)`` with ``set_epoch``): a
        permutation seeded by ``(seed, epoch)``, the same on every rank, wrapped around to
        ``ceil(n / W) * W`` entries; rank ``r`` takes every ``W``-th from ``r``."""
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))
        return self.shard(perm)

    def epoch_batches(self, n: int, batch_size: int, epoch: int, seed: int,
                      device: torch.device | str = "cpu") -> list[Tensor]:
        """:meth:`epoch_indices` in batches of ``batch_size`` (per rank); every rank gets
        ``ceil(ceil(n / W) / batch_size)`` batches."""
        return list(self.epoch_indices(n, epoch, seed).to(device).split(batch_size))

    def mean(self, value: Tensor) -> Tensor:
        """The mean of ``value`` over the ranks (``value`` itself on one process)."""
        if not self.active:
            return value
        out = value.detach().clone()
        dist.all_reduce(out)
        return out / self.world_size

    def broadcast(self, value: float, device: torch.device | str) -> float:
        """Rank 0's ``value`` on every rank (early stopping decides the same everywhere)."""
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.broadcast(t, src=0)
        return float(t)

    def decide(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object: a stopping verdict) on every rank, so that
        all ranks stop at the same step (``value`` itself on one process)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of ``epoch``'s permutation in a run seeded by ``seed``."""
    return seed * RANK_SEED_STRIDE + epoch


def unwrap(module: nn.Module) -> nn.Module:
    """The trained model inside a :meth:`Replica.wrap` result."""
    if isinstance(module, DistributedDataParallel):
        module = module.module
    return module.model if isinstance(module, LossStep) else module


def init_from_env(device: str = "cpu") -> tuple[Replica, str]:
    """Initialises the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1):
    ``nccl`` when ``device`` is CUDA (or ``"auto"`` with CUDA available), else ``gloo``.

    Returns this process's :class:`Replica` and the device it should use
    (``cuda:LOCAL_RANK`` on CUDA; ``device`` unchanged otherwise).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Replica(), device
    cuda = str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available here; "
                         "use --device cpu (gloo)")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Replica.current(), device
