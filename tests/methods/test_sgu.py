import math

import pytest
import torch

from gnn_unlearn import DeletionRequest, unlearn
from gnn_unlearn.cli import main
from gnn_unlearn.methods import get
from gnn_unlearn.methods.sgu import class_draws
from gnn_unlearn.ops.graph import training_edges

from ..conftest import param_hash
from .conftest import distance_to_retrain, link_cli_round_trip, link_towards_retrain, softmax_on


def true_label_confidence(model, task) -> float:
    p = softmax_on(model, task.retained_data)[task.deleted_nodes]
    return float(p.gather(1, task.data.y[task.deleted_nodes].view(-1, 1)).mean())


def test_node_deletion_moves_towards_retrain_beyond_utu(dense_split_case):
    model, task, retrained = dense_split_case
    before = param_hash(model)
    result = unlearn(model, task, "sgu")
    assert param_hash(model) == before and result.model is not model
    d_orig = distance_to_retrain(model, retrained, task, on_original=True)
    d_utu = distance_to_retrain(model, retrained, task)
    d_sgu = distance_to_retrain(result.model, retrained, task)
    c_utu, c_sgu, c_rt = (true_label_confidence(m, task) for m in (model, result.model, retrained))
    # measured: distance 0.557 (original) / 0.296 (UtU) -> 0.290; confidence 0.782 -> 0.756 (retrain 0.666)
    assert d_sgu < d_utu and d_sgu < d_orig - 0.1, (d_orig, d_utu, d_sgu)
    # the deleted nodes lose confidence in their labels, towards the retrained model's
    assert abs(c_sgu - c_rt) < abs(c_utu - c_rt) - 0.01, (c_utu, c_sgu, c_rt)
    h = result.history
    assert h["activated"] == math.ceil(0.1 * task.data.num_nodes) and 1 <= h["selected_epoch"] <= 50


def test_selection_reads_validation_never_test_labels(cora_node_cases):
    model, task, _ = cora_node_cases[0]
    data = task.data
    scrambled = type(data)(**{k: v for k, v in data.items()})
    scrambled.y = data.y.clone()
    test = ~data.train_mask & ~data.val_mask
    scrambled.y[test] = (data.y[test] + 1) % int(data.y.max() + 1)
    request = DeletionRequest.nodes(task.deleted_nodes.nonzero().view(-1))
    a = unlearn(model, request.resolve(data, num_hops=2), "sgu", epochs=10).model
    b = unlearn(model, request.resolve(scrambled, num_hops=2), "sgu", epochs=10).model
    assert param_hash(a) == param_hash(b)


def test_edge_requests(cora_node_cases):
    model, task0, _ = cora_node_cases[0]
    data = task0.data
    edges = training_edges(data)[:, :40]
    task = DeletionRequest.edges(edges).resolve(data, num_hops=2)
    result = unlearn(model, task, "sgu", epochs=10)
    assert result.history["unlearning_nodes"] == int(torch.unique(edges).numel())
    assert param_hash(result.model) != param_hash(model)


def test_class_draws_respect_classes():
    labels = torch.tensor([0, 1, 1, 2, 0, 2, 2])
    classes = torch.tensor([2, 0, 1, 3])
    g = torch.Generator().manual_seed(0)
    idx, ok = class_draws(labels, classes, 6, True, g)
    assert bool((labels[idx][:3] == classes[:3].unsqueeze(1)).all()) and not bool(ok[3].any())
    idx, ok = class_draws(labels, classes, 50, False, g)
    assert bool((labels[idx] != classes.unsqueeze(1))[ok].all()) and bool(ok.any(1).all())


def test_bad_hyperparameters_are_refused():
    for bad in (dict(epochs=0), dict(lr=-1.0), dict(budget=0.0), dict(budget=1.5), dict(anchors=0),
                dict(kl_weight=-1.0), dict(temperature=0.0), dict(propagation_hops=-1)):
        with pytest.raises((ValueError, TypeError)):
            get("sgu", **bad)


def test_cli(tmp_path):
    from gnn_unlearn.io import load_checkpoint
    ckpt, unl = str(tmp_path / "orig.pt"), str(tmp_path / "unl.pt")
    assert main(["train", "--task", "node", "--num-nodes", "300", "--epochs", "20", "--output", ckpt]) == 0
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "sgu", "--nodes", "3,4,5",
                 "--params", '{"epochs": 5}', "--output", unl]) == 0
    assert param_hash(load_checkpoint(ckpt)[0]) != param_hash(load_checkpoint(unl)[0])


# link prediction -------------------------------------------------------------------------------
def test_link_edge_deletion_moves_towards_retrain_beyond_utu(cora_link_case):
    model, task, retrained = cora_link_case
    before = param_hash(model)
    result = unlearn(model, task, "sgu")
    assert param_hash(model) == before and result.model is not model
    m = link_towards_retrain(model, result.model, retrained, task)
    # measured: distance 0.105 (original) / 0.068 (UtU) -> 0.061; Df AUROC 0.984 / 0.951 -> 0.949
    # (retrain 0.896)
    assert m["dist_unlearned"] < m["dist_utu"] < m["dist_original"] - 0.03, m
    assert abs(m["auroc_unlearned"] - m["auroc_retrain"]) < abs(m["auroc_original"] - m["auroc_retrain"]), m
    h = result.history
    assert h["forget_pairs"] == int(task.df_mask.sum()) and h["keep_pairs"] > 0 and h["anchored"] > 0
    assert h["activated"] == math.ceil(0.1 * task.data.num_nodes) and 1 <= h["selected_epoch"] <= 50


def test_link_node_deletion_moves_towards_retrain_beyond_utu(cora_link_node_case):
    model, task, retrained = cora_link_node_case
    before = param_hash(model)
    result = unlearn(model, task, "sgu")
    assert param_hash(model) == before
    m = link_towards_retrain(model, result.model, retrained, task)
    # measured: distance 0.316 (original) / 0.266 (UtU) -> 0.220; Df AUROC 0.987 / 0.951 -> 0.939
    # (retrain 0.739)
    assert m["dist_unlearned"] < m["dist_utu"] - 0.02, m
    assert abs(m["auroc_unlearned"] - m["auroc_retrain"]) < abs(m["auroc_utu"] - m["auroc_retrain"]), m


def test_link_selection_never_reads_test_edges(cora_link_case):
    model, task, _ = cora_link_case
    data = task.data
    scrambled = type(data)(**{k: v for k, v in data.items()})
    scrambled.test_pos_edge_index = data.test_neg_edge_index.clone()
    scrambled.test_neg_edge_index = data.test_pos_edge_index.clone()
    request = task.request
    a = unlearn(model, request.resolve(data, num_hops=2), "sgu", epochs=5).model
    b = unlearn(model, request.resolve(scrambled, num_hops=2), "sgu", epochs=5).model
    assert param_hash(a) == param_hash(b)


def test_link_refuses_a_graph_without_validation_edges(cora_link_case):
    model, task, _ = cora_link_case
    data = type(task.data)(**{k: v for k, v in task.data.items() if k != "val_neg_edge_index"})
    with pytest.raises(ValueError, match="val_neg_edge_index"):
        unlearn(model, task.request.resolve(data, num_hops=2), "sgu", epochs=2)


def test_link_cli(tmp_path):
    link_cli_round_trip(tmp_path, "sgu")
