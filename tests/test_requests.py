import time

import networkx as nx
import pytest
import torch

from gnn_unlearn import DeletionRequest
from gnn_unlearn.data import load_dataset, sample_interactions, training_edges


def _nx(data):
    g = nx.Graph()
    g.add_nodes_from(range(data.num_nodes))
    g.add_edges_from(data.edge_index.t().tolist())
    return g


def _brute_region(data, seeds, hops):
    g = _nx(data)
    ref = nx.multi_source_dijkstra_path_length(g, sorted(seeds), cutoff=hops) if seeds else {}
    return torch.tensor([v in ref for v in range(data.num_nodes)])


def test_edge_request_masks_and_region(small_graph):
    train = training_edges(small_graph)
    pick = train[:, [0, 3, 5]]
    req = DeletionRequest.edges(pick.flip(0))            # reverse direction is the same edge
    task = req.resolve(small_graph, num_hops=2)
    expected = torch.zeros(train.size(1), dtype=torch.bool)
    expected[[0, 3, 5]] = True
    assert torch.equal(task.df_mask, expected)
    assert torch.equal(task.dr_mask, ~expected)
    seeds = set(pick.reshape(-1).tolist())
    for h in (0, 1, 2):
        assert torch.equal(task.affected_nodes(h), _brute_region(small_graph, seeds, h))
    region = task.affected_nodes()
    for j, (u, v) in enumerate(train.t().tolist()):
        assert bool(task.affected_edges[j]) == (region[u] and region[v] and not expected[j])


def test_node_request_takes_edges_and_region(small_graph):
    nodes = [4, 10]
    task = DeletionRequest.nodes(torch.tensor(nodes)).resolve(small_graph, num_hops=1)
    train = training_edges(small_graph)
    expected = torch.tensor([u in nodes or v in nodes for u, v in train.t().tolist()])
    assert torch.equal(task.df_mask, expected)
    assert task.deleted_nodes.nonzero().view(-1).tolist() == nodes
    # the region grows from the deleted nodes and from both endpoints of their edges
    seeds = set(nodes) | set(train[:, expected].reshape(-1).tolist())
    assert torch.equal(task.affected_nodes(1), _brute_region(small_graph, seeds, 1))
    kept = task.retained_data
    assert not torch.isin(kept.edge_index, torch.tensor(nodes)).any()
    assert kept.num_nodes == small_graph.num_nodes


def test_class_and_feature_requests(cora_link):
    task = DeletionRequest.node_class(3).resolve(cora_link)
    assert torch.equal(task.deleted_nodes, cora_link.y == 3)
    assert not (task.retained_data.train_mask & (cora_link.y == 3)).any()
    ft = DeletionRequest.features([1, 2], columns=[0, 5]).resolve(cora_link)
    assert int(ft.feature_mask.sum()) == 4 and int(ft.df_mask.sum()) == 0
    x = ft.retained_data.x
    assert (x[[1, 1, 2, 2], [0, 5, 0, 5]] == 0).all()
    assert torch.equal(x[3], cora_link.x[3])
    assert cora_link.x.data_ptr() != x.data_ptr()  # the original is untouched
    whole = DeletionRequest.features([7]).resolve(cora_link)
    assert (whole.retained_data.x[7] == 0).all() and whole.affected_nodes(0).sum() == 1


def test_composition_unions_masks(small_graph):
    train = training_edges(small_graph)
    a = DeletionRequest.edges(train[:, :2])
    b = DeletionRequest.nodes([int(train[0, 10])])
    both = (a | b).resolve(small_graph)
    assert torch.equal(both.df_mask, a.resolve(small_graph).df_mask | b.resolve(small_graph).df_mask)
    assert (a | b).kinds == {"edge", "node"}
    assert "edge" in repr(a | b)


