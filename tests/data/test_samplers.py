import networkx as nx
import pytest
import torch

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
