"""What GraphEraser and GUIDE share: exact unlearning by retraining the touched shards."""
from __future__ import annotations

from typing import Any

from torch import nn

from gnn_unlearn.methods.base import Unlearner
from gnn_unlearn.models.sharded import ShardedModel
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.sharding import retrain_shards, retrain_sharded, touched_shards


class ShardRetrainer(Unlearner):
    """Retrains, from a fresh seeded initialisation, every shard whose training data the
    request changes (:func:`~gnn_unlearn.sharding.touched_shards`) on the retained graph; the
    other shard models are kept as they are and data-dependent aggregation weights are
    recomputed on the retained graph. The result is bit-identical on a CPU to
    :func:`~gnn_unlearn.sharding.train_sharded` run on ``task.retained_data`` with the same
    assignment and seed. Predict with the retained graph (``model(retained.x,
    retained.edge_index)``): the model has no graph of its own.

    Args:
        repartition: also recompute the partition on the retained graph and retrain every
            shard (strictly exact for graph-dependent partitions, at full cost). Without it a
            graph-dependent partition (``blpa``, ``bekm``, ``fair``, ``metis``) still reflects
            the deleted data in where the other nodes sit; ``history["partition"]`` says which.
        workers: retrain the touched shards in this many processes (CPU; same weights).
    """
    supports = frozenset({"node", "edge", "feature", "class"})
    tasks = frozenset({"node", "link"})

    def __init__(self, repartition: bool = False, workers: int = 1):
        self.repartition, self.workers = repartition, workers

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        if not isinstance(model, ShardedModel):
            raise ValueError(f"method {self.name!r} unlearns sharded models, got a {type(model).__name__}; "
                             f"train one with gnn_unlearn.sharding.train_sharded(data, method={self.name!r}) "
                             "first")
        super().check(model, task)
        trained_for = model.recipe.get("method")
        if trained_for not in (None, self.name):
            raise ValueError(f"this sharded model was trained for {trained_for!r}; unlearn it with "
                             f"method {trained_for!r}, or train it with method={self.name!r}")
        if model.assignment.numel() != task.data.num_nodes:
            raise ValueError(f"the model's partition covers {model.assignment.numel()} nodes but the "
                             f"task's graph has {task.data.num_nodes}; resolve the request on the graph "
                             "the model was trained on")

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        recipe = model.recipe
        data = task.retained_data
        if self.repartition:
            out = retrain_sharded(model, data, repartition=True, workers=self.workers)
            touched = list(range(model.num_shards))
            partition = f"recomputed on the retained graph ({recipe['partition']})"
        else:
            touched = touched_shards(model, task).tolist()
            out = retrain_shards(model, data, touched, workers=self.workers, copy_kept=False)  # model: unlearn's copy
            depends = recipe.get("partition_depends_on_data")
            partition = (f"kept; {recipe['partition']!r} was computed on the graph with the deleted data"
                         if depends else f"kept; {recipe['partition']!r} does not depend on the data"
                         if depends is False else "kept; given by the caller (its dependence on the data is "
                         "the caller's)")
        self.history.update(self.ledger(model, out, touched, partition))
        return out

    @staticmethod
    def ledger(before: ShardedModel, after: ShardedModel, touched: list[int], partition: str) -> dict[str, Any]:
        agg = after.aggregation
        return {
            "touched_shards": touched, "num_touched": len(touched), "num_shards": after.num_shards,
            "shard_of_node": "model.assignment",
            "partition": partition,
            "aggregator": (f"{agg} weights recomputed on the retained graph" if agg in ("learned", "similarity")
                           else f"{agg}: data-free"),
            "weights_before": before.weights.tolist(), "weights_after": after.weights.tolist(),
            "inference_graph": "the graph given to forward (pass task.retained_data)",
        }
