import pytest
import torch

from gnn_unlearn.data import synthetic_graph
from gnn_unlearn.ops.propagation import Adjacency, PushPropagation, normalize_rows, propagate


@pytest.fixture()
def graph():
    g = synthetic_graph(num_nodes=300, num_classes=3, avg_degree=6, num_features=16,
                        features_per_node=3, seed=2)
    return g, normalize_rows(g.x.double())


def dense_p(edge_index, n, alpha):
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1]] = 1
    a[edge_index[1], edge_index[0]] = 1
    a.fill_diagonal_(1)
    d = a.sum(1)
    return d.pow(-alpha).unsqueeze(1) * a * d.pow(alpha - 1).unsqueeze(0)


@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_propagate_matches_dense_operator(graph, alpha):
    g, x = graph
    adj = Adjacency.from_edge_index(g.edge_index, g.num_nodes)
    p = dense_p(g.edge_index, g.num_nodes, alpha)
    assert torch.allclose(propagate(adj, x, 3, alpha), p @ p @ p @ x)
    rows = torch.tensor([0, 5, 17, 299])
    assert torch.allclose(adj.rows_product(rows, x, alpha), (p @ x)[rows])
    out = torch.zeros_like(x)
    adj.push_columns(rows, x, alpha, out)
    assert torch.allclose(out, p[:, rows] @ x[rows])


def test_without_edges_removes_both_directions_and_keeps_loops(graph):
    g, _ = graph
    adj = Adjacency.from_edge_index(g.edge_index, g.num_nodes)
    pairs = g.edge_index[:, :10]
    new = adj.without_edges(pairs)
    keys = set((new.row * g.num_nodes + new.col).tolist())
    for u, v in pairs.t().tolist():
        assert u * g.num_nodes + v not in keys and v * g.num_nodes + u not in keys
    assert bool((new.deg >= 1).all())
    n_removed = len({(min(u, v), max(u, v)) for u, v in pairs.t().tolist()})
    assert new.num_edges == adj.num_edges - n_removed


@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_local_push_update_equals_recomputation(graph, alpha):
    g, x = graph
    adj = Adjacency.from_edge_index(g.edge_index, g.num_nodes)
    push = PushPropagation(adj, x, 3, alpha, rmax=0.0)
    assert torch.allclose(push.features, propagate(adj, x, 3, alpha))
    pairs = g.edge_index[:, 3:40:3]
    rows = torch.tensor([4, 9])
    push.remove_edges(pairs)
    push.set_features(rows, torch.zeros(2, x.size(1), dtype=torch.float64))
    changed = push.push()
    x2 = x.clone()
    x2[rows] = 0
    expected = propagate(adj.without_edges(pairs), x2, 3, alpha)
    assert torch.allclose(push.features, expected, atol=1e-12)
    assert push.error_bound() == 0.0
    # only rows within 3 hops changed, and the old values are the previous estimate
    assert changed.numel() < g.num_nodes
    assert bool(((push.features - propagate(adj, x, 3, alpha)).abs().amax(1)[
        torch.ones(g.num_nodes, dtype=torch.bool).index_fill_(0, changed, False)] == 0).all())


def test_approximate_push_error_is_within_its_bounds(graph):
    g, x = graph
    adj = Adjacency.from_edge_index(g.edge_index, g.num_nodes)
    push = PushPropagation(adj, x, 3, 0.5, rmax=5e-3)
    pairs = g.edge_index[:, :60:2]
    push.remove_edges(pairs)
    push.push()
    exact = propagate(adj.without_edges(pairs), x, 3, 0.5)
    err = push.features - exact
    assert err.norm() > 0                            # the threshold left residues
    assert err.norm() <= push.error_bound() + 1e-12
    assert err.norm(dim=1).sum() <= push.row_error_bound() + 1e-12
    push.restart()
    assert torch.allclose(push.features, exact, atol=1e-12) and push.error_bound() == 0.0


def test_push_validates_arguments(graph):
    g, x = graph
    adj = Adjacency.from_edge_index(g.edge_index, g.num_nodes)
    with pytest.raises(ValueError, match="rmax"):
        PushPropagation(adj, x, 2, 0.5, rmax=-1.0)
    with pytest.raises(ValueError, match="num_layers"):
        PushPropagation(adj, x, 0, 0.5)


def test_error_products_match_the_dense_error(graph):
    g, x = graph
    adj = Adjacency.from_edge_index(g.edge_index, g.num_nodes)
    push = PushPropagation(adj, x, 3, 0.3, rmax=5e-3)
    pairs = g.edge_index[:, :60:2]
    push.remove_edges(pairs)
    push.push()
    err = propagate(adj.without_edges(pairs), x, 3, 0.3) - push.features
    w = torch.randn(x.size(1), 4, dtype=torch.float64)
    a = torch.randn(g.num_nodes, 4, dtype=torch.float64)
    assert err.norm() > 0
    assert torch.allclose(push.error_times(w), err @ w, atol=1e-12)
    assert torch.allclose(push.error_transpose_times(a), err.t() @ a, atol=1e-12)


