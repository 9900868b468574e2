r"""A sharded (SISA) model: K shard models, a node -> shard map and an aggregator.

Node classification, for node :math:`v` on the graph the model is given (the inference graph
is always an argument, so after a deletion the caller passes the edited graph):

.. math::
    p(v) = \sum_{k=1}^{K} w_k\, \mathrm{softmax}(f_k(X, A))_v ,

link prediction, for a pair :math:`(u, v)`: :math:`p(u, v) = \sum_k w_k\,\sigma(s_k(u, v))`,
with :math:`w` uniform (``"mean"``), learned on training data (``"learned"``, GraphEraser's
"optimal" aggregator) or from graph similarity (``"similarity"``, GUIDE); ``"majority"``
counts each shard's vote instead (ties broken by the mean posterior). ``forward`` returns
:math:`\log p(v)` (node) and ``decode`` the logit of :math:`p(u, v)` (link), so arg-max,
cross-entropy, AUROC and the membership attacks read them like any model's outputs.

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
    :class:`~gnn_unlearn.models.NodeClassifier` (``forward(x, edge_index)``) or a
    :class:`~gnn_unlearn.models.LinkPredictor` (``encode`` / ``decode``), by ``task``.

    Args:
        shards: one trained model per shard, all of one architecture and task.
        assignment: ``[N]`` node -> shard id (a buffer: it moves with the model).
        aggregation: one of :data:`AGGREGATIONS`.
        weights: ``[K]`` non-negative aggregation weights summing to 1 (``"learned"`` and
            ``"similarity"``); uniform otherwise.
        config: the architecture of every shard (as :func:`~gnn_unlearn.models.build_model`
            takes it).
        recipe: how the model was trained (partition, aggregation, repair, seed, training
            config), so that shards can be retrained identically.
    """

    def __init__(self, shards: Sequence[nn.Module], assignment: Tensor, aggregation: str = "mean",
                 weights: Tensor | None = None, config: dict[str, Any] | None = None,
                 recipe: dict[str, Any] | None = None):
        super().__init__()
        if not shards:
            raise ValueError("a sharded model needs at least one shard model")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {AGGREGATIONS}")
        tasks = {getattr(m, "task", None) for m in shards}
        if len(tasks) != 1 or not tasks <= {"node", "link"}:
            raise ValueError(f"shard models must all be node classifiers or all link predictors, "
                             f"got tasks {sorted(map(str, tasks))}")
        k = len(shards)
        if assignment.dim() != 1 or assignment.dtype != torch.long:
            raise ValueError("assignment must be a 1-d long tensor (node -> shard id)")
        if assignment.numel() and (int(assignment.min()) < 0 or int(assignment.max()) >= k):
            raise ValueError(f"assignment holds shard ids outside 0..{k - 1}")
        if weights is None:
            weights = torch.full((k,), 1.0 / k)
        if weights.shape != (k,):
            raise ValueError(f"weights must have shape [{k}], got {tuple(weights.shape)}")
        self.task = tasks.pop()
        self.shards = nn.ModuleList(shards)
        self.register_buffer("assignment", assignment.clone())
        self.register_buffer("weights", weights.detach().clone().float().to(assignment.device))
        self.aggregation = aggregation
        self.config = dict(config or {})
        self.recipe = dict(recipe or {})
        self.num_classes = getattr(shards[0], "num_classes", None)
        #: ``similarity`` aggregation: the shard subgraphs' pyramid histograms, keyed by
        #: subgraph digest, reused when a retrain leaves a shard's subgraph unchanged (not
        #: saved in checkpoints; rebuilt on first use).
        self.similarity_memo: dict[str, Any] = {}

    @property
    def num_shards(self) -> int:
        return len(self.shards)

    # checkpoints ---------------------------------------------------------------------------
    def checkpoint_spec(self) -> dict[str, Any]:
        """What a checkpoint stores besides :attr:`config` (the shard architecture) and the
        weights: enough for :meth:`from_checkpoint` to rebuild an untrained twin."""
        return {"num_shards": self.num_shards, "aggregation": self.aggregation,
                "num_nodes": int(self.assignment.numel()), "recipe": dict(self.recipe)}

    @classmethod
    def from_checkpoint(cls, config: dict[str, Any], spec: dict[str, Any]) -> "ShardedModel":
        """An untrained sharded model of :meth:`checkpoint_spec`'s shape (load the weights,
        assignment and aggregation weights with :meth:`load_state_dict`); a malformed spec
        raises ``ValueError`` naming the field."""
        from gnn_unlearn.models.predictors import build_model
        if not isinstance(spec, dict):
            raise ValueError(f"a sharded model's spec is a dict, got {type(spec).__name__}")
        k, n = spec.get("num_shards"), spec.get("num_nodes")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"num_shards must be a positive int, got {k!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"num_nodes must be a positive int, got {n!r}")
        if spec.get("aggregation") not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {spec.get('aggregation')!r}")
        if not isinstance(spec.get("recipe"), dict):
            raise ValueError("recipe must be a dict (how the shards were trained)")
        shards = [build_model(config) for _ in range(k)]
        return cls(shards, torch.zeros(n, dtype=torch.long), spec["aggregation"], None, config,
                   spec["recipe"])

    @property
    def encoder(self) -> nn.Module:
        """The first shard's encoder (for ``num_hops`` and similar architecture queries)."""
        return self.shards[0].encoder

    # node classification ----------------------------------------------------------------
    def shard_probabilities(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """``[K, N, C]``: each shard model's softmax posteriors on the given graph."""
        return self.probabilities_of(self.shards, x, edge_index)

    @staticmethod
    def probabilities_of(shards: Sequence[nn.Module], x: Tensor, edge_index: Tensor) -> Tensor:
        """``[K, N, C]`` posteriors of ``shards`` (one architecture), the graph's propagation
        structure (e.g. GCN's normalised adjacency) built once and shared by all of them."""
        graph = shared_graph(shards, x, edge_index)
        return torch.stack([torch.softmax(m(x, graph), -1) for m in shards])

    def aggregate(self, probs: Tensor) -> Tensor:
        """``[K, ..., C]`` shard posteriors -> ``[..., C]`` aggregated probabilities."""
        if self.aggregation == "majority":
            votes = torch.nn.functional.one_hot(probs.argmax(-1), probs.size(-1)).sum(0).to(probs.dtype)
            return (votes + probs.mean(0)) / (self.num_shards + 1)
        if self.aggregation == "mean":
            return probs.mean(0)
        w = self.weights.to(probs.dtype).view(-1, *([1] * (probs.dim() - 1)))
        return (w * probs).sum(0)

    def forward(self, x: Tensor, edge_index: Tensor, pairs: Tensor | None = None) -> Tensor:
        """Node models: log of the aggregated class probabilities, ``[N, C]``. Link models:
        the logit of the aggregated probability of each of ``pairs``."""
        if self.task == "link":
            if pairs is None:
                raise ValueError("a link model's forward needs pairs; or call encode / decode")
            return self.decode(self.encode(x, edge_index), pairs)
        return self.aggregate(self.shard_probabilities(x, edge_index)).clamp_min(1e-12).log()

    # link prediction ----------------------------------------------------------------------
    def encode(self, x: Tensor, edge_index: Tensor, **kwargs: Any) -> Tensor:
        """``[N, K * d]``: every shard's node embeddings, side by side."""
        if self.task != "link":
            raise ValueError("encode/decode are for link models; call the node model directly")
        graph = shared_graph(self.shards, x, edge_index)
        return torch.cat([m.encode(x, graph) for m in self.shards], 1)

    def shard_pair_probabilities(self, z: Tensor, pairs: Tensor) -> Tensor:
        """``[K, P]``: each shard's probability that each pair is an edge."""
        parts = z.chunk(self.num_shards, 1)
        return torch.stack([torch.sigmoid(m.decode(zk, pairs)) for m, zk in zip(self.shards, parts)])

    def decode(self, z: Tensor, pairs: Tensor) -> Tensor:
        """Logit of the aggregated edge probability of each pair (``z`` from :meth:`encode`)."""
        p = self.shard_pair_probabilities(z, pairs)
        two = torch.stack([1 - p, p], -1)                     # [K, P, 2]: a two-class posterior
        agg = self.aggregate(two)[..., 1].clamp(1e-7, 1 - 1e-7)
        return torch.log(agg) - torch.log1p(-agg)


def shared_graph(shards: Sequence[nn.Module], x: Tensor, edge_index: Tensor):
    """The propagation structure of ``edge_index`` for the shards' (common) encoder, built once."""
    encoder = getattr(shards[0], "encoder", None)
    if encoder is None or not isinstance(edge_index, Tensor):
        return edge_index
    return encoder.prepare(edge_index, x.size(0))
