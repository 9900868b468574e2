"""User-item graphs in the library's layout (users ``0..U-1``, items ``U..U+I-1``)."""
from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data

from gnn_unlearn.ops.graph import symmetrize, undirected_pairs


def bipartite_data(parts: dict[str, tuple[np.ndarray, np.ndarray]], num_users: int,
                   num_items: int) -> Data:
    """Builds a user-item ``Data``: users are nodes ``0..U-1``, items ``U..U+I-1``.

    ``train_pos_edge_index`` / ``val_pos_edge_index`` / ``test_pos_edge_index`` hold
    each interaction once as ``(user, U + item)``; ``edge_index`` holds the training
    interactions in both directions for message passing.
    """
    data = Data(num_nodes=num_users + num_items)
    for key, (u, i) in parts.items():
        pairs = torch.stack([torch.as_tensor(u), torch.as_tensor(i) + num_users]).long()
        data[f"{key}_pos_edge_index"] = undirected_pairs(pairs, num_users + num_items)
    data.edge_index = symmetrize(data.train_pos_edge_index)
    data.num_users = num_users
    data.num_items = num_items
    return data
