import pytest
import torch

from gnn_unlearn import DeletionRequest
from gnn_unlearn.data import node_split, synthetic_graph
from gnn_unlearn.methods import get, unlearn
from gnn_unlearn.models import train_certified, train_scattering
from tests.conftest import param_hash
from tests.methods.certified_helpers import assert_bound_holds, serve


@pytest.fixture(scope="module")
def graph():
    return node_split(synthetic_graph(num_nodes=300, num_classes=3, avg_degree=6, num_features=16,
                                      features_per_node=4, seed=5), train_ratio=0.3, seed=0)


def test_node_requests_move_the_weights_towards_retraining_within_the_certificate(graph):
    model = train_scattering(graph, wavelets=3, order=2, noise_std=1.0, lam=0.1, seed=0)
    assert model.features.shape == (300, 13 * 16)
    before = param_hash(model)
    train = graph.train_mask.nonzero().view(-1)
    task = DeletionRequest.nodes(train[:5]).resolve(graph, num_hops=model.num_hops)
    result = unlearn(model, task, "gst")
    assert param_hash(model) == before
    assert_bound_holds(result, task.retained_data)
    assert not result.history["retrained"] and result.history["certified"]
    scratch = train_scattering(task.retained_data, wavelets=3, order=2, noise_std=1.0, lam=0.1, seed=0)
    far = float((model.weight - scratch.weight).norm())
    near = float((result.model.weight - scratch.weight).norm())
    # measured: 0.217 -> 1.6e-4: the Newton step lands next to the retrained optimum (same noise)
    assert near < 0.01 * far, (far, near)
    # retrain rebuilds the scattering model from its config: the same exact optimum as from scratch
    retrained = unlearn(model, task, "retrain").model
    assert type(retrained) is type(model) and torch.equal(retrained.weight, scratch.weight)


def test_edge_and_feature_sequence_keeps_the_bound(graph):
    model = train_scattering(graph, noise_std=1.0, seed=1)
    u = int(graph.train_mask.nonzero()[0])
    requests = [DeletionRequest.edges(graph.edge_index[:, :2]), DeletionRequest.features([u])]
    for k, (result, data) in enumerate(serve(model, graph, requests, "gst")):
        assert_bound_holds(result, data)
        assert result.model.certificate.requests == k + 1


def test_small_budget_retrains_from_scratch(graph):
    model = train_scattering(graph, noise_std=1e-4, seed=3)
    train = graph.train_mask.nonzero().view(-1)
    task = DeletionRequest.nodes(train[:10]).resolve(graph, num_hops=model.num_hops)
    result = unlearn(model, task, "gst")
    assert result.history["retrained"] and result.model.certificate.retrains == 1
    with pytest.raises(RuntimeError, match="budget"):
        unlearn(model, task, "gst", retrain=False)


def test_refuses_other_models_and_bad_options(graph):
    task = DeletionRequest.nodes([0]).resolve(graph, num_hops=2)
    with pytest.raises(ValueError, match="scattering classifier"):
        unlearn(train_certified(graph), task, "gst")
    with pytest.raises(TypeError):
        get("gst", retrain="yes")
    with pytest.raises(ValueError, match="wavelets"):
        train_scattering(graph, wavelets=0)
