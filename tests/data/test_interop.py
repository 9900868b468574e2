"""prepare_data: PyG / OGB / user splits in, the library's layout out; deletions in both directions."""
import copy
import random

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import RandomLinkSplit
from torch_geometric.utils import to_undirected

from gnn_unlearn import DeletionRequest, TrainConfig, prepare_data, train, unlearn
from gnn_unlearn.data import sample_edges
from gnn_unlearn.ops.graph import check_graph_layout, edge_keys


def _same_pairs(a, b, n):
    return torch.equal(torch.sort(edge_keys(a, n))[0], torch.sort(edge_keys(b, n))[0])


def _rls(cora, **kw):
    base = Data(x=cora.x, edge_index=cora.edge_index, y=cora.y, num_nodes=cora.num_nodes)
    torch.manual_seed(0)
    random.seed(0)          # PyG's negative sampling draws with Python's random.sample
    opts = dict(num_val=0.05, num_test=0.05, is_undirected=True, add_negative_train_samples=False)
    opts.update(kw)
    return RandomLinkSplit(**opts)(base)


def _edge_attrs(data):
    return {k: v for k, v in data.to_dict().items()
            if isinstance(v, torch.Tensor) and v.dim() == 2 and v.size(0) == 2 and k.endswith("edge_index")}


def _assert_gone(retained, deleted, n):
    """Brute force: no deleted pair in any edge tensor of the retained graph, either direction."""
    dk = set(edge_keys(deleted, n, undirected=False).tolist()) | set(edge_keys(deleted.flip(0), n,
                                                                              undirected=False).tolist())
    attrs = _edge_attrs(retained)
    assert "edge_index" in attrs and "train_pos_edge_index" in attrs
    for name, t in attrs.items():
        keys = set(edge_keys(t, n, undirected=False).tolist())
        assert not (keys & dk), f"{len(keys & dk)} deleted directed pairs survive in {name}"


def _without(triple, deleted, n):
    """The RandomLinkSplit triple as if the deleted pairs had never been in the graph."""
    dk = edge_keys(deleted, n)
    out = []
    for d in triple:
        d = copy.copy(d)
        d.edge_index = d.edge_index[:, ~torch.isin(edge_keys(d.edge_index, n), dk)]
        keep = ~torch.isin(edge_keys(d.edge_label_index, n), dk)
        d.edge_label_index, d.edge_label = d.edge_label_index[:, keep], d.edge_label[keep]
        out.append(d)
    return tuple(out)


def test_random_link_split_round_trip_and_deletion_equals_graph_without(cora):
    triple = _rls(cora)
    data = prepare_data(triple)
    n = data.num_nodes
    assert data.split_info["source"] == "RandomLinkSplit"
    # every supervised training pair once, message passing both directions
    assert data.train_pos_edge_index.size(1) == triple[0].edge_label_index.size(1)
    assert data.edge_index.size(1) == triple[0].edge_index.size(1)
    assert data.val_neg_edge_index.size(1) == data.val_pos_edge_index.size(1)
    request = sample_edges(data, 0.025, seed=0)
    task = request.resolve(data)
    deleted = task.df_edge_index
    assert deleted.size(1) == round(0.025 * data.train_pos_edge_index.size(1))
    _assert_gone(task.retained_data, deleted, n)
    # the graph built without those edges (both directions gone from every part) ...
    data2 = prepare_data(_without(triple, deleted, n))
    for key in ("train_pos_edge_index", "edge_index", "val_pos_edge_index", "val_neg_edge_index",
                "test_pos_edge_index", "test_neg_edge_index"):
        assert torch.equal(task.retained_data[key], data2[key]), key
    # ... and retraining on the task equals training from scratch on that graph
    config = TrainConfig(seed=3, epochs=4, progress=False)
    model, _ = train(data, "link", config)
    retrained = unlearn(model, task, "retrain").model
    direct, _ = train(data2, "link", config)
    for (k, a), (_, b) in zip(retrained.state_dict().items(), direct.state_dict().items()):
        assert torch.equal(a, b), k


def test_split_labels_layout_is_read_too(cora):
    triple = _rls(cora, split_labels=True)
    data = prepare_data(triple)
    n = cora.num_nodes
    for key, part in (("train_pos_edge_index", 0), ("val_pos_edge_index", 1), ("test_pos_edge_index", 2)):
        given = triple[part].pos_edge_label_index
        assert torch.equal(torch.sort(edge_keys(data[key], n))[0], torch.sort(edge_keys(given, n))[0])
    assert torch.equal(torch.sort(edge_keys(data.test_neg_edge_index, n))[0],
                       torch.sort(edge_keys(triple[2].neg_edge_label_index, n))[0])


