import pytest
import torch

from gnn_unlearn import TrainConfig, link_split, node_split, train
from gnn_unlearn.data import synthetic_graph
from gnn_unlearn.loader import NeighborSampler, fit_minibatch
from gnn_unlearn.models import make_model
from gnn_unlearn.training import validation_score


def test_sampled_edges_are_real_edges_and_seeds_come_first():
    data = synthetic_graph(400, seed=0)
    sampler = NeighborSampler(data.edge_index, data.num_nodes, [5, 3])
    seeds = torch.tensor([7, 3, 100])
    n_id, ei = sampler.sample(seeds, torch.Generator().manual_seed(0))
    assert torch.equal(n_id[:3], seeds) and n_id.unique().numel() == n_id.numel()
    keys = set((data.edge_index[0] * 400 + data.edge_index[1]).tolist())
    assert all(int(s) * 400 + int(t) in keys for s, t in n_id[ei].t())
    deg = torch.bincount(data.edge_index[1], minlength=400)
    first_hop = ei[:, torch.isin(ei[1], torch.arange(3))]
    assert torch.bincount(first_hop[1], minlength=3).le(torch.clamp(deg[seeds], max=5)).all()
    assert (sampler._local == -1).all()                       # id map reset after the batch
    again, _ = sampler.sample(seeds, torch.Generator().manual_seed(0))
    assert torch.equal(again, n_id)                           # seeded


@pytest.mark.parametrize("task", ["node", "link"])
def test_minibatch_training_learns_like_full_batch(task):
    base = synthetic_graph(1500, seed=0)
    data = node_split(base, seed=0) if task == "node" else link_split(base, seed=0)
    cfg = TrainConfig(epochs=20, eval_every=5, seed=0)
    full, _ = train(data, task, cfg)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = make_model(data, task)
    mini, hist = fit_minibatch(model, data, cfg, fanouts=(10, 10), batch_size=1024)
    assert len(hist.loss) == hist.epochs_run and hist.loss[-1] < hist.loss[0]
    assert validation_score(mini, data) > validation_score(full, data) - 0.05


def test_minibatch_refusals(lastfm):
    data = node_split(synthetic_graph(200, seed=0), seed=0)
    model = make_model(data, "node")
    with pytest.raises(ValueError, match="one fanout per layer"):
        fit_minibatch(model, data, fanouts=(5,))
    with pytest.raises(ValueError, match="positive ints"):
        NeighborSampler(data.edge_index, data.num_nodes, [0])
    with pytest.raises(ValueError, match="node and link"):
        fit_minibatch(make_model(lastfm, "rec"), lastfm)


def test_retrain_with_minibatches(cora_gcn, cora_task):
    from gnn_unlearn import unlearn
    from gnn_unlearn.metrics.link import link_auc
    result = unlearn(cora_gcn, cora_task, "retrain", fanouts=[10, 10], batch_size=2048, epochs=12)
    data = cora_task.retained_data
    assert result.history["epochs_run"] == 12 or result.history["best_epoch"] > 0
    auc = link_auc(result.model, data, data.test_pos_edge_index, data.test_neg_edge_index)["auroc"]
    assert auc > 0.8


def test_sampler_refuses_bad_seeds():
    data = synthetic_graph(100, seed=0)
    sampler = NeighborSampler(data.edge_index, data.num_nodes, [3])
    with pytest.raises(ValueError, match="distinct"):
        sampler.sample(torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="node ids"):
        sampler.sample(torch.tensor([100]))
    with pytest.raises(ValueError, match="outside 0..49"):
        NeighborSampler(data.edge_index, 50, [3])          # a graph bigger than num_nodes says
    with pytest.raises(ValueError, match="positive ints"):
        NeighborSampler(data.edge_index, data.num_nodes, [2.5])
    with pytest.raises(ValueError, match="int64"):
        NeighborSampler(data.edge_index.int(), data.num_nodes, [3])


def test_retrain_repeats_a_minibatch_recipe(cora_link):
    """A model trained on mini-batches is retrained on mini-batches with the same sampling."""
    from gnn_unlearn import unlearn
    from gnn_unlearn.data import sample_edges
    from gnn_unlearn.methods.retrain import Retrain
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = make_model(cora_link, "link")
    model, _ = fit_minibatch(model, cora_link, TrainConfig(epochs=2, eval_every=1), (5, 5), 4096)
    assert model.train_config["fanouts"] == [5, 5] and model.train_config["minibatch_size"] == 4096
    assert Retrain().sampling_for(model) == ([5, 5], 4096, "torch")
    assert Retrain(fanouts=[3, 3], batch_size=64).sampling_for(model) == ([3, 3], 64, "torch")
    task = sample_edges(cora_link, 0.01, seed=0).resolve(cora_link, num_hops=2)
    result = unlearn(model, task, "retrain")
    assert result.model.train_config["fanouts"] == [5, 5]
    assert result.history["epochs_run"] == 2


