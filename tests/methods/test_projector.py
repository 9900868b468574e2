import copy

import pytest
import torch

from gnn_unlearn import DeletionRequest, unlearn
from gnn_unlearn.cli import main
from gnn_unlearn.data import load_dataset, node_split, synthetic_graph
from gnn_unlearn.methods.projector import span_residual
from gnn_unlearn.models import LinearGNN, make_model
from gnn_unlearn.training import TrainConfig, train

from ..conftest import param_hash
from .conftest import distance_to_retrain

CONFIG = TrainConfig(epochs=100, lr=0.05, eval_every=100, patience=100)


def probe_graph(seed: int, deleted: int = 12):
    """A synthetic graph whose first ``deleted`` training nodes also carry one private feature
    column each (the probe: only those nodes ever set it), and the node request for them."""
    data = node_split(synthetic_graph(num_nodes=300, num_classes=3, avg_degree=5, num_features=30,
                                      features_per_node=4, seed=seed), seed=seed)
    ids = data.train_mask.nonzero().view(-1)[:deleted]
    private = torch.zeros(data.num_nodes, deleted)
    private[ids, torch.arange(deleted)] = 1.0
    data = copy.copy(data)
    data.x = torch.cat([data.x, private], 1)
    return data, ids


@pytest.mark.parametrize("seed", [0, 1])
def test_node_deletion_forgets_private_directions_and_moves_towards_retrain(seed):
    data, ids = probe_graph(seed)
    model, _ = train(data, "node", CONFIG, encoder="linear", num_layers=2)
    task = DeletionRequest.nodes(ids).resolve(data, num_hops=2)
    retrained = unlearn(model, task, "retrain").model
    before = param_hash(model)
    result = unlearn(model, task, "projector")
    assert param_hash(model) == before
    d = data.x.size(1) - ids.numel()

    def private_rows(m):
        return float(torch.stack([b[:, d:] for b in m.blocks()]).detach().abs().max())

    assert private_rows(model) > 1e-2                       # the original learned the probe
    assert private_rows(retrained) == 0                     # retraining never sees it
    assert private_rows(result.model) < 1e-6 * float(model.head.weight.abs().max())
    d_orig = distance_to_retrain(model, retrained, task, on_original=True)
    d_utu = distance_to_retrain(model, retrained, task)
    d_proj = distance_to_retrain(result.model, retrained, task)
    assert d_proj < 0.8 * min(d_utu, d_orig), (d_orig, d_utu, d_proj)
    assert result.history["optimality"] <= 1e-8


def test_feature_requests_forget_the_deleted_entries():
    data, ids = probe_graph(0)
    model, _ = train(data, "node", CONFIG, encoder="linear", num_layers=2)
    d = data.x.size(1) - ids.numel()
    cols = torch.arange(d, data.x.size(1))
    task = DeletionRequest.features(ids, cols).resolve(data)
    out = unlearn(model, task, "projector").model
    assert torch.stack([b[:, d:] for b in out.blocks()]).abs().max() < 1e-6
    shared = torch.stack([b[:, :d] for b in out.blocks()])
    assert torch.allclose(shared, torch.stack([b[:, :d] for b in model.blocks()]), atol=1e-5)


def test_span_residual_is_the_orthogonal_projection():
    g = torch.Generator().manual_seed(0)
    rows = torch.randn(6, 10, generator=g, dtype=torch.float64)
    w = torch.randn(10, 3, generator=g, dtype=torch.float64)
    residual, _, ratio = span_residual(rows.to_sparse_csr(), w, 100, 1e-12)
    q, _ = torch.linalg.qr(rows.t())
    assert torch.allclose(w - residual, q @ (q.t() @ w), atol=1e-8) and ratio <= 1e-12


def test_refuses_non_linear_models_and_bad_parameters(cora):
    gcn = make_model(cora, "node")
    task = DeletionRequest.nodes([0]).resolve(cora)
    with pytest.raises(ValueError, match="linear GNNs only"):
        unlearn(gcn, task, "projector")
    linear = make_model(cora, "node", encoder="linear")
    assert isinstance(linear, LinearGNN)
    with pytest.raises(ValueError, match="does not support"):
        unlearn(linear, DeletionRequest.edges([[0], [633]]).resolve(cora), "projector")
    for bad in (dict(iterations=0), dict(tol=-1.0), dict(tol=float("nan"))):
        with pytest.raises(ValueError):
            unlearn(linear, task, "projector", **bad)


def test_cli(tmp_path):
    from gnn_unlearn.io import load_checkpoint, save_checkpoint
    data = node_split(load_dataset("synthetic", root=str(tmp_path), num_nodes=300, seed=0), seed=0)
    model, _ = train(data, "node", TrainConfig(epochs=20, eval_every=20, patience=20), encoder="linear")
    ckpt, unl = str(tmp_path / "linear.pt"), str(tmp_path / "unl.pt")
    save_checkpoint(ckpt, model, data, extra={"dataset": "synthetic", "task": "node",
                                              "num_nodes_option": 300})
    nodes = ",".join(map(str, data.train_mask.nonzero().view(-1)[:5].tolist()))
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "projector", "--nodes", nodes,
                 "--output", unl]) == 0
    assert isinstance(load_checkpoint(unl)[0], LinearGNN)
