"""The library on a CUDA device: training, the sparse kernels, sampling, requests and every method.

Every test runs on ``$GNN_UNLEARN_TEST_DEVICE`` (default ``cuda``) and skips cleanly when that
is CUDA and none is available. ``GNN_UNLEARN_TEST_DEVICE=cpu pytest -m cuda tests/test_cuda.py``
runs the same checks on the CPU (the device-vs-CPU comparisons are then trivially equal; the
rest of the logic is exercised), which is how they were checked before meeting a GPU.

Small synthetic graphs and a few epochs: the whole file takes well under a minute on a GPU.
"""
from __future__ import annotations

import copy
import math
import os

import pytest
import torch

from gnn_unlearn import DeletionRequest, TrainConfig, train, unlearn
from gnn_unlearn.data import (bipartite_synthetic, link_split, node_split, sample_edges,
                              sample_interactions, sample_nodes, synthetic_graph)
from gnn_unlearn.loader import NeighborSampler
from gnn_unlearn.models.encoders import GNNEncoder, SymmetricPropagation
from gnn_unlearn.models.lightgcn import normalized_adjacency
from gnn_unlearn.models.predictors import model_outputs
from gnn_unlearn.ops.scoring import PairDot, pair_dot
from gnn_unlearn.utils import data_to

from .conftest import param_hash

DEVICE = os.environ.get("GNN_UNLEARN_TEST_DEVICE", "cuda")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(torch.device(DEVICE).type == "cuda" and not torch.cuda.is_available(),
                       reason="no CUDA device (set GNN_UNLEARN_TEST_DEVICE=cpu to run these on the CPU)"),
]


@pytest.fixture(scope="module")
def dev() -> torch.device:
    return torch.device(DEVICE)


def _on(module: torch.nn.Module, device: torch.device) -> bool:
    return all(p.device.type == device.type for p in module.parameters())


@pytest.fixture(scope="module")
def link_data():
    return link_split(synthetic_graph(300, num_classes=3, avg_degree=6, num_features=16,
                                      features_per_node=4, seed=0), seed=0)


@pytest.fixture(scope="module")
def node_data():
    return node_split(synthetic_graph(300, num_classes=3, avg_degree=6, num_features=16,
                                      features_per_node=4, seed=0), seed=0)


@pytest.fixture(scope="module")
def rec_data():
    return bipartite_synthetic(num_users=120, num_items=150, avg_degree=10, seed=0)


@pytest.fixture(scope="module")
def link_model(link_data, dev):
    model, hist = train(link_data, "link", TrainConfig(epochs=30, eval_every=5, seed=0), device=dev)
    return model, hist


@pytest.fixture(scope="module")
def node_model(node_data, dev):
    model, hist = train(node_data, "node", TrainConfig(epochs=30, eval_every=5, seed=0), device=dev)
    return model, hist


@pytest.fixture(scope="module")
def rec_model(rec_data, dev):
    model, hist = train(rec_data, "rec", TrainConfig(epochs=20, lr=0.01, batch_size=512, eval_every=10,
                                                     seed=0), device=dev)
    return model, hist


def test_resolved_device_is_the_one_tensors_report(link_data):
    from gnn_unlearn.utils import resolve_device
    d = resolve_device(DEVICE)
    assert torch.zeros(1, device=d).device == d          # 'cuda' resolves to 'cuda:<index>'
    on = data_to(link_data, d)
    assert data_to(on, d) is on                          # already there: no copy
    task = sample_edges(on, 5, seed=0).resolve(on)
    assert task.to(d) is task


# training ---------------------------------------------------------------------------------

def test_link_predictor_trains_on_device_and_learns(link_model, link_data, dev):
    model, hist = link_model
    assert _on(model, dev)
    assert hist.epochs_run == 30
    assert hist.best_val > 0.6, hist.best_val          # well above chance on a homophilous graph
    z = model_outputs(model, data_to(link_data, dev))
    assert z.device.type == dev.type and torch.isfinite(z).all()