def test_index_batches_cover_every_index_once():
    from gnn_unlearn.loader import index_batches
    g = torch.Generator().manual_seed(0)
    batches = index_batches(134, 32, g)
    assert [b.numel() for b in batches] == [32, 32, 32, 32, 6]
    assert torch.equal(torch.cat(batches).sort()[0], torch.arange(134))
    state = g.get_state()
    full = index_batches(134, None, g)                 # full batch: in order, draws nothing
    assert len(full) == 1 and torch.equal(full[0], torch.arange(134))
    assert torch.equal(g.get_state(), state)


def _assert_real_subgraph(batch, data):
    """Local edges map to graph edges through n_id, and e_id names them (edge features follow)."""
    glob = batch.n_id[batch.edge_index]
    assert torch.equal(glob, data.edge_index[:, batch.e_id])
    assert torch.equal(batch.edge_attr, data.edge_attr[batch.e_id])
    assert batch.n_id.unique().numel() == batch.n_id.numel()
    assert sum(batch.num_sampled_nodes) == batch.num_nodes


def test_pyg_node_loader_runs_on_our_sampler(cora):
    from gnn_unlearn.loader import neighbor_loader
    data = node_split(cora, seed=0)
    data.edge_attr = torch.arange(data.edge_index.size(1), dtype=torch.float).view(-1, 1)
    train_ids = data.train_mask.nonzero().view(-1)
    loader = neighbor_loader(data, [4, 2], seed=0, input_nodes=data.train_mask, batch_size=100,
                             shuffle=True)
    seen = []
    for batch in loader:
        _assert_real_subgraph(batch, data)
        seeds = batch.n_id[: batch.batch_size]
        assert torch.equal(seeds, train_ids[batch.input_id])          # seeds first, in order
        assert torch.equal(batch.y[: batch.batch_size], data.y[seeds])
        first_hop = batch.edge_index[1] < batch.batch_size
        assert torch.bincount(batch.edge_index[1, first_hop]).max() <= 4   # fanout respected
        seen.append(seeds)
    assert torch.equal(torch.cat(seen).sort().values, train_ids)     # one epoch covers all seeds


def test_pyg_link_loader_runs_on_our_sampler(cora_link):
    from torch_geometric.sampler import NegativeSampling

    from gnn_unlearn.loader import link_neighbor_loader
    data = cora_link.clone()
    data.edge_attr = torch.randn(data.edge_index.size(1), 2)
    pos = data.train_pos_edge_index
    loader = link_neighbor_loader(data, [5, 5], seed=0, edge_label_index=pos, batch_size=256,
                                  neg_sampling=NegativeSampling("binary", amount=1))
    model = make_model(data, "link")
    batch = next(iter(loader))
    _assert_real_subgraph(batch, data)
    k = batch.input_id.numel()
    assert torch.equal(batch.n_id[batch.edge_label_index[:, :k]], pos[:, batch.input_id])
    assert batch.edge_label.tolist() == [1.0] * k + [0.0] * k
    logits = model.decode(model.encode(batch.x, batch.edge_index), batch.edge_label_index)
    assert logits.shape == (2 * k,) and torch.isfinite(logits).all()


def test_embedder_accepts_any_pyg_sampler(cora_link):
    """The path taken by sampler="pyg" (PyG's NeighborSampler), through the BaseSampler API."""
    from torch_geometric.sampler import BaseSampler

    from gnn_unlearn.loader import Embedder, sample_subgraph

    class ThroughPyGApi(BaseSampler):          # not our class: sample_subgraph must use the API
        def __init__(self, inner):
            self.inner = inner

        def sample_from_nodes(self, inputs):
            return self.inner.sample_from_nodes(inputs)

        def sample_from_edges(self, inputs, neg_sampling=None):
            return self.inner.sample_from_edges(inputs, neg_sampling)

    data = cora_link
    ours = NeighborSampler(data.edge_index, data.num_nodes, [3, 3],
                           generator=torch.Generator().manual_seed(1))
    seeds = torch.tensor([5, 0, 42])
    n_id, ei = sample_subgraph(ThroughPyGApi(ours), seeds)
    again, ei2 = ours.sample(seeds, torch.Generator().manual_seed(1))
    assert torch.equal(n_id, again) and torch.equal(ei, ei2)
    model = make_model(data, "link").eval()
    embedder = Embedder(data, [3, 3])
    embedder.sampler = ThroughPyGApi(ours)
    nodes = torch.tensor([42, 5, 42])
    z, rows, index = embedder(model, nodes)
    assert torch.equal(rows[index], nodes) and z[index].shape == (3, z.size(1))


