r"""Neighbour-sampled mini-batches for graphs too large for full-batch training.

:class:`NeighborSampler` is a PyG :class:`~torch_geometric.sampler.BaseSampler` written in
plain torch. PyG's own :class:`~torch_geometric.sampler.NeighborSampler` (behind
``NeighborLoader`` / ``LinkNeighborLoader``) needs ``pyg-lib`` or ``torch-sparse``, which have
no wheels for current torch (torch-sparse builds from source in about 20 minutes); this one
plugs into PyG's loaders in its place::

    loader = neighbor_loader(data, [10, 10], input_nodes=data.train_mask, batch_size=512)
    # = NodeLoader(data, node_sampler=NeighborSampler.from_data(data, [10, 10]), ...)
    for batch in loader:   # PyG's convention: seeds first, n_id / e_id global, edge_index local
        out = model(batch.x, batch.edge_index)[: batch.batch_size]

and :func:`link_neighbor_loader` does the same for ``LinkLoader`` (``edge_label_index``,
negatives through PyG's ``NegativeSampling``). The library's mini-batch training and unlearning take
``sampler="torch"`` (this class, seeded by the run's generator) or ``sampler="pyg"`` (PyG's
``NeighborSampler``, when pyg-lib or torch-sparse is installed; see :func:`build_sampler`).

Sampling (GraphSAGE, Hamilton et al. 2017): from the seeds, each hop draws ``fanout``
distinct in-neighbours per frontier node uniformly (all of them when it has fewer), as PyG's
sampler does by default, over a CSR of the graph built once. The draw is one sort of random
keys over the frontier's in-edges (:meth:`NeighborSampler._draw`), so a hop costs
:math:`O(\sum_{v \in \text{frontier}} \deg v)`; ``replace=True`` costs
:math:`O(|\text{frontier}| \cdot \text{fanout})` instead. Memory per batch is
:math:`O(\text{batch} \prod \text{fanouts})` plus one ``[N]`` id map reused across batches.
"""
from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Sequence

import torch
import torch.nn.functional as F
import torch_geometric.typing
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.loader import LinkLoader, NodeLoader
from torch_geometric.sampler import (BaseSampler, EdgeSamplerInput, NegativeSampling,
                                     NodeSamplerInput, SamplerOutput)
from torch_geometric.sampler.neighbor_sampler import edge_sample, node_sample
from tqdm.auto import tqdm

from gnn_unlearn.distributed import Replica
from gnn_unlearn.ops.graph import graph_digest
from gnn_unlearn.ops.negative import NonEdgeSampler, non_edge_sampler
from gnn_unlearn.training import (EarlyStopping, TrainConfig, TrainHistory, check_trainable,
                                  learning_rate, validation_score)
from gnn_unlearn.utils import data_to, resolve_device, seeded

SAMPLERS = ("torch", "pyg")


