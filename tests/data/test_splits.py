import pytest
import torch

from gnn_unlearn.data import link_split, node_split, synthetic_graph
from gnn_unlearn.ops import edge_keys, undirected_pairs


def _keys(data, name):
    return set(edge_keys(data[name], data.num_nodes).tolist())


def test_link_split_partitions_edges(cora, cora_link):
    s = cora_link
    n = cora.num_nodes
    tr, va, te = (_keys(s, f"{k}_pos_edge_index") for k in ("train", "val", "test"))
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert tr | va | te == set(edge_keys(undirected_pairs(cora.edge_index, n), n).tolist())
    assert (len(va), len(te)) == (263, 263)
    # message passing: the training pairs in both directions, nothing else
    assert s.edge_index.size(1) == 2 * len(tr)
    assert _keys(s, "edge_index") == tr
    # negatives: right size, no positive of the whole graph
    pos = tr | va | te
    for k in ("val", "test"):
        neg = s[f"{k}_neg_edge_index"]
        assert neg.size(1) == s[f"{k}_pos_edge_index"].size(1)
        assert not (set(edge_keys(neg, n).tolist()) & pos)
        assert (neg[0] != neg[1]).all()
    assert not (_keys(s, "val_neg_edge_index") & _keys(s, "test_neg_edge_index"))


def test_link_split_is_seeded_and_pure(cora):
    before = cora.edge_index.clone()
    a, b, c = link_split(cora, seed=1), link_split(cora, seed=1), link_split(cora, seed=2)
    assert torch.equal(a.test_pos_edge_index, b.test_pos_edge_index)
    assert torch.equal(a.test_neg_edge_index, b.test_neg_edge_index)
    assert not torch.equal(a.test_pos_edge_index, c.test_pos_edge_index)
    assert torch.equal(cora.edge_index, before) and "train_pos_edge_index" not in cora


def test_link_split_bipartite_negatives_are_user_item(lastfm):
    s = link_split(lastfm, seed=0)
    neg = s.test_neg_edge_index
    assert neg.size(1) == lastfm.test_pos_edge_index.size(1)
    assert (neg[0] < lastfm.num_users).all() and (neg[1] >= lastfm.num_users).all()
    assert torch.equal(s.train_pos_edge_index, lastfm.train_pos_edge_index)


def test_link_split_validates():
    g = synthetic_graph(num_nodes=50)
    with pytest.raises(ValueError, match="sum to less than 1"):
        link_split(g, val_ratio=0.6, test_ratio=0.5)


def test_node_split_public_and_stratified(cora):
    assert torch.equal(node_split(cora).train_mask, cora.train_mask)
    s = node_split(cora, train_ratio=0.5, val_ratio=0.25, seed=0, use_public=False)
    masks = torch.stack([s.train_mask, s.val_mask, s.test_mask])
    assert (masks.sum(0) == 1).all()
    for c in range(7):
        in_c = cora.y == c
        frac = (s.train_mask & in_c).sum().item() / in_c.sum().item()
        assert abs(frac - 0.5) < 0.02
    again = node_split(cora, train_ratio=0.5, val_ratio=0.25, seed=0, use_public=False)
    assert torch.equal(again.test_mask, s.test_mask)
    with pytest.raises(ValueError, match="labels"):
        g = synthetic_graph(num_nodes=20)
        del g.y
        node_split(g)