def test_pyg_sampler_choice():
    import torch_geometric.typing as pyg_typing

    from gnn_unlearn import methods
    from gnn_unlearn.loader import build_sampler
    data = synthetic_graph(200, seed=0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        methods.get("gradient_ascent", sampler="dgl")
    with pytest.raises(ValueError, match="sampler must be one of"):
        build_sampler(data, [2], "neighbour")
    if pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE:
        from torch_geometric.sampler import NeighborSampler as PyGNeighborSampler
        assert isinstance(build_sampler(data, [2, 2], "pyg"), PyGNeighborSampler)
    else:
        with pytest.raises(ImportError, match="pyg-lib or torch-sparse"):
            build_sampler(data, [2, 2], "pyg")


def test_sampling_without_replacement_draws_distinct_neighbours_uniformly():
    data = synthetic_graph(300, avg_degree=8.0, seed=1)
    sampler = NeighborSampler(data.edge_index, data.num_nodes, [3])
    deg = torch.bincount(data.edge_index[1], minlength=300)
    seeds = torch.arange(300)
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(data.edge_index.size(1))
    draws = 400
    for _ in range(draws):
        out = sampler._sample(seeds, generator=g)
        assert torch.equal(torch.bincount(out.col, minlength=300), deg.clamp(max=3))  # exactly min(deg, 3)
        assert out.edge.unique().numel() == out.edge.numel()                         # distinct
        counts[out.edge] += 1
    # each in-edge of v is drawn with probability min(deg, 3) / deg
    expect = draws * (deg.clamp(max=3) / deg.clamp(min=1))[data.edge_index[1]]
    assert ((counts - expect).abs() <= 5 * expect.sqrt() + 1).all()
    with_rep = NeighborSampler(data.edge_index, data.num_nodes, [3], replace=True)
    out = with_rep._sample(seeds, generator=g)
    assert torch.bincount(out.col, minlength=300).le(deg.clamp(max=3)).all()


def _capped(data, max_steps, epochs=3, batch_size=200):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = make_model(data, "link")
    cfg = TrainConfig(epochs=epochs, eval_every=epochs, patience=10 ** 6, seed=0)
    return fit_minibatch(model, data, cfg, (3, 3), batch_size, max_steps=max_steps)


def test_max_steps_stops_training_after_that_many_batches():
    """A cap stops mid-epoch after exactly ``max_steps`` optimiser steps, validates there, and
    records itself in the recipe; a cap at the end of the run changes nothing."""
    data = link_split(synthetic_graph(300, seed=0), seed=0)
    per_epoch = -(-data.train_pos_edge_index.size(1) // 200)
    assert per_epoch >= 3
    full, full_hist = _capped(data, None)
    assert full_hist.steps == 3 * per_epoch and full.train_config["max_steps"] is None
    same, same_hist = _capped(data, 3 * per_epoch)
    assert same_hist.steps == 3 * per_epoch
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(),
                                                same.state_dict().values()))
    two, two_hist = _capped(data, per_epoch + 2)      # one full epoch, two steps of the next
    assert (two_hist.steps, two_hist.epochs_run) == (per_epoch + 2, 2)
    assert [e for e, _ in two_hist.val] == [2]       # validated where the cap stopped it
    assert two.train_config["max_steps"] == per_epoch + 2
    three, _ = _capped(data, per_epoch + 3)          # one step more: different weights
    assert not all(torch.equal(a, b) for a, b in zip(two.state_dict().values(),
                                                     three.state_dict().values()))


def test_retrain_repeats_the_step_cap():
    from gnn_unlearn import unlearn
    from gnn_unlearn.data import sample_edges
    data = link_split(synthetic_graph(300, seed=0), seed=0)
    model, _ = _capped(data, 4)
    task = sample_edges(data, 0.02, seed=0).resolve(data, num_hops=2)
    result = unlearn(model, task, "retrain")
    assert result.history["steps"] == 4 and result.model.train_config["max_steps"] == 4


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_max_steps_refuses_non_positive_ints(bad):
    data = link_split(synthetic_graph(200, seed=0), seed=0)
    with pytest.raises(ValueError, match="max_steps"):
        fit_minibatch(make_model(data, "link"), data, TrainConfig(epochs=1), (3, 3), 64,
                      max_steps=bad)


@pytest.mark.parametrize("replace", [False, True])
def test_sampler_stores_int32_and_returns_consistent_int64_edges(replace):
    """The CSR is int32; each sampled edge's id, local source and local target agree with
    the graph's edge_index (both draws, whose targets are recovered from the CSR)."""
    data = synthetic_graph(500, avg_degree=12.0, seed=1)
    sampler = NeighborSampler(data.edge_index, data.num_nodes, [4, 3], replace=replace)
    assert sampler.col.dtype == torch.int32 and sampler.perm.dtype == torch.int32
    out = sampler._sample(torch.tensor([5, 17, 250, 499]), generator=torch.Generator().manual_seed(2))
    assert out.node.dtype == out.row.dtype == out.col.dtype == out.edge.dtype == torch.long
    assert torch.equal(data.edge_index[0, out.edge], out.node[out.row])
    assert torch.equal(data.edge_index[1, out.edge], out.node[out.col])
    assert out.edge.unique().numel() == out.edge.numel()
