"""Fixtures shared by the influence-style method tests: node-classification originals on Cora
with a node request and the model retrained without it, for two seeds."""
from __future__ import annotations

import pytest
import torch

from gnn_unlearn.data import sample_nodes
from gnn_unlearn.methods import unlearn
from gnn_unlearn.training import TrainConfig, train

NODE_SEEDS = (0, 1)


def node_case(cora, seed: int, size: int = 30):
    """(original GCN, task deleting ``size`` training nodes, retrained model) for ``seed``."""
    config = TrainConfig(epochs=100, lr=0.01, weight_decay=5e-4, patience=100, eval_every=10, seed=seed)
    model, _ = train(cora, "node", config, hidden_channels=32, out_channels=32)
    task = sample_nodes(cora, size, seed=seed, among=cora.train_mask).resolve(cora, num_hops=2)
    return model, task, unlearn(model, task, "retrain").model


@pytest.fixture(scope="session")
def cora_node_cases(cora):
    return [node_case(cora, s) for s in NODE_SEEDS]


def softmax_on(model, graph) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(graph.x, graph.edge_index).softmax(-1)


def distance_to_retrain(model, retrained, task, on_original: bool = False) -> float:
    """Mean L1 distance between ``model``'s and the retrained model's class distributions on the
    deleted nodes (``model`` on the original graph if ``on_original``, else the retained one)."""
    kept = task.retained_data
    p = softmax_on(model, task.data if on_original else kept)
    q = softmax_on(retrained, kept)
    nodes = task.deleted_nodes
    return float((p[nodes] - q[nodes]).abs().sum(-1).mean())


@pytest.fixture(scope="session")
def cora_link_case(cora_link):
    """(original GCN link predictor, task deleting 2.5 % of the training edges near test edges,
    retrained model); 150 epochs without early stopping, cheaper than the suite's ``cora_gcn``."""
    from gnn_unlearn.data import sample_edges
    config = TrainConfig(epochs=150, lr=0.01, patience=150, eval_every=150, seed=0)
    model, _ = train(cora_link, "link", config, hidden_channels=64, out_channels=32)
    task = sample_edges(cora_link, 0.025, where="in", seed=0).resolve(cora_link, num_hops=2)
    return model, task, unlearn(model, task, "retrain").model


@pytest.fixture(scope="session")
def dense_split_case(cora):
    """OpenGU's regime: most nodes labelled (70/10/20 split, row-normalised features), GCN 64
    hidden trained 100 epochs at lr 0.005, 10 % of the nodes deleted from the training set."""
    from gnn_unlearn import TrainConfig, node_split, train
    from gnn_unlearn.data import sample_nodes
    data = node_split(cora, train_ratio=0.7, val_ratio=0.1, seed=0, use_public=False)
    data.x = cora.x / cora.x.sum(1, keepdim=True).clamp_min(1e-12)
    config = TrainConfig(epochs=100, lr=0.005, weight_decay=5e-4, eval_every=100, patience=100, seed=0)
    model, _ = train(data, "node", config, hidden_channels=64, out_channels=64)
    task = sample_nodes(data, 270, seed=0, among=data.train_mask).resolve(data, num_hops=2)
    return model, task, unlearn(model, task, "retrain").model
