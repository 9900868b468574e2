import pytest
import torch

from gnn_unlearn import DeletionRequest
from gnn_unlearn.models.sharded import ShardedModel
from gnn_unlearn.sharding import (learned_weights, retrain_shards, shard_graph, shard_seed,
                                  similarity_weights, touched_shards, train_sharded)

from .sharding_fixtures import ARCH, FAST


@pytest.fixture(scope="module")
def model(sharding_graph):
    return train_sharded(sharding_graph, num_shards=4, partition="blpa", aggregation="learned", seed=0,
                         config=FAST, **ARCH)


def same_graph(a, b):
    return all(torch.equal(a[k], b[k]) for k in ("x", "edge_index", "y", "train_mask", "val_mask", "node_ids"))


def test_shard_seeds_are_distinct_and_deterministic():
    seeds = {shard_seed(s, k) for s in range(3) for k in range(10)}
    assert len(seeds) == 30


def test_shard_graph_is_the_induced_subgraph(sharding_graph, model):
    a = model.assignment
    for k in range(model.num_shards):
        sg = shard_graph(sharding_graph, a, k)
        nodes = sg.node_ids
        assert torch.equal(nodes, (a == k).nonzero().view(-1))
        ei = sharding_graph.edge_index
        inside = (a[ei[0]] == k) & (a[ei[1]] == k)
        assert sg.edge_index.size(1) == int(inside.sum())
        assert set(map(tuple, nodes[sg.edge_index].t().tolist())) == set(map(tuple, ei[:, inside].t().tolist()))
        assert torch.equal(sg.train_mask, sharding_graph.train_mask[nodes])


def test_shard_graph_does_not_depend_on_edge_order(sharding_graph, model):
    perm = torch.randperm(sharding_graph.edge_index.size(1), generator=torch.Generator().manual_seed(0))
    shuffled = sharding_graph.clone()
    shuffled.edge_index = sharding_graph.edge_index[:, perm]
    for repair in (None, "mixup"):
        a = model.assignment
        assert same_graph(shard_graph(sharding_graph, a, 1, repair), shard_graph(shuffled, a, 1, repair))


def test_repair_adds_one_virtual_neighbour_per_cut_edge_from_own_features(sharding_graph, model):
    a, k = model.assignment, 2
    plain = shard_graph(sharding_graph, a, k)
    m = plain.num_nodes
    ei = sharding_graph.edge_index
    cut = int(((a[ei[1]] == k) & (a[ei[0]] != k)).sum())
    for repair in ("zero", "mirror", "mixup"):
        sg = shard_graph(sharding_graph, a, k, repair)
        assert sg.num_nodes == m + cut and sg.edge_index.size(1) == plain.edge_index.size(1) + 2 * cut
        assert not sg.train_mask[m:].any() and not sg.val_mask[m:].any()
        virt = sg.edge_index[:, sg.edge_index[0] >= m]          # virtual -> real owner
        owner_x = sg.x[virt[1]]
        vx = sg.x[virt[0]]
        if repair == "zero":
            assert (vx == 0).all()
        elif repair == "mirror":
            assert torch.equal(vx, owner_x)
        else:  # lambda * x_u with lambda in [0, 1): never more than the owner's features
            assert (vx <= owner_x).all() and (vx >= 0).all() and not torch.equal(vx, owner_x)


def test_untouched_shard_graphs_do_not_change(sharding_graph, model):
    """The property exactness rests on: a deletion leaves untouched shards' data as it was."""
    ids = sharding_graph.train_mask.nonzero().view(-1)[:3]
    for request in (DeletionRequest.nodes(ids), DeletionRequest.features(ids),
                    DeletionRequest.edges(sharding_graph.edge_index[:, :4:2])):
        task = request.resolve(sharding_graph)
        touched = set(touched_shards(model, task).tolist())
        assert touched
        for k in range(model.num_shards):
            before = shard_graph(sharding_graph, model.assignment, k)
            after = shard_graph(task.retained_data, model.assignment, k)
            assert same_graph(before, after) == (k not in touched)


