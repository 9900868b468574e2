r"""LightGCN recommender (He, Deng, Wang, Li, Zhang, Wang, SIGIR 2020, arXiv 2002.02126).

Users are nodes ``0..U-1`` and items ``U..U+I-1`` of one graph (as built by
:func:`~gnn_unlearn.data.bipartite.bipartite_data`). With initial embeddings :math:`E^{(0)}`
(one learnable row per node) and the symmetric normalised adjacency
:math:`\tilde A = D^{-1/2} A D^{-1/2}` of the training interactions (no self-loops):

.. math::
    E^{(k+1)} = \tilde A E^{(k)}, \qquad z = \frac{1}{K+1}\sum_{k=0}^{K} E^{(k)}, \qquad
    \hat y_{ui} = z_u^\top z_i

The propagation is one CSR sparse-dense product per layer, with :math:`\tilde A` built once
per graph and cached (as the GNN encoders do). The model speaks the link-predictor interface
(``encode(x, edge_index)`` -> ``z``, ``decode(z, pairs)``), so link metrics and attacks apply to
user-item pairs unchanged; ``encode`` also takes replacement initial embeddings ``e0``, which
is how UnlearnRec's influence encoder revises a trained model.

Training (:func:`~gnn_unlearn.training.fit` with ``task="rec"``): BPR,
:math:`-\log\sigma(\hat y_{ui} - \hat y_{uj})` for sampled non-interacted items :math:`j`,
plus :math:`\lambda\,\lVert E^{(0)}_{u,i,j}\rVert^2 / 2` per triple (the paper's 1e-4).
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch_geometric.utils import is_undirected

from gnn_unlearn.models.encoders import (GraphCacheMixin, PreparedGraph, SymmetricPropagation,
                                         cached_graph, normalized_csr)
from gnn_unlearn.ops.scoring import pair_dot

INIT_STD = 0.1
"""Standard deviation of the Gaussian initial embeddings (a node that never trains keeps such a draw)."""


def normalized_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    r""":math:`D^{-1/2} A D^{-1/2}` as a CSR tensor (rows = targets); isolated nodes get zero rows."""
    return normalized_csr(edge_index, num_nodes, self_loops=False)


class LightGCN(GraphCacheMixin, nn.Module):
    """LightGCN over a user-item graph (users ``0..U-1``, items ``U..U+I-1``).

    Args:
        num_users: number of users ``U``.
        num_items: number of items ``I``.
        embedding_dim: size of the embeddings (paper: 64).
        num_layers: propagation layers ``K`` (paper: 3).
        config: the constructor arguments, for checkpoints (:func:`build_model`).
    """
    task = "rec"

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64, num_layers: int = 3,
                 config: dict[str, Any] | None = None):
        super().__init__()
        if num_users < 1 or num_items < 1:
            raise ValueError(f"LightGCN needs users and items, got {num_users} users, {num_items} items")
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.num_users, self.num_items, self.num_layers = num_users, num_items, num_layers
        self.embedding = nn.Embedding(num_users + num_items, embedding_dim)
        nn.init.normal_(self.embedding.weight, std=INIT_STD)
        self.config = config or dict(task="rec", num_users=num_users, num_items=num_items,
                                     embedding_dim=embedding_dim, num_layers=num_layers)

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items

    def prepare(self, edge_index: Tensor | PreparedGraph) -> PreparedGraph:
        """The cached normalised adjacency of ``edge_index``."""
        if isinstance(edge_index, PreparedGraph):
            return edge_index
        n = self.num_nodes

        def build() -> PreparedGraph:
            if edge_index.numel() and (int(edge_index.max()) >= n or int(edge_index.min()) < 0):
                raise ValueError(f"edge_index refers to nodes outside 0..{n - 1}: the graph does not "
                                 f"match this model ({self.num_users} users, {self.num_items} items)")
            if not is_undirected(edge_index, num_nodes=n):
                raise ValueError("LightGCN propagates over an undirected graph: edge_index must hold "
                                 "every interaction in both directions (gnn_unlearn.ops.symmetrize)")
            return PreparedGraph(normalized_adjacency(edge_index, n))
        return cached_graph(self, edge_index, n, build)

    def encode(self, x: Tensor | None, edge_index: Tensor | PreparedGraph,
               e0: Tensor | None = None) -> Tensor:
        """Final embeddings ``z`` ``[U + I, d]``; ``x`` is ignored (kept for the link interface)."""
        h = self.embedding.weight if e0 is None else e0
        adj = self.prepare(edge_index).structure
        total = h
        for _ in range(self.num_layers):
            h = SymmetricPropagation.apply(adj, h)
            total = total + h
        return total / (self.num_layers + 1)

    @staticmethod
    def decode(z: Tensor, pairs: Tensor) -> Tensor:
        """Scores :math:`z_u^\\top z_i` of ``pairs`` ``[2, k]`` (global node ids)."""
        return pair_dot(z, pairs)

    def forward(self, x: Tensor | None, edge_index: Tensor, pairs: Tensor) -> Tensor:
        return self.decode(self.encode(x, edge_index), pairs)
