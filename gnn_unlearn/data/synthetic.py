"""A deterministic synthetic graph: the embedded default that needs no files."""
from __future__ import annotations

import torch
from torch_geometric.data import Data

from gnn_unlearn.data.bipartite import bipartite_data
from gnn_unlearn.ops.graph import symmetrize, undirected_pairs


def _check_positive(**values: float) -> None:
    for k, v in values.items():
        if not v > 0:
            raise ValueError(f"{k} must be positive, got {v}")


def synthetic_graph(num_nodes: int = 2000, num_classes: int = 5, avg_degree: float = 8.0,
                    homophily: float = 0.8, num_features: int = 128,
                    features_per_node: int = 12, feature_signal: float = 0.7,
                    bipartite: bool = False, num_users: int | None = None,
                    num_items: int | None = None, seed: int = 0) -> Data:
    r"""Stochastic-block-style graph with class-correlated sparse binary features.

    Each node gets a class :math:`c_v` uniformly. For every edge, a source is drawn
    uniformly and, with probability ``homophily``, the target is a random node of the
    same class, otherwise a uniformly random node (a planted-partition model). Each class
    owns a block of ``num_features / num_classes`` feature columns; a node sets
    ``features_per_node`` columns, each drawn from its class block with probability
    ``feature_signal`` and uniformly otherwise. Everything is vectorised tensor code, so
    a million edges take about a second.

    With ``bipartite=True`` returns a user-item graph (see :func:`bipartite_synthetic`).
    The public node split is not set; :func:`node_split` makes a stratified one.
    """
    if bipartite:
        return bipartite_synthetic(num_users or num_nodes // 2,
                                   num_items or num_nodes - num_nodes // 2,
                                   avg_degree=avg_degree, num_communities=num_classes,
                                   homophily=homophily, seed=seed)
    _check_positive(num_nodes=num_nodes, num_classes=num_classes, avg_degree=avg_degree,
                    num_features=num_features, features_per_node=features_per_node)
    if not 0 <= homophily <= 1 or not 0 <= feature_signal <= 1:
        raise ValueError("homophily and feature_signal must lie in [0, 1]")
    if num_classes > num_nodes:
        raise ValueError(f"num_classes={num_classes} exceeds num_nodes={num_nodes}")
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(num_classes, (num_nodes,), generator=g)
    order = torch.argsort(y, stable=True)                 # nodes grouped by class
    counts = torch.bincount(y, minlength=num_classes)
    offsets = torch.cumsum(counts, 0) - counts

    num_edges = int(num_nodes * avg_degree / 2)
    src = torch.randint(num_nodes, (num_edges,), generator=g)
    same = torch.rand(num_edges, generator=g) < homophily
    c = y[src]
    within = (torch.rand(num_edges, generator=g) * counts[c]).long().clamp_(max=counts[c] - 1)
    dst = torch.where(same, order[offsets[c] + within],
                      torch.randint(num_nodes, (num_edges,), generator=g))
    pairs = undirected_pairs(torch.stack([src, dst]), num_nodes)

    block = max(num_features // num_classes, 1)
    cols_class = (y.repeat_interleave(features_per_node) * block
                  + torch.randint(block, (num_nodes * features_per_node,), generator=g))
    cols_rand = torch.randint(num_features, (num_nodes * features_per_node,), generator=g)
    signal = torch.rand(num_nodes * features_per_node, generator=g) < feature_signal
    cols = torch.where(signal, cols_class, cols_rand).clamp_(max=num_features - 1)
    rows = torch.arange(num_nodes).repeat_interleave(features_per_node)
    x = torch.zeros(num_nodes, num_features)
    x[rows, cols] = 1.0
    return Data(x=x, edge_index=symmetrize(pairs), y=y, num_nodes=num_nodes, name="synthetic")


def bipartite_synthetic(num_users: int = 1000, num_items: int = 1500, avg_degree: float = 20.0,
                        num_communities: int = 5, homophily: float = 0.8,
                        split: tuple[float, float, float] = (0.8, 0.1, 0.1),
                        seed: int = 0) -> Data:
    """User-item graph: users prefer items of their community; item popularity is Zipf-like.

    ``avg_degree`` is interactions per user. Interactions are split per interaction into
    train/val/test with ``split`` ratios, stored like the LightGCN-format datasets.
    """
    _check_positive(num_users=num_users, num_items=num_items, avg_degree=avg_degree,
                    num_communities=num_communities)
    g = torch.Generator().manual_seed(seed)
    cu = torch.randint(num_communities, (num_users,), generator=g)
    ci = torch.randint(num_communities, (num_items,), generator=g)
    popularity = 1.0 / torch.arange(1, num_items + 1).float() ** 0.7
    popularity = popularity[torch.randperm(num_items, generator=g)]
    n = int(num_users * avg_degree)
    users = torch.randint(num_users, (n,), generator=g)
    same = torch.rand(n, generator=g) < homophily
    # weights per community: popularity restricted to the community's items
    weights = popularity.unsqueeze(0) * (ci.unsqueeze(0) == torch.arange(num_communities)
                                         .unsqueeze(1)).float()
    # sample per community in one multinomial call per community (vectorised over users)
    items = torch.multinomial(popularity, n, replacement=True, generator=g)
    comm_items = torch.empty(n, dtype=torch.long)
    for c in range(num_communities):  # loop over communities, not nodes
        idx = (cu[users] == c).nonzero().view(-1)
        if idx.numel():
            comm_items[idx] = torch.multinomial(weights[c], idx.numel(), replacement=True,
                                                generator=g)
    items = torch.where(same, comm_items, items)
    pairs = undirected_pairs(torch.stack([users, items + num_users]), num_users + num_items)
    perm = torch.randperm(pairs.size(1), generator=g)
    n_train = int(split[0] * perm.numel())
    n_val = int(split[1] * perm.numel())
    parts = {}
    for key, idx in (("train", perm[:n_train]), ("val", perm[n_train:n_train + n_val]),
                     ("test", perm[n_train + n_val:])):
        p = pairs[:, idx]
        parts[key] = (p[0].numpy(), (p[1] - num_users).numpy())
    data = bipartite_data(parts, num_users, num_items)
    data.name = "synthetic-bipartite"
    return data
