"""select_certified: validation-selected lambda / sigma under a simulated-requests constraint."""
import pytest
import torch

from gnn_unlearn.data import node_split, sample_nodes, synthetic_graph
from gnn_unlearn.methods import NoCertifiedCandidate, get, select_certified, unlearn
from gnn_unlearn.models import train_certified

#: lambda 1e-3 / sigma 0.1 is the validation-best candidate on this graph but exceeds the budget
#: on the first 3-node request; the other candidates trade accuracy against budget.
GRID = dict(lams=(1e-1, 1e-2, 1e-3), noise_stds=(0.1, 1.0), request=("node", 3), min_requests=2)


@pytest.fixture(scope="module")
def graph():
    """A hard little graph (weak features, weak homophily): the candidates' accuracies differ."""
    data = synthetic_graph(400, num_classes=4, homophily=0.4, feature_signal=0.25, features_per_node=6,
                           num_features=64, seed=0)
    return node_split(data, seed=0)


def record(sel):
    """The selection record without its timings."""
    out = sel.to_dict()
    out.pop("seconds")
    for c in out["candidates"]:
        c.pop("seconds_train"), c.pop("seconds_requests")
    return out


def served_with_retraining_on(model, data, size, count, seed):
    """Serves the requests the selection simulates (request i: sample_nodes seed ``seed + i``
    among the training nodes) with cgu's automatic retraining on; returns the `retrained` flags."""
    flags = []
    for i in range(count):
        task = sample_nodes(data, size, seed=seed + i, among=data.train_mask).resolve(data, num_hops=2)
        result = unlearn(model, task, "cgu")
        flags.append(result.history["retrained"])
        model, data = result.model, task.retained_data
    return flags


def test_chooses_the_validation_best_candidate_that_meets_the_constraint(graph):
    sel = select_certified(graph, simulate_all=True, **GRID)
    assert sel.constraint_met and sel.fallback is None and sel.method == "cgu"
    assert sel.validation.startswith("data.val_mask")
    cands = sel.candidates
    assert [(c.lam, c.noise_std) for c in cands] == [(l, s) for l in GRID["lams"] for s in GRID["noise_stds"]]
    feasible = [c for c in cands if c.requests_served >= 2]
    rejected = [c for c in cands if c.requests_served < 2]
    assert feasible and rejected
    chosen = next(c for c in cands if (c.lam, c.noise_std) == (sel.lam, sel.noise_std))
    assert chosen.val_accuracy == max(c.val_accuracy for c in feasible)
    # the constraint binds: the overall validation-best candidate cannot serve the requests
    best = max(cands, key=lambda c: c.val_accuracy)
    assert best.val_accuracy > chosen.val_accuracy and best.requests_served < 2
    assert best.bound_share > 1
    # the validation accuracies are those of the trained candidates
    val = graph.val_mask
    model = train_certified(graph, lam=best.lam, noise_std=best.noise_std, seed=0)
    acc = float((model(graph.x, graph.edge_index).argmax(1)[val] == graph.y[val]).double().mean())
    assert acc == pytest.approx(best.val_accuracy, abs=1e-12)


def test_the_chosen_model_serves_the_requests_and_a_rejected_one_cannot(graph):
    sel = select_certified(graph, simulate_all=True, **GRID)
    assert served_with_retraining_on(sel.model, graph, 3, 2, seed=0) == [False, False]
    best = max(sel.candidates, key=lambda c: c.val_accuracy)
    rejected = train_certified(graph, lam=best.lam, noise_std=best.noise_std, seed=0)
    assert served_with_retraining_on(rejected, graph, 3, 1, seed=0) == [True]
    task = sample_nodes(graph, 3, seed=0, among=graph.train_mask).resolve(graph, num_hops=2)
    with pytest.raises(RuntimeError, match="budget"):
        unlearn(rejected, task, get("cgu", retrain=False))


def test_stops_simulating_once_the_choice_is_made(graph):
    lazy = select_certified(graph, **GRID)
    full = select_certified(graph, simulate_all=True, **GRID)
    assert (lazy.lam, lazy.noise_std) == (full.lam, full.noise_std)
    skipped = [c for c in lazy.candidates if c.requests_served is None]
    chosen = next(c for c in lazy.candidates if (c.lam, c.noise_std) == (lazy.lam, lazy.noise_std))
    assert skipped and all(c.val_accuracy <= chosen.val_accuracy for c in skipped)
    assert all("not simulated" in c.note for c in skipped)


def test_never_reads_test_labels(graph):
    before = select_certified(graph, **GRID)
    scrambled = graph.clone()
    test = graph.test_mask
    g = torch.Generator().manual_seed(1)
    scrambled.y = graph.y.clone()
    scrambled.y[test] = torch.randint(4, (int(test.sum()),), generator=g)
    assert not torch.equal(scrambled.y, graph.y)
    after = select_certified(scrambled, **GRID)
    assert record(after) == record(before)
    assert torch.equal(after.model.weight, before.model.weight)


def test_without_validation_nodes_a_training_hold_out_is_used_and_the_winner_refit(graph):
    data = graph.clone()
    del data.val_mask
    sel = select_certified(data, **GRID)
    n_train = int(data.train_mask.sum())
    assert sel.validation.startswith(f"hold-out of 0.2 of the training nodes ({round(0.2 * n_train)} nodes")
    assert torch.equal(sel.model.train_mask, data.train_mask)          # refit on every training node
    chosen = next(c for c in sel.candidates if (c.lam, c.noise_std) == (sel.lam, sel.noise_std))
    assert chosen.final_requests_served >= 2
    reference = train_certified(data, lam=sel.lam, noise_std=sel.noise_std, seed=0)
    assert torch.allclose(sel.model.weight, reference.weight, atol=1e-8)
    # an empty val_mask is the same as none
    empty = graph.clone()
    empty.val_mask = torch.zeros_like(graph.val_mask)
    assert record(select_certified(empty, **GRID)) == record(sel)
    # a val_mask on training nodes (OpenGU's val = train) is refused, unless told to hold out
    overlap = graph.clone()
    overlap.val_mask = graph.train_mask.clone()
    with pytest.raises(ValueError, match="shares .* nodes with data.train_mask"):
        select_certified(overlap, **GRID)
    assert record(select_certified(overlap, validation="holdout", **GRID))["validation"] == sel.validation


