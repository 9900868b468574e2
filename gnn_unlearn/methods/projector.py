r"""Projector: unlearning by projection for linear GNNs.

Cong, Mahdavi, "Efficiently Forgetting What You Have Learned in Graph Representation Learning via
Projection", AISTATS 2023.

The model is linear in its weights, :math:`\mathrm{logits} = \sum_{j=0}^{K} \hat A^j X W_j^\top`
(:class:`~gnn_unlearn.models.LinearGNN`). Started at zero and trained by gradient descent,
every block :math:`W_j` lies in the span of node feature vectors; retrained without the deleted
nodes it would lie in the span of the *remaining* ones. Projector removes, without any
gradient step, every component that only the deleted data could have put there:

.. math::
    W_j \leftarrow P_r W_j, \qquad P_r = X_r^\top (X_r X_r^\top)^{+} X_r,

the orthogonal projection onto the row space of :math:`X_r`, the features of the remaining
nodes (``task.retained_data.x`` without the deleted nodes' rows, so deleted feature entries are
zero). Feature directions that deleted nodes share with remaining ones are kept; directions
unique to deleted nodes are removed exactly. The deleted nodes' edges leave the propagation
(the model is used on ``task.retained_data``).

:math:`P_r W` is computed as :math:`W - R` with :math:`R` the least-squares residual of the
columns of :math:`W` against the rows of :math:`X_r`, by CGLS (conjugate gradients on the normal
equations) on the sparse :math:`X_r`, all columns at once in float64: each step costs two sparse
products with :math:`X_r` on :math:`C (K+1)` vectors, no :math:`d \times d` matrix and no
:math:`d^3` pseudo-inverse is formed. ``history`` reports the steps, the achieved optimality
:math:`\lVert X_r R\rVert / \lVert X_r W\rVert` and the share of :math:`W` removed.

Not done here: the label-propagation blocks :math:`\hat A^j Y` of the paper's model and its
ShaDow-subgraph training; the model is trained by :func:`gnn_unlearn.training.fit` (Adam from
zero, which keeps a weight at exactly zero when no training feature touches it, but not the
span property in general: the projection then removes the part of :math:`W` outside the
remaining data's span, whatever put it there).

Args:
    iterations: CGLS steps at most.
    tol: stop when :math:`\lVert X_r R\rVert \le` ``tol`` :math:`\cdot \lVert X_r W\rVert`.
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.models.linear import LinearGNN
from gnn_unlearn.requests import UnlearningTask


def span_residual(rows: Tensor, w: Tensor, iterations: int, tol: float) -> tuple[Tensor, int, float]:
    r"""``(R, steps, optimality)``: :math:`R = W - P W` with :math:`P` the projection onto the row
    space of the sparse ``rows`` (``[n, d]``), for every column of ``w`` (``[d, k]``), by CGLS
    (minimum-norm least squares :math:`\min_A \lVert \mathrm{rows}^\top A - W\rVert`)."""
    rt = rows.t().to_sparse_csr() if rows.layout != torch.strided else rows.t().contiguous()
    r = w.clone()
    s = rows @ r                                   # X_r r: the normal-equation gradient
    p = s.clone()
    gamma = (s * s).sum(0)
    start = gamma.sqrt().clamp_min(torch.finfo(w.dtype).tiny)
    steps, ratio = 0, float((gamma.sqrt() / start).max())
    for steps in range(1, iterations + 1):
        if ratio <= tol:
            steps -= 1
            break
        q = rt @ p
        qq = (q * q).sum(0)
        alpha = torch.where(qq > 0, gamma / qq.clamp_min(torch.finfo(w.dtype).tiny), torch.zeros_like(qq))
        r = r - alpha * q
        s = rows @ r
        new = (s * s).sum(0)
        beta = torch.where(gamma > 0, new / gamma.clamp_min(torch.finfo(w.dtype).tiny), torch.zeros_like(new))
        p = s + beta * p
        gamma = new
        ratio = float((gamma.sqrt() / start).max())
    return r, steps, ratio


@register
class Projector(Unlearner):
    """Projection of a linear GNN's weights onto the remaining data's span (Cong & Mahdavi,
    AISTATS 2023); see the module docstring."""
    name = "projector"
    supports = frozenset({"node", "feature"})
    tasks = frozenset({"node"})

    def __init__(self, iterations: int = 1000, tol: float = 1e-8):
        self.iterations, self.tol = iterations, float(tol)   # ranges: methods.base.PARAM_RULES

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        super().check(model, task)
        if not isinstance(model, LinearGNN):
            raise ValueError("projector works on linear GNNs only: build one with "
                             "gnn_unlearn.models.make_model(data, 'node', encoder='linear') "
                             f"(got {type(model).__name__})")

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        kept = task.retained_data
        x = kept.x[~task.deleted_nodes].to(torch.float64)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            rows = x.to_sparse_csr()
            weight = model.head.weight                                   # [C, (K+1) d]
            c, d = weight.size(0), model.encoder.in_channels
            w = weight.detach().to(torch.float64).reshape(c * (model.encoder.hops + 1), d).t()
            residual, steps, ratio = span_residual(rows, w, self.iterations, self.tol)
        projected = (w - residual).t().reshape(c, -1).to(weight.dtype)
        with torch.no_grad():
            weight.copy_(projected)
        removed = float(residual.norm() / w.norm()) if float(w.norm()) > 0 else 0.0
        self.history.update(steps=steps, optimality=ratio, removed_share=removed,
                            remaining_nodes=int(x.size(0)))
        return model
