import pytest
import torch

from gnn_unlearn import DeletionRequest
from gnn_unlearn.data import node_split, synthetic_graph
from gnn_unlearn.methods import unlearn
from gnn_unlearn.models import make_model, train_certified
from tests.methods.certified_helpers import assert_bound_holds, serve


@pytest.fixture(scope="module")
def graph():
    return node_split(synthetic_graph(num_nodes=300, num_classes=3, avg_degree=6, num_features=16,
                                      features_per_node=4, seed=5), train_ratio=0.3, seed=0)


def edge_requests(data, count, size=3):
    return [DeletionRequest.edges(data.edge_index[:, 40 * i:40 * i + size]) for i in range(count)]


def test_bound_holds_on_a_cora_edge_sequence_and_matches_cgu(cora):
    model = train_certified(cora, noise_std=1.0, seed=0)
    requests = edge_requests(cora, 3, size=5)
    ceu = serve(model, cora, requests, "ceu")
    cgu = serve(model, cora, requests, "cgu")
    for (r, data), (rc, _) in zip(ceu, cgu):
        assert_bound_holds(r, data)
        assert torch.allclose(r.model.weight, rc.model.weight, atol=1e-8)
        assert max(r.history["solve_residual"]) <= 1e-6 * r.model.certificate.budget


def test_damping_is_charged_to_the_bound(graph):
    model = train_certified(graph, noise_std=1.0, seed=0)
    (plain, data), = serve(model, graph, edge_requests(graph, 1), "ceu")
    (damped, _), = serve(model, graph, edge_requests(graph, 1), "ceu", damping=5.0)
    assert max(damped.history["solve_residual"]) > 1e3 * max(plain.history["solve_residual"])
    assert max(damped.history["beta"]) > max(plain.history["beta"])
    assert_bound_holds(damped, data)
    assert_bound_holds(plain, data)


def test_refusals(graph):
    model = train_certified(graph, noise_std=1.0)
    node_task = DeletionRequest.nodes([0]).resolve(graph)
    with pytest.raises(ValueError, match="does not support"):
        unlearn(model, node_task, "ceu")
    edge_task = edge_requests(graph, 1)[0].resolve(graph)
    with pytest.raises(ValueError, match="certified linear model"):
        unlearn(make_model(graph, "node"), edge_task, "ceu")
    for bad in (dict(damping=-1.0), dict(damping=float("nan")), dict(cg_max_iter=0),
                dict(cg_tol=0.0)):
        with pytest.raises(ValueError):
            unlearn(model, edge_task, "ceu", **bad)