def test_node_classifier_trains_on_device_and_learns(node_model, node_data, dev):
    model, hist = node_model
    assert _on(model, dev)
    assert hist.best_val > 0.5, hist.best_val          # 3 classes: chance is ~0.33
    logits = model_outputs(model, data_to(node_data, dev))
    assert logits.device.type == dev.type and torch.isfinite(logits).all()


def test_training_on_device_matches_cpu_closely(link_data, dev):
    """Same seed, same initial weights, same (CPU-drawn) negatives and no dropout (whose masks
    come from each device's own RNG): the device run follows the CPU run up to float noise."""
    runs = [train(link_data, "link", TrainConfig(epochs=5, eval_every=5, seed=0), device=where,
                  dropout=0.0) for where in ("cpu", dev)]
    (cpu_model, cpu_hist), (dev_model, dev_hist) = runs
    assert torch.allclose(torch.tensor(cpu_hist.loss), torch.tensor(dev_hist.loss), rtol=1e-3)
    for (name, a), b in zip(dev_model.state_dict().items(), cpu_model.state_dict().values()):
        assert torch.allclose(a.cpu(), b, atol=1e-2), name


# kernels ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pair_dot_on_device_equals_cpu_forward_and_backward(dev, dtype):
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(500, 16, generator=g, dtype=dtype)
    pairs = torch.randint(500, (2, 6000), generator=g)
    pairs[:, :50] = pairs[:, 50:100]                  # duplicate pairs
    pairs[1, :20] = pairs[0, :20]                     # self pairs
    weights = torch.randn(6000, generator=g, dtype=dtype)
    results = {}
    for where in ("cpu", dev):
        z = z0.detach().clone().to(where).requires_grad_()
        s = PairDot.apply(z, pairs[0].to(where), pairs[1].to(where))
        (s * weights.to(where)).sum().backward()
        results[str(where)] = (s.detach().cpu(), z.grad.cpu())
        assert s.device.type == torch.device(where).type
    (s_cpu, g_cpu), (s_dev, g_dev) = results["cpu"], results[str(dev)]
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    assert torch.allclose(s_cpu, s_dev, atol=tol) and torch.allclose(g_cpu, g_dev, atol=tol)
    gather = (z0[pairs[0]] * z0[pairs[1]]).sum(-1)     # and both equal the plain definition
    assert torch.allclose(s_dev, gather, atol=tol)
    small = pair_dot(z0.to(dev), pairs[:, :10].to(dev))   # below min_pairs: the gather path
    assert torch.allclose(small.cpu(), gather[:10], atol=tol)


def test_symmetric_propagation_on_device_equals_cpu(link_data, dev):
    ei = link_data.edge_index
    n = link_data.num_nodes
    g = torch.Generator().manual_seed(1)
    h0, w = torch.randn(n, 8, generator=g), torch.randn(n, 8, generator=g)
    out = {}
    for where in ("cpu", dev):
        adj = normalized_adjacency(ei.to(where), n)
        assert adj.layout == torch.sparse_csr and adj.device.type == torch.device(where).type
        h = h0.detach().clone().to(where).requires_grad_()
        y = SymmetricPropagation.apply(adj, SymmetricPropagation.apply(adj, h))
        (y * w.to(where)).sum().backward()
        plain = h0.detach().clone().to(where).requires_grad_()         # torch's own CSR backward
        (adj @ (adj @ plain) * w.to(where)).sum().backward()
        out[str(where)] = (y.detach().cpu(), h.grad.cpu(), plain.grad.cpu())
    cpu, gpu = out["cpu"], out[str(dev)]
    for a, b in zip(cpu, gpu):
        assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(gpu[1], gpu[2], atol=1e-5)   # symmetric backward = transposed backward


