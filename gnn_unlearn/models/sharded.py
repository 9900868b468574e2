r"""A sharded (SISA) node classifier: K shard models, a node -> shard map and an aggregator.

Prediction for node :math:`v` on the graph it is given (the inference graph is always the
argument, so after a deletion the caller passes the edited graph):

.. math::
    p(v) = \sum_{k=1}^{K} w_k\, \mathrm{softmax}(f_k(X, A))_v

with :math:`w` uniform (``"mean"``), learned on training nodes (``"learned"``, GraphEraser's
"optimal" aggregator) or from graph similarity (``"similarity"``, GUIDE); ``"majority"``
counts each shard's arg-max vote instead (ties broken by the mean posterior). ``forward``
returns :math:`\log p(v)`, so arg-max, cross-entropy and the membership attacks read it like
any classifier's logits.

Training and unlearning live in :mod:`gnn_unlearn.sharding` and the ``graph_eraser`` and
``guide`` methods.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

AGGREGATIONS = ("mean", "majority", "learned", "similarity")


class ShardedModel(nn.Module):
    """Shard models plus what inference needs; scored like a
    :class:`~gnn_unlearn.models.NodeClassifier` (``task``, ``config``, ``forward(x, edge_index)``).

    Args:
        shards: one trained model per shard (all of one architecture).
        assignment: ``[N]`` node -> shard id (a buffer: it moves with the model).
        aggregation: one of :data:`AGGREGATIONS`.
        weights: ``[K]`` non-negative aggregation weights summing to 1 (``"learned"`` and
            ``"similarity"``); uniform otherwise.
        config: the shards' architecture config plus ``config["sharded"]``, the recipe
            (partition, aggregation, repair, seed, training config) that reproduces the model.
    """

    def __init__(self, shards: Sequence[nn.Module], assignment: Tensor, aggregation: str = "mean",
                 weights: Tensor | None = None, config: dict[str, Any] | None = None):
        super().__init__()
        if not shards:
            raise ValueError("a sharded model needs at least one shard model")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {AGGREGATIONS}")
        tasks = {getattr(m, "task", None) for m in shards}
        if tasks != {"node"}:
            raise ValueError(f"shard models must all be node classifiers, got tasks {sorted(map(str, tasks))}")
        k = len(shards)
        if assignment.dim() != 1 or assignment.dtype != torch.long:
            raise ValueError("assignment must be a 1-d long tensor (node -> shard id)")
        if assignment.numel() and (int(assignment.min()) < 0 or int(assignment.max()) >= k):
            raise ValueError(f"assignment holds shard ids outside 0..{k - 1}")
        if weights is None:
            weights = torch.full((k,), 1.0 / k)
        if weights.shape != (k,):
            raise ValueError(f"weights must have shape [{k}], got {tuple(weights.shape)}")
        self.shards = nn.ModuleList(shards)
        self.register_buffer("assignment", assignment.clone())
        self.register_buffer("weights", weights.detach().clone().float().to(assignment.device))
        self.aggregation = aggregation
        self.config = dict(config or {})
        self.num_classes = shards[0].num_classes

    task = "node"

    @property
    def num_shards(self) -> int:
        return len(self.shards)

    @property
    def recipe(self) -> dict[str, Any]:
        """How this model was trained (``config["sharded"]``)."""
        return dict(self.config.get("sharded", {}))

    @property
    def encoder(self) -> nn.Module:
        """The first shard's encoder (for ``num_hops`` and similar architecture queries)."""
        return self.shards[0].encoder

    def shard_probabilities(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """``[K, N, C]``: each shard model's softmax posteriors on the given graph."""
        return self.probabilities_of(self.shards, x, edge_index)

    @staticmethod
    def probabilities_of(shards: Sequence[nn.Module], x: Tensor, edge_index: Tensor) -> Tensor:
        """``[K, N, C]`` posteriors of ``shards`` (one architecture), the graph's propagation
        structure (e.g. GCN's normalised adjacency) built once and shared by all of them."""
        encoder = getattr(shards[0], "encoder", None)
        graph = encoder.prepare(edge_index, x.size(0)) if encoder is not None else edge_index
        return torch.stack([torch.softmax(m(x, graph), -1) for m in shards])

    def aggregate(self, probs: Tensor) -> Tensor:
        """``[K, N, C]`` shard posteriors -> ``[N, C]`` aggregated probabilities."""
        if self.aggregation == "majority":
            votes = torch.nn.functional.one_hot(probs.argmax(-1), probs.size(-1)).sum(0).to(probs.dtype)
            return (votes + probs.mean(0)) / (self.num_shards + 1)
        if self.aggregation == "mean":
            return probs.mean(0)
        return torch.einsum("k,knc->nc", self.weights.to(probs.dtype), probs)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Log of the aggregated class probabilities, ``[N, C]``."""
        return self.aggregate(self.shard_probabilities(x, edge_index)).clamp_min(1e-12).log()
