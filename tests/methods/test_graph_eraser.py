import pytest
import torch

from gnn_unlearn import DeletionRequest, evaluate, train, unlearn
from gnn_unlearn.data import node_split, sample_nodes, synthetic_graph
from gnn_unlearn.sharding import retrain_sharded, touched_shards, train_sharded

from ..conftest import param_hash
from ..sharding_fixtures import ARCH, FAST, assert_same_model, retrained_reference


@pytest.fixture(scope="module")
def model(sharding_graph):
    return train_sharded(sharding_graph, num_shards=4, method="graph_eraser", seed=3, config=FAST, **ARCH)


def requests(sharding_graph, model):
    a = model.assignment
    train_nodes = sharding_graph.train_mask.nonzero().view(-1)
    ei = sharding_graph.edge_index
    intra = ei[:, (a[ei[0]] == a[ei[1]]) & (a[ei[0]] == 0) & (ei[0] < ei[1])][:, :2]
    return {"node": DeletionRequest.nodes(train_nodes[:2]),
            "edge": DeletionRequest.edges(intra),
            "feature": DeletionRequest.features(train_nodes[5:7])}


@pytest.mark.parametrize("kind", ["node", "edge", "feature"])
def test_unlearned_equals_retraining_touched_shards_without_the_data(sharding_graph, model, kind):
    task = requests(sharding_graph, model)[kind].resolve(sharding_graph)
    before = param_hash(model)
    result = unlearn(model, task, "graph_eraser")
    assert param_hash(model) == before                      # the input model is untouched
    ref = retrained_reference(model, task)
    assert_same_model(result.model, ref)                     # bit-for-bit, weights and alpha
    retained = task.retained_data
    assert torch.equal(result.model(retained.x, retained.edge_index), ref(retained.x, retained.edge_index))
    touched = set(result.history["touched_shards"])
    assert touched == set(touched_shards(model, task).tolist()) and touched
    assert touched < set(range(model.num_shards))            # not everything retrained
    for k in range(model.num_shards):
        same = all(torch.equal(p, q) for p, q in zip(result.model.shards[k].parameters(),
                                                      model.shards[k].parameters()))
        assert same == (k not in touched), f"shard {k}"
    assert result.history["aggregator"].startswith("learned weights recomputed")


def test_cut_edge_touches_no_shard_but_refits_the_weights(sharding_graph, model):
    a, ei = model.assignment, sharding_graph.edge_index
    cut = ei[:, (a[ei[0]] != a[ei[1]]) & (ei[0] < ei[1])][:, :1]
    task = DeletionRequest.edges(cut).resolve(sharding_graph)
    result = unlearn(model, task, "graph_eraser")
    assert result.history["touched_shards"] == []
    assert_same_model(result.model, retrained_reference(model, task))


def test_random_partition_is_exact_without_reusing_the_assignment(sharding_graph):
    g = sharding_graph
    m = train_sharded(g, num_shards=4, partition="random", aggregation="mean", seed=1, config=FAST, **ARCH)
    task = sample_nodes(g, 3, seed=0, among=g.train_mask).resolve(g)
    result = unlearn(m, task, "graph_eraser")
    ref = train_sharded(task.retained_data, num_shards=4, partition="random", aggregation="mean", seed=1,
                        config=FAST, **ARCH)
    assert_same_model(result.model, ref)
    assert "does not depend on the data" in result.history["partition"]


def test_repartition_retrains_everything_on_a_new_partition(sharding_graph, model):
    task = requests(sharding_graph, model)["node"].resolve(sharding_graph)
    result = unlearn(model, task, "graph_eraser", repartition=True)
    assert result.history["num_touched"] == model.num_shards
    assert_same_model(result.model, retrained_reference(model, task, partition="blpa"))
    assert_same_model(result.model, retrain_sharded(model, task.retained_data))


def test_scored_by_evaluate_like_any_model(sharding_graph, model):
    task = requests(sharding_graph, model)["node"].resolve(sharding_graph)
    result = unlearn(model, task, "graph_eraser")
    report = evaluate(result, task, mia=False)          # its retrain row: the full sharded retrain
    assert [r["model"] for r in report.rows] == ["original", "retrain", "graph_eraser"]
    assert 0 <= report.row("graph_eraser")["test_acc"] <= 1


def test_refuses_models_it_cannot_unlearn(sharding_graph, model):
    task = requests(sharding_graph, model)["node"].resolve(sharding_graph)
    plain, _ = train(sharding_graph, "node", FAST, **ARCH)
    with pytest.raises(ValueError, match="train_sharded"):
        unlearn(plain, task, "graph_eraser")
    guide_model = train_sharded(sharding_graph, num_shards=2, method="guide", seed=0, config=FAST, **ARCH)
    with pytest.raises(ValueError, match="trained for 'guide'"):
        unlearn(guide_model, task, "graph_eraser")
    with pytest.raises(TypeError, match="repartition"):
        unlearn(model, task, "graph_eraser", repartition="yes")
    other = node_split(synthetic_graph(num_nodes=100, num_classes=3, num_features=24, seed=1),
                       use_public=False)
    with pytest.raises(ValueError, match="nodes"):
        unlearn(model, DeletionRequest.nodes([0]).resolve(other), "graph_eraser")


def test_cora_one_percent_node_deletion_is_bit_exact(cora):
    data = node_split(cora, use_public=False, seed=0)
    m = train_sharded(data, num_shards=10, method="graph_eraser", seed=0, config=FAST, **ARCH)
    task = sample_nodes(data, 0.01, seed=0, among=data.train_mask).resolve(data)
    result = unlearn(m, task, "graph_eraser")
    ref = retrained_reference(m, task)
    assert_same_model(result.model, ref)
    r = task.retained_data
    assert torch.equal(result.model(r.x, r.edge_index).argmax(-1), ref(r.x, r.edge_index).argmax(-1))


@pytest.mark.parametrize("kind", ["edge", "node"])
def test_link_prediction_unlearning_is_bit_exact(sharding_link_graph, kind):
    from gnn_unlearn.data import sample_edges
    g = sharding_link_graph
    m = train_sharded(g, "link", num_shards=3, method="graph_eraser", seed=0, config=FAST, **ARCH)
    request = sample_edges(g, 3, seed=0) if kind == "edge" else sample_nodes(g, 2, seed=0)
    task = request.resolve(g)
    result = unlearn(m, task, "graph_eraser")
    ref = retrained_reference(m, task)
    assert_same_model(result.model, ref)
    r = task.retained_data
    pairs = r.test_pos_edge_index
    assert torch.equal(result.model(r.x, r.edge_index, pairs), ref(r.x, r.edge_index, pairs))
    for k in set(range(3)) - set(result.history["touched_shards"]):
        assert all(torch.equal(p, q) for p, q in zip(result.model.shards[k].parameters(), m.shards[k].parameters()))
    if kind == "edge":  # scored like any link predictor (test AUROC, shadow attack on the shard architecture)
        report = evaluate(result, task, retrained=unlearn(m, task, "retrain"))
        assert 0.5 < report.row("graph_eraser")["dt_auroc"] <= 1


def test_class_request_is_bit_exact(sharding_graph, model):
    task = DeletionRequest.node_class(1).resolve(sharding_graph)
    result = unlearn(model, task, "graph_eraser")
    assert_same_model(result.model, retrained_reference(model, task))
    r = task.retained_data
    assert not (r.train_mask & (r.y == 1)).any()
