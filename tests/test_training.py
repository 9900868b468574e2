import pytest
import torch

from gnn_unlearn.data import synthetic_graph
from gnn_unlearn.training import TrainConfig, train


def test_training_is_seeded(small_graph):
    a, ha = train(small_graph, "link", TrainConfig(epochs=20, seed=3))
    b, hb = train(small_graph, "link", TrainConfig(epochs=20, seed=3))
    c, _ = train(small_graph, "link", TrainConfig(epochs=20, seed=4))
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert ha.loss == hb.loss
    assert not torch.equal(next(iter(a.state_dict().values())), next(iter(c.state_dict().values())))


def test_training_restores_global_rng(small_graph):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(small_graph, "link", TrainConfig(epochs=2))
    assert torch.equal(torch.rand(3), expected)


def test_early_stopping_keeps_best_validation_state(small_graph):
    _, hist = train(small_graph, "link", TrainConfig(epochs=400, patience=20, eval_every=5, lr=0.05))
    assert hist.epochs_run < 400
    assert hist.best_val == max(v for _, v in hist.val)


def test_node_training(cora):
    model, hist = train(cora, "node", TrainConfig(epochs=200, weight_decay=5e-4, seed=0))
    pred = model(cora.x, cora.edge_index).argmax(-1)
    assert (pred[cora.test_mask] == cora.y[cora.test_mask]).float().mean() > 0.75


def test_training_needs_a_split():
    g = synthetic_graph(num_nodes=50)
    with pytest.raises(ValueError, match="link_split"):
        train(g, "link")
    with pytest.raises(ValueError, match="node_split"):
        train(g, "node")
    with pytest.raises(ValueError, match="positive int"):
        TrainConfig(epochs=0)
    with pytest.raises(TypeError, match="unknown training options"):
        TrainConfig.from_dict({"epoch": 3})


def test_training_is_bitwise_repeatable_on_cora(cora_link):
    a, _ = train(cora_link, "link", TrainConfig(epochs=30, seed=0))
    b, _ = train(cora_link, "link", TrainConfig(epochs=30, seed=0))
    for va, vb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(va, vb)


def test_learning_rate_is_the_encoders_unless_given(small_graph):
    from gnn_unlearn.models.predictors import make_model
    from gnn_unlearn.training import DEFAULT_LR, learning_rate
    gin, gcn = make_model(small_graph, "link", encoder="gin"), make_model(small_graph, "link", encoder="gcn")
    assert learning_rate(TrainConfig(), gin) == 0.005
    assert learning_rate(TrainConfig(), gcn) == DEFAULT_LR == 0.01
    assert learning_rate(TrainConfig(lr=0.02), gin) == 0.02
    model, _ = train(small_graph, "link", TrainConfig(epochs=2), encoder="gin")
    assert model.train_config["lr"] == 0.005                 # recorded as used: retraining repeats it
    with pytest.raises(ValueError, match="lr > 0"):
        TrainConfig(lr=0.0)