def test_input_untouched_and_seeded_repeatable(graph):
    snapshot = {k: v.clone() for k, v in graph.items() if isinstance(v, torch.Tensor)}
    first = select_certified(graph, **GRID)
    for k, v in snapshot.items():
        assert torch.equal(graph[k], v), k
    second = select_certified(graph, **GRID)
    assert record(first) == record(second)
    assert torch.equal(first.model.weight, second.model.weight)
    other = select_certified(graph, seed=1, **GRID)
    assert not torch.equal(other.model.noise, first.model.noise)


def test_no_feasible_candidate_raises_or_falls_back_on_record(graph):
    hopeless = dict(GRID, lams=(1e-3,), noise_stds=(0.1,))
    with pytest.raises(NoCertifiedCandidate, match="no \\(lambda, sigma\\) of the grid serves 2 node"):
        select_certified(graph, **hopeless)
    with pytest.warns(RuntimeWarning, match="fallback='requests'"):
        sel = select_certified(graph, fallback="requests", **hopeless)
    assert not sel.constraint_met and sel.fallback == "requests"
    assert "fallback" in sel.candidates[0].note
    assert sel.model.train_info["selection"]["constraint_met"] is False


def test_edge_requests_scalegun_and_scattering(graph):
    edges = select_certified(graph, lams=(1e-1, 1e-2), noise_stds=(1.0,), request=("edge", 5), min_requests=2)
    assert edges.constraint_met and edges.method == "cgu"
    pushed = select_certified(graph, lams=(1e-1, 1e-2), noise_stds=(1.0,), request=("feature", 0.02),
                              rmax=0.0)
    assert pushed.method == "scalegun" and pushed.model.push is not None
    scattering = select_certified(graph, lams=(1e-1, 1e-2), noise_stds=(1.0,), features="scattering",
                                  wavelets=2, order=1, request=("node", 2))
    assert scattering.method == "gst" and type(scattering.model).__name__ == "ScatteringLinear"
    assert scattering.model.config["scattering"]["lam"] == scattering.lam


@pytest.mark.parametrize("kwargs, message", [
    (dict(lams=()), "lams must be a non-empty list"),
    (dict(lams=(1e-2, -1.0)), "lams must hold positive finite numbers"),
    (dict(noise_stds=(1.0, 1.0)), "noise_stds holds a value twice"),
    (dict(request=("class", 1)), "request kind must be one of"),
    (dict(request=("node", 1.5)), "fractional request size must lie in"),
    (dict(request="node"), "request must be \\(kind, size\\)"),
    (dict(request=("node", 500)), "need 500, but the graph has"),
    (dict(min_requests=0), "min_requests must be an int >= 1"),
    (dict(min_requests=3, simulate=2), "simulate \\(2\\) must be >= min_requests"),
    (dict(validation="test"), "validation must be one of"),
    (dict(validation="holdout", holdout=1.0), "holdout must be a fraction"),
    (dict(fallback="ignore"), "fallback must be one of"),
    (dict(features="gcn"), "features must be 'sgc' or 'scattering'"),
    (dict(features="scattering", rmax=0.0), "rmax .* is for features='sgc'"),
    (dict(search_solver="lbfgs"), "search_solver must be one of"),
    (dict(epsilon=0.0), "epsilon must be a positive finite number"),
    (dict(num_hops=-1), "num_hops must be a non-negative int"),
])
def test_bad_arguments_refused_before_any_work(graph, kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_certified(graph, **kwargs)


def test_bad_graphs_refused(graph):
    with pytest.raises(TypeError, match="torch_geometric Data"):
        select_certified(graph.to_dict())
    bare = graph.clone()
    del bare.train_mask
    with pytest.raises(ValueError, match="needs data.train_mask"):
        select_certified(bare)
    no_val = graph.clone()
    del no_val.val_mask
    with pytest.raises(ValueError, match="validation='val_mask' but the split has no validation nodes"):
        select_certified(no_val, validation="val_mask")


def test_a_count_is_scaled_to_the_hold_out_and_the_refit_model_checked_on_the_real_count(graph):
    data = graph.clone()
    del data.val_mask
    n_train = int(data.train_mask.sum())
    fit = n_train - round(0.2 * n_train)
    grid = dict(GRID, request=("node", 5))
    scaled = select_certified(data, **grid)
    strict = select_certified(data, count_scaling="strict", **grid)
    assert scaled.simulated_size == max(1, round(5 * fit / n_train)) < 5
    assert strict.simulated_size == 5
    for sel in (scaled, strict):
        chosen = next(c for c in sel.candidates if (c.lam, c.noise_std) == (sel.lam, sel.noise_std))
        assert sel.constraint_met and chosen.final_requests_served >= 2      # checked with 5 nodes
    # the real requests (5 nodes each) are served by the returned model without retraining
    assert served_with_retraining_on(scaled.model, data, 5, 2, seed=0) == [False, False]
    # with a val_mask nothing is held out: the count is simulated as it is
    assert select_certified(graph, **grid).simulated_size == 5
    with pytest.raises(ValueError, match="count_scaling must be one of"):
        select_certified(data, count_scaling="loose", **grid)
