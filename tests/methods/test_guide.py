import pytest
import torch

from gnn_unlearn import DeletionRequest, TrainConfig, unlearn
from gnn_unlearn.data import node_split, synthetic_graph
from gnn_unlearn.sharding import touched_shards, train_sharded

from ..conftest import param_hash
from .test_graph_eraser import assert_same_model

FAST = TrainConfig(epochs=10, eval_every=5, patience=100, seed=0)
ARCH = dict(hidden_channels=16, out_channels=16)


@pytest.fixture(scope="module")
def graph():
    g = synthetic_graph(num_nodes=240, num_classes=3, avg_degree=6, num_features=24, features_per_node=4, seed=0)
    return node_split(g, train_ratio=0.5, val_ratio=0.2, use_public=False, seed=0)


@pytest.fixture(scope="module")
def model(graph):
    return train_sharded(graph, num_shards=4, method="guide", seed=2, config=FAST, **ARCH)


def reference(model, task):
    return train_sharded(task.retained_data, num_shards=model.num_shards, method="guide",
                         partition=model.assignment, seed=model.recipe["seed"], config=FAST, **ARCH)


def test_guide_preset(model):
    r = model.recipe
    assert (r["partition"], r["aggregation"], r["repair"]) == ("fair", "similarity", "mixup")
    assert r["partition_depends_on_data"]


def test_a_cut_edge_touches_both_ends_shards(graph, model):
    a, ei = model.assignment, graph.edge_index
    cut = ei[:, (a[ei[0]] != a[ei[1]]) & (ei[0] < ei[1])][:, :1]
    task = DeletionRequest.edges(cut).resolve(graph)
    assert set(touched_shards(model, task).tolist()) == {int(a[cut[0, 0]]), int(a[cut[1, 0]])}
    before = param_hash(model)
    result = unlearn(model, task, "guide")
    assert param_hash(model) == before
    assert_same_model(result.model, reference(model, task))


@pytest.mark.parametrize("kind", ["node", "feature"])
def test_unlearned_equals_retraining_touched_shards_without_the_data(graph, model, kind):
    node = graph.train_mask.nonzero().view(-1)[:1]
    request = DeletionRequest.nodes(node) if kind == "node" else DeletionRequest.features(node)
    task = request.resolve(graph)
    result = unlearn(model, task, "guide")
    ref = reference(model, task)
    assert_same_model(result.model, ref)
    r = task.retained_data
    assert torch.equal(result.model(r.x, r.edge_index), ref(r.x, r.edge_index))
    touched = set(result.history["touched_shards"])
    own = int(model.assignment[node])
    if kind == "feature":
        assert touched == {own}          # virtual neighbours elsewhere use their owners' features
    else:                                # the node's cut edges made virtual neighbours elsewhere
        a, ei = model.assignment, graph.edge_index
        assert touched == {own} | set(a[ei[1, ei[0] == node]].tolist())
    for k in range(model.num_shards):
        same = all(torch.equal(p, q) for p, q in zip(result.model.shards[k].parameters(),
                                                      model.shards[k].parameters()))
        assert same == (k not in touched)
    assert result.history["aggregator"].startswith("similarity weights recomputed")


def test_refuses_a_graph_eraser_model(graph):
    m = train_sharded(graph, num_shards=2, method="graph_eraser", seed=0, config=FAST, **ARCH)
    task = DeletionRequest.nodes([0]).resolve(graph)
    with pytest.raises(ValueError, match="trained for 'graph_eraser'"):
        unlearn(m, task, "guide")


def test_link_prediction_cut_edge_is_bit_exact():
    from gnn_unlearn import link_split
    g = link_split(synthetic_graph(num_nodes=200, num_classes=3, avg_degree=8, num_features=24,
                                   features_per_node=4, seed=0), seed=0)
    m = train_sharded(g, "link", num_shards=3, method="guide", seed=0, config=FAST, **ARCH)
    a, train = m.assignment, g.train_pos_edge_index
    cut = train[:, a[train[0]] != a[train[1]]][:, :1]
    task = DeletionRequest.edges(cut).resolve(g)
    result = unlearn(m, task, "guide")
    assert set(result.history["touched_shards"]) == {int(a[cut[0, 0]]), int(a[cut[1, 0]])}
    ref = train_sharded(task.retained_data, "link", num_shards=3, method="guide", partition=m.assignment,
                        seed=0, config=FAST, **ARCH)
    assert_same_model(result.model, ref)