@pytest.mark.parametrize("kind", ["gcn", "gin", "sage", "gat"])
def test_encoder_gradients_on_device_equal_cpu(link_data, dev, kind):
    torch.manual_seed(0)
    enc = GNNEncoder(link_data.num_features, 16, 8, num_layers=2, conv=kind, dropout=0.0)
    grads = {}
    for where in ("cpu", dev):
        e = copy.deepcopy(enc).to(where)
        x = link_data.x.detach().clone().to(where).requires_grad_()
        z = e(x, link_data.edge_index.to(where))
        (z ** 2).sum().backward()
        grads[str(where)] = [x.grad.cpu()] + [p.grad.cpu() for p in e.parameters()]
        if kind in ("gcn", "gin"):
            assert e.prepare(link_data.edge_index.to(where), link_data.num_nodes).symmetric
    for a, b in zip(grads["cpu"], grads[str(dev)]):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_lightgcn_gradients_on_device_equal_cpu(rec_model, rec_data, dev):
    model, _ = rec_model
    grads = {}
    for where in ("cpu", dev):
        m = copy.deepcopy(model).to(where)
        z = m.encode(None, rec_data.edge_index.to(where))
        pairs = rec_data.train_pos_edge_index.to(where)
        m.decode(z, pairs).sum().backward()
        grads[str(where)] = m.embedding.weight.grad.cpu()
    assert torch.allclose(grads["cpu"], grads[str(dev)], atol=1e-4)


# sampling and requests --------------------------------------------------------------------

def test_negative_sampling_on_device_draws_the_cpu_pairs(link_data, dev):
    from gnn_unlearn.ops import sample_non_edges
    from gnn_unlearn.ops.graph import edge_keys
    pos = link_data.train_pos_edge_index
    n = link_data.num_nodes
    cpu = sample_non_edges(pos, n, 500, torch.Generator().manual_seed(5))
    on_dev = sample_non_edges(pos.to(dev), n, 500, torch.Generator().manual_seed(5))
    assert on_dev.device.type == dev.type and torch.equal(on_dev.cpu(), cpu)
    assert not torch.isin(edge_keys(cpu, n), edge_keys(pos, n)).any()
    bip = sample_non_edges(pos.to(dev), n, 50, torch.Generator().manual_seed(5),
                           source_range=(0, 100), target_range=(100, n), undirected=False)
    assert bool((bip[0] < 100).all() and (bip[1] >= 100).all())


def test_neighbor_sampler_on_device_matches_cpu(link_data, dev):
    ei = link_data.edge_index
    seeds = torch.tensor([0, 5, 17, 42, 99])
    out = {}
    for where in ("cpu", dev):
        for replace in (False, True):
            sampler = NeighborSampler(ei.to(where), link_data.num_nodes, [4, 3], replace=replace)
            n_id, sub = sampler.sample(seeds.to(where), torch.Generator().manual_seed(3))
            assert n_id.device.type == sub.device.type == torch.device(where).type
            out[(str(where), replace)] = (n_id.cpu(), sub.cpu())
    keys = set((ei[0] * link_data.num_nodes + ei[1]).tolist())
    for replace in (False, True):
        n_id, sub = out[(str(dev), replace)]
        assert torch.equal(n_id[:5], seeds)
        # every sampled edge is an edge of the graph (source -> target)
        assert all(k in keys for k in (n_id[sub[0]] * link_data.num_nodes + n_id[sub[1]]).tolist())
        # the draw comes from the CPU generator: the same subgraph on either device
        assert torch.equal(n_id, out[("cpu", replace)][0]) and torch.equal(sub, out[("cpu", replace)][1])


