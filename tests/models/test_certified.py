import math

import pytest
import torch

from gnn_unlearn.data import node_split, synthetic_graph
from gnn_unlearn.models import CertifiedLinear, train_certified
from gnn_unlearn.models.certified import certificate_budget
from gnn_unlearn.ops.logistic import gradient, ovr_targets
from gnn_unlearn.ops.propagation import Adjacency, normalize_rows, propagate


@pytest.fixture(scope="module")
def graph():
    return node_split(synthetic_graph(num_nodes=400, num_classes=3, avg_degree=6, num_features=20,
                                      features_per_node=4, seed=3), train_ratio=0.3, seed=0)


def residual(model, data):
    """||grad L(w) + b|| per class, on exactly propagated features of ``data``."""
    z = model.propagated(data.x, data.edge_index)[data.train_mask]
    y = ovr_targets(data.y[data.train_mask], model.num_classes)
    return (gradient(model.weight, z, y, model.lam * z.size(0)) + model.noise).norm(dim=0)


@pytest.mark.parametrize("solver", ["direct", "cg", "pcg"])
def test_training_reaches_the_exact_minimiser_and_logs_it(graph, solver):
    model = train_certified(graph, solver=solver, tol=1e-9, seed=1)
    measured = residual(model, graph)
    assert float(measured.max()) <= 1e-9
    cert = model.certificate
    assert cert.train_residual == pytest.approx(model.train_info["train_gradient_norm"])
    assert max(cert.train_residual) <= 1e-9 and cert.accumulated == [0.0] * 3
    assert cert.budget == pytest.approx(1e-2 * 1.0 / math.sqrt(2 * math.log(1.5 / 1e-4)))
    assert cert.certified and cert.budget_left > 0


def test_solvers_agree_and_the_noise_seed_fixes_the_model(graph):
    a = train_certified(graph, solver="direct", seed=4)
    b = train_certified(graph, solver="cg", seed=4)
    c = train_certified(graph, solver="direct", seed=5)
    assert torch.allclose(a.weight, b.weight, atol=1e-8)
    assert torch.equal(a.noise, b.noise) and not torch.equal(a.noise, c.noise)


def test_features_match_the_propagation_operator(graph):
    model = train_certified(graph, num_hops=3, alpha=0.3)
    adj = Adjacency.from_edge_index(graph.edge_index, graph.num_nodes)
    expected = propagate(adj, normalize_rows(graph.x.double()), 3, 0.3)
    assert torch.allclose(model.features, expected)
    out = model(graph.x, graph.edge_index)
    assert out.shape == (graph.num_nodes, 3)
    acc = (out[graph.test_mask].argmax(-1) == graph.y[graph.test_mask]).float().mean()
    assert acc > 0.6     # the synthetic classes are learnable


def test_unreachable_tolerance_is_refused(graph):
    with pytest.raises(RuntimeError, match="exact minimiser"):
        train_certified(graph, tol=1e-30)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epsilon=0.0), "epsilon"), (dict(epsilon=-1.0), "epsilon"),
    (dict(epsilon=float("nan")), "epsilon"), (dict(delta=0.0), "delta"),
    (dict(delta=1.0), "delta"), (dict(delta=float("nan")), "delta"),
    (dict(noise_std=0.0), "noise_std"), (dict(lam=float("inf")), "lam"),
    (dict(rmax=-1e-3), "rmax"), (dict(solver="adam"), "solver"), (dict(alpha=2.0), "alpha"),
    (dict(num_hops=-1), "num_hops")])
def test_bad_hyperparameters_are_refused(graph, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_certified(graph, **kwargs)


def test_bad_graphs_are_refused(graph):
    bad = graph.clone()
    bad.x = bad.x.clone()
    bad.x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        train_certified(bad)
    nosplit = synthetic_graph(num_nodes=50, num_classes=2, num_features=8, seed=0)
    with pytest.raises(ValueError, match="train_mask"):
        CertifiedLinear(8, 2).fit(nosplit)


def test_budget_formula():
    assert certificate_budget(0.1, 2.0, 1e-4) == pytest.approx(0.2 / math.sqrt(2 * math.log(15000)))


def test_forward_reuses_the_propagation_of_an_unchanged_graph(graph, monkeypatch):
    import copy
    model = train_certified(graph, seed=0)
    x, ei = graph.x.clone(), graph.edge_index.clone()
    calls = []
    fresh = model.propagated
    monkeypatch.setattr(model, "propagated", lambda *a: calls.append(1) or fresh(*a))
    first = model(x, ei)
    assert torch.equal(model(x, ei), first) and len(calls) == 1      # same tensors: cached
    expected = (fresh(x, ei) @ model.weight).float()
    assert torch.equal(first, expected)
    x[0, 0] += 1.0                                                     # edited in place: recomputed
    assert torch.equal(model(x, ei), (fresh(x, ei) @ model.weight).float()) and len(calls) == 2
    model(x.clone(), ei)                                               # another tensor: recomputed
    assert len(calls) == 3
    ei[:, [0, 1]] = ei[:, [1, 0]].clone()                              # edge_index edited in place
    model(x, ei)
    assert len(calls) == 4
    model.num_hops = model.num_hops + 1                                # another operator
    assert torch.equal(model(x, ei), (fresh(x, ei) @ model.weight).float()) and len(calls) == 5
    assert "_propagation_cache" not in copy.deepcopy(model).__dict__   # copies leave it behind
    assert "_propagation_cache" not in model.state_dict()


@pytest.mark.parametrize("rmax", [None, 0.0])
def test_retuned_is_training_from_scratch_with_the_new_hyperparameters(graph, rmax):
    base = train_certified(graph, lam=1e-2, noise_std=1e-2, seed=2, rmax=rmax)
    weight, config = base.weight.clone(), dict(base.config["certified"])
    other = base.retuned(graph.y, lam=1e-3, noise_std=0.5, noise_seed=2, solver="cg")
    scratch = train_certified(graph, lam=1e-3, noise_std=0.5, seed=2, rmax=rmax, solver="cg")
    assert torch.allclose(other.weight, scratch.weight, atol=1e-8)
    assert torch.equal(other.noise, scratch.noise)
    assert other.certificate.budget == scratch.certificate.budget
    assert other.config["certified"] == scratch.config["certified"]
    assert (other.lam, other.noise_std, other.solver) == (1e-3, 0.5, "cg")
    assert torch.equal(base.weight, weight) and base.config["certified"] == config   # untouched
    assert float(residual(other, graph).max()) <= 1e-9
    with pytest.raises(ValueError, match="lam must be a positive finite number"):
        base.retuned(graph.y, lam=0.0, noise_std=1.0)
    with pytest.raises(ValueError, match="solver must be one of"):
        base.retuned(graph.y, lam=1e-3, noise_std=1.0, solver="adam")
    with pytest.raises(ValueError, match="copies a trained model"):
        CertifiedLinear(20, 3).retuned(graph.y, lam=1e-3, noise_std=1.0)
