"""Graphs, settings and helpers shared by the sharded-training tests (tests/test_sharding.py,
tests/methods/test_graph_eraser.py, tests/methods/test_guide.py and the checkpoint tests).

tests/conftest.py imports the fixtures, so every test module can ask for them by name.
"""
from __future__ import annotations

import pytest
import torch

from gnn_unlearn.data import link_split, node_split, synthetic_graph
from gnn_unlearn.sharding import train_sharded
from gnn_unlearn.training import TrainConfig

#: A short shard training recipe (10 epochs, no early stopping): fast, still deterministic.
FAST = TrainConfig(epochs=10, eval_every=5, patience=100, seed=0)
#: A small shard architecture.
ARCH = dict(hidden_channels=16, out_channels=16)


@pytest.fixture(scope="session")
def sharding_graph():
    """240 nodes, 3 classes, a random node split (half of the nodes train)."""
    g = synthetic_graph(num_nodes=240, num_classes=3, avg_degree=6, num_features=24, features_per_node=4,
                        seed=0)
    return node_split(g, train_ratio=0.5, val_ratio=0.2, use_public=False, seed=0)


@pytest.fixture(scope="session")
def sharding_link_graph():
    """200 nodes with a link split."""
    g = synthetic_graph(num_nodes=200, num_classes=3, avg_degree=8, num_features=24, features_per_node=4,
                        seed=0)
    return link_split(g, seed=0)


def assert_same_model(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Every parameter and buffer of ``a`` and ``b`` is bit-identical."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{k} differs"


def retrained_reference(model, task, partition=None):
    """``train_sharded`` from scratch on the graph without the deleted data, with ``model``'s
    preset, seed and (unless ``partition`` is given) assignment, at :data:`FAST` / :data:`ARCH`."""
    return train_sharded(task.retained_data, model.task, num_shards=model.num_shards,
                         method=model.recipe["method"],
                         partition=model.assignment if partition is None else partition,
                         seed=model.recipe["seed"], config=FAST, **ARCH)
