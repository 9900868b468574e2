r"""A linear GNN: a linear classifier on fixed propagated features (SGC-style).

.. math::
    \mathrm{logits} = [X,\ \hat A X,\ \hat A^2 X,\ \dots,\ \hat A^K X]\; W^\top, \qquad
    \hat A = \hat D^{-1/2}(A + I)\hat D^{-1/2}

(Wu et al., "Simplifying Graph Convolutional Networks", ICML 2019, concatenating every hop as
in Cong & Mahdavi, AISTATS 2023). The propagation has no parameters, so the model is linear in
:math:`W`, which starts at zero: trained by gradient descent, each block :math:`W_j` (the
columns that multiply :math:`\hat A^j X`) stays in the span of the propagated training features -
the property the projection unlearning of :mod:`gnn_unlearn.methods.projector` relies on.
"""
from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from gnn_unlearn.models.encoders import GraphCacheMixin, PreparedGraph, cached_graph, normalized_csr


class PropagatedFeatures(GraphCacheMixin, nn.Module):
    r""":math:`[X, \hat A X, \dots, \hat A^K X]` (no parameters); the last graph's features are
    cached (keyed by the very ``x`` and ``edge_index`` tensors and their version counters)."""
    kind = "linear"
    embedding = None

    def __init__(self, in_channels: int, hops: int = 2):
        super().__init__()
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
            raise ValueError(f"hops must be an int >= 0, got {hops!r}")
        self.in_channels, self.hops = in_channels, hops
        self.out_channels = (hops + 1) * in_channels

    @property
    def num_layers(self) -> int:
        return self.hops

    def forward(self, x: Tensor, edge_index: Tensor, layer_hook=None,
                return_layers: bool = False) -> Tensor | list[Tensor]:
        if layer_hook is not None:
            raise ValueError("a linear GNN has no layers to hook")
        key = (x, x._version, edge_index, edge_index._version)
        cached = self.__dict__.get("_features")
        if cached is not None and all(a is b if isinstance(a, Tensor) else a == b
                                      for a, b in zip(cached[0], key)):
            features = cached[1]
        else:
            graph = cached_graph(self, edge_index, x.size(0), lambda: PreparedGraph(
                normalized_csr(edge_index, x.size(0), self_loops=True)))
            blocks = [x.detach()]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                for _ in range(self.hops):
                    blocks.append(graph.structure @ blocks[-1])
            features = torch.cat(blocks, 1)
            self.__dict__["_features"] = (key, features)
        return list(features.split(self.in_channels, dim=1)) if return_layers else features


class LinearGNN(nn.Module):
    """Node classifier: ``PropagatedFeatures`` then a bias-free linear map initialised at zero.

    ``head.weight`` is ``[num_classes, (hops + 1) * in_channels]``; :meth:`blocks` views it per
    hop.
    """
    task = "node"

    def __init__(self, in_channels: int, num_classes: int, hops: int = 2,
                 config: dict[str, Any] | None = None):
        super().__init__()
        self.encoder = PropagatedFeatures(in_channels, hops)
        self.head = nn.Linear(self.encoder.out_channels, num_classes, bias=False)
        nn.init.zeros_(self.head.weight)
        self.num_classes = num_classes
        self.config = dict(config or {})

    def encode(self, x: Tensor, edge_index: Tensor, layer_hook=None, return_layers: bool = False):
        return self.encoder(x, edge_index, layer_hook=layer_hook, return_layers=return_layers)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.head(self.encode(x, edge_index))

    def blocks(self) -> list[Tensor]:
        """Views ``[num_classes, in_channels]`` of ``head.weight``, one per hop 0..K."""
        return list(self.head.weight.split(self.encoder.in_channels, dim=1))


def build_linear(config: dict[str, Any]) -> LinearGNN:
    """A :class:`LinearGNN` from a model config (``encoder="linear"``, ``num_layers`` = hops)."""
    cfg = dict(config)
    if cfg.get("task") != "node":
        raise ValueError("the linear GNN (encoder='linear') is a node classifier; use task='node'")
    if cfg.get("in_channels") is None or not cfg.get("num_classes"):
        raise ValueError("a linear GNN needs node features (in_channels) and num_classes")
    return LinearGNN(cfg["in_channels"], cfg["num_classes"], hops=cfg.get("num_layers", 2),
                     config=config)