def test_interaction_requests(lastfm):
    tr = lastfm.train_pos_edge_index
    nu = lastfm.num_users
    task = DeletionRequest.interactions(tr[0, :3], tr[1, :3] - nu).resolve(lastfm)
    assert task.df_mask.nonzero().view(-1).tolist() == [0, 1, 2]
    items = DeletionRequest.items([int(tr[1, 0]) - nu]).resolve(lastfm)
    assert int(items.df_mask.sum()) == int((tr[1] == tr[1, 0]).sum())
    # a user-item pair that is a test interaction, not a training one
    te = lastfm.test_pos_edge_index
    with pytest.raises(ValueError, match="1 are test edges"):
        DeletionRequest.interactions(te[0, :1], te[1, :1] - nu).resolve(lastfm)
    with pytest.raises(ValueError, match="valid ids"):
        DeletionRequest.interactions([0], [lastfm.num_items]).resolve(lastfm)


def test_sequential_requests(small_graph):
    train = training_edges(small_graph)
    first = DeletionRequest.edges(train[:, :3]).resolve(small_graph)
    second = DeletionRequest.edges(train[:, 3:5]).resolve(first.retained_data)
    assert second.retained_data.train_pos_edge_index.size(1) == train.size(1) - 5
    with pytest.raises(ValueError, match="not training edges"):
        DeletionRequest.edges(train[:, :1]).resolve(first.retained_data)


@pytest.mark.parametrize("make, match, err", [
    (lambda d: DeletionRequest.nodes([999999]), "not valid node ids", ValueError),
    (lambda d: DeletionRequest.nodes([-1]), "not valid node ids", ValueError),
    (lambda d: DeletionRequest.nodes([3, 3]), "more than once", ValueError),
    (lambda d: DeletionRequest.nodes([]), "empty request", ValueError),
    (lambda d: DeletionRequest.nodes(torch.arange(d.num_nodes)), "every node", ValueError),
    (lambda d: DeletionRequest.nodes(torch.tensor([1.0, 2.0])), "dtype", TypeError),
    (lambda d: DeletionRequest.nodes(torch.tensor([True, False])), "dtype", TypeError),
    (lambda d: DeletionRequest.nodes(["a"]), "integer ids", TypeError),
    (lambda d: DeletionRequest.edges(d.test_pos_edge_index[:, :4]), r"4 of 4 .*4 are test edges", ValueError),
    (lambda d: DeletionRequest.edges(d.val_pos_edge_index[:, :2]), r"2 are val edges", ValueError),
    (lambda d: DeletionRequest.edges(torch.cat([d.train_pos_edge_index[:, :1],
                                                d.train_pos_edge_index[:, :1].flip(0)], 1)),
     "more than once", ValueError),
    (lambda d: DeletionRequest.edges(d.train_pos_edge_index[:, :3].t()), r"\[2, k\].*transpose", ValueError),
    (lambda d: DeletionRequest.edges(torch.empty(2, 0, dtype=torch.long)), "empty request", ValueError),
    (lambda d: DeletionRequest.edges(d.train_pos_edge_index), "all .* training edges", ValueError),
    (lambda d: DeletionRequest.edges(torch.tensor([[0], [10**6]])), "unknown nodes", ValueError),
    (lambda d: DeletionRequest.node_class(42), r"class 42 does not exist.*\[0, 1, 2\]", ValueError),
    (lambda d: DeletionRequest.node_class(1.0), "int", TypeError),
    (lambda d: DeletionRequest.features([0], columns=[10**5]), "not valid column ids", ValueError),
    (lambda d: DeletionRequest.users([0]), "user-item graph", ValueError),
    (lambda d: DeletionRequest.nodes(torch.tensor([1], device="meta")), "is on meta", ValueError),
])
def test_bad_requests_are_clear(small_graph, make, match, err):
    with pytest.raises(err, match=match):
        make(small_graph).resolve(small_graph)


def test_resolve_validates_its_arguments(small_graph):
    with pytest.raises(TypeError, match="Data"):
        DeletionRequest.nodes([1]).resolve("cora")
    with pytest.raises(ValueError, match="num_hops"):
        DeletionRequest.nodes([1]).resolve(small_graph, num_hops=-1)
    with pytest.raises(ValueError, match="resolve again"):
        DeletionRequest.nodes([1]).resolve(small_graph, num_hops=1).affected_nodes(3)


