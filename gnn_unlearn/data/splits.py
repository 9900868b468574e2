"""Seeded link and node splits that return new ``Data`` and never mutate their input."""
from __future__ import annotations

import copy

import torch
from torch_geometric.data import Data

from gnn_unlearn.ops.graph import is_bipartite, symmetrize, undirected_pairs
from gnn_unlearn.ops.negative import sample_non_edges


def link_split(data: Data, val_ratio: float = 0.05, test_ratio: float = 0.05,
               seed: int = 0) -> Data:
    r"""Splits the undirected edges of ``data`` for link prediction (GNNDelete's protocol).

    Each undirected pair appears once in ``train_pos_edge_index`` /
    ``val_pos_edge_index`` / ``test_pos_edge_index``; ``edge_index`` keeps the training
    pairs in both directions for message passing. ``val_neg_edge_index`` and
    ``test_neg_edge_index`` are sampled once, equal in size to the positives, and never
    touch any positive pair of the whole graph. The defaults 90/5/5 are those of
    GNNDelete (Cheng et al., ICLR 2023), via PyG's ``train_test_split_edges``.

    User-item graphs arrive already split (their files hold train/valid/test); for
    them this only adds validation and test negatives between users and items.
    """
    if not (0 <= val_ratio < 1 and 0 <= test_ratio < 1 and val_ratio + test_ratio < 1):
        raise ValueError(f"val_ratio={val_ratio} and test_ratio={test_ratio} must be in [0, 1) "
                         "and sum to less than 1")
    g = torch.Generator().manual_seed(seed)
    out = copy.copy(data)
    n = data.num_nodes
    if is_bipartite(data):
        all_pos = torch.cat([data.train_pos_edge_index, data.val_pos_edge_index,
                             data.test_pos_edge_index], 1)
        sizes = (data.val_pos_edge_index.size(1), data.test_pos_edge_index.size(1))
        ranges = dict(source_range=(0, data.num_users), target_range=(data.num_users, n))
    else:
        all_pos = undirected_pairs(data.edge_index, n)
        perm = torch.randperm(all_pos.size(1), generator=g).to(all_pos.device)
        n_val = int(val_ratio * all_pos.size(1))
        n_test = int(test_ratio * all_pos.size(1))
        out.val_pos_edge_index = all_pos[:, perm[:n_val]]
        out.test_pos_edge_index = all_pos[:, perm[n_val:n_val + n_test]]
        out.train_pos_edge_index = all_pos[:, perm[n_val + n_test:]]
        out.edge_index = symmetrize(out.train_pos_edge_index)
        sizes = (n_val, n_test)
        ranges = {}
    neg = sample_non_edges(all_pos, n, sum(sizes), generator=g, **ranges)
    out.val_neg_edge_index = neg[:, :sizes[0]]
    out.test_neg_edge_index = neg[:, sizes[0]:]
    out.split_seed = seed
    return out


def node_split(data: Data, train_ratio: float = 0.6, val_ratio: float = 0.2,
               seed: int = 0, use_public: bool = True) -> Data:
    """Adds ``train_mask`` / ``val_mask`` / ``test_mask`` for node classification.

    Keeps the public split (e.g. Planetoid's) when ``data`` has one and ``use_public``;
    otherwise a seeded split stratified by class: each class contributes
    ``train_ratio`` / ``val_ratio`` / the rest of its nodes.
    """
    if getattr(data, "y", None) is None:
        raise ValueError("node_split needs node labels data.y")
    if use_public and getattr(data, "train_mask", None) is not None:
        return copy.copy(data)
    if not (0 < train_ratio < 1 and 0 <= val_ratio < 1 and train_ratio + val_ratio < 1):
        raise ValueError("train_ratio and val_ratio must be in (0, 1) and sum to less than 1")
    g = torch.Generator().manual_seed(seed)
    y = data.y.view(-1).cpu()
    n = y.numel()
    perm = torch.randperm(n, generator=g)
    order = perm[torch.argsort(y[perm], stable=True)]      # shuffled within each class
    counts = torch.bincount(y, minlength=int(y.max()) + 1)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.long)
    rank[order] = torch.arange(n) - starts[y[order]]         # position within own class
    frac = rank.float() / counts[y].float()
    out = copy.copy(data)
    dev = data.y.device
    out.train_mask = (frac < train_ratio).to(dev)
    out.val_mask = ((frac >= train_ratio) & (frac < train_ratio + val_ratio)).to(dev)
    out.test_mask = (frac >= train_ratio + val_ratio).to(dev)
    return out
