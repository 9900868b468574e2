r"""Neighbour-sampled mini-batches for graphs too large for full-batch training.

PyG's :class:`~torch_geometric.loader.NeighborLoader` needs ``pyg-lib`` or ``torch-sparse``,
which have no wheels for current torch; :class:`NeighborSampler` is a vectorised stand-in
with the same output convention (the ``batch_size`` seed nodes first, ``n_id`` = global ids
of the subgraph's nodes, ``edge_index`` local). When ``pyg-lib`` is installed,
``NeighborLoader`` can be passed to :func:`fit_minibatch` instead: it yields the same kind of
``Data``.

Sampling (GraphSAGE, Hamilton et al. 2017): from the seeds, each hop draws ``fanout``
in-neighbours per frontier node uniformly *with* replacement (one ``rand`` call for the
whole frontier; duplicates are merged, so a node with few neighbours keeps each once), over
a CSR of the graph built once. Memory per batch is :math:`O(\text{batch} \prod \text{fanouts})`
plus one ``[N]`` id map reused across batches.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from tqdm.auto import tqdm

from gnn_unlearn.training import (EarlyStopping, TrainConfig, TrainHistory, check_trainable,
                                  negative_pairs, validation_score)
from gnn_unlearn.utils import data_to, resolve_device, seeded


class NeighborSampler:
    """Samples k-hop computation subgraphs around seed nodes.

    Args:
        edge_index: ``[2, E]`` message-passing edges (source -> target).
        num_nodes: number of nodes.
        fanouts: neighbours drawn per node and hop, nearest hop first (e.g. ``[10, 10]``).
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, fanouts: Sequence[int]):
        if not fanouts or any(int(f) < 1 for f in fanouts):
            raise ValueError(f"fanouts must be positive ints, one per layer, got {list(fanouts)}")
        self.fanouts, self.num_nodes = [int(f) for f in fanouts], num_nodes
        order = torch.argsort(edge_index[1], stable=True)
        self.col = edge_index[0, order]                       # sources, grouped by target
        counts = torch.bincount(edge_index[1], minlength=num_nodes)
        self.rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
        self.rowptr[1:] = counts.cumsum(0)
        self._local = torch.full((num_nodes,), -1, dtype=torch.long, device=edge_index.device)

    def sample(self, seeds: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(n_id, edge_index)``: global ids (the distinct ``seeds`` first) and local edges."""
        if seeds.numel() == 0 or int(seeds.min()) < 0 or int(seeds.max()) >= self.num_nodes:
            raise ValueError(f"seeds must be a non-empty set of node ids in 0..{self.num_nodes - 1}")
        if torch.unique(seeds).numel() != seeds.numel():
            raise ValueError("seeds must be distinct (each is one row of the batch)")
        n_id, frontier = seeds, seeds
        local = self._local
        local[seeds] = torch.arange(seeds.numel(), device=seeds.device)
        src_all, dst_all = [], []
        for fanout in self.fanouts:
            start, deg = self.rowptr[frontier], self.rowptr[frontier + 1] - self.rowptr[frontier]
            has = deg > 0
            f, start, deg = frontier[has], start[has], deg[has]
            r = (torch.rand(f.numel(), fanout, generator=generator).to(f.device) * deg.unsqueeze(1)).long()
            src = self.col[(start.unsqueeze(1) + r).view(-1)]
            dst = f.repeat_interleave(fanout)
            keys = torch.unique(src * self.num_nodes + dst)
            src, dst = keys // self.num_nodes, keys % self.num_nodes
            new = torch.unique(src[local[src] < 0])
            local[new] = torch.arange(n_id.numel(), n_id.numel() + new.numel(), device=new.device)
            n_id = torch.cat([n_id, new])
            src_all.append(local[src])
            dst_all.append(local[dst])
            frontier = new
        edge_index = torch.stack([torch.cat(src_all), torch.cat(dst_all)])
        local[n_id] = -1                                   # reset only what was touched
        return n_id, edge_index

    def subgraph(self, data: Data, seeds: Tensor, generator: torch.Generator | None = None) -> Data:
        """A ``Data`` in NeighborLoader's convention (``n_id``, ``batch_size``, local ids)."""
        n_id, edge_index = self.sample(seeds, generator)
        x = None if getattr(data, "x", None) is None else data.x[n_id]
        return Data(x=x, edge_index=edge_index, n_id=n_id, batch_size=int(seeds.numel()),
                    num_nodes=int(n_id.numel()))


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

    def __init__(self, data: Data, fanouts: Sequence[int] | None = None):
        self.data = data
        self.sampler = None
        if fanouts is not None:
            if getattr(data, "x", None) is None:
                raise ValueError("mini-batches need node features (a featureless model's embedding "
                                 "table is indexed by global ids); leave fanouts unset")
            self.sampler = NeighborSampler(data.edge_index, data.num_nodes, fanouts)

    @property
    def sampled(self) -> bool:
        return self.sampler is not None

    def check(self, model: nn.Module) -> None:
        """Raises if the fanouts do not match the model's number of layers."""
        if self.sampler is not None:
            check_fanouts(self.sampler.fanouts, model.encoder.num_layers)

    def __call__(self, model: nn.Module, nodes: Tensor,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        d = self.data
        if self.sampler is None:
            z = model.encode(d.x, d.edge_index)
            return z, torch.arange(z.size(0), device=z.device), nodes
        seeds, inverse = torch.unique(nodes, return_inverse=True)
        batch = self.sampler.subgraph(d, seeds, generator)
        return model.encode(batch.x, batch.edge_index)[: seeds.numel()], seeds, inverse


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
                  device: torch.device | str = "cpu") -> list[Tensor]:
    """A shuffled split of ``range(n)`` into batches; ``batch_size=None``: one batch in order
    (full batch; draws nothing from ``generator``)."""
    if batch_size is None or batch_size >= n:
        return [torch.arange(n, device=device)]
    return list(torch.randperm(n, generator=generator).to(device).split(batch_size))


def fit_minibatch(model: nn.Module, data: Data, config: TrainConfig | None = None,
                  fanouts: Sequence[int] = (10, 10), batch_size: int = 1024,
                  device: str | torch.device | None = "cpu") -> tuple[nn.Module, TrainHistory]:
    """Mini-batch version of :func:`gnn_unlearn.training.fit` (node and link models with
    feature inputs): an epoch is one pass over the training nodes / edges in batches of
    ``batch_size``, each on its sampled computation subgraph. Validation (for early stopping,
    every ``eval_every`` epochs) runs full-graph inference without gradients, which needs far
    less memory than a full-batch training step.
    """
    config = config or TrainConfig()
    if model.task not in ("node", "link"):
        raise ValueError(f"mini-batch training supports node and link models, got {model.task!r}")
    check_batch_size(batch_size)
    dev = resolve_device(device)
    check_trainable(data, model.task)
    data = data_to(data, dev)
    model.to(dev)
    embedder = Embedder(data, fanouts)
    embedder.check(model)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    g = torch.Generator().manual_seed(config.seed)
    history = TrainHistory()
    stopping = EarlyStopping(model, history, config)
    train_nodes = data.train_mask.nonzero().view(-1) if model.task == "node" else None
    positives = data.train_pos_edge_index if model.task == "link" else None
    with seeded(config.seed, dev):
        for epoch in tqdm(range(1, config.epochs + 1), disable=not config.progress, desc="train", leave=False):
            model.train()
            total, count = 0.0, 0
            n = train_nodes.numel() if train_nodes is not None else positives.size(1)
            for idx in torch.randperm(n, generator=g).split(batch_size):
                idx = idx.to(dev)
                opt.zero_grad()
                if model.task == "node":
                    nodes = train_nodes[idx]
                    z, _, index = embedder(model, nodes, g)
                    loss = F.cross_entropy(model.head(z)[index], data.y[nodes])
                else:
                    pos = positives[:, idx]
                    neg = negative_pairs(data, pos.size(1), g).to(dev)
                    pairs = torch.cat([pos, neg], 1)
                    z, _, index = embedder(model, pairs.reshape(-1), g)
                    logits = model.decode(z, index.view(2, -1))
                    labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))]).to(dev)
                    loss = F.binary_cross_entropy_with_logits(logits, labels)
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * idx.numel(), count + idx.numel()
            history.loss.append(total / max(count, 1))
            history.epochs_run = epoch
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                with torch.no_grad():
                    score = validation_score(model, data)
                if stopping.update(epoch, score):
                    break
    stopping.restore()
    # the recipe, with its sampling, so that retraining repeats it (methods.Retrain)
    model.train_config = {**asdict(config), "fanouts": [int(f) for f in fanouts],
                          "minibatch_size": batch_size}
    return model, history