def test_resolve_on_device_equals_cpu(link_data, dev):
    tasks = {}
    for where in ("cpu", dev):
        data = data_to(link_data, torch.device(where))
        request = (sample_edges(data, 10, where="in", seed=0)
                   | DeletionRequest.nodes(torch.tensor([3, 4], device=where)))
        tasks[str(where)] = request.resolve(data, num_hops=2)
    cpu, task = tasks["cpu"], tasks[str(dev)]
    assert task.df_mask.device.type == dev.type
    assert torch.equal(task.df_mask.cpu(), cpu.df_mask)
    assert torch.equal(task.deleted_nodes.cpu(), cpu.deleted_nodes)
    assert torch.equal(task.hop_distance.cpu(), cpu.hop_distance)
    moved = cpu.to(dev)
    assert torch.equal(moved.retained_data.edge_index.cpu(), cpu.retained_data.edge_index)


# methods ----------------------------------------------------------------------------------

LINK_METHODS = {"retrain": {"epochs": 10}, "gradient_ascent": {"epochs": 5},
                "gnndelete": {"epochs": 5}, "d2dgn": {"epochs": 5}}


def _check_result(result, original, before, dev, outputs):
    assert _on(result.model, dev)
    assert result.seconds > 0 and result.peak_memory_bytes > 0
    out = outputs(result.model)
    assert out.device.type == dev.type and torch.isfinite(out).all()
    assert param_hash(original) == before               # the input model is untouched
    assert result.model is not original


@pytest.mark.parametrize("method", list(LINK_METHODS))
@pytest.mark.parametrize("model_on", ["cpu", "device"])
def test_link_methods_on_device(link_data, link_model, dev, method, model_on):
    model, _ = link_model
    model = copy.deepcopy(model).cpu() if model_on == "cpu" else model
    task = sample_edges(link_data, 0.05, where="in", seed=0).resolve(link_data, num_hops=2)
    before, place = param_hash(model), next(model.parameters()).device
    result = unlearn(model, task, method, device=dev, **LINK_METHODS[method])
    assert next(model.parameters()).device == place     # not moved either
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: m.decode(model_outputs(m, retained),
                                                                 retained.test_pos_edge_index))


@pytest.mark.parametrize("method,kw", [("retrain", {"epochs": 10}), ("gradient_ascent", {"epochs": 5}),
                                       ("d2dgn", {"epochs": 5}),
                                       ("cognac", {"steps": 1, "contrastive_epochs_1": 2,
                                                   "contrastive_epochs_2": 2})])
def test_node_methods_on_device(node_data, node_model, dev, method, kw):
    model, _ = node_model
    task = sample_nodes(node_data, 5, seed=0).resolve(node_data, num_hops=2)
    before = param_hash(model)
    result = unlearn(model, task, method, device=dev, **kw)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: model_outputs(m, retained))


@pytest.mark.parametrize("method,kw", [("retrain", {"epochs": 5}), ("reverse_bpr", {"epochs": 5}),
                                       ("unlearnrec", {"pretrain_steps": 5, "finetune_steps": 2})])
def test_rec_methods_on_device(rec_data, rec_model, dev, method, kw):
    model, _ = rec_model
    task = sample_interactions(rec_data, 0.02, seed=0).resolve(rec_data)
    before = param_hash(model)
    result = unlearn(model, task, method, device=dev, **kw)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev,
                  lambda m: m.decode(m.encode(None, retained.edge_index), retained.test_pos_edge_index))


def test_minibatch_training_and_unlearning_on_device(link_data, dev):
    from gnn_unlearn.loader import fit_minibatch
    from gnn_unlearn.models import make_model
    from gnn_unlearn.utils import seeded
    with seeded(0):
        model = make_model(link_data, "link")
    model, hist = fit_minibatch(model, link_data, TrainConfig(epochs=3, eval_every=1, seed=0),
                                fanouts=[3, 3], batch_size=256, device=dev)
    assert _on(model, dev) and hist.epochs_run == 3 and all(map(torch.isfinite, map(torch.tensor, hist.loss)))
    task = sample_edges(link_data, 0.05, where="random", seed=0).resolve(link_data, num_hops=2)
    before = param_hash(model)
    result = unlearn(model, task, "gnndelete", device=dev, epochs=3, fanouts=[3, 3], batch_size=128)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: m.decode(model_outputs(m, retained),
                                                                 retained.test_pos_edge_index))


