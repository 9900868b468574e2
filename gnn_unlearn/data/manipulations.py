"""Manipulations of a training graph, for corrective unlearning (Cognac's setting).

Each generator returns a :class:`Manipulation`: the manipulated graph (a new ``Data``; the
input is never modified) and the manipulated set. :meth:`Manipulation.identify` reveals a
seeded fraction of that set as a :class:`~gnn_unlearn.requests.DeletionRequest`, as a user who
found part of the damage would file it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data

from gnn_unlearn.ops.graph import edge_keys, symmetrize, undirected_pairs
from gnn_unlearn.requests import DeletionRequest


@dataclass
class Manipulation:
    """A manipulated graph and what was manipulated.

    Attributes:
        data: the manipulated graph (``data.y`` holds the labels as trained on).
        kind: ``"label_flip"`` or ``"edge_injection"``.
        classes: the two classes involved.
        nodes: flipped training nodes (label flip), else ``None``.
        edges: injected undirected edges ``[2, k]`` (edge injection), else ``None``.
    """
    data: Data
    kind: str
    classes: tuple[int, int]
    nodes: Tensor | None = None
    edges: Tensor | None = None

    @property
    def size(self) -> int:
        return int(self.nodes.numel() if self.nodes is not None else self.edges.size(1))

    def identify(self, fraction: float, seed: int = 0) -> DeletionRequest:
        """A request for a seeded ``fraction`` of the manipulated set (at least one element)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
        k = max(1, int(round(fraction * self.size)))
        pick = torch.randperm(self.size, generator=torch.Generator().manual_seed(seed))[:k]
        if self.nodes is not None:
            return DeletionRequest.nodes(self.nodes[pick.to(self.nodes.device)])
        return DeletionRequest.edges(self.edges[:, pick.to(self.edges.device)])


def _check_classes(data: Data, classes: tuple[int, int] | None) -> tuple[int, int]:
    if getattr(data, "y", None) is None or getattr(data, "train_mask", None) is None:
        raise ValueError("manipulations need labels and a node split (data.y, data.train_mask); "
                         "use gnn_unlearn.node_split first")
    y = data.y.view(-1)
    num_classes = int(y.max()) + 1
    if classes is None:  # the two most frequent training classes, as in Cognac's reference
        counts = torch.bincount(y[data.train_mask], minlength=num_classes)
        top = torch.topk(counts, 2).indices
        return int(top[0]), int(top[1])
    a, b = (int(c) for c in classes)
    if a == b or not (0 <= a < num_classes and 0 <= b < num_classes):
        raise ValueError(f"classes must be two different ids in 0..{num_classes - 1}, got {classes}")
    return a, b


def label_flip(data: Data, rate: float = 0.1, classes: tuple[int, int] | None = None,
               seed: int = 0) -> Manipulation:
    """Flips ``rate * |train|`` training labels between two classes, half each way.

    Only training nodes are touched, so validation and test labels stay clean.
    """
    a, b = _check_classes(data, classes)
    if not 0 < rate < 1:
        raise ValueError(f"rate must lie in (0, 1), got {rate}")
    y = data.y.view(-1)
    g = torch.Generator().manual_seed(seed)
    total = int(round(rate * int(data.train_mask.sum())))
    picked = []
    for src, k in ((a, total - total // 2), (b, total // 2)):
        pool = (data.train_mask & (y == src)).nonzero().view(-1)
        if k > pool.numel():
            raise ValueError(f"cannot flip {k} training labels of class {src}: it has {pool.numel()}")
        picked.append(pool[torch.randperm(pool.numel(), generator=g)[:k].to(pool.device)])
    nodes = torch.cat(picked)
    new_y = y.clone()
    new_y[picked[0]], new_y[picked[1]] = b, a
    out = copy.copy(data)
    out.y = new_y.view_as(data.y)
    return Manipulation(out, "label_flip", (a, b), nodes=nodes)


def edge_injection(data: Data, size: float | int = 0.05, classes: tuple[int, int] | None = None,
                   seed: int = 0) -> Manipulation:
    """Adds undirected edges, not already present, between training nodes of two classes.

    ``size``: a fraction of all class-a x class-b training pairs (float) or a count (int).
    """
    a, b = _check_classes(data, classes)
    y = data.y.view(-1)
    n = data.num_nodes
    nodes_a = (data.train_mask & (y == a)).nonzero().view(-1)
    nodes_b = (data.train_mask & (y == b)).nonzero().view(-1)
    pairs_total = nodes_a.numel() * nodes_b.numel()
    k = int(round(size * pairs_total)) if isinstance(size, float) else int(size)
    if not 0 < k < pairs_total:
        raise ValueError(f"cannot inject {k} edges between {nodes_a.numel()} x {nodes_b.numel()} nodes")
    g = torch.Generator().manual_seed(seed)
    existing = edge_keys(data.edge_index, n)
    chosen = torch.empty(0, dtype=torch.long)
    while chosen.numel() < k:                     # rejection rounds, not a loop over edges
        draw = 2 * (k - chosen.numel()) + 16
        u = nodes_a.cpu()[torch.randint(nodes_a.numel(), (draw,), generator=g)]
        v = nodes_b.cpu()[torch.randint(nodes_b.numel(), (draw,), generator=g)]
        keys = torch.unique(edge_keys(torch.stack([u, v]), n))
        keys = keys[~torch.isin(keys, existing.cpu()) & ~torch.isin(keys, chosen)]
        keys = keys[torch.randperm(keys.numel(), generator=g)]
        chosen = torch.cat([chosen, keys])[:k]
    edges = torch.stack([chosen // n, chosen % n]).to(data.edge_index.device)
    out = copy.copy(data)
    out.edge_index = symmetrize(torch.cat([undirected_pairs(data.edge_index, n), edges], 1))
    return Manipulation(out, "edge_injection", (a, b), edges=edges)
