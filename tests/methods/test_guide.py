import pytest
import torch

from gnn_unlearn import DeletionRequest, unlearn
from gnn_unlearn.sharding import touched_shards, train_sharded

from ..conftest import param_hash
from ..sharding_fixtures import ARCH, FAST, assert_same_model, retrained_reference


@pytest.fixture(scope="module")
def model(sharding_graph):
    return train_sharded(sharding_graph, num_shards=4, method="guide", seed=2, config=FAST, **ARCH)


def test_guide_preset(model):
    r = model.recipe
    assert (r["partition"], r["aggregation"], r["repair"]) == ("fair", "similarity", "mixup")
    assert r["partition_depends_on_data"]


def test_a_cut_edge_touches_both_ends_shards(sharding_graph, model):
    a, ei = model.assignment, sharding_graph.edge_index
    cut = ei[:, (a[ei[0]] != a[ei[1]]) & (ei[0] < ei[1])][:, :1]
    task = DeletionRequest.edges(cut).resolve(sharding_graph)
    assert set(touched_shards(model, task).tolist()) == {int(a[cut[0, 0]]), int(a[cut[1, 0]])}
    before = param_hash(model)
    result = unlearn(model, task, "guide")
    assert param_hash(model) == before
    assert_same_model(result.model, retrained_reference(model, task))


@pytest.mark.parametrize("kind", ["node", "feature"])
def test_unlearned_equals_retraining_touched_shards_without_the_data(sharding_graph, model, kind):
    node = sharding_graph.train_mask.nonzero().view(-1)[:1]
    request = DeletionRequest.nodes(node) if kind == "node" else DeletionRequest.features(node)
    task = request.resolve(sharding_graph)
    result = unlearn(model, task, "guide")
    ref = retrained_reference(model, task)
    assert_same_model(result.model, ref)
    r = task.retained_data
    assert torch.equal(result.model(r.x, r.edge_index), ref(r.x, r.edge_index))
    touched = set(result.history["touched_shards"])
    own = int(model.assignment[node])
    if kind == "feature":
        assert touched == {own}          # virtual neighbours elsewhere use their owners' features
    else:                                # the node's cut edges made virtual neighbours elsewhere
        a, ei = model.assignment, sharding_graph.edge_index
        assert touched == {own} | set(a[ei[1, ei[0] == node]].tolist())
    for k in range(model.num_shards):
        same = all(torch.equal(p, q) for p, q in zip(result.model.shards[k].parameters(),
                                                      model.shards[k].parameters()))
        assert same == (k not in touched)
    assert result.history["aggregator"].startswith("similarity weights recomputed")


def test_refuses_a_graph_eraser_model(sharding_graph):
    m = train_sharded(sharding_graph, num_shards=2, method="graph_eraser", seed=0, config=FAST, **ARCH)
    task = DeletionRequest.nodes([0]).resolve(sharding_graph)
    with pytest.raises(ValueError, match="trained for 'graph_eraser'"):
        unlearn(m, task, "guide")


def test_link_prediction_cut_edge_is_bit_exact(sharding_link_graph):
    g = sharding_link_graph
    m = train_sharded(g, "link", num_shards=3, method="guide", seed=0, config=FAST, **ARCH)
    a, train = m.assignment, g.train_pos_edge_index
    cut = train[:, a[train[0]] != a[train[1]]][:, :1]
    task = DeletionRequest.edges(cut).resolve(g)
    result = unlearn(m, task, "guide")
    assert set(result.history["touched_shards"]) == {int(a[cut[0, 0]]), int(a[cut[1, 0]])}
    ref = train_sharded(task.retained_data, "link", num_shards=3, method="guide", partition=m.assignment,
                        seed=0, config=FAST, **ARCH)
    assert_same_model(result.model, ref)