# pieces added after the first GPU session -----------------------------------------------

@pytest.mark.parametrize("conv", ["gcn", "gin", "sage"])
def test_sparse_feature_path_on_device_equals_dense(dev, conv):
    """Bag-of-words features as CSR products (models/features.py) on the device."""
    node_data = synthetic_graph(300, num_classes=3, avg_degree=6, num_features=128, features_per_node=4,
                                seed=0)                       # 3 % non-zeros: the sparse path
    torch.manual_seed(0)
    enc = GNNEncoder(node_data.x.size(1), hidden_channels=16, out_channels=8, conv=conv,
                     num_layers=2, dropout=0.0).to(dev)
    dense = copy.deepcopy(enc)
    dense.sparse_feature_density = 0.0
    x, ei = node_data.x.to(dev), node_data.edge_index.to(dev)
    outs = []
    for e in (enc, dense):
        e.zero_grad()
        out = e(x, ei)
        (out.square().sum() + out.sum()).backward()
        outs.append((out.detach(), [p.grad.clone() for p in e.parameters()]))
    assert enc.__dict__["_features"][3] is not None          # the sparse path ran on the device
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-4, rtol=1e-4)
    for g, r in zip(outs[0][1], outs[1][1]):
        assert torch.allclose(g, r, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("method,kw", [("utu", {}), ("gif", {"iterations": 20}),
                                       ("idea", {"iterations": 20, "noise_std": 0.01}),
                                       ("megu", {"epochs": 5})])
@pytest.mark.parametrize("kind", ["node", "link"])
def test_influence_methods_on_device(node_data, node_model, link_data, link_model, dev, method, kw, kind):
    if kind == "node":
        data, (model, _) = node_data, node_model
        task = sample_nodes(data, 5, among=data.train_mask, seed=0).resolve(data, num_hops=2)
    else:
        data, (model, _) = link_data, link_model
        task = sample_edges(data, 10, seed=0).resolve(data, num_hops=2)
    before = param_hash(model)
    result = unlearn(model, task, method, device=dev, **kw)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: model_outputs(m, retained))


def test_projector_on_device(node_data, dev):
    model, _ = train(node_data, "node", TrainConfig(epochs=20, eval_every=5, seed=0), device=dev,
                     encoder="linear", num_layers=2)
    task = sample_nodes(node_data, 5, among=node_data.train_mask, seed=0).resolve(node_data)
    before = param_hash(model)
    result = unlearn(model, task, "projector", device=dev, iterations=50)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: model_outputs(m, retained))


@pytest.mark.parametrize("method", ["megu", "sgu", "gukd"])
@pytest.mark.parametrize("request_kind", ["node", "edge"])
def test_learned_node_methods_on_device(node_data, node_model, dev, method, request_kind):
    model, _ = node_model
    request = (sample_nodes(node_data, 5, among=node_data.train_mask, seed=0) if request_kind == "node"
               else DeletionRequest.edges(node_data.edge_index[:, :4:2]))
    task = request.resolve(node_data, num_hops=2)
    before = param_hash(model)
    result = unlearn(model, task, method, device=dev, epochs=5)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: model_outputs(m, retained))


@pytest.mark.parametrize("method", ["sgu", "gukd"])
@pytest.mark.parametrize("request_kind", ["node", "edge"])
def test_learned_link_methods_on_device(link_data, link_model, dev, method, request_kind):
    model, _ = link_model
    request = (sample_nodes(link_data, 5, seed=0) if request_kind == "node"
               else sample_edges(link_data, 10, seed=0))
    task = request.resolve(link_data, num_hops=2)
    before = param_hash(model)
    result = unlearn(model, task, method, device=dev, epochs=5)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: model_outputs(m, retained))