class NeighborSampler(BaseSampler):
    """Samples k-hop computation subgraphs around seed nodes (a PyG ``BaseSampler``).

    Args:
        edge_index: ``[2, E]`` message-passing edges (source -> target).
        num_nodes: number of nodes.
        fanouts: neighbours drawn per node and hop, nearest hop first (e.g. ``[10, 10]``).
        generator: random source for PyG's loaders, which call :meth:`sample_from_nodes` /
            :meth:`sample_from_edges` without one (``None``: torch's global generator).
            :meth:`sample` takes its own.
        replace: draw with replacement (duplicates kept once: a node gets at most
            ``fanout``, often fewer, distinct neighbours; cheaper for high-degree frontiers).
            Default: without, as PyG, so a node with ``deg >= fanout`` gets exactly ``fanout``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, fanouts: Sequence[int],
                 generator: torch.Generator | None = None, replace: bool = False):
        check_graph(edge_index, num_nodes)
        self.fanouts, self.num_nodes, self.generator = positive_fanouts(fanouts), num_nodes, generator
        self.replace = replace
        # CSR by target, stored in int32 where the ids fit (the ogbn-products size: 62 M edges,
        # 0.5 GB instead of 1.5 GB); ids come out as int64 per batch
        perm = torch.argsort(edge_index[1], stable=True)        # CSR position -> edge id
        self.col = compact_ids(edge_index[0, perm], num_nodes)   # sources, grouped by target
        self.perm = compact_ids(perm, edge_index.size(1))
        del perm
        counts = torch.bincount(edge_index[1], minlength=num_nodes)
        self.rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
        self.rowptr[1:] = counts.cumsum(0)
        self._local = torch.full((num_nodes,), -1, dtype=torch.long, device=edge_index.device)

    @classmethod
    def from_data(cls, data: Data, num_neighbors: Sequence[int],
                  generator: torch.Generator | None = None) -> "NeighborSampler":
        """The sampler of ``data``'s message-passing graph (``data.edge_index``)."""
        return cls(data.edge_index, data.num_nodes, num_neighbors, generator)

    def sample(self, seeds: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(n_id, edge_index)``: global ids (the distinct ``seeds`` first) and local edges."""
        out = self._sample(seeds, generator=generator)
        return out.node, torch.stack([out.row, out.col])

    def _sample(self, seed: Tensor, seed_time: Tensor | None = None,
                generator: torch.Generator | None = None) -> SamplerOutput:
        if isinstance(seed, dict) or seed_time is not None:
            raise ValueError("NeighborSampler samples homogeneous graphs without time; use PyG's "
                             "NeighborSampler (pyg-lib) for heterogeneous or temporal sampling")
        if seed.numel() == 0 or int(seed.min()) < 0 or int(seed.max()) >= self.num_nodes:
            raise ValueError(f"seeds must be a non-empty set of node ids in 0..{self.num_nodes - 1}")
        if torch.unique(seed).numel() != seed.numel():
            raise ValueError("seeds must be distinct (each is one row of the batch)")
        generator = generator if generator is not None else self.generator
        seed = seed.to(self.col.device)
        n_id, frontier, local = seed, seed, self._local
        local[seed] = torch.arange(seed.numel(), device=seed.device)
        rows, cols, edges, num_nodes, num_edges = [], [], [], [seed.numel()], []
        for fanout in self.fanouts:
            pos, target = self._draw(frontier, fanout, generator)
            src = self.col[pos].long()
            new = torch.unique(src[local[src] < 0])
            local[new] = torch.arange(n_id.numel(), n_id.numel() + new.numel(), device=new.device)
            n_id = torch.cat([n_id, new])
            rows.append(local[src])
            cols.append(local[target])
            edges.append(self.perm[pos].long())
            num_nodes.append(new.numel())
            num_edges.append(pos.numel())
            frontier = new
        local[n_id] = -1                                   # reset only what was touched
        return SamplerOutput(node=n_id, row=torch.cat(rows), col=torch.cat(cols),
                             edge=torch.cat(edges), num_sampled_nodes=num_nodes,
                             num_sampled_edges=num_edges)

    def _draw(self, frontier: Tensor, fanout: int,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """``(positions, targets)``: CSR positions of the in-edges drawn for each frontier node,
        and the node each one enters."""
        start, deg = self.rowptr[frontier], self.rowptr[frontier + 1] - self.rowptr[frontier]
        if self.replace:
            has = deg > 0
            start, deg = start[has], deg[has]
            r = torch.rand(start.numel(), fanout, generator=generator).to(start.device)
            pos = torch.unique(start.unsqueeze(1) + (r * deg.unsqueeze(1)).long())
            return pos, torch.searchsorted(self.rowptr, pos, right=True) - 1
        # without replacement: give every in-edge of the frontier a random key, sort by
        # (node, key); segments stay contiguous and in order, so an edge's rank inside its
        # node after the sort is its offset before it, and the first ``fanout`` are a
        # uniform draw of min(deg, fanout) distinct in-edges
        total = int(deg.sum())
        seg = torch.repeat_interleave(torch.arange(frontier.numel(), device=deg.device), deg,
                                      output_size=total)
        offset = torch.arange(total, device=deg.device) - (deg.cumsum(0) - deg)[seg]
        pos = start[seg] + offset
        keys = torch.rand(total, generator=generator, dtype=torch.float64).to(deg.device)
        order = torch.argsort(seg.double() + keys)
        # the sort keeps every segment in place, so the kept entries' segments are unchanged
        kept = offset < fanout
        return pos[order][kept], frontier[seg[kept]]

    def sample_from_nodes(self, inputs: NodeSamplerInput) -> SamplerOutput:
        """PyG's ``NodeLoader`` entry point (``metadata = (input_id, time)``)."""
        return node_sample(inputs, self._sample)

    def sample_from_edges(self, inputs: EdgeSamplerInput,
                          neg_sampling: NegativeSampling | None = None) -> SamplerOutput:
        """PyG's ``LinkLoader`` entry point: the computation subgraph of both end nodes of
        the input edges (and of the sampled negatives), with ``edge_label_index`` in the
        metadata, exactly as PyG's own ``NeighborSampler``."""
        return edge_sample(inputs, self._sample, self.num_nodes, False, None, neg_sampling)


def compact_ids(ids: Tensor, upper: int) -> Tensor:
    """``ids`` (all below ``upper``) as int32 when ``upper`` fits, else unchanged."""
    return ids.to(torch.int32) if upper <= torch.iinfo(torch.int32).max else ids


def neighbor_loader(data: Data, num_neighbors: Sequence[int], seed: int | None = None,
                    **kwargs) -> NodeLoader:
    """PyG's ``NodeLoader`` over :class:`NeighborSampler`: ``NeighborLoader`` without
    pyg-lib. ``kwargs`` are ``NodeLoader``'s (``input_nodes``, ``batch_size``, ``shuffle``...);
    ``seed`` seeds the sampling (the shuffling follows torch's global generator, as in PyG)."""
    g = None if seed is None else torch.Generator().manual_seed(seed)
    return NodeLoader(data, node_sampler=NeighborSampler.from_data(data, num_neighbors, g), **kwargs)


def link_neighbor_loader(data: Data, num_neighbors: Sequence[int], seed: int | None = None,
                         **kwargs) -> LinkLoader:
    """PyG's ``LinkLoader`` over :class:`NeighborSampler`: ``LinkNeighborLoader`` without
    pyg-lib. ``kwargs`` are ``LinkLoader``'s (``edge_label_index``, ``edge_label``,
    ``neg_sampling``, ``batch_size``...)."""
    g = None if seed is None else torch.Generator().manual_seed(seed)
    return LinkLoader(data, link_sampler=NeighborSampler.from_data(data, num_neighbors, g), **kwargs)


def positive_fanouts(fanouts: Sequence[int]) -> list[int]:
    """``fanouts`` as a list, or a ``ValueError`` unless it is a non-empty list of positive ints."""
    if (isinstance(fanouts, (str, bytes)) or not isinstance(fanouts, Sequence) or not fanouts
            or any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in fanouts)):
        raise ValueError(f"fanouts must be positive ints, one per layer, got {fanouts!r}")
    return list(fanouts)


