"""GUIDE: inductive graph unlearning with fair partitions, repaired shards and similarity weights."""
from __future__ import annotations

from gnn_unlearn.methods.base import register
from gnn_unlearn.methods.shard_common import ShardRetrainer


@register
class GUIDE(ShardRetrainer):
    r"""GUIDE (Wang, Huai, Wang, "Inductive Graph Unlearning", USENIX Security 2023).

    Train with ``train_sharded(data, method="guide")``: a fair and balanced spectral partition
    coloured by *training* labels (``fair``), subgraph repair (each cut edge end gets a
    virtual neighbour built from its own features, ``mixup`` by default), one GNN per repaired
    shard, and label-free weights :math:`w = \mathrm{softmax}_k\,\hat k_{PM}(G, G_k)`; every
    shard model predicts on the whole (edited) graph.

    Unlearning (this method): a deleted node or node features touch the node's shard; a
    deleted edge touches the shards of both ends (with repair, a cut edge made virtual
    neighbours in both). Touched shards are retrained from a fresh initialisation (OpenGU
    warm-starts them from whatever weights its model object holds) and the similarity weights
    are recomputed on the retained graph (OpenGU keeps the pre-deletion ones). See
    :class:`~gnn_unlearn.methods.shard_common.ShardRetrainer` for the exactness statement and
    ``repartition``.
    """
    name = "guide"