def closed_hops(edge_index, n, seeds, hops):
    """Nodes within ``hops`` of ``seeds`` (seeds included), by dense BFS on a small graph."""
    a = torch.zeros(n, n, dtype=torch.bool)
    a[edge_index[0], edge_index[1]] = True
    a[edge_index[1], edge_index[0]] = True
    a.fill_diagonal_(True)
    reach = torch.zeros(n, dtype=torch.bool)
    reach[seeds] = True
    for _ in range(hops):
        reach = reach | a[reach].any(0)
    return reach


def test_without_edges_ignores_repeats_reversals_self_loops_and_non_edges(graph):
    g, _ = graph
    n = g.num_nodes
    adj = Adjacency.from_edge_index(g.edge_index, n)
    real = g.edge_index[:, :6]
    pairs = torch.cat([real, real.flip(0), real[:, :2], torch.tensor([[0, 1, 7], [0, 1, 7]]),
                       torch.tensor([[2], [2]])], 1)
    new = adj.without_edges(pairs)
    kept = g.edge_index[:, 6:]
    expected = Adjacency.from_edge_index(kept[:, ~((kept.unsqueeze(2) == real.unsqueeze(1)).all(0)
                                                   | (kept.flip(0).unsqueeze(2) == real.unsqueeze(1)).all(0)).any(1)], n)
    for name in ("row", "col", "crow", "deg"):
        assert torch.equal(getattr(new, name), getattr(expected, name)), name


@pytest.mark.parametrize("kind", ["edge", "feature"])
def test_exact_push_changes_exactly_the_rows_that_change_and_only_the_affected_region(graph, kind):
    g, x = graph
    n, hops = g.num_nodes, 2
    adj = Adjacency.from_edge_index(g.edge_index, n)
    push = PushPropagation(adj, x, hops, 0.5, rmax=0.0)
    before = propagate(adj, x, hops, 0.5)
    x2 = x.clone()
    if kind == "edge":
        pairs = g.edge_index[:, 10:14]
        seeds = pairs.reshape(-1)
        push.remove_edges(pairs)
        after = propagate(adj.without_edges(pairs), x, hops, 0.5)
        region = closed_hops(g.edge_index, n, seeds, hops + 1)  # degrees change one hop out
    else:
        seeds = torch.tensor([3, 50])
        x2[seeds] = 0
        push.set_features(seeds, x2[seeds])
        after = propagate(adj, x2, hops, 0.5)
        region = closed_hops(g.edge_index, n, seeds, hops)
    rows = push.push()
    moved = (after - before).abs().amax(1) > 0
    in_rows = torch.zeros(n, dtype=torch.bool)
    in_rows[rows] = True
    assert bool((moved <= in_rows).all()) and bool((in_rows <= region).all())
    assert int(in_rows.sum()) < n                      # local: the rest was never touched
    assert torch.allclose(push.features, after, atol=1e-13)
    untouched = ~in_rows                         # rows not reported were not written at all
    assert torch.equal(push.features[untouched], before[untouched])


def test_approximate_push_leaves_only_residues_below_the_scaled_threshold(graph):
    g, x = graph
    adj = Adjacency.from_edge_index(g.edge_index, g.num_nodes)
    pairs = g.edge_index[:, :60:2]
    exact = PushPropagation(adj, x, 3, 0.5, rmax=0.0)
    exact.remove_edges(pairs)
    rows_exact = exact.push()
    push = PushPropagation(adj, x, 3, 0.5, rmax=5e-3)
    push.remove_edges(pairs)
    rows = push.push()
    deg = push.adj.deg
    for layer in range(3):                  # ScaleGUN's rule: |r_u| <= rmax d_u^(-alpha)
        assert bool((push.r[layer].abs().amax(1) <= 5e-3 * deg.pow(-0.5)).all())
        assert torch.allclose(push.r_sq[layer], push.r[layer].pow(2).sum(1), atol=1e-15)
    assert bool((push.r[3] == 0).all())
    assert rows.numel() < rows_exact.numel() and push.residue_norm() > 0


def test_scatter_columns_and_unique_nodes_match_dense(graph):
    from gnn_unlearn.ops.propagation import unique_nodes
    g, x = graph
    adj = Adjacency.from_edge_index(g.edge_index, g.num_nodes)
    p = dense_p(g.edge_index, g.num_nodes, 0.3)
    cols = torch.tensor([1, 4, 4, 77, 250])
    out = torch.zeros_like(x)
    touched = adj.scatter_columns(cols, x[cols], 0.3, out)
    assert torch.allclose(out, p[:, cols] @ x[cols], atol=1e-14)
    assert torch.equal(unique_nodes(touched, g.num_nodes), (p[:, cols] != 0).any(1).nonzero().view(-1))
    assert torch.equal(unique_nodes(torch.tensor([5, 1, 5, 0]), 9), torch.tensor([0, 1, 5]))