def test_learned_weights_are_a_distribution_and_favour_the_better_shard(sharding_graph, model):
    w = learned_weights(list(model.shards), sharding_graph, seed=0)
    assert (w >= 0).all() and torch.isclose(w.sum(), torch.tensor(1.0))
    assert torch.equal(w, learned_weights(list(model.shards), sharding_graph, seed=0))

    class Oracle(torch.nn.Module):          # a "shard" that predicts the labels perfectly
        task = "node"

        def forward(self, x, edge_index):
            return 20 * torch.nn.functional.one_hot(sharding_graph.y, 3).float()

    class Uniform(Oracle):
        def forward(self, x, edge_index):
            return torch.zeros(sharding_graph.num_nodes, 3)

    w = learned_weights([Uniform(), Oracle()], sharding_graph, seed=0, lr=0.05, l2=0.0)
    assert w[1] > w[0]


def test_similarity_weights_are_a_repeatable_distribution(sharding_graph, model):
    w = similarity_weights(sharding_graph, model.assignment, model.num_shards)
    assert torch.isclose(w.sum(), torch.tensor(1.0))
    assert torch.equal(w, similarity_weights(sharding_graph, model.assignment, 4))


def test_similarity_memo_reuses_unchanged_shards_only(sharding_graph, model, monkeypatch):
    import gnn_unlearn.sharding as sharding
    memo: dict = {}
    fresh = similarity_weights(sharding_graph, model.assignment, 4, memo=memo)
    assert torch.equal(fresh, similarity_weights(sharding_graph, model.assignment, 4)) and len(memo) == 4
    # delete the edges inside shard 0: its subgraph changes, the other three do not
    a, ei = model.assignment, sharding_graph.edge_index
    edited = sharding_graph.clone()
    edited.edge_index = ei[:, ~((a[ei[0]] == 0) & (a[ei[1]] == 0))]
    calls = []
    embed = sharding.spectral_vertex_embedding
    monkeypatch.setattr(sharding, "spectral_vertex_embedding", lambda *args: calls.append(args[1]) or embed(*args))
    kept = dict(memo)
    reused = similarity_weights(edited, a, 4, memo=memo)
    assert calls == [sharding_graph.num_nodes, int((a == 0).sum())]     # the whole graph, then shard 0
    monkeypatch.setattr(sharding, "spectral_vertex_embedding", embed)
    assert torch.equal(reused, similarity_weights(edited, a, 4))
    assert len(memo) == 4 and len(set(memo) & set(kept)) == 3            # only this call's shards are kept


def test_retrain_shards_shares_kept_shards_only_when_asked(sharding_graph):
    guide = train_sharded(sharding_graph, num_shards=4, method="guide", seed=0, config=FAST, **ARCH)
    memo = dict(guide.similarity_memo)
    copied = retrain_shards(guide, sharding_graph, [1])
    shared = retrain_shards(guide, sharding_graph, [1], copy_kept=False)
    assert guide.similarity_memo == memo                                  # the input's memo is left alone
    assert all(copied.shards[k] is not guide.shards[k] for k in range(4))
    assert [shared.shards[k] is guide.shards[k] for k in range(4)] == [True, False, True, True]
    assert torch.equal(copied.weights, guide.weights) and torch.equal(shared.weights, guide.weights)


def test_sharded_model_predicts_like_its_aggregation(sharding_graph, model):
    probs = model.shard_probabilities(sharding_graph.x, sharding_graph.edge_index)
    out = model(sharding_graph.x, sharding_graph.edge_index).exp()
    assert torch.allclose(out, torch.einsum("k,knc->nc", model.weights, probs), atol=1e-6)
    maj = ShardedModel(list(model.shards), model.assignment, "majority", config=model.config)
    votes = torch.nn.functional.one_hot(probs.argmax(-1), 3).sum(0)
    pred = maj(sharding_graph.x, sharding_graph.edge_index).argmax(-1)
    assert (votes.gather(1, pred.view(-1, 1)).view(-1) == votes.max(1).values).all()


