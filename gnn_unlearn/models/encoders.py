"""GNN encoders with per-layer access (the hook deletion operators plug into)."""
from __future__ import annotations

from typing import Callable

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import MLP
from torch_geometric.utils import is_undirected, to_torch_csr_tensor

from gnn_unlearn.models.features import SPARSE_FEATURE_DENSITY, SparseFeatures, cached_features

#: ``hook(layer_index, h) -> h``: called on each layer's output (after the activation
#: of hidden layers); GNNDelete inserts its deletion operators here.
LayerHook = Callable[[int, Tensor], Tensor]

ENCODERS = ("gcn", "gat", "gin", "sage")

def make_conv(kind: str, in_channels: int, out_channels: int, heads: int = 4) -> nn.Module:
    """One message-passing layer of the given kind (PyG convolutions).

    GCN layers get their normalised adjacency from :meth:`GNNEncoder.prepare` (computed once
    per graph instead of once per layer and call), hence ``normalize=False``.
    """
    if kind == "gcn":
        return GCNConv(in_channels, out_channels, normalize=False)
    if kind == "gat":
        if out_channels % heads:
            raise ValueError(f"GAT: out_channels={out_channels} must be divisible by heads={heads}")
        return GATConv(in_channels, out_channels // heads, heads=heads)
    if kind == "gin":   # batch norm in the MLP, as in Xu et al. (2019); see gin_mlp
        return GINConv(gin_mlp(in_channels, out_channels), train_eps=True)
    if kind == "sage":
        return SAGEConv(in_channels, out_channels)
    raise ValueError(f"unknown encoder {kind!r}; choose one of {ENCODERS}")

def gin_mlp(in_channels: int, out_channels: int) -> MLP:
    r"""GIN's update MLP: :math:`W_2\,\mathrm{ReLU}(\mathrm{BN}(W_1 h + b_1)) + b_2`.

    The batch normalisation follows GIN's paper (Xu et al., ICLR 2019, Sec. 7: "MLPs have
    batch normalization"). Without it, GIN's sum aggregation over raw bag-of-words features
    gives hidden units a scale that grows with the degree (Cora: 1 to 168 neighbours); a few
    Adam steps at lr 0.01 silence most ReLUs and the model falls back on a degree-only score
    (validation AUROC ~0.6, early stopping at epoch 5-25 on 3 of 5 Cora seeds;
    ``benchmarks/results/gin_recipe.md``). Full-batch training normalises over all nodes; in
    eval mode the running statistics of training are used.
    """
    return MLP([in_channels, out_channels, out_channels], norm="batch_norm")


class SymmetricPropagation(torch.autograd.Function):
    r""":math:`\tilde A h` for a symmetric sparse :math:`\tilde A`, whose backward is
    :math:`\tilde A g` again instead of a product with the transposed CSR matrix, which torch
    builds on every backward call (measured on gowalla, 1.44 M non-zeros, 64-d, one thread:
    forward+backward 264 ms -> 69 ms; ``benchmarks/results/kernels_cpu.md``)."""

    @staticmethod
    def forward(ctx, adj: Tensor, h: Tensor) -> Tensor:
        ctx.adj = adj
        return adj @ h

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:
        return None, ctx.adj @ grad


def compact_csr(adj: Tensor) -> Tensor:
    """``adj`` with int32 row pointers and column indices when they fit: torch's CPU CSR
    product is ~3x faster with them (measured on lastfm, 128 k edges, one thread)."""
    if adj._nnz() >= 2 ** 31 - 1 or adj.size(0) >= 2 ** 31 - 1:
        return adj
    return torch.sparse_csr_tensor(adj.crow_indices().int(), adj.col_indices().int(), adj.values(),
                                   adj.shape)


def normalized_csr(edge_index: Tensor, num_nodes: int, self_loops: bool) -> Tensor:
    r""":math:`D^{-1/2}(A [+ I])D^{-1/2}` (GCN with ``self_loops``, LightGCN without) as a compact
    CSR tensor, rows = targets."""
    ei, w = gcn_norm(edge_index, None, num_nodes, add_self_loops=self_loops)
    with warnings.catch_warnings():  # torch flags its CSR support as beta
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return compact_csr(to_torch_csr_tensor(ei.flip(0), w, size=(num_nodes, num_nodes)))


class GraphCacheMixin:
    """Modules that cache their prepared graph (:func:`cached_graph`) or sparse features
    (:func:`~gnn_unlearn.models.features.cached_features`) drop them on copy/pickle."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_prepared", None)   # caches: not copied, not pickled
        state.pop("_features", None)
        return state


class PreparedGraph:
    """What a layer propagates over: a CSR adjacency (rows = targets) or an ``edge_index``,
    with optional edge weights; ``symmetric`` marks an undirected graph's adjacency (whose
    products can use :class:`SymmetricPropagation`)."""

    def __init__(self, structure: Tensor, weight: Tensor | None = None, symmetric: bool = False):
        self.structure, self.weight, self.symmetric = structure, weight, symmetric

    @classmethod
    def build(cls, edge_index: Tensor, num_nodes: int, kind: str) -> "PreparedGraph":
        if kind == "gat":
            return cls(edge_index)
        with warnings.catch_warnings():  # torch flags its CSR support as beta
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            if kind == "gcn":
                return cls(normalized_csr(edge_index, num_nodes, self_loops=True),
                           symmetric=bool(is_undirected(edge_index, num_nodes=num_nodes)))
            adj = compact_csr(to_torch_csr_tensor(edge_index.flip(0), size=(num_nodes, num_nodes)))
            # GIN sums over A (symmetric when the graph is); SAGE's mean is not symmetric
            return cls(adj, symmetric=kind == "gin" and bool(is_undirected(edge_index, num_nodes=num_nodes)))

def cached_graph(module: nn.Module, edge_index: Tensor, num_nodes: int,
                 build: Callable[[], "PreparedGraph"]) -> "PreparedGraph":
    """The last graph ``module`` prepared, or ``build()`` for a new one.

    The cache is a plain attribute (never in ``state_dict``, dropped on copy and pickling) that
    holds the very ``edge_index`` tensor (so its memory cannot be reused by another) and its
    version counter (so an in-place change invalidates it).
    """
    cached = module.__dict__.get("_prepared")
    if (cached is not None and cached[0] is edge_index and cached[1] == edge_index._version
            and cached[2] == num_nodes):
        return cached[3]
    graph = build()
    module.__dict__["_prepared"] = (edge_index, edge_index._version, num_nodes, graph)
    return graph


class GNNEncoder(GraphCacheMixin, nn.Module):
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

    Sparse input features (share of non-zeros at most ``sparse_feature_density``, an instance
    attribute; 0 turns this off) enter the first GCN, GIN or GraphSAGE layer through CSR
    products (:mod:`gnn_unlearn.models.features`): the same function up to float round-off,
    since :math:`A(XW)` and :math:`(AX)W` are equal. GAT and later layers stay dense.
    """
    #: density threshold of the sparse-feature path (:data:`SPARSE_FEATURE_DENSITY`)
    sparse_feature_density: float = SPARSE_FEATURE_DENSITY

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
        graph = self.prepare(edge_index, h.size(0))
        layers = []
        for i in range(self.num_layers):
            h = self.layer(i, h, graph)
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

    def prepare(self, edge_index: Tensor, num_nodes: int | None = None) -> "PreparedGraph":
        r"""The propagation structure of a graph for this encoder's layers.

        GCN, GIN and GraphSAGE aggregate with one CSR sparse-dense product per layer
        (``torch.sparse``; deterministic, and measured 3x faster than gather/scatter on the
        gowalla graph, 1.4 M edges, on CPU); GCN's symmetric normalisation
        :math:`\hat D^{-1/2}(A + I)\hat D^{-1/2}` is computed here once. GAT keeps
        ``edge_index`` (attention is per edge). The last graph prepared is cached: the cache
        holds that very tensor (so its memory cannot be reused by another) and its version
        counter (so an in-place change invalidates it).
        """
        if isinstance(edge_index, PreparedGraph):
            return edge_index
        n = num_nodes if num_nodes is not None else int(edge_index.max()) + 1
        return cached_graph(self, edge_index, n, lambda: PreparedGraph.build(edge_index, n, self.kind))

    def sparse_input(self, x: Tensor) -> SparseFeatures | None:
        """The CSR form of input features ``x`` when the first layer should use it (cached per
        tensor; ``None``: dense path)."""
        if self.kind == "gat" or x.requires_grad:
            return None
        return cached_features(self, x, self.sparse_feature_density)

    def layer(self, i: int, h: Tensor, graph: "PreparedGraph | Tensor") -> Tensor:
        """Layer ``i`` alone: convolution, then ReLU and dropout unless it is the last layer."""
        graph = self.prepare(graph, h.size(0))
        conv = self.convs[i]
        sparse = self.sparse_input(h) if i == 0 and takes_sparse_input(conv, graph) else None
        if sparse is not None:
            h = sparse_first_layer(self.kind, conv, sparse, graph)
        elif graph.symmetric and self.kind == "gcn":      # GCNConv: lin, propagate, bias
            h = SymmetricPropagation.apply(graph.structure, conv.lin(h))
            h = h + conv.bias if conv.bias is not None else h
        elif graph.symmetric and self.kind == "gin":    # GINConv: nn((1 + eps) h + A h)
            h = conv.nn((1 + conv.eps) * h + SymmetricPropagation.apply(graph.structure, h))
        elif graph.weight is not None:
            h = conv(h, graph.structure, graph.weight)
        else:
            h = conv(h, graph.structure)
        if i < self.num_layers - 1:
            h = F.relu(h)
            h = F.dropout(h, p=self.dropout, training=self.training)
        return h


