"""GraphEraser: exact unlearning of a sharded GNN by retraining the touched shards."""
from __future__ import annotations

from gnn_unlearn.methods.base import register
from gnn_unlearn.methods.shard_common import ShardRetrainer


@register
class GraphEraser(ShardRetrainer):
    r"""GraphEraser (Chen, Zhang, Wang, Backes, Humbert, Zhang, "Graph Unlearning", CCS 2022).

    Train with ``train_sharded(data, method="graph_eraser")``: balanced label propagation
    (``blpa``; or balanced embedding k-means ``bekm``, ``metis``, ``random``), one GNN per shard
    on its induced subgraph, and learned aggregation weights :math:`\alpha \ge 0`,
    :math:`\sum_k \alpha_k = 1` (or ``mean`` / ``majority``).

    Unlearning (this method): a deleted node, or a node whose features are deleted, touches
    its shard; a deleted edge touches the shard holding both ends (an edge cut by the
    partition was never trained on). Each touched shard is retrained from a fresh
    initialisation; :math:`\alpha` is refitted on the retained training nodes with the new
    shard models (OpenGU refits it on the original nodes with the original models). See
    :class:`~gnn_unlearn.methods.shard_common.ShardRetrainer` for the exactness statement and
    ``repartition``.
    """
    name = "graph_eraser"
