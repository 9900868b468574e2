"""GNN encoders with per-layer access (the hook deletion operators plug into)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv
from torch_geometric.nn.models import MLP

#: ``hook(layer_index, h) -> h``: called on each layer's output (after the activation
#: of hidden layers); GNNDelete inserts its deletion operators here.
LayerHook = Callable[[int, Tensor], Tensor]

ENCODERS = ("gcn", "gat", "gin", "sage")


def make_conv(kind: str, in_channels: int, out_channels: int, heads: int = 4) -> nn.Module:
    """One message-passing layer of the given kind (PyG convolutions)."""
    if kind == "gcn":
        return GCNConv(in_channels, out_channels)
    if kind == "gat":
        if out_channels % heads:
            raise ValueError(f"GAT: out_channels={out_channels} must be divisible by heads={heads}")
        return GATConv(in_channels, out_channels // heads, heads=heads)
    if kind == "gin":
        return GINConv(MLP([in_channels, out_channels, out_channels], norm=None), train_eps=True)
    if kind == "sage":
        return SAGEConv(in_channels, out_channels)
    raise ValueError(f"unknown encoder {kind!r}; choose one of {ENCODERS}")


class GNNEncoder(nn.Module):
    r"""A stack of ``num_layers`` PyG convolutions with ReLU and dropout between them.

    .. math::
        h^{(l)} = \sigma\big(\mathrm{conv}_l(h^{(l-1)}, A)\big), \quad
        h^{(0)} = x, \quad z = h^{(L)} \text{ (no activation on the last layer)}

    Args:
        in_channels: input feature size; ``None`` for featureless graphs, which then get
            a learnable embedding per node (``num_nodes`` required).
        hidden_channels: size of the hidden layers.
        out_channels: size of the output embedding ``z``.
        num_layers: number of message-passing layers (= hops of the receptive field).
        conv: ``"gcn"``, ``"gat"``, ``"gin"`` or ``"sage"``.
        dropout: dropout on hidden layers during training.
        num_nodes: number of nodes when ``in_channels`` is ``None``.
    """

    def __init__(self, in_channels: int | None, hidden_channels: int = 128,
                 out_channels: int = 64, num_layers: int = 2, conv: str = "gcn",
                 dropout: float = 0.5, num_nodes: int | None = None, embedding_dim: int = 64):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if conv not in ENCODERS:
            raise ValueError(f"unknown encoder {conv!r}; choose one of {ENCODERS}")
        self.embedding = None
        if in_channels is None:
            if not num_nodes:
                raise ValueError("a featureless encoder (in_channels=None) needs num_nodes")
            self.embedding = nn.Embedding(num_nodes, embedding_dim)
            nn.init.normal_(self.embedding.weight, std=0.1)
            in_channels = embedding_dim
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList(make_conv(conv, a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = dropout
        self.kind = conv
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.layer_sizes = dims[1:]

    @property
    def num_layers(self) -> int:
        return len(self.convs)

    def forward(self, x: Tensor | None, edge_index: Tensor, layer_hook: LayerHook | None = None,
                return_layers: bool = False) -> Tensor | list[Tensor]:
        """Returns ``z`` (``[N, out_channels]``) or, with ``return_layers``, every layer's output."""
        h = self.input(x)
        layers = []
        for i in range(self.num_layers):
            h = self.layer(i, h, edge_index)
            if layer_hook is not None:
                h = layer_hook(i, h)
            layers.append(h)
        return layers if return_layers else h

    def input(self, x: Tensor | None) -> Tensor:
        """The layer-0 representation: ``x``, or the learned embeddings of a featureless graph."""
        h = self.embedding.weight if self.embedding is not None else x
        if h is None:
            raise ValueError("this encoder expects node features x, got None")
        return h

    def layer(self, i: int, h: Tensor, edge_index: Tensor) -> Tensor:
        """Layer ``i`` alone: convolution, then ReLU and dropout unless it is the last layer."""
        h = self.convs[i](h, edge_index)
        if i < self.num_layers - 1:
            h = F.relu(h)
            h = F.dropout(h, p=self.dropout, training=self.training)
        return h
