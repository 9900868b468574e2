import networkx as nx
import torch

from gnn_unlearn.ops import hop_distance, lookup_edges, sample_non_edges, undirected_pairs
from gnn_unlearn.ops.graph import edge_keys


def test_hop_distance_matches_networkx(small_graph):
    g = nx.Graph()
    g.add_nodes_from(range(small_graph.num_nodes))
    g.add_edges_from(small_graph.edge_index.t().tolist())
    seeds = torch.tensor([0, 7, 13])
    dist = hop_distance(small_graph.edge_index, seeds, 3, small_graph.num_nodes)
    ref = nx.multi_source_dijkstra_path_length(g, seeds.tolist(), cutoff=3)
    expected = torch.tensor([ref.get(v, 4) for v in range(small_graph.num_nodes)])
    assert torch.equal(dist, expected)


def test_hop_distance_follows_both_directions():
    one_way = torch.tensor([[0, 1], [1, 2]])       # 0->1->2 stored one way only
    assert hop_distance(one_way, torch.tensor([2]), 2, 3).tolist() == [2, 1, 0]


def test_undirected_pairs_and_lookup():
    ei = torch.tensor([[0, 1, 1, 2, 3, 3], [1, 0, 2, 1, 3, 0]])
    assert undirected_pairs(ei, 4).tolist() == [[0, 0, 1], [1, 3, 2]]
    idx, found = lookup_edges(torch.tensor([[2, 3, 0], [1, 2, 3]]), undirected_pairs(ei, 4), 4)
    assert found.tolist() == [True, False, True] and idx[[0, 2]].tolist() == [2, 1]


def test_non_edges_avoid_positives_and_are_seeded(small_graph):
    n = small_graph.num_nodes
    pos = undirected_pairs(small_graph.edge_index, n)
    g = torch.Generator().manual_seed(0)
    neg = sample_non_edges(pos, n, 300, generator=g)
    keys = edge_keys(neg, n)
    assert neg.size(1) == 300 and keys.unique().numel() == 300
    assert not torch.isin(keys, edge_keys(pos, n)).any() and (neg[0] < neg[1]).all()
    again = sample_non_edges(pos, n, 300, generator=torch.Generator().manual_seed(0))
    assert torch.equal(neg, again)
    bip = sample_non_edges(pos, n, 50, generator=g, source_range=(0, 10), target_range=(10, n))
    assert (bip[0] < 10).all() and (bip[1] >= 10).all()


def test_non_edges_too_dense_is_an_error():
    full = undirected_pairs(torch.combinations(torch.arange(5)).t(), 5)
    try:
        sample_non_edges(full, 5, 3, generator=torch.Generator().manual_seed(0), max_rounds=3)
    except ValueError as e:
        assert "too dense" in str(e)
    else:
        raise AssertionError("expected ValueError")