def test_retrain_shards_keeps_other_shards_and_the_input(sharding_graph, model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = retrain_shards(model, sharding_graph, [1])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    for k in (0, 2, 3):
        assert all(torch.equal(p, q) for p, q in zip(out.shards[k].parameters(), model.shards[k].parameters()))
    # retraining shard 1 on the same data from the same seed gives the same weights
    assert all(torch.equal(p, q) for p, q in zip(out.shards[1].parameters(), model.shards[1].parameters()))
    with pytest.raises(ValueError, match="outside"):
        retrain_shards(model, sharding_graph, [7])


def test_train_sharded_refuses_bad_inputs(sharding_graph):
    with pytest.raises(ValueError, match="task='node' or 'link'"):
        train_sharded(sharding_graph, task="rec")
    with pytest.raises(ValueError, match="link_split"):
        train_sharded(sharding_graph, task="link")
    featureless = sharding_graph.clone()
    del featureless.x
    with pytest.raises(ValueError, match="node features"):
        train_sharded(featureless)
    with pytest.raises(ValueError, match="unknown partition"):
        train_sharded(sharding_graph, partition="spectral")
    with pytest.raises(ValueError, match="unknown aggregation"):
        train_sharded(sharding_graph, aggregation="max")
    with pytest.raises(ValueError, match="unknown repair"):
        train_sharded(sharding_graph, repair="copy")
    with pytest.raises(ValueError, match="long tensor of shape"):
        train_sharded(sharding_graph, partition=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="training nodes"):
        train_sharded(sharding_graph, num_shards=10_000)
    with pytest.raises(ValueError, match="method preset"):
        train_sharded(sharding_graph, method="sisa")
    no_split = sharding_graph.clone()
    del no_split.train_mask
    with pytest.raises(ValueError, match="node_split"):
        train_sharded(no_split)


def test_partition_options_are_checked_before_any_training(sharding_graph, monkeypatch):
    """bekm trains a backbone before its k-means runs: an option it does not take must be refused
    first, as must options for a given assignment (they would be ignored) and for ``random``."""
    import gnn_unlearn.sharding as sharding

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the partition options were checked")
    monkeypatch.setattr(sharding, "train", refuse)
    monkeypatch.setattr(sharding, "train_shards", refuse)
    with pytest.raises(ValueError, match="partition 'bekm' takes the options iters, capacity; got 'refine_rounds'"):
        train_sharded(sharding_graph, num_shards=2, partition="bekm", partition_options={"refine_rounds": 0})
    with pytest.raises(ValueError, match=r"partition 'random' takes the options \(none\); got 'delta'"):
        train_sharded(sharding_graph, num_shards=2, partition_options={"delta": 0.1})
    with pytest.raises(ValueError, match="an assignment tensor takes none"):
        train_sharded(sharding_graph, num_shards=2, partition=torch.zeros(sharding_graph.num_nodes, dtype=torch.long),
                      partition_options={"iters": 3})
    with pytest.raises(TypeError, match="partition_options must be a dict"):
        train_sharded(sharding_graph, num_shards=2, partition="blpa", partition_options=[("delta", 0.1)])


@pytest.mark.slow
def test_parallel_shard_training_gives_the_same_weights(sharding_graph, model):
    """Spawned workers (slow to start: marked slow) train the same shards as one process."""
    parallel = train_sharded(sharding_graph, num_shards=4, partition="blpa", aggregation="learned", seed=0,
                             config=FAST, workers=2, **ARCH)
    for k in ("assignment", "weights"):
        assert torch.equal(getattr(parallel, k), getattr(model, k))
    sa, sb = parallel.state_dict(), model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_workers_must_be_positive(sharding_graph):
    with pytest.raises(ValueError, match="workers"):
        train_sharded(sharding_graph, num_shards=2, config=FAST, workers=0, **ARCH)