def propagate(graph: PreparedGraph, h: Tensor) -> Tensor:
    """:math:`A h` over a prepared CSR adjacency (symmetric backward when it is symmetric)."""
    if graph.symmetric:
        return SymmetricPropagation.apply(graph.structure, h)
    return graph.structure @ h


def takes_sparse_input(conv: nn.Module, graph: PreparedGraph) -> bool:
    """Whether :func:`sparse_first_layer` covers ``conv`` on ``graph``: an unweighted CSR
    adjacency, and the configurations :func:`make_conv` builds (GIN's MLP with normalisation
    layers that take no batch vector; GraphSAGE with mean aggregation)."""
    if graph.weight is not None or graph.structure.layout != torch.sparse_csr:
        return False
    if isinstance(conv, GINConv):     # norms that need no batch vector act as in MLP.forward
        return not conv.nn.supports_norm_batch
    if isinstance(conv, SAGEConv):      # mean aggregation, no projection or normalisation
        return str(conv.aggr) == "mean" and not conv.project and not conv.normalize
    return isinstance(conv, GCNConv)


def sparse_first_layer(kind: str, conv: nn.Module, x: SparseFeatures,
                       graph: PreparedGraph) -> Tensor:
    r"""A GCN, GIN or GraphSAGE layer on sparse input features ``x``, before the activation;
    equal to ``conv(x, graph)`` up to float round-off, with every product of ``x`` a CSR product.

    GCN: :math:`\hat A (X W^\top) + b`. GIN (Xu et al. 2019): the MLP's first linear map
    moved inside the sum, :math:`(1+\epsilon) XW^\top + A (XW^\top) + b`, then the rest of
    the MLP. GraphSAGE (Hamilton et al. 2017), mean aggregation:
    :math:`\mathrm{mean}_{j \in N(i)} (X W_l^\top)_j + b_l + (X W_r^\top)_i`.
    """
    if kind == "gcn":
        h = propagate(graph, x.apply(conv.lin))
        return h + conv.bias if conv.bias is not None else h
    if kind == "gin":
        mlp = conv.nn
        bias = mlp.lins[0].bias
        p = x.linear(mlp.lins[0].weight)
        h = (1 + conv.eps) * p + propagate(graph, p)
        return mlp_after_first_linear(mlp, h + bias if bias is not None else h)
    if kind == "sage":
        adj = graph.structure
        deg = (adj.crow_indices()[1:] - adj.crow_indices()[:-1]).clamp(min=1)
        h = propagate(graph, x.linear(conv.lin_l.weight)) / deg.unsqueeze(-1).to(adj.values().dtype)
        h = h + conv.lin_l.bias if conv.lin_l.bias is not None else h
        return h + x.apply(conv.lin_r) if conv.root_weight else h
    raise ValueError(f"no sparse-feature path for encoder {kind!r}")


def mlp_after_first_linear(mlp: nn.Module, h: Tensor) -> Tensor:
    """PyG's ``MLP.forward`` from just after its first linear layer (``h`` = ``lins[0](x)``)."""
    for i, (lin, norm) in enumerate(zip(mlp.lins, mlp.norms)):
        if i > 0:
            h = lin(h)
        if mlp.act is not None and mlp.act_first:
            h = mlp.act(h)
        h = norm(h)
        if mlp.act is not None and not mlp.act_first:
            h = mlp.act(h)
        h = F.dropout(h, p=mlp.dropout[i], training=mlp.training)
    if mlp.plain_last:
        h = mlp.lins[-1](h)
        h = F.dropout(h, p=mlp.dropout[-1], training=mlp.training)
    return h