def check_graph(edge_index: Tensor, num_nodes: int) -> None:
    """Raises unless ``edge_index`` is a ``[2, E]`` int64 tensor of ids in ``0..num_nodes-1``."""
    if edge_index.dim() != 2 or edge_index.size(0) != 2 or edge_index.dtype != torch.long:
        raise ValueError("edge_index must be a [2, E] int64 tensor, got "
                         f"{tuple(edge_index.shape)} {edge_index.dtype}")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(f"edge_index holds node ids outside 0..{num_nodes - 1}; pass the "
                         "graph's num_nodes")


def check_sampler(kind: str) -> str:
    """Raises unless ``kind`` names a sampler (:data:`SAMPLERS`)."""
    if kind not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {kind!r}")
    return kind


def build_sampler(data: Data, fanouts: Sequence[int], kind: str = "torch") -> BaseSampler:
    """The sampler of ``data``'s graph: ``"torch"`` (:class:`NeighborSampler`) or ``"pyg"``
    (PyG's ``NeighborSampler``, sampling without replacement in pyg-lib / torch-sparse; its
    random draws do not follow the run's seed)."""
    check_sampler(kind)
    fanouts = positive_fanouts(fanouts)
    if kind == "torch":
        return NeighborSampler(data.edge_index, data.num_nodes, fanouts)
    if not (torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE):
        raise ImportError("sampler='pyg' uses PyG's NeighborSampler, which needs pyg-lib or "
                          "torch-sparse (neither is installed); install one, or use "
                          "sampler='torch'")
    from torch_geometric.sampler import NeighborSampler as PyGNeighborSampler
    graph = Data(edge_index=data.edge_index.cpu(), num_nodes=data.num_nodes)   # samples on CPU
    return PyGNeighborSampler(graph, num_neighbors=list(fanouts))


