import pytest
import torch

from gnn_unlearn.data import edge_injection, label_flip, node_split
from gnn_unlearn.ops import edge_keys, undirected_pairs


@pytest.fixture(scope="module")
def cora_nodes(cora):
    return node_split(cora, train_ratio=0.6, val_ratio=0.2, use_public=False, seed=0)


def test_label_flip(cora_nodes):
    m = label_flip(cora_nodes, rate=0.1, seed=0)
    a, b = m.classes
    y0, y1 = cora_nodes.y, m.data.y
    changed = (y0 != y1).nonzero().view(-1)
    assert torch.equal(torch.sort(changed)[0], torch.sort(m.nodes)[0])
    assert m.size == round(0.1 * int(cora_nodes.train_mask.sum()))
    assert cora_nodes.train_mask[changed].all()                       # only training labels
    assert ((y0[changed] == a) & (y1[changed] == b)).sum() + ((y0[changed] == b) & (y1[changed] == a)).sum() == m.size
    assert abs(int((y0[changed] == a).sum()) - int((y0[changed] == b).sum())) <= 1   # half each way
    assert torch.equal(label_flip(cora_nodes, rate=0.1, seed=0).nodes, m.nodes)  # seeded
    assert torch.equal(cora_nodes.y, y0)                              # input untouched
    counts = torch.bincount(y0[cora_nodes.train_mask])
    assert set(m.classes) == set(torch.topk(counts, 2).indices.tolist())


def test_edge_injection(cora_nodes):
    m = edge_injection(cora_nodes, size=200, classes=(0, 2), seed=0)
    n = cora_nodes.num_nodes
    before = set(edge_keys(undirected_pairs(cora_nodes.edge_index, n), n).tolist())
    after = set(edge_keys(undirected_pairs(m.data.edge_index, n), n).tolist())
    injected = set(edge_keys(m.edges, n).tolist())
    assert len(injected) == 200 and not (injected & before) and after == before | injected
    y = cora_nodes.y
    ends = torch.sort(y[m.edges], dim=0)[0]
    assert (ends[0] == 0).all() and (ends[1] == 2).all()
    assert cora_nodes.train_mask[m.edges.reshape(-1)].all()


def test_identify_reveals_a_fraction(cora_nodes):
    m = label_flip(cora_nodes, rate=0.1, seed=0)
    task = m.identify(0.25, seed=1).resolve(m.data)
    assert int(task.deleted_nodes.sum()) == round(0.25 * m.size)
    assert torch.isin(task.deleted_nodes.nonzero().view(-1), m.nodes).all()
    e = edge_injection(cora_nodes, size=40, seed=0)
    et = e.identify(0.05, seed=0).resolve(e.data)
    assert int(et.df_mask.sum()) == 2


def test_manipulation_validation(cora_nodes, cora):
    with pytest.raises(ValueError, match="two different ids"):
        label_flip(cora_nodes, classes=(1, 1))
    with pytest.raises(ValueError, match="rate"):
        label_flip(cora_nodes, rate=1.5)
    with pytest.raises(ValueError, match="fraction"):
        label_flip(cora_nodes).identify(0.0)
    with pytest.raises(ValueError, match="cannot inject"):
        edge_injection(cora_nodes, size=10**9)