def test_request_roundtrip_dict(small_graph):
    req = DeletionRequest.nodes([1, 2]) | DeletionRequest.features([3], columns=[0])
    again = DeletionRequest.from_dict(req.to_dict())
    a, b = req.resolve(small_graph), again.resolve(small_graph)
    assert torch.equal(a.df_mask, b.df_mask) and torch.equal(a.feature_mask, b.feature_mask)


def test_gowalla_five_percent_resolves_quickly(mirror, cache_root):
    data = load_dataset("gowalla", root=cache_root, mirror=mirror)
    req = sample_interactions(data, 0.05, seed=0)
    start = time.perf_counter()
    task = req.resolve(data, num_hops=2)
    seconds = time.perf_counter() - start
    assert int(task.df_mask.sum()) == round(0.05 * 719081)
    print(f"gowalla 5% interaction request resolved in {seconds:.2f}s")


def test_combined_parts_must_not_overlap(cora_link):
    e = cora_link.train_pos_edge_index
    with pytest.raises(ValueError, match="part 2.*earlier part"):
        (DeletionRequest.edges(e[:, :3]) | DeletionRequest.edges(e[:, 2:4])).resolve(cora_link)
    with pytest.raises(ValueError, match="part 2.*either direction"):
        (DeletionRequest.edges(e[:, :1]) | DeletionRequest.edges(e[:, :1].flip(0))).resolve(cora_link)
    with pytest.raises(ValueError, match="part 2.*nodes"):
        (DeletionRequest.nodes([5, 6]) | DeletionRequest.nodes([6])).resolve(cora_link)
    with pytest.raises(ValueError, match="part 2.*feature"):
        (DeletionRequest.features([1], [0, 1]) | DeletionRequest.features([1], [1])).resolve(cora_link)
    # disjoint parts still compose
    ok = (DeletionRequest.edges(e[:, :2]) | DeletionRequest.edges(e[:, 2:4])
          | DeletionRequest.features([1], [0]) | DeletionRequest.features([1], [1])).resolve(cora_link)
    assert int(ok.df_mask.sum()) == 4 and int(ok.feature_mask.sum()) == 2


def test_saved_requests_are_checked_field_by_field():
    good = (DeletionRequest.edges([[0], [1]]) | DeletionRequest.node_class(2)).to_dict()
    assert DeletionRequest.from_dict(good).kinds == {"edge", "class"}
    bad = [
        ({}, "non-empty list 'parts'"),
        ({"parts": []}, "non-empty list 'parts'"),
        ({"parts": ["edge"]}, "not a dict"),
        ({"parts": [{"kind": "edges", "edge_index": [[0], [1]]}]}, "known kinds"),
        ({"parts": [{"edge_index": [[0], [1]]}]}, "kind None"),
        ({"parts": [{"kind": "edge", "pairs": [[0], [1]]}]}, "expected \\['edge_index'\\]"),
        ({"parts": [{"kind": "node", "ids": None}]}, "missing"),
        ({"parts": [{"kind": "node", "ids": [0.5]}]}, "integer"),
        ({"parts": [{"kind": "class", "c": "2"}]}, "must be an int"),
        ({"parts": [{"kind": "interaction", "users": None, "items": None}]}, "neither users nor items"),
    ]
    for d, match in bad:
        with pytest.raises((ValueError, TypeError), match=match):
            DeletionRequest.from_dict(d)


def test_absurd_num_hops_and_non_finite_features_are_refused(cora_link):
    request = DeletionRequest.edges(cora_link.train_pos_edge_index[:, :1])
    with pytest.raises(ValueError, match="exceeds the number of nodes"):
        request.resolve(cora_link, num_hops=2 ** 62)
    broken = cora_link.clone()
    broken.x[3, 7] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        request.resolve(broken)
    from gnn_unlearn import TrainConfig, train
    with pytest.raises(ValueError, match="NaN or infinite"):
        train(broken, "link", TrainConfig(epochs=1, progress=False))
