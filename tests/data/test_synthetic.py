import pytest
import torch

from gnn_unlearn.data import bipartite_synthetic, synthetic_graph



def test_deterministic_and_seed_dependent():
    a, b = synthetic_graph(num_nodes=500, seed=1), synthetic_graph(num_nodes=500, seed=1)
    c = synthetic_graph(num_nodes=500, seed=2)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.y, c.y)


def test_community_structure_and_features():
    g = synthetic_graph(num_nodes=3000, num_classes=4, avg_degree=10, homophily=0.8,
                        num_features=64, seed=0)
    row, col = g.edge_index
    same = (g.y[row] == g.y[col]).float().mean().item()
    assert 0.75 < same < 0.9                    # 0.8 + 0.2 * 1/4 expected
    assert abs(g.edge_index.size(1) / g.num_nodes - 10) < 1.0
    # class-correlated features: a node's class block holds most of its features
    block = 64 // 4
    cols = torch.arange(64) // block
    own = (g.x * (cols.unsqueeze(0) == g.y.unsqueeze(1))).sum(1)
    assert (own / g.x.sum(1)).mean() > 0.6
    assert (g.edge_index[0] != g.edge_index[1]).all()


def test_bipartite_variant():
    d = bipartite_synthetic(num_users=200, num_items=300, avg_degree=10, seed=0)
    assert d.num_nodes == 500
    u, i = d.train_pos_edge_index
    assert int(u.max()) < 200 <= int(i.min()) and int(i.max()) < 500
    total = sum(d[f"{k}_pos_edge_index"].size(1) for k in ("train", "val", "test"))
    assert abs(d.train_pos_edge_index.size(1) / total - 0.8) < 0.01
    assert synthetic_graph(num_nodes=500, bipartite=True).num_users == 250


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_nodes"):
        synthetic_graph(num_nodes=0)
    with pytest.raises(ValueError, match="homophily"):
        synthetic_graph(homophily=1.5)