def sample_subgraph(sampler: BaseSampler, seeds: Tensor,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``(n_id, edge_index)`` of the computation subgraph of the distinct ``seeds`` (first in
    ``n_id``) from any PyG node sampler; ``generator`` seeds :class:`NeighborSampler`."""
    if isinstance(sampler, NeighborSampler):
        return sampler.sample(seeds, generator)
    out = sampler.sample_from_nodes(NodeSamplerInput(input_id=None, node=seeds.cpu()))
    device = seeds.device
    return out.node.to(device), torch.stack([out.row, out.col]).to(device)


class Embedder:
    r"""Node embeddings for a loss term: on the full graph, or on a sampled computation subgraph.

    ``Embedder(data)`` encodes the whole graph (full batch). ``Embedder(data, fanouts)``
    encodes only the computation subgraph of the requested nodes (:class:`NeighborSampler`),
    so a step's memory depends on the batch, not on the graph. Either way::

        z, rows, index = embedder(model, nodes, generator)
        z[index]          # embeddings of ``nodes`` (repeats allowed), in order
        rows              # global ids of the rows of ``z``

    so a method writes its loss once for both (link logits: ``model.decode(z, index.view(2,
    -1))`` for ``nodes = pairs.reshape(-1)``).
    """

    def __init__(self, data: Data, fanouts: Sequence[int] | None = None, sampler: str = "torch"):
        self.data, self.fanouts = data, None if fanouts is None else list(fanouts)
        self.sampler = None
        if fanouts is not None:
            if getattr(data, "x", None) is None:
                raise ValueError("mini-batches need node features (a featureless model's embedding "
                                 "table is indexed by global ids); leave fanouts unset")
            self.sampler = build_sampler(data, self.fanouts, sampler)

    @property
    def sampled(self) -> bool:
        return self.sampler is not None

    def check(self, model: nn.Module) -> None:
        """Raises if the fanouts do not match the model's number of layers."""
        if self.sampler is not None:
            check_fanouts(self.fanouts, model.encoder.num_layers)

    def __call__(self, model: nn.Module, nodes: Tensor,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        d = self.data
        if self.sampler is None:
            z = model.encode(d.x, d.edge_index)
            return z, torch.arange(z.size(0), device=z.device), nodes
        seeds, inverse = torch.unique(nodes, return_inverse=True)
        n_id, edge_index = sample_subgraph(self.sampler, seeds, generator)
        return model.encode(d.x[n_id], edge_index)[: seeds.numel()], seeds, inverse


def check_fanouts(fanouts: Sequence[int], num_layers: int) -> None:
    """Raises unless ``fanouts`` has one entry per message-passing layer."""
    if len(fanouts) != num_layers:
        raise ValueError(f"give one fanout per layer: the model has {num_layers} layers, "
                         f"fanouts={list(fanouts)}")


def check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def index_batches(n: int, batch_size: int | None, generator: torch.Generator,
                  device: torch.device | str = "cpu", replica: Replica | None = None) -> list[Tensor]:
    """A shuffled split of ``range(n)`` into batches; ``batch_size=None``: one batch in order
    (full batch; draws nothing from ``generator``; under data parallelism the caller takes
    each rank's share of the items, :meth:`~gnn_unlearn.distributed.Replica.take`).

    ``replica`` (data parallelism, ``W`` ranks): this rank's share of the order
    (:meth:`~gnn_unlearn.distributed.Replica.shard`: ``ceil(n / W)`` positions, disjoint up to
    the padding) in batches of ``batch_size``; ``generator`` must draw the same on every rank.
    """
    replica = replica or Replica()
    if batch_size is None:
        return [torch.arange(n, device=device)]
    order = torch.arange(n) if batch_size >= n else torch.randperm(n, generator=generator)
    return list(replica.shard(order).to(device).split(batch_size))


def node_batch_loss(model: nn.Module, data: Data, embedder: Embedder, nodes: Tensor,
                    generator: torch.Generator | None) -> Tensor:
    """Cross-entropy of ``nodes`` on their sampled computation subgraph."""
    z, _, index = embedder(model, nodes, generator)
    return F.cross_entropy(model.head(z)[index], data.y[nodes])


def link_batch_loss(model: nn.Module, data: Data, embedder: Embedder, pos: Tensor,
                    generator: torch.Generator, negatives: NonEdgeSampler | None = None) -> Tensor:
    """BCE of the positive pairs ``pos`` against as many fresh non-edges, all encoded on one
    sampled computation subgraph of their end nodes. ``negatives``: the training edges'
    :func:`~gnn_unlearn.ops.negative.non_edge_sampler`, built once per run (default: built per
    call, the same pairs)."""
    negatives = negatives or non_edge_sampler(data)
    neg = negatives(pos.size(1), generator).to(pos.device)
    pairs = torch.cat([pos, neg], 1)
    z, _, index = embedder(model, pairs.reshape(-1), generator)
    logits = model.decode(z, index.view(2, -1))
    labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))]).to(pos.device)
    return F.binary_cross_entropy_with_logits(logits, labels)


