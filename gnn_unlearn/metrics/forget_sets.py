r"""Worst-case forget sets: the training edges an unlearning method should find hardest.

Fan et al. ("Challenging Forgets: Unveiling the Worst-Case Forget Sets in Machine
Unlearning", ECCV 2024) evaluate unlearning on the forget set that maximises the gap between a
method and retraining, found by bi-level optimisation. This module ranks training edges by
cheap proxies of that hardness instead, computed once from the original model (or the graph
alone), and :func:`~gnn_unlearn.data.samplers.sample_edges` (``where="worst"``) deletes the
``size`` highest-ranked edges:

- ``confidence``: the original model's logit on the edge (the edges it is surest of);
- ``high_degree`` / ``low_degree``: edges between well-connected nodes
  (:math:`\min(d_u, d_v)` largest) or between poorly connected ones
  (:math:`\max(d_u, d_v)` smallest), degrees in the message-passing graph;
- ``influence``: first-order effect of removing the edge on the original model's loss over
  the other training and the validation pairs (below).

It sits at the metrics level (it reads a trained model, which ``data/`` must not know about)
and is an evaluation tool: a stress test of a method, not a part of one. The bi-level search
itself (the method and retraining rerun for every candidate set) is
:func:`gnn_unlearn.forget_search.search_forget_set`, which starts from these proxy sets.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import degree

from gnn_unlearn.data.samplers import sample_edges
from gnn_unlearn.metrics.link import link_logits
from gnn_unlearn.ops.graph import symmetrize, training_edges
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.requests import DeletionRequest
from gnn_unlearn.utils import data_to

CRITERIA = {
    "confidence": "the original model's highest-scored training edges",
    "high_degree": "edges whose endpoints both have a high degree (min(d_u, d_v) largest)",
    "low_degree": "edges whose endpoints both have a low degree (max(d_u, d_v) smallest)",
    "influence": "edges whose removal changes the original model's loss on the other training "
                 "and the validation pairs the most (|dL/dw_e| through edge gates, first order)",
}
#: criteria that read the original model
MODEL_CRITERIA = ("confidence", "influence")
#: encoders :func:`gated_encode` reproduces
GATED_ENCODERS = ("gcn", "gin", "sage")
#: the deleted-set positions of the benchmark grid
POSITIONS = ("in", "out", "random", "worst")
#: ``where="worst"`` without a criterion
DEFAULT_CRITERION = "confidence"


def parse_where(where: str) -> tuple[str, str | None]:
    """``"worst:influence"`` -> ``("worst", "influence")``; ``"worst"`` -> the default
    criterion; ``"in"`` / ``"out"`` / ``"random"`` -> ``(where, None)``."""
    if not isinstance(where, str):
        raise TypeError(f"where must be a string, got {type(where).__name__}")
    base, _, criterion = where.partition(":")
    if base not in POSITIONS:
        raise ValueError(f"unknown where {where!r}; use {', '.join(POSITIONS)} or worst:<criterion>")
    if base != "worst":
        if criterion:
            raise ValueError(f"only 'worst' takes a criterion ('worst:<criterion>'), got {where!r}")
        return base, None
    criterion = criterion or DEFAULT_CRITERION
    if criterion not in CRITERIA:
        raise ValueError(f"unknown worst-case criterion {criterion!r} in {where!r}; "
                         f"choose one of {sorted(CRITERIA)}")
    return base, criterion


def gated_encode(encoder: nn.Module, x: Tensor | None, edge_index: Tensor, gate: Tensor) -> Tensor:
    r"""The encoder's embeddings with every directed message scaled by ``gate`` (eval mode).

    With ``gate`` all ones this is ``encoder(x, edge_index)``; :math:`\partial z / \partial
    \text{gate}_e` is the first-order effect of removing edge :math:`e`. Per layer
    (message :math:`u \to v` gated by :math:`w_{uv}`):

    - GCN (Kipf & Welling 2017): :math:`h'_v = \sum_u \frac{w_{uv}}{\sqrt{d_u d_v}} W h_u
      + \frac{1}{d_v} W h_v + b`, :math:`d_v = 1 + \sum_u w_{uv}` (the normalisation moves
      with the gates, as it does when an edge leaves the graph);
    - GIN (Xu et al. 2019): :math:`h'_v = \mathrm{MLP}((1+\epsilon) h_v + \sum_u w_{uv} h_u)`;
    - GraphSAGE (Hamilton et al. 2017), mean: :math:`h'_v = W_l \frac{\sum_u w_{uv} h_u}
      {\max(1, \sum_u w_{uv})} + b_l + W_r h_v`.
    """
    kind = getattr(encoder, "kind", None)
    if kind not in GATED_ENCODERS:
        raise ValueError(f"the influence criterion supports encoders {GATED_ENCODERS}, got {kind!r}; "
                         "use criterion 'confidence', 'high_degree' or 'low_degree' for this model")
    src, dst = edge_index
    h = encoder.input(x)
    n = h.size(0)
    weight_in = torch.zeros(n, dtype=gate.dtype, device=gate.device).index_add(0, dst, gate)
    for i, conv in enumerate(encoder.convs):
        if kind == "gcn":
            hw = conv.lin(h)
            d = 1.0 + weight_in
            coef = (gate * (d[src] * d[dst]).rsqrt()).unsqueeze(-1)
            out = torch.zeros_like(hw).index_add(0, dst, coef * hw[src]) + hw / d.unsqueeze(-1)
            h = out + conv.bias if conv.bias is not None else out
        elif kind == "gin":
            agg = torch.zeros_like(h).index_add(0, dst, gate.unsqueeze(-1) * h[src])
            h = conv.nn((1 + conv.eps) * h + agg)
        else:
            agg = torch.zeros_like(h).index_add(0, dst, gate.unsqueeze(-1) * h[src])
            out = conv.lin_l(agg / weight_in.clamp(min=1).unsqueeze(-1))
            h = out + conv.lin_r(h) if conv.root_weight else out
        if i < len(encoder.convs) - 1:
            h = F.relu(h)
    return h


def influence_probe(data: Data, train: Tensor, seed: int = 0) -> tuple[Tensor, Tensor]:
    """The pairs (``[2, P]``) and labels (``[P]``) of the probe loss of ``influence``: every
    training edge and the validation positives (label 1) against the validation negatives and
    as many seeded non-edges as training edges (label 0). Test pairs are never read."""
    gen = torch.Generator().manual_seed(seed)
    dev = train.device
    pos = torch.cat([train, data.val_pos_edge_index.to(dev)], 1)
    neg = torch.cat([data.val_neg_edge_index.to(dev),
                     negative_pairs(data, train.size(1), gen).to(dev)], 1)
    labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))]).to(dev)
    return torch.cat([pos, neg], 1), labels


def _influence(data: Data, model: nn.Module, train: Tensor, seed: int) -> Tensor:
    r""":math:`|\partial L / \partial w_{uv} + \partial L / \partial w_{vu}|` per training edge:
    the first-order change of the probe loss :math:`L` (binary cross-entropy of the original
    model on :func:`influence_probe`) when both directions of the edge leave the graph, for
    all edges from one backward pass through :func:`gated_encode`."""
    pairs, labels = influence_probe(data, train, seed)
    mp = symmetrize(train)                    # the message-passing graph of a link split
    x = data.x.to(train.device) if getattr(data, "x", None) is not None else None
    was = model.training
    model.eval()
    try:
        gate = torch.ones(mp.size(1), device=train.device, requires_grad=True)
        logits = model.decode(gated_encode(model.encoder, x, mp, gate), pairs)
        loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.device))
        (grad,) = torch.autograd.grad(loss, gate)
    finally:
        model.train(was)
    t = train.size(1)
    return (grad[:t] + grad[t:]).abs()


def edge_hardness(data: Data, model: nn.Module | None = None, criterion: str = DEFAULT_CRITERION,
                  seed: int = 0) -> Tensor:
    """``[T]`` hardness of every training edge (order of :func:`training_edges`; higher =
    harder to forget, by ``criterion``, one of :data:`CRITERIA`).

    ``model`` (the original link predictor) is needed by ``confidence`` and ``influence``
    and is never modified; ``seed`` fixes the sampled non-edges of ``influence``.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown worst-case criterion {criterion!r}; choose one of {sorted(CRITERIA)}")
    train = training_edges(data)
    if criterion in ("high_degree", "low_degree"):
        deg = degree(data.edge_index[1], data.num_nodes)
        du, dv = deg[train[0]], deg[train[1]]
        return torch.minimum(du, dv) if criterion == "high_degree" else -torch.maximum(du, dv)
    if model is None:
        raise ValueError(f"criterion {criterion!r} reads the original model; pass model=")
    if getattr(model, "task", None) != "link" or not hasattr(model, "encoder"):
        raise ValueError(f"criterion {criterion!r} needs a link predictor (model.task == 'link'), "
                         f"got {type(model).__name__}")
    for key in ("val_pos_edge_index", "val_neg_edge_index"):
        if getattr(data, key, None) is None:
            raise ValueError(f"criterion {criterion!r} needs a link split ({key}); "
                             "use gnn_unlearn.data.link_split first")
    dev = next(model.parameters()).device
    data = data_to(data, dev)                 # a moved copy; the caller's graph stays put
    train = training_edges(data)
    if criterion == "confidence":
        return link_logits(model, data, train).float()
    return _influence(data, model, train, seed).detach()


def worst_case_edges(data: Data, model: nn.Module | None, size: float | int,
                     criterion: str = DEFAULT_CRITERION, seed: int = 0) -> DeletionRequest:
    """The ``size`` (fraction or count) training edges hardest to forget by ``criterion``
    (:func:`edge_hardness`), as a deletion request; ties are broken by ``seed``.

    >>> req = worst_case_edges(data, original, 0.025, criterion="influence", seed=0)
    """
    return sample_edges(data, size, where="worst", seed=seed,
                        scores=edge_hardness(data, model, criterion, seed))


def forget_request(data: Data, model: nn.Module | None, size: float | int, where: str,
                   seed: int = 0, region: str = "library", num_hops: int = 2) -> DeletionRequest:
    """A sampled edge request for any ``where`` of the benchmark grid: ``"random"``, ``"in"``,
    ``"out"`` (:func:`~gnn_unlearn.data.samplers.sample_edges`), ``"worst"`` or
    ``"worst:<criterion>"`` (:func:`worst_case_edges`)."""
    base, criterion = parse_where(where)
    if base == "worst":
        return worst_case_edges(data, model, size, criterion, seed)
    return sample_edges(data, size, where=base, num_hops=num_hops, seed=seed, region=region)
