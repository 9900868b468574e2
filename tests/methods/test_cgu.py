import copy

import pytest
import torch

from gnn_unlearn import DeletionRequest
from gnn_unlearn.data import node_split, synthetic_graph
from gnn_unlearn.methods import unlearn
from gnn_unlearn.models import make_model, train_certified
from tests.conftest import param_hash
from tests.methods.certified_helpers import assert_bound_holds, measured_residual, serve


@pytest.fixture(scope="module")
def graph():
    return node_split(synthetic_graph(num_nodes=300, num_classes=3, avg_degree=6, num_features=16,
                                      features_per_node=4, seed=5), train_ratio=0.3, seed=0)


def mixed_requests(data, count):
    """Node, feature and edge requests in turn (training nodes; edges far from them)."""
    train = data.train_mask.nonzero().view(-1)
    out = []
    for i in range(count):
        u = int(train[i])
        if i % 3 == 0:
            out.append(DeletionRequest.nodes([u]))
        elif i % 3 == 1:
            out.append(DeletionRequest.features([u]))
        else:
            out.append(DeletionRequest.edges(data.edge_index[:, 50 * i:50 * i + 2]))
    return out


def test_bound_holds_on_every_request_of_a_cora_sequence(cora):
    model = train_certified(cora, noise_std=1.0, seed=0)
    results = serve(model, cora, mixed_requests(cora, 6), "cgu")
    for k, (result, data) in enumerate(results):
        measured, bound = assert_bound_holds(result, data)
        assert float(measured.max()) > 0
        assert not result.history["retrained"]
        assert result.model.certificate.requests == k + 1
    assert results[-1][0].history["budget_left"] < results[0][0].history["budget_left"]


def test_cora_sequence_crosses_the_budget_and_retrains_as_from_scratch(cora):
    # budget sigma * eps / c(delta) = 0.0114: one node request fits (~8.5e-3), two do not
    model = train_certified(cora, noise_std=0.05, seed=7)
    train = cora.train_mask.nonzero().view(-1)
    requests = [DeletionRequest.nodes([int(u)]) for u in train[:4]]
    results = serve(model, cora, requests, "cgu")
    flags = [r.history["retrained"] for r, _ in results]
    assert flags[0] is False and True in flags
    k = flags.index(True)
    result, data = results[k]
    cert = result.model.certificate
    assert cert.retrains == 1 and cert.noise_seed == 8 and cert.accumulated == [0.0] * 7
    assert cert.total_requests == k + 1 and cert.certified
    assert_bound_holds(result, data)
    scratch = train_certified(data, noise_std=0.05, seed=8)
    assert torch.equal(result.model.noise, scratch.noise)
    assert torch.allclose(result.model.weight, scratch.weight, atol=1e-9)
    # the bound that would have been spent is reported
    assert max(result.history["bound_if_updated"]) > cert.budget


@pytest.mark.parametrize("kind", ["node", "feature", "edge"])
def test_newton_step_moves_towards_the_retrained_minimiser(graph, kind):
    model = train_certified(graph, noise_std=1.0, seed=0)
    request = mixed_requests(graph, 3)[["node", "feature", "edge"].index(kind)]
    (result, data), = serve(model, graph, [request], "cgu")
    assert not result.history["retrained"]
    exact = train_certified(data, noise_std=1.0, seed=0)     # same noise b, exact minimiser on D'
    before = (model.weight - exact.weight).norm()
    after = (result.model.weight - exact.weight).norm()
    assert after < 0.2 * before
    assert_bound_holds(result, data)
    assert float(measured_residual(model, data).max()) > float(measured_residual(result.model,
                                                                                 data).max())


def test_input_model_is_untouched(graph):
    model = train_certified(graph, noise_std=1.0, seed=0)
    h, cert = param_hash(model), copy.deepcopy(model.certificate.to_dict())
    task = DeletionRequest.nodes([int(graph.train_mask.nonzero()[0])]).resolve(graph)
    result = unlearn(model, task, "cgu")
    assert param_hash(model) == h and model.certificate.to_dict() == cert
    assert result.model is not model and result.model.certificate.requests == 1


def test_refusals(graph):
    task = DeletionRequest.nodes([int(graph.train_mask.nonzero()[0])]).resolve(graph)
    with pytest.raises(ValueError, match="certified linear model"):
        unlearn(make_model(graph, "node"), task, "cgu")
    model = train_certified(graph, seed=0)
    with pytest.raises(ValueError, match="class"):
        unlearn(model, DeletionRequest.node_class(0).resolve(graph), "cgu")
    moved = unlearn(model, task, "cgu").model
    with pytest.raises(ValueError, match="retained_data"):   # the same task twice
        unlearn(moved, task, "cgu")
    with pytest.raises(TypeError, match="retrain"):
        unlearn(model, task, "cgu", retrain="yes")


def test_retrain_off_refuses_instead_of_releasing_an_uncertified_model(graph):
    model = train_certified(graph, noise_std=1e-6, seed=0)     # a budget no step fits in
    task = DeletionRequest.nodes([int(graph.train_mask.nonzero()[0])]).resolve(graph)
    with pytest.raises(RuntimeError, match="budget"):
        unlearn(model, task, "cgu", retrain=False)
    result = unlearn(model, task, "cgu")
    assert result.history["retrained"] and result.model.certificate.certified


def test_retrain_method_trains_a_certified_model_exactly(graph):
    model = train_certified(graph, noise_std=1.0, seed=3)
    task = DeletionRequest.nodes([int(graph.train_mask.nonzero()[0])]).resolve(graph)
    fresh = unlearn(model, task, "retrain").model
    scratch = train_certified(task.retained_data, noise_std=1.0, seed=3)
    assert torch.allclose(fresh.weight, scratch.weight) and fresh.certificate.certified
