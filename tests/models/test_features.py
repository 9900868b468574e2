import copy

import pytest
import torch

from gnn_unlearn.data import node_split, synthetic_graph
from gnn_unlearn.models import GNNEncoder, make_model
from gnn_unlearn.models.features import (SPARSE_FEATURE_DENSITY, SparseFeatures, cached_features,
                                         density, is_sparse_enough)
from gnn_unlearn.training import TrainConfig, fit
from gnn_unlearn.utils import seeded

SPARSE_PATH = ("gcn", "gin", "sage")


@pytest.fixture(scope="module")
def sparse_graph():
    """150 nodes, 200 bag-of-words columns, 4 set per node: 2 % non-zeros."""
    return node_split(synthetic_graph(num_nodes=150, num_classes=3, avg_degree=4, num_features=200,
                                      features_per_node=4, seed=3), seed=0)


def outputs_and_grads(enc: GNNEncoder, x, edge_index):
    enc.zero_grad()
    out = enc(x, edge_index)
    (out.square().sum() + out.sum()).backward()
    return out.detach(), [p.grad.clone() for p in enc.parameters()]


def dense_twin(enc: GNNEncoder) -> GNNEncoder:
    twin = copy.deepcopy(enc)
    twin.sparse_feature_density = 0.0
    return twin


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("conv", SPARSE_PATH)
def test_sparse_features_give_dense_outputs_and_gradients(sparse_graph, conv, directed):
    edge_index = sparse_graph.edge_index
    if directed:    # one direction of each edge: the non-symmetric propagation path
        edge_index = edge_index[:, edge_index[0] < edge_index[1]]
    torch.manual_seed(0)
    enc = GNNEncoder(sparse_graph.x.size(1), hidden_channels=16, out_channels=8, conv=conv,
                     num_layers=2, dropout=0.0)
    with torch.no_grad():      # GIN's eps starts at 0; make the (1 + eps) term count
        for p in enc.parameters():
            if p.dim() == 1:
                p.add_(0.1)
    twin = dense_twin(enc)
    out, grads = outputs_and_grads(enc, sparse_graph.x, edge_index)
    ref, ref_grads = outputs_and_grads(twin, sparse_graph.x, edge_index)
    assert enc.__dict__["_features"][3] is not None        # the sparse path ran
    assert twin.__dict__["_features"][3] is None          # the reference did not
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-4)
    assert len(grads) == len(ref_grads)
    # float32 round-off scales with the largest gradient: GIN's batch norm makes the gradient of
    # the bias before it ~0 in exact arithmetic, i.e. round-off of the others (~1e-7 relative)
    atol = max(1e-5, 1e-6 * max(float(r.abs().max()) for r in ref_grads))
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, atol=atol, rtol=1e-4)


def test_density_threshold_rule():
    x = torch.zeros(10, 10)
    x.view(-1)[:10] = 1.0                                  # exactly 10 % non-zeros
    assert density(x) == pytest.approx(0.1)
    assert is_sparse_enough(x, 0.1) and not is_sparse_enough(x, 0.09)
    assert is_sparse_enough(x) == (0.1 <= SPARSE_FEATURE_DENSITY)
    assert not is_sparse_enough(x, 0.0)                    # 0 turns the path off
    assert not is_sparse_enough(torch.ones(10, 10))        # dense features stay dense
    assert not is_sparse_enough(x.clone().requires_grad_())  # inputs that need a gradient
    assert not is_sparse_enough(x.long()) and not is_sparse_enough(x.half())  # other dtypes
    assert is_sparse_enough(x.double())
    assert not is_sparse_enough(x.view(-1))                # not a matrix
    assert not is_sparse_enough(torch.zeros(0, 5))


def test_gat_and_dense_features_keep_the_dense_path(sparse_graph):
    gat = GNNEncoder(sparse_graph.x.size(1), 16, 8, conv="gat")
    assert gat.sparse_input(sparse_graph.x) is None
    gcn = GNNEncoder(sparse_graph.x.size(1), 16, 8, conv="gcn")
    dense_x = torch.rand_like(sparse_graph.x)
    assert gcn.sparse_input(dense_x) is None
    assert gcn.sparse_input(sparse_graph.x) is not None


def test_feature_cache_follows_the_tensor(sparse_graph):
    enc = GNNEncoder(sparse_graph.x.size(1), 16, 8).eval()
    x = sparse_graph.x.clone()
    first = cached_features(enc, x)
    assert isinstance(first, SparseFeatures) and cached_features(enc, x) is first
    before = enc(x, sparse_graph.edge_index)
    x.mul_(2.0)                                            # in place: the cache must notice
    assert cached_features(enc, x) is not first
    after = enc(x, sparse_graph.edge_index)
    assert torch.allclose(after, dense_twin(enc)(x, sparse_graph.edge_index), atol=1e-5)
    assert not torch.allclose(before, after)
    assert "_features" not in copy.deepcopy(enc).__dict__  # a cache: not copied


def test_training_gives_the_same_result_with_sparse_features(cora):
    data = node_split(cora, seed=0)
    config = TrainConfig(epochs=30, eval_every=5, patience=100)
    results = []
    for threshold in (0.0, SPARSE_FEATURE_DENSITY):
        with seeded(config.seed):
            model = make_model(data, "node", hidden_channels=32, out_channels=16)
        model.encoder.sparse_feature_density = threshold
        model, history = fit(model, data, config)
        results.append((model, history))
    (dense, h_dense), (sparse, h_sparse) = results
    assert sparse.encoder.__dict__["_features"][3] is not None
    assert h_dense.best_epoch == h_sparse.best_epoch
    assert h_sparse.best_val == pytest.approx(h_dense.best_val, abs=1e-6)
    assert torch.allclose(torch.tensor(h_sparse.loss), torch.tensor(h_dense.loss), atol=1e-4)
    with torch.no_grad():
        assert torch.allclose(sparse(data.x, data.edge_index), dense(data.x, data.edge_index),
                              atol=1e-3)


def test_convolutions_outside_the_sparse_path_stay_dense(sparse_graph):
    """A SAGE layer with max aggregation is not covered: the layer runs PyG's own forward."""
    from torch_geometric.nn import SAGEConv
    enc = GNNEncoder(sparse_graph.x.size(1), 16, 8, conv="sage").eval()
    enc.convs[0] = SAGEConv(sparse_graph.x.size(1), 16, aggr="max")
    out = enc(sparse_graph.x, sparse_graph.edge_index)
    assert "_features" not in enc.__dict__
    assert torch.allclose(out, dense_twin(enc)(sparse_graph.x, sparse_graph.edge_index))


def test_sparse_features_hold_x_and_its_transpose():
    x = torch.zeros(6, 5)
    x[0, 1], x[0, 4], x[3, 0], x[5, 4] = 1.0, 2.0, 3.0, 4.0   # empty rows and columns too
    features = SparseFeatures(x)
    assert torch.equal(features.matrix.to_dense(), x)
    assert torch.equal(features.transposed.to_dense(), x.t())
    w, b = torch.randn(3, 5), torch.randn(3)
    assert torch.allclose(features.linear(w, b), torch.nn.functional.linear(x, w, b))
