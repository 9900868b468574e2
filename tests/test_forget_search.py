"""The bi-level worst-case forget-set search: what it returns, that it only widens the gap,
that it is seeded, and that bad arguments are refused before any work."""
import pytest
import torch

import gnn_unlearn.forget_search as fs
from gnn_unlearn.data import link_split, synthetic_graph
from gnn_unlearn.ops.graph import edge_keys, training_edges
from gnn_unlearn.training import TrainConfig, train

from .conftest import param_hash


@pytest.fixture(scope="module")
def graph_and_model():
    data = link_split(synthetic_graph(num_nodes=200, num_classes=3, avg_degree=6, num_features=16,
                                      features_per_node=4, seed=3), seed=0)
    model, _ = train(data, "link", TrainConfig(seed=0, epochs=60), encoder="gcn")
    return data, model


@pytest.fixture(scope="module")
def searched(graph_and_model):
    data, model = graph_and_model
    return fs.search_forget_set(data, model, "gradient_ascent", 12, start="random", rounds=2, proposals=2,
                                retrain_seeds=1, confirm_seeds=1, seed=0)


def test_the_found_set_is_k_training_edges_and_the_gap_only_widens(graph_and_model, searched):
    data, model = graph_and_model
    task = searched.request.resolve(data, num_hops=2)
    assert task.df_edge_index.size(1) == 12 == searched.size
    train_keys = edge_keys(training_edges(data), data.num_nodes)
    assert bool(torch.isin(edge_keys(task.df_edge_index, data.num_nodes), train_keys).all())
    assert len(searched.history) == 1 + 2 * 2                       # the start + rounds x proposals
    assert searched.evaluations == len(searched.history) + 2        # + the two confirmations
    assert abs(searched.gap) >= abs(searched.start_gap)
    accepted = [h["gap"] for h in searched.history if h["accepted"]]
    assert accepted[0] == searched.start_gap and accepted[-1] == searched.gap
    assert all(abs(b) > abs(a) for a, b in zip(accepted, accepted[1:]))
    assert searched.confirm_gap is not None and searched.confirm_start_gap is not None
    assert set(searched.summary()) >= {"gap", "start_gap", "confirm_gap", "confirm_start_gap", "accepted_rounds"}


def test_seeded_and_inputs_untouched(graph_and_model, searched):
    data, model = graph_and_model
    before, edges = param_hash(model), data.train_pos_edge_index.clone()
    again = fs.search_forget_set(data, model, "gradient_ascent", 12, start="random", rounds=2, proposals=2,
                                 retrain_seeds=1, confirm_seeds=1, seed=0)
    assert again.gap == searched.gap and again.confirm_gap == searched.confirm_gap
    a = again.request.resolve(data, num_hops=2).df_edge_index
    b = searched.request.resolve(data, num_hops=2).df_edge_index
    assert torch.equal(a, b)
    assert param_hash(model) == before and torch.equal(data.train_pos_edge_index, edges)


def test_a_worst_case_start_is_the_proxy_set(graph_and_model):
    from gnn_unlearn.metrics.forget_sets import worst_case_edges
    data, model = graph_and_model
    r = fs.search_forget_set(data, model, "gradient_ascent", 10, start="worst:confidence", rounds=0,
                             retrain_seeds=1)
    proxy = worst_case_edges(data, model, 10, "confidence").resolve(data, num_hops=2).df_edge_index
    got = r.start_request.resolve(data, num_hops=2).df_edge_index
    assert torch.equal(torch.sort(edge_keys(got, data.num_nodes)).values,
                       torch.sort(edge_keys(proxy, data.num_nodes)).values)
    assert r.gap == r.start_gap and len(r.history) == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(objective="dt"), "objective must be one of"),
    (dict(method="retrain"), "needs its own seed"),
    (dict(method="retrain", method_options={"seed": 0}), "is one of the retrain seeds"),
    (dict(method="retrain", method_options={"seed": 1}, retrain_seeds=2), "is one of the retrain seeds"),
    (dict(method="cognac"), "does not unlearn edges of link models"),
    (dict(method="nope"), "unknown unlearning method"),
    (dict(start="in"), "start must be 'random' or 'worst:<criterion>'"),
    (dict(start="worst:nope"), "start must be"),
    (dict(size=1.5), "fractional size must lie in"),
    (dict(size=0), "cannot sample 0 of"),
    (dict(rounds=-1), "rounds must be an int >= 0"),
    (dict(proposals=0), "proposals must be an int >= 1"),
    (dict(retrain_seeds=0), "retrain_seeds must be an int >= 1"),
    (dict(swap=0.0), r"swap must lie in \(0, 1\]"),
    (dict(explore=1.5), r"explore must lie in \[0, 1\]"),
    (dict(method_options={"lr": -1.0}), "lr"),
    (dict(method_options=[("lr", 0.1)]), "method_options must be a dict"),
])
def test_bad_arguments_are_refused_before_any_work(graph_and_model, monkeypatch, kwargs, message):
    data, model = graph_and_model
    calls = []
    monkeypatch.setattr(fs, "unlearn", lambda *a, **k: calls.append(a))
    args = dict(method="gradient_ascent", size=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fs.search_forget_set(data, model, args.pop("method"), args.pop("size"), **args)
    assert not calls


def test_retrain_as_the_method_is_the_noise_floor_with_its_own_seed(graph_and_model, monkeypatch):
    data, model = graph_and_model
    seeds = []
    real = fs.unlearn

    def recording(m, task, method, **kw):
        seeds.append(kw["seed"] if "seed" in kw else getattr(method, "seed", None))
        return real(m, task, method, **kw)

    monkeypatch.setattr(fs, "unlearn", recording)
    r = fs.search_forget_set(data, model, "retrain", 10, start="random", rounds=0, retrain_seeds=1,
                             confirm_seeds=1, seed=0, method_options={"seed": 5})
    fresh = 104729                                    # the confirmation's seed for seed=0, original seed 0
    assert seeds == [5, 0, 5, fresh, 5, fresh]        # start set, then the confirmation of found and start
    assert r.gap == r.start_gap and r.confirm_gap == r.confirm_start_gap
    assert r.gap != 0.0                               # another seed's retrain does not land on the same ranks


def test_needs_a_link_split_and_a_link_model(graph_and_model):
    data, model = graph_and_model
    with pytest.raises(ValueError, match="needs a link split"):
        fs.search_forget_set(synthetic_graph(num_nodes=50, seed=0), model, "gnndelete", 5)
    with pytest.raises(ValueError, match="original link predictor"):
        fs.search_forget_set(data, torch.nn.Linear(2, 2), "gnndelete", 5)