def test_gst_on_device(node_data, dev):
    from gnn_unlearn.models import train_scattering
    model = train_scattering(node_data, noise_std=1.0, seed=0, device=dev)
    task = DeletionRequest.nodes(node_data.train_mask.nonzero().view(-1)[:2]).resolve(node_data)
    before = param_hash(model)
    result = unlearn(model, task, "gst", device=dev)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: m(retained.x, retained.edge_index))
    assert "bound" in result.history


@pytest.mark.parametrize("method,request_kind", [("cgu", "node"), ("ceu", "edge"), ("scalegun", "edge"),
                                                 ("scalegun", "node")])
def test_certified_methods_on_device(node_data, dev, method, request_kind):
    from gnn_unlearn.models import train_certified
    model = train_certified(node_data, noise_std=1.0, seed=0, device=dev,
                            rmax=0.0 if method == "scalegun" else None)
    if request_kind == "node":
        request = DeletionRequest.nodes(node_data.train_mask.nonzero().view(-1)[:2])
    else:
        request = DeletionRequest.edges(node_data.edge_index[:, :2])
    task = request.resolve(node_data)
    before = param_hash(model)
    result = unlearn(model, task, method, device=dev)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: m(retained.x, retained.edge_index))
    assert "budget_left" in str(result.history) or "bound" in str(result.history)


@pytest.mark.parametrize("method", ["graph_eraser", "guide"])
def test_sharded_methods_on_device(node_data, dev, method):
    from gnn_unlearn.sharding import train_sharded
    model = train_sharded(node_data, num_shards=3, method=method, seed=0, device=dev,
                          config=TrainConfig(epochs=10, eval_every=5, patience=100, seed=0),
                          hidden_channels=16, out_channels=16)
    task = sample_nodes(node_data, 3, among=node_data.train_mask, seed=0).resolve(node_data)
    before = param_hash(model)
    result = unlearn(model, task, method, device=dev)
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: m(retained.x, retained.edge_index))


# the fidelity grid's pieces: the held-out reference, the stopping rule and the attacks --------

@pytest.mark.parametrize("method", ["gnndelete", "d2dgn"])
def test_reference_methods_on_device(link_data, link_model, dev, method):
    from gnn_unlearn.methods import HeldOutReference
    model, _ = link_model
    reference = HeldOutReference.fit(model, link_data, seed=0, device=dev)
    task = sample_edges(link_data, 0.05, where="in", seed=0).resolve(link_data, num_hops=2)
    levels = reference.levels(task)
    assert torch.isfinite(levels).all() and ((levels >= 0) & (levels <= 1)).all()
    before = param_hash(model)
    result = unlearn(model, task, method, device=dev, epochs=5, reference=reference)
    assert result.history.get("stop_reason")
    retained = data_to(task.retained_data, dev)
    _check_result(result, model, before, dev, lambda m: m.decode(model_outputs(m, retained),
                                                                 retained.test_pos_edge_index))


def test_link_attacks_and_retrain_spread_on_device(link_data, link_model, dev):
    from gnn_unlearn import evaluate
    model, _ = link_model
    task = sample_edges(link_data, 0.05, where="in", seed=0).resolve(link_data, num_hops=2)
    result = unlearn(model, task, "gnndelete", device=dev, epochs=5)
    report = evaluate(result, task, seed=0, attacks=["lira", "relearn", "probe", "cka"],
                      attack_params={"lira": {"shadows": 4}}, retrain_seeds=3)
    columns = set(report.attack_columns) - {"cka_seed_ref"}    # that one needs seed_reference=True
    assert {"lira_tpr_1", "relearn_id_gap", "probe_auc_gap", "cka_retrain"} <= columns
    rows = {r["model"]: r for r in report.rows}
    assert {"original", "retrain", "gnndelete", "retrain#3"} <= set(rows)
    for key in columns:                                          # numbers, never NaN
        assert all(math.isfinite(r[key]) for r in rows.values()), key
    assert rows["retrain"]["cka_retrain"] == pytest.approx(1.0)
    assert rows["gnndelete"]["n_outside"] is not None