def fit_minibatch(model: nn.Module, data: Data, config: TrainConfig | None = None,
                  fanouts: Sequence[int] = (10, 10), batch_size: int = 1024,
                  device: str | torch.device | None = "cpu",
                  sampler: str = "torch",
                  max_steps: int | None = None) -> tuple[nn.Module, TrainHistory]:
    """Mini-batch version of :func:`gnn_unlearn.training.fit` (node and link models with
    feature inputs): an epoch is one pass over the training nodes / edges in batches of
    ``batch_size``, in an order seeded by ``(config.seed, epoch)``, each on its sampled
    computation subgraph. Validation (for early stopping, every ``eval_every`` epochs) runs
    full-graph inference without gradients, which needs far less memory than a full-batch
    training step. ``sampler``: ``"torch"`` or ``"pyg"`` (:func:`build_sampler`).
    ``max_steps``: stop after this many optimiser steps in all (the epoch in progress ends
    there and is validated as the last one), for graphs whose full epoch is too long for the
    budget; ``None`` (default): every epoch runs to the end. The number of steps run is
    ``history.steps``.

    Under ``torchrun`` (``W`` > 1 ranks) the model trains inside ``DistributedDataParallel``
    and each rank takes a disjoint ``1 / W`` of every epoch's seeds
    (:meth:`~gnn_unlearn.distributed.Replica.epoch_batches`, ``batch_size`` per rank), with its
    own sampling stream; the ranks' step ``k`` together is the single-process step ``k`` with
    batches of ``W * batch_size``.
    """
    config = config or TrainConfig()
    if model.task not in ("node", "link"):
        raise ValueError(f"mini-batch training supports node and link models, got {model.task!r}")
    check_batch_size(batch_size)
    check_sampler(sampler)
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                  or max_steps < 1):
        raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")
    dev = resolve_device(device)
    check_trainable(data, model.task)
    data = data_to(data, dev)
    model.to(dev)
    embedder = Embedder(data, fanouts, sampler)
    embedder.check(model)
    replica = Replica.current()
    step = replica.wrap(model)        # DistributedDataParallel under torchrun
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate(config, model),
                           weight_decay=config.weight_decay)
    g = replica.generator(config.seed)                 # this rank's sampling and negatives
    history = TrainHistory()
    stopping = EarlyStopping(model, history, config)
    if model.task == "node":
        seeds, loss_fn = data.train_mask.nonzero().view(-1), node_batch_loss
    else:
        seeds = data.train_pos_edge_index
        loss_fn = partial(link_batch_loss, negatives=non_edge_sampler(data))  # keys sorted once
    n = seeds.size(-1)
    steps = 0
    with seeded(config.seed, dev):
        for epoch in tqdm(range(1, config.epochs + 1), disable=not config.progress, desc="train", leave=False):
            model.train()
            total = torch.zeros((), device=dev)
            count = 0
            for idx in replica.epoch_batches(n, batch_size, epoch, config.seed, dev):
                opt.zero_grad()
                loss = step(loss_fn, data, embedder, seeds[..., idx], g)
                loss.backward()
                opt.step()
                total, count = total + loss.detach() * idx.numel(), count + idx.numel()
                steps += 1
                if max_steps is not None and steps >= max_steps:
                    break
            history.loss.append(float(replica.mean(total / max(count, 1))))
            history.epochs_run = epoch
            capped = max_steps is not None and steps >= max_steps
            if epoch % config.eval_every == 0 or epoch == config.epochs or capped:
                with torch.no_grad():
                    score = replica.broadcast(validation_score(model, data), dev)
                if stopping.update(epoch, score) or capped:
                    break
    del step                          # DDP's gradient hooks go with it
    stopping.restore()
    # the recipe, with its sampling, so that retraining repeats it (methods.Retrain)
    model.data_signature = graph_digest(data)
    model.train_config = {**asdict(config), "lr": learning_rate(config, model),
                          "fanouts": [int(f) for f in fanouts],
                          "minibatch_size": batch_size, "sampler": sampler,
                          "max_steps": max_steps}
    history.steps = steps
    return model, history
