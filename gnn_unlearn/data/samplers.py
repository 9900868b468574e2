"""Seeded samplers of deleted sets; each returns a :class:`DeletionRequest`."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import k_hop_subgraph

from gnn_unlearn.ops.graph import is_bipartite, training_edges
from gnn_unlearn.ops.graph import hop_distance
from gnn_unlearn.requests import DeletionRequest


def sample_size(size: float | int, total: int, what: str, allow_all: bool = False) -> int:
    """How many of ``total`` items (``what``) a request of ``size`` takes: a fraction in (0, 1)
    (rounded, at least 1) or a count; refused unless it leaves 1 to ``total - 1`` (``total``
    with ``allow_all``: the items are a part of the graph, so taking all of them leaves the rest)."""
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise TypeError(f"size must be a fraction (float) or a count (int), got {type(size).__name__}")
    if isinstance(size, float):
        if not 0 < size < 1:
            raise ValueError(f"a fractional size must lie in (0, 1), got {size}")
        k = max(1, int(round(size * total)))
    else:
        k = size
    most = total if allow_all else total - 1
    if not 0 < k <= most:
        raise ValueError(f"cannot sample {k} of {total} {what}; ask for between 1 and {most}")
    return k


def _choose(candidates: Tensor, k: int, generator: torch.Generator, what: str) -> Tensor:
    if candidates.numel() < k:
        raise ValueError(f"only {candidates.numel()} {what} are eligible, fewer than the {k} asked for")
    perm = torch.randperm(candidates.numel(), generator=generator)[:k]
    return candidates[perm.to(candidates.device)]


REGIONS = {
    "library": "both endpoints within num_hops of a test-edge endpoint, following both directions",
    "gnndelete": "GNNDelete code's: PyG k_hop_subgraph of the test-edge endpoints over the one-direction "
                 "(u < v) training pairs, flow source_to_target, so only edges (u, v) into the region "
                 "are followed",
}


def near_test_edges(data: Data, num_hops: int = 2, region: str = "library") -> Tensor:
    """``[T]`` bool over training edges: inside the ``num_hops`` enclosing subgraph of test edges.

    Args:
        region: ``"library"`` - both endpoints within ``num_hops`` of a test-edge endpoint,
            following both directions of the training graph; ``"gnndelete"`` - the reference
            code's set (``prepare_dataset.py``): :func:`torch_geometric.utils.k_hop_subgraph`
            over the training pairs stored once as ``u < v`` with the default
            ``flow="source_to_target"``, which follows each pair in one direction only, so the
            region is about half as large (Cora, seed-0 :func:`link_split`: 2,163 of 4,752
            training edges against 4,248).
            Use it to reproduce the published protocol; say which one a number used.
    """
    test = getattr(data, "test_pos_edge_index", None)
    if test is None:
        raise ValueError("'in'/'out' sampling needs a link split (data.test_pos_edge_index); "
                         "use gnn_unlearn.data.link_split first")
    if region not in REGIONS:
        raise ValueError(f"region must be one of {sorted(REGIONS)}, got {region!r}")
    train = training_edges(data)
    if region == "gnndelete":
        seeds = torch.unique(test.reshape(-1))
        return k_hop_subgraph(seeds, num_hops, train, num_nodes=data.num_nodes)[3]
    dist = hop_distance(data.edge_index, test.reshape(-1), num_hops, data.num_nodes)
    near = dist <= num_hops
    return near[train[0]] & near[train[1]]


WHERES = ("random", "in", "out", "worst")


def hardest(scores: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """Indices of the ``k`` largest ``scores``, ties broken by a seeded random order
    (so a score with many ties, such as a degree, still gives one set per seed)."""
    order = torch.randperm(scores.numel(), generator=generator).to(scores.device)
    ranked = torch.sort(scores[order], descending=True, stable=True)[1]
    return order[ranked[:k]]


def check_edge_scores(scores: Tensor, num_edges: int) -> None:
    """Refuses hardness scores that are not one finite float per training edge."""
    if not isinstance(scores, Tensor):
        raise TypeError(f"scores must be a tensor with one value per training edge, got "
                        f"{type(scores).__name__}")
    if scores.shape != (num_edges,):
        raise ValueError(f"scores must have shape [{num_edges}] (one per training edge, in the "
                         f"order of training_edges(data)), got {list(scores.shape)}")
    if not scores.is_floating_point() or not bool(torch.isfinite(scores).all()):
        raise ValueError("scores must be finite floats; compute them with "
                         "gnn_unlearn.metrics.forget_sets.edge_hardness")


def sample_edges(data: Data, size: float | int, where: str = "random", num_hops: int = 2,
                 seed: int = 0, region: str = "library",
                 scores: Tensor | None = None) -> DeletionRequest:
    """Samples training edges to delete.

    Args:
        size: fraction of training edges (float) or a count (int).
        where: ``"random"`` (any training edge), ``"in"`` (inside the ``num_hops``
            enclosing subgraph of test edges: the hard case of GNNDelete), ``"out"``, or
            ``"worst"``: the ``size`` training edges with the highest ``scores`` (a
            worst-case forget set, Fan et al., "Challenging Forgets", ECCV 2024; ties broken by
            the seed). The model-dependent scores come from
            :func:`gnn_unlearn.metrics.forget_sets.edge_hardness`, and
            :func:`~gnn_unlearn.metrics.forget_sets.worst_case_edges` does both steps.
        region: which definition of that subgraph ``"in"`` / ``"out"`` use
            (:func:`near_test_edges`): ``"library"`` or ``"gnndelete"`` (the reference code's).
        scores: ``[T]`` hardness of each training edge (order of :func:`training_edges`);
            required by ``"worst"`` and only accepted with it.
    """
    if where not in WHERES:
        raise ValueError(f"where must be one of {WHERES}, got {where!r}")
    if (scores is not None) != (where == "worst"):
        raise ValueError("where='worst' needs scores (one per training edge) and the other "
                         "choices take none; see gnn_unlearn.metrics.forget_sets.worst_case_edges")
    train = training_edges(data)
    k = sample_size(size, train.size(1), "training edges")
    g = torch.Generator().manual_seed(seed)
    if where == "worst":
        check_edge_scores(scores, train.size(1))
        return DeletionRequest.edges(train[:, hardest(scores.to(train.device), k, g)])
    if where == "random":
        candidates = torch.arange(train.size(1), device=train.device)
    else:
        inside = near_test_edges(data, num_hops, region)
        candidates = (inside if where == "in" else ~inside).nonzero().view(-1)
    idx = _choose(candidates, k, g, f"training edges ({where})")
    return DeletionRequest.edges(train[:, idx])


def sample_nodes(data: Data, size: float | int, seed: int = 0,
                 among: Tensor | None = None) -> DeletionRequest:
    """Samples nodes to delete (uniformly, or among the ``among`` mask, e.g. ``train_mask``)."""
    n = data.num_nodes
    k = (sample_size(size, n, "nodes") if among is None       # a fraction is of the ``among`` nodes
         else sample_size(size, int(among.sum()), "nodes in among", allow_all=True))
    candidates = (torch.arange(n, device=data.edge_index.device) if among is None
                  else among.nonzero().view(-1))
    g = torch.Generator().manual_seed(seed)
    return DeletionRequest.nodes(_choose(candidates, k, g, "nodes"))


def sample_users(data: Data, count: int, seed: int = 0) -> DeletionRequest:
    """Samples ``count`` users that have training interactions; deletes all their interactions."""
    if not is_bipartite(data):
        raise ValueError("sample_users needs a user-item graph (data.num_users)")
    active = torch.unique(data.train_pos_edge_index[0])
    k = sample_size(int(count), active.numel(), "users with interactions")
    g = torch.Generator().manual_seed(seed)
    return DeletionRequest.users(_choose(active, k, g, "users"))


def sample_interactions(data: Data, size: float | int, seed: int = 0) -> DeletionRequest:
    """Samples training interactions of a user-item graph to delete."""
    if not is_bipartite(data):
        raise ValueError("sample_interactions needs a user-item graph (data.num_users)")
    train = data.train_pos_edge_index
    k = sample_size(size, train.size(1), "training interactions")
    g = torch.Generator().manual_seed(seed)
    idx = _choose(torch.arange(train.size(1), device=train.device), k, g, "interactions")
    return DeletionRequest.interactions(train[0, idx], train[1, idx] - int(data.num_users))
