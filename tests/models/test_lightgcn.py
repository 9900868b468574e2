import pytest
import torch
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from gnn_unlearn.models import build_model, make_model
from gnn_unlearn.models.lightgcn import LightGCN, SymmetricPropagation, normalized_adjacency
from gnn_unlearn.ops.graph import symmetrize


def _toy(num_users=5, num_items=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    pairs = torch.stack([torch.randint(num_users, (20,), generator=g),
                         torch.randint(num_items, (20,), generator=g) + num_users])
    return symmetrize(pairs)


def test_propagation_matches_pyg_lightgcn():
    edge_index = _toy()
    ours = LightGCN(5, 7, embedding_dim=8, num_layers=3)
    ref = PyGLightGCN(12, 8, num_layers=3)
    ref.embedding.weight.data.copy_(ours.embedding.weight.data)
    assert torch.allclose(ours.encode(None, edge_index), ref.get_embedding(edge_index), atol=1e-6)


def test_symmetric_propagation_gradient_is_exact():
    edge_index = _toy()
    adj = normalized_adjacency(edge_index, 12)
    h = torch.randn(12, 4, dtype=torch.float32, requires_grad=True)
    (SymmetricPropagation.apply(adj, h) ** 2).sum().backward()
    dense = adj.to_dense()
    h2 = h.detach().clone().requires_grad_(True)
    ((dense @ h2) ** 2).sum().backward()
    assert torch.allclose(h.grad, h2.grad, atol=1e-5)


def test_refuses_graphs_that_do_not_fit():
    model = LightGCN(5, 7)
    with pytest.raises(ValueError, match="both directions"):
        model.encode(None, torch.tensor([[0], [6]]))
    with pytest.raises(ValueError, match="outside"):
        model.encode(None, symmetrize(torch.tensor([[0], [40]])))
    with pytest.raises(ValueError, match="needs users and items"):
        LightGCN(0, 3)


def test_config_round_trip(lastfm):
    model = make_model(lastfm, "rec")
    assert model.num_users == lastfm.num_users and model.num_layers == 3
    again = build_model(model.config)
    assert isinstance(again, LightGCN) and again.embedding.weight.shape == model.embedding.weight.shape
    with pytest.raises(ValueError, match="user-item graph"):
        from gnn_unlearn.data import synthetic_graph
        make_model(synthetic_graph(50, seed=0), "rec")