def test_two_direction_user_split_deletes_both_directions(cora_link):
    n = cora_link.num_nodes
    both = copy.copy(cora_link)
    both.train_pos_edge_index = to_undirected(cora_link.train_pos_edge_index)   # GNNDelete code's layout
    # the bug: resolving on this layout used to mark one direction only; now it is refused
    with pytest.raises(ValueError, match="both directions.*prepare_data"):
        DeletionRequest.edges(cora_link.train_pos_edge_index[:, :3]).resolve(both)
    with pytest.raises(ValueError, match="both directions"):
        train(both, "link", TrainConfig(epochs=1, progress=False))
    data = prepare_data(both)
    assert data.split_info["train_positives"]["convention"] == "both directions"
    assert _same_pairs(data.train_pos_edge_index, cora_link.train_pos_edge_index, n)
    # a request given in the reverse direction deletes the pair in both directions
    pairs = cora_link.train_pos_edge_index[:, [5, 50, 500]].flip(0)
    task = DeletionRequest.edges(pairs).resolve(data)
    assert int(task.df_mask.sum()) == 3
    _assert_gone(task.retained_data, pairs, n)
    assert task.retained_data.edge_index.size(1) == cora_link.edge_index.size(1) - 6


def test_ogb_split_dict(cora, cora_link):
    split = {"train": {"edge": cora_link.train_pos_edge_index.t()},
             "valid": {"edge": cora_link.val_pos_edge_index.t(), "edge_neg": cora_link.val_neg_edge_index.t()},
             "test": {"edge": cora_link.test_pos_edge_index.flip(0).t(),
                      "edge_neg": cora_link.test_neg_edge_index.t()}}
    graph = Data(x=cora.x, edge_index=cora.edge_index, num_nodes=cora.num_nodes)
    data = prepare_data(graph, split=split)
    for key in ("train_pos_edge_index", "edge_index", "val_neg_edge_index", "test_pos_edge_index"):
        assert _same_pairs(data[key], cora_link[key], cora.num_nodes), key   # test given reversed
    task = sample_edges(data, 0.01, where="in", seed=1).resolve(data)
    _assert_gone(task.retained_data, task.df_edge_index, data.num_nodes)
    bad = {"train": {"source_node": torch.tensor([0]), "target_node": torch.tensor([1])},
           "valid": {}, "test": {}}
    with pytest.raises(ValueError, match="citation2"):
        prepare_data(graph, split=bad)


def test_edge_index_only_is_split_by_the_library(cora):
    one_way = Data(x=cora.x, edge_index=cora.edge_index[:, cora.edge_index[0] < cora.edge_index[1]],
                   num_nodes=cora.num_nodes)
    with pytest.raises(ValueError, match="not symmetric"):
        check_graph_layout(one_way)
    data = prepare_data(one_way, seed=0)
    assert data.split_info["convention"] == "one direction"
    check_graph_layout(data)
    node = prepare_data(Data(x=cora.x, edge_index=one_way.edge_index, y=cora.y, num_nodes=cora.num_nodes),
                        task="node")
    assert node.edge_index.size(1) == cora.edge_index.size(1)
    assert node.train_mask.sum() > 0


def test_refusals_say_what_to_pass(cora, cora_link):
    n = cora.num_nodes
    mixed = copy.copy(cora_link)
    half = cora_link.train_pos_edge_index[:, :100].flip(0)
    mixed.train_pos_edge_index = torch.cat([cora_link.train_pos_edge_index, half], 1)
    with pytest.raises(ValueError, match="ambiguous.*undirected=True"):
        prepare_data(mixed)
    assert _same_pairs(prepare_data(mixed, undirected=True).train_pos_edge_index,
                       cora_link.train_pos_edge_index, n)
    # RandomLinkSplit without is_undirected=True puts the two directions of a pair in different parts
    with pytest.raises(ValueError, match="ambiguous|is_undirected=True"):
        prepare_data(_rls(cora, is_undirected=False))
    with pytest.raises(ValueError, match="is_undirected=True"):
        prepare_data(_rls(cora, is_undirected=False), undirected=True)
    # disjoint supervision and message passing cannot be unlearned consistently
    with pytest.raises(ValueError, match="disjoint_train_ratio"):
        prepare_data(_rls(cora, disjoint_train_ratio=0.3))
    # a validation edge passing messages is a leak
    leaky = copy.copy(cora_link)
    leaky.edge_index = torch.cat([cora_link.edge_index, cora_link.val_pos_edge_index[:, :2]], 1)
    with pytest.raises(ValueError, match="validation/test"):
        prepare_data(leaky)
    with pytest.raises(ValueError, match="val edges"):
        DeletionRequest.edges(cora_link.train_pos_edge_index[:, :1]).resolve(
            Data(**{**cora_link.to_dict(), "edge_index": to_undirected(leaky.edge_index)}))
    with pytest.raises(ValueError, match="directed link prediction"):
        prepare_data(cora_link, undirected=False)
    with pytest.raises(ValueError, match="whole"):
        prepare_data(_rls(cora)[0])
    with pytest.raises(TypeError, match="three Data"):
        prepare_data(_rls(cora)[:2])
    neg_clash = copy.copy(cora_link)
    neg_clash.val_neg_edge_index = torch.cat([cora_link.val_neg_edge_index[:, 1:],
                                              cora_link.train_pos_edge_index[:, :1]], 1)
    with pytest.raises(ValueError, match="negatives are positive"):
        prepare_data(neg_clash)
    before = {k: v.clone() for k, v in _edge_attrs(mixed).items()}
    prepare_data(mixed, undirected=True)
    assert all(torch.equal(before[k], v) for k, v in _edge_attrs(mixed).items())   # input untouched
