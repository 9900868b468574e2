"""Fixtures shared by the influence-style method tests: node-classification originals on Cora
with a node request and the model retrained without it, for two seeds."""
from __future__ import annotations

import pytest
import torch

from gnn_unlearn.data import sample_nodes
from gnn_unlearn.methods import unlearn
from gnn_unlearn.metrics import link_auc
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


@pytest.fixture(scope="session")
def cora_link_node_case(cora_link_case):
    """(the ``cora_link_case`` link predictor, task deleting 20 random nodes, retrained model)."""
    from gnn_unlearn.data import sample_nodes
    model, task0, _ = cora_link_case
    task = sample_nodes(task0.data, 20, seed=0).resolve(task0.data, num_hops=2)
    return model, task, unlearn(model, task, "retrain").model


def link_probabilities(model, graph, pairs) -> torch.Tensor:
    from gnn_unlearn.metrics.link import link_logits
    return torch.sigmoid(link_logits(model, graph, pairs))


def link_towards_retrain(model, unlearned, retrained, task) -> dict[str, float]:
    """How the deleted edges look to the original model (on the original graph), to UtU (the
    original on the retained graph), to ``unlearned`` and to the retrained model (both on the
    retained graph): the mean |p - p_retrain| over Df (``dist_*``) and the Df AUROC against a
    fixed sample of non-edges of the retained graph (``auroc_*``)."""
    from gnn_unlearn.metrics.link import auroc_aupr
    from gnn_unlearn.ops.negative import negative_pairs
    kept, df = task.retained_data, task.df_edge_index
    neg = negative_pairs(kept, df.size(1), torch.Generator().manual_seed(5))
    rows = {"original": (model, task.data), "utu": (model, kept), "unlearned": (unlearned, kept),
            "retrain": (retrained, kept)}
    target = link_probabilities(retrained, kept, df)
    out = {}
    for name, (m, graph) in rows.items():
        p = link_probabilities(m, graph, df)
        out[f"dist_{name}"] = float((p - target).abs().mean())
        out[f"auroc_{name}"] = auroc_aupr(p, link_probabilities(m, graph, neg))["auroc"]
    return out


def link_cli_round_trip(tmp_path, method: str) -> None:
    """``gnn-unlearn train --task link`` then ``unlearn --method method`` with an edge request and,
    on its output, a node request: both run, and the served weights differ from the original's."""
    from gnn_unlearn.cli import main
    from gnn_unlearn.io import load_checkpoint
    from ..conftest import param_hash
    ckpt, unl = str(tmp_path / "orig.pt"), str(tmp_path / "unl.pt")
    assert main(["train", "--task", "link", "--num-nodes", "300", "--epochs", "20", "--output", ckpt]) == 0
    assert main(["unlearn", "--checkpoint", ckpt, "--method", method, "--df-size", "0.05",
                 "--params", '{"epochs": 5}', "--output", unl]) == 0
    assert main(["unlearn", "--checkpoint", unl, "--method", method, "--nodes", "3,4",
                 "--params", '{"epochs": 5}', "--output", str(tmp_path / "unl2.pt")]) == 0
    original, unlearned = load_checkpoint(ckpt)[0], load_checkpoint(unl)[0]
    assert original.task == "link" and param_hash(original) != param_hash(unlearned)


@pytest.fixture(scope="session")
def shop():
    """A small synthetic user-item graph (200 users, 300 items): fast recommender tests."""
    from gnn_unlearn.data.synthetic import bipartite_synthetic
    return bipartite_synthetic(200, 300, 15, seed=0)


@pytest.fixture(scope="session")
def shop_model(shop):
    """LightGCN trained on ``shop`` (seed 0)."""
    model, _ = train(shop, "rec", TrainConfig(epochs=150, lr=0.02, batch_size=1024, eval_every=50,
                                              patience=1000, seed=0))
    return model


def backtracks_on_validation_drop(model, task, method: str):
    """Checks that ``method`` at a rate far too large (lr 1) gives up with the original model
    unchanged at ``backtrack=0``, and with backtracking halves the rate until validation holds
    and changes the model; returns the backtracking result."""
    kept = task.retained_data
    z0 = model.encode(kept.x, kept.edge_index)
    give_up = unlearn(model, task, method, lr=1.0, backtrack=0)
    assert give_up.history["stop_reason"] == "validation drop" and give_up.history["epochs"] == 1
    assert torch.allclose(give_up.model.encode(kept.x, kept.edge_index), z0, atol=1e-6)
    retried = unlearn(model, task, method, lr=1.0, backtrack=10)
    assert retried.history["lr_halvings"] >= 1
    assert not torch.allclose(retried.model.encode(kept.x, kept.edge_index), z0, atol=1e-4)
    val = link_auc(retried.model, kept, kept.val_pos_edge_index, kept.val_neg_edge_index)["auroc"]
    assert val >= retried.history["start_val"] - 0.03
    return retried
