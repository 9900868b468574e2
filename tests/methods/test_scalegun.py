import pytest
import torch

from gnn_unlearn import DeletionRequest
from gnn_unlearn.data import node_split, synthetic_graph
from gnn_unlearn.methods import unlearn
from gnn_unlearn.models import make_model, train_certified
from gnn_unlearn.ops.logistic import gradient, ovr_targets
from tests.conftest import param_hash
from tests.methods.certified_helpers import assert_bound_holds, serve
from tests.methods.test_cgu import mixed_requests


@pytest.fixture(scope="module")
def graph():
    return node_split(synthetic_graph(num_nodes=600, num_classes=3, avg_degree=4, num_features=16,
                                      features_per_node=4, seed=6), train_ratio=0.3, seed=0)


def test_local_update_equals_recomputing_the_features(graph):
    model = train_certified(graph, num_hops=3, rmax=0.0, noise_std=1.0, seed=0)
    h = param_hash(model)
    results = serve(model, graph, mixed_requests(graph, 6), "scalegun")
    for result, data in results:
        exact = result.model.propagated(data.x, data.edge_index)
        assert torch.allclose(result.model.push.features, exact, atol=1e-12)
        assert result.history["rows_changed"] < graph.num_nodes // 2      # local
        assert_bound_holds(result, data)
        assert result.model.certificate.approximation == [0.0] * 3
    assert param_hash(model) == h


def test_exact_push_gives_cgu_weights(graph):
    requests = mixed_requests(graph, 3)
    a = serve(train_certified(graph, rmax=0.0, noise_std=1.0), graph, requests, "scalegun")
    b = serve(train_certified(graph, noise_std=1.0), graph, requests, "cgu")
    for (ra, _), (rb, _) in zip(a, b):
        assert torch.allclose(ra.model.weight, rb.model.weight, atol=1e-10)


def test_approximate_push_charges_its_error_and_the_bound_still_holds(graph):
    model = train_certified(graph, num_hops=3, rmax=1e-2, noise_std=500.0, solver="cg", seed=1)
    results = serve(model, graph, mixed_requests(graph, 4), "scalegun")
    approx = [max(r.model.certificate.approximation) for r, _ in results]
    assert max(approx) > 0
    assert not all(r.history["retrained"] for r, _ in results)
    for (result, data), a in zip(results, approx):
        exact = result.model.propagated(data.x, data.edge_index)
        err = (result.model.push.features - exact).norm()
        assert (err > 0) == (a > 0) and err <= result.model.push.error_bound() + 1e-12
        assert_bound_holds(result, data)            # against the *exact* features


def test_retraining_restarts_the_propagation(graph):
    model = train_certified(graph, num_hops=3, rmax=1e-2, noise_std=1e-3, solver="cg", seed=1)
    (result, data), = serve(model, graph, mixed_requests(graph, 3)[1:2], "scalegun")
    assert result.history["retrained"]
    assert result.model.push.error_bound() == 0.0
    assert torch.allclose(result.model.push.features,
                          result.model.propagated(data.x, data.edge_index), atol=1e-12)
    scratch = train_certified(data, num_hops=3, rmax=1e-2, noise_std=1e-3, solver="cg", seed=2)
    assert torch.allclose(result.model.weight, scratch.weight, atol=1e-8)


def test_cora_sequence_bound_holds(cora):
    model = train_certified(cora, rmax=0.0, noise_std=1.0, solver="cg", seed=0)
    for result, data in serve(model, cora, mixed_requests(cora, 3), "scalegun"):
        assert_bound_holds(result, data)
        assert not result.history["retrained"]


def test_refusals(graph):
    task = DeletionRequest.nodes([int(graph.train_mask.nonzero()[0])]).resolve(graph)
    with pytest.raises(ValueError, match="push state"):
        unlearn(train_certified(graph), task, "scalegun")
    with pytest.raises(ValueError, match="certified linear model"):
        unlearn(make_model(graph, "node"), task, "scalegun")


def one_request(data, kind):
    train = data.train_mask.nonzero().view(-1)
    if kind == "node":
        return DeletionRequest.nodes(train[:2].tolist())
    if kind == "feature":
        return DeletionRequest.features(train[2:4].tolist())
    upper = data.edge_index[:, data.edge_index[0] < data.edge_index[1]]
    return DeletionRequest.edges(upper[:, 5:9])


@pytest.mark.parametrize("kind", ["node", "edge", "feature"])
def test_one_request_of_each_kind_updates_locally_to_the_recomputed_features(graph, kind):
    model = train_certified(graph, num_hops=2, rmax=0.0, noise_std=1.0, seed=0)
    before = model.push.features.clone()
    (result, data), = serve(model, graph, [one_request(graph, kind)], "scalegun")
    exact = result.model.propagated(data.x, data.edge_index)
    assert torch.allclose(result.model.push.features, exact, atol=1e-13)
    moved = int(((exact - before).abs().amax(1) > 0).sum())
    assert 0 < moved <= result.history["rows_changed"] < graph.num_nodes // 2
    assert_bound_holds(result, data)
    reference, = serve(train_certified(graph, num_hops=2, noise_std=1.0, seed=0), graph,
                       [one_request(graph, kind)], "cgu")
    assert torch.allclose(result.model.weight, reference[0].model.weight, atol=1e-10)


def test_approximation_term_covers_the_measured_gradient_error(graph):
    model = train_certified(graph, num_hops=3, rmax=3e-3, noise_std=500.0, solver="cg", seed=1)
    for result, data in serve(model, graph, mixed_requests(graph, 3), "scalegun"):
        m = result.model
        approx = torch.tensor(m.certificate.approximation, dtype=torch.float64)
        exact = m.propagated(data.x, data.edge_index)[data.train_mask]
        y = ovr_targets(data.y[data.train_mask], m.num_classes)
        error = (gradient(m.weight, exact, y, 0.0)
                 - gradient(m.weight, m.push.features[data.train_mask], y, 0.0)).norm(dim=0)
        assert not result.history["retrained"] and bool((approx > 0).all())
        assert bool((error <= approx).all()), (error, approx)


def test_a_larger_threshold_touches_fewer_rows(graph):
    rows = []
    for rmax in (0.0, 3e-3, 1e-2):
        model = train_certified(graph, num_hops=3, rmax=rmax, noise_std=500.0, solver="cg", seed=1)
        (result, _), = serve(model, graph, [one_request(graph, "edge")], "scalegun")
        rows.append(result.history["rows_changed"])
    assert rows[0] > rows[1] > rows[2] > 0
