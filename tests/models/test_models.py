import copy

import pytest
import torch

from gnn_unlearn.models import ENCODERS, GNNEncoder, build_model, make_model, model_config


@pytest.mark.parametrize("conv", ENCODERS)
def test_encoders_shapes_and_layer_hook(small_graph, conv):
    enc = GNNEncoder(small_graph.x.size(1), hidden_channels=16, out_channels=8, num_layers=3, conv=conv)
    calls = []

    def hook(i, h):
        calls.append((i, h.shape[1]))
        return h * 1.0

    layers = enc(small_graph.x, small_graph.edge_index, layer_hook=hook, return_layers=True)
    assert [l.shape for l in layers] == [torch.Size([60, 16]), torch.Size([60, 16]), torch.Size([60, 8])]
    assert calls == [(0, 16), (1, 16), (2, 8)]


def test_featureless_encoder_and_config_roundtrip(lastfm):
    cfg = model_config(lastfm, "link", hidden_channels=16, out_channels=8)
    assert cfg["in_channels"] is None and cfg["num_nodes"] == lastfm.num_nodes
    model = build_model(cfg)
    z = model.encode(None, lastfm.edge_index)
    assert z.shape == (lastfm.num_nodes, 8)


def test_node_model_and_errors(small_graph):
    model = make_model(small_graph, "node", hidden_channels=8, out_channels=8)
    assert model(small_graph.x, small_graph.edge_index).shape == (60, 3)
    with pytest.raises(ValueError, match="unknown encoder"):
        make_model(small_graph, "link", encoder="transformer")
    with pytest.raises(ValueError, match="task"):
        make_model(small_graph, "graph")
    with pytest.raises(ValueError, match="unknown model options"):
        build_model({**model_config(small_graph), "colour": "red"})


@pytest.mark.parametrize("conv", ENCODERS)
def test_sparse_propagation_matches_pyg_message_passing(small_graph, conv):
    """The prepared CSR path gives what PyG's own edge_index path gives."""
    from torch_geometric.nn import GCNConv
    enc = GNNEncoder(small_graph.x.size(1), hidden_channels=16, out_channels=8, conv=conv).eval()
    ours = enc(small_graph.x, small_graph.edge_index)
    h = small_graph.x
    for i, layer in enumerate(enc.convs):
        if conv == "gcn":   # PyG's GCNConv normalising on the fly, same weights
            ref = GCNConv(layer.in_channels, layer.out_channels)
            ref.load_state_dict(layer.state_dict())
            h = ref(h, small_graph.edge_index)
        else:
            h = layer(h, small_graph.edge_index)
        if i < enc.num_layers - 1:
            h = torch.relu(h)
    assert torch.allclose(ours, h, atol=1e-5)


def test_prepared_graph_cache_follows_the_tensor(small_graph):
    enc = GNNEncoder(small_graph.x.size(1), 8, 8).eval()
    ei = small_graph.edge_index.clone()
    a = enc(small_graph.x, ei)
    ei[:, :4] = ei[:, :4].flip(0)          # in-place change: same edges reversed -> same graph
    ei[1, 0] = (ei[1, 0] + 1) % small_graph.num_nodes   # a real change
    b = enc(small_graph.x, ei)
    assert not torch.allclose(a, b)
    import copy
    clone = copy.deepcopy(enc)             # the cache is not copied
    assert "_prepared" not in clone.__dict__
    assert torch.allclose(clone(small_graph.x, ei), b)


@pytest.mark.parametrize("conv", ["gcn", "gin"])
def test_symmetric_backward_gives_pyg_gradients(small_graph, conv):
    """Undirected graphs propagate with SymmetricPropagation; gradients match PyG's own path."""
    from torch_geometric.nn import GCNConv
    from gnn_unlearn.models.encoders import PreparedGraph
    x, ei = small_graph.x, small_graph.edge_index
    assert PreparedGraph.build(ei, 60, conv).symmetric
    assert not PreparedGraph.build(ei[:, ei[0] < ei[1]], 60, conv).symmetric   # directed: fallback
    enc = GNNEncoder(x.size(1), hidden_channels=16, out_channels=8, conv=conv).eval()
    ref = copy.deepcopy(enc)
    enc(x, ei).pow(2).sum().backward()
    h = x
    for i, layer in enumerate(ref.convs):
        if conv == "gcn":
            pyg = GCNConv(layer.in_channels, layer.out_channels)
            pyg.lin, pyg.bias = layer.lin, layer.bias          # share the parameters
            h = pyg(h, ei)
        else:
            h = layer(h, ei)
        h = torch.relu(h) if i < ref.num_layers - 1 else h
    h.pow(2).sum().backward()
    for (name, a), b in zip(enc.named_parameters(), ref.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-5), name

