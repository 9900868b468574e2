import networkx as nx
import pytest
import torch
from torch_geometric.data import Data

from gnn_unlearn.data import (sample_edges, sample_interactions, sample_nodes, sample_users,
                              near_test_edges, training_edges)


def _brute_in(data, hops=2):
    g = nx.Graph()
    g.add_nodes_from(range(data.num_nodes))
    g.add_edges_from(data.edge_index.t().tolist())
    near = set()
    for s in data.test_pos_edge_index.reshape(-1).tolist():
        near |= set(nx.single_source_shortest_path_length(g, s, cutoff=hops))
    e = training_edges(data).t().tolist()
    return torch.tensor([u in near and v in near for u, v in e])


def test_in_region_matches_brute_force(small_graph):
    assert torch.equal(near_test_edges(small_graph), _brute_in(small_graph))


@pytest.mark.parametrize("where", ["in", "out", "random"])
def test_sample_edges(cora_link, where):
    req = sample_edges(cora_link, 0.025, where=where, seed=0)
    task = req.resolve(cora_link)
    assert int(task.df_mask.sum()) == round(0.025 * 4752)
    inside = near_test_edges(cora_link)
    if where == "in":
        assert inside[task.df_mask].all()
    if where == "out":
        assert not inside[task.df_mask].any()
    again = sample_edges(cora_link, 0.025, where=where, seed=0).resolve(cora_link)
    other = sample_edges(cora_link, 0.025, where=where, seed=1).resolve(cora_link)
    assert torch.equal(again.df_mask, task.df_mask)
    assert not torch.equal(other.df_mask, task.df_mask)


def test_sampler_validation(cora_link):
    with pytest.raises(ValueError, match="where"):
        sample_edges(cora_link, 0.1, where="inside")
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        sample_edges(cora_link, 1.5)
    with pytest.raises(ValueError, match="cannot sample"):
        sample_edges(cora_link, 10**6)
    with pytest.raises(TypeError):
        sample_edges(cora_link, "5%")


def test_sample_nodes_and_users(cora_link, lastfm):
    task = sample_nodes(cora_link, 10, seed=0).resolve(cora_link)
    assert int(task.deleted_nodes.sum()) == 10
    req = sample_users(lastfm, 5, seed=0)
    t = req.resolve(lastfm)
    users = lastfm.train_pos_edge_index[0]
    deleted_users = torch.unique(users[t.df_mask])
    assert deleted_users.numel() == 5
    assert t.df_mask.sum() == torch.isin(users, deleted_users).sum()
    ti = sample_interactions(lastfm, 0.01, seed=0).resolve(lastfm)
    assert int(ti.df_mask.sum()) == round(0.01 * 64315)
    with pytest.raises(ValueError, match="user-item"):
        sample_users(cora_link, 3)


def test_sample_nodes_among_a_mask_counts_the_mask():
    """A fraction is of the ``among`` nodes (not one more), and at most all of them are taken."""
    data = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=20)
    among = torch.zeros(20, dtype=torch.bool)
    among[:3] = True
    req = sample_nodes(data, 0.5, seed=0, among=among)          # round(1.5) = 2; round(0.5 * 4) would also be 2
    assert req.parts[0].payload["ids"].numel() == 2
    req = sample_nodes(data, 0.4, seed=0, among=among)          # round(1.2) = 1, not round(1.6) = 2
    ids = req.parts[0].payload["ids"]
    assert ids.numel() == 1 and bool(among[ids].all())
    assert sample_nodes(data, 3, seed=0, among=among).parts[0].payload["ids"].numel() == 3
    with pytest.raises(ValueError, match="cannot sample 4 of 3 nodes in among; ask for between 1 and 3"):
        sample_nodes(data, 4, seed=0, among=among)


def test_sample_edges_worst_takes_the_highest_scores(small_graph):
    t = training_edges(small_graph).size(1)
    scores = torch.arange(t, dtype=torch.float).flip(0)         # edge 0 is the hardest
    task = sample_edges(small_graph, 5, where="worst", scores=scores).resolve(small_graph)
    assert torch.equal(task.df_mask.nonzero().view(-1), torch.arange(5))
    # ties are broken by the seed, always among the tied top scores
    tied = torch.zeros(t)
    tied[:20] = 1.0
    sets = [sample_edges(small_graph, 5, where="worst", scores=tied, seed=s).resolve(small_graph).df_mask
            for s in (0, 0, 1)]
    assert all(m[20:].sum() == 0 and m.sum() == 5 for m in sets)
    assert torch.equal(sets[0], sets[1]) and not torch.equal(sets[0], sets[2])


def test_sample_edges_worst_validation(small_graph):
    t = training_edges(small_graph).size(1)
    with pytest.raises(ValueError, match="needs scores"):
        sample_edges(small_graph, 5, where="worst")
    with pytest.raises(ValueError, match="take none"):
        sample_edges(small_graph, 5, where="random", scores=torch.zeros(t))
    with pytest.raises(ValueError, match="shape"):
        sample_edges(small_graph, 5, where="worst", scores=torch.zeros(t + 1))
    with pytest.raises(ValueError, match="finite"):
        sample_edges(small_graph, 5, where="worst", scores=torch.full((t,), float("nan")))
    with pytest.raises(TypeError, match="tensor"):
        sample_edges(small_graph, 5, where="worst", scores=[0.0] * t)
