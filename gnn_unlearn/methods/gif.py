r"""GIF: Graph Influence Function - one Newton step towards the model retrained without the data.

Wu, Yang, Qian, Sui, Wang, He, "GIF: A General Graph Unlearning Strategy via Influence
Function", WWW 2023.

Let :math:`\mathcal{L}(\theta; G) = \sum_{i \in T} \ell_i(\theta; G)` be the training loss (summed
cross-entropy over the training nodes :math:`T`, or binary cross-entropy over the training
edges and as many non-edges for link prediction) at the trained :math:`\hat\theta`, and
:math:`\mathcal{L}'(\theta; G')` the loss the retrained model would minimise: the edited graph
:math:`G'` (``task.retained_data``: deleted edges and every edge of a deleted node gone, deleted
features zeroed) and the remaining training items :math:`T'`. A GNN's output at a node depends
only on its :math:`L`-hop neighbourhood, so only the items of the influenced region
:math:`R` (within :math:`L` hops of a deleted element, :math:`L` = the model's depth) change
their loss. With

.. math::
    v = \nabla_\theta \sum_{i \in T \cap R} \ell_i(\hat\theta; G)
      - \nabla_\theta \sum_{i \in T' \cap R} \ell_i(\hat\theta; G')

(the paper's Eq. for node, edge and feature unlearning: deleted items contribute to the first
term only, influenced neighbours to both), a Newton step on :math:`\mathcal{L}'` from
:math:`\hat\theta` (where :math:`\nabla \mathcal{L} = 0`) is

.. math::
    \theta' = \hat\theta + H^{-1} v, \qquad H = \nabla^2_\theta \mathcal{L}(\hat\theta; G).

The library works on the mean-scale Hessian :math:`H/|T|` plus the training recipe's weight
decay and a damping :math:`\lambda` (:math:`\Delta\theta = (H/|T| + (wd + \lambda) I)^{-1}
v / |T|`; with weight decay the change of the regulariser's weight, :math:`(|T| - |T'|)\,wd\,
\hat\theta`, joins :math:`v`). ``mode="if"`` keeps only the removed items' gradients (the
classic influence function, blind to the graph: the paper's IF baseline).

:math:`H^{-1}v` is never formed. Each product :math:`Hh` is one Hessian-vector product by
double back-propagation through the full-batch *training* loss (no validation or test label is
ever read), and the system is solved by

* ``solver="cg"`` (default): conjugate gradients, ``iterations`` at most, stopping when the
  relative residual :math:`\lVert (H + \lambda I)x - v\rVert / \lVert v \rVert` falls below
  ``tol``, or at the first direction of non-positive curvature (a non-convex loss). The iterate
  reached there is a step in an uncontrolled direction (measured: a Cora node GCN, 60/20/20
  split, 5 % of the training nodes, seed 2: test accuracy 0.89 -> 0.30), so the solve is
  repeated with 10x the damping, up to 3 times, and refused if it still fails; the damping
  used is ``history["damping_used"]``;
* ``solver="lissa"``: the truncated Neumann series of the paper,
  :math:`h_0 = v,\ h_{t+1} = v + h_t - (H + \lambda I) h_t / s,\ \Delta\theta = h_T / s`. It
  converges to :math:`(H + \lambda I)^{-1} v` when every eigenvalue of
  :math:`(H + \lambda I)/s` lies in :math:`(0, 2)`; ``scale=None`` takes :math:`s` = 1.1 times
  the largest eigenvalue found by ``power_iterations`` steps of power iteration.
  (OpenGU's default :math:`s = 10^9` makes the Hessian term vanish, so its update is
  :math:`(T + 1) v / 10^9`: a tiny gradient step.)

Both report the achieved relative residual in ``history["residual"]``. Gradients are taken in
eval mode (no dropout). Cost: ``iterations`` Hessian-vector products (each about two to three
full-graph forward/backward passes) plus two region gradients; memory about two training steps.

Args:
    solver: ``"cg"`` or ``"lissa"``.
    iterations: Hessian-vector products at most (the paper's 100).
    damping: :math:`\lambda \ge 0` added to the mean-scale Hessian. Default 0.1, measured on
        Cora in OpenGU's protocol (GCN, 100 epochs, largest eigenvalue about 33): at 0.01 CG
        meets negative curvature after large steps and the update wrecks the model (test F1
        0.86 -> 0.44); at 0.1 it converges (residual 6e-4) in about 22 products.
    scale: LiSSA's :math:`s > 0`; ``None``: estimated by power iteration.
    tol: CG's relative-residual target.
    power_iterations: steps of the power iteration that estimates ``scale``.
    mode: ``"gif"`` (graph-aware estimator) or ``"if"`` (removed items only).
    seed: seeds the fixed non-edges of the link-prediction loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.models.predictors import num_hops
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import negative_pairs

SOLVERS = ("cg", "lissa")
MODES = ("gif", "if")



def flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


@dataclass
class InfluenceProblem:
    """The pieces of the influence estimate for one model and task.

    ``loss(graph, part)`` sums the per-item training losses of ``part`` (``"before"``: the
    region's items on the original graph, ``"after"``: on the edited graph, ``"all"``: every
    training item on the original graph); ``num_train`` / ``num_train_after`` count the loss
    terms before and after (non-edges included); ``items`` / ``removed`` / ``region_items``
    count training items (nodes, or positive edges), removed ones, and those in the region.
    """
    loss: Callable[[str], Tensor]
    num_train: int              # loss terms of the training objective (its mean's divisor)
    num_train_after: int
    region_items: int
    full_region: bool
    items: int = 0
    removed: int = 0


def node_problem(model: nn.Module, task: UnlearningTask, region: Tensor, mode: str) -> InfluenceProblem:
    data, kept = task.data, task.retained_data
    y = data.y.view(-1)
    train, train_after = data.train_mask, kept.train_mask
    before = train & region
    after = train_after & region
    if mode == "if":                                # removed items only, original graph
        before, after = train & ~train_after, None

    def loss(part: str) -> Tensor:
        graph, mask = {"before": (data, before), "after": (kept, after), "all": (data, train)}[part]
        out = model(graph.x, graph.edge_index)
        return F.cross_entropy(out[mask], y[mask], reduction="sum")

    return InfluenceProblem(loss, int(train.sum()), int(train_after.sum()), int(before.sum()),
                            bool(region.all()), items=int(train.sum()),
                            removed=int((train & ~train_after).sum()))


def link_problem(model: nn.Module, task: UnlearningTask, region: Tensor, mode: str,
                 generator: torch.Generator) -> InfluenceProblem:
    data, kept = task.data, task.retained_data
    pos, pos_after = data.train_pos_edge_index, kept.train_pos_edge_index
    # the expected negative term of the training loss, as one fixed sample of its size
    neg = negative_pairs(data, pos.size(1), generator).to(pos.device)

    def touches(pairs: Tensor) -> Tensor:
        return region[pairs[0]] | region[pairs[1]]

    parts = {"all": (data, pos, neg),
             "before": (data, pos[:, touches(pos)], neg[:, touches(neg)]),
             "after": (kept, pos_after[:, touches(pos_after)], neg[:, touches(neg)])}
    if mode == "if":
        parts["before"] = (data, task.df_edge_index, neg[:, :0])
        parts["after"] = None

    def loss(part: str) -> Tensor:
        graph, p, n = parts[part]
        z = model.encode(graph.x, graph.edge_index)
        logits = model.decode(z, torch.cat([p, n], 1))
        labels = torch.cat([torch.ones(p.size(1)), torch.zeros(n.size(1))]).to(logits.device)
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")

    b = parts["before"]
    return InfluenceProblem(loss, 2 * pos.size(1), 2 * pos_after.size(1), b[1].size(1),
                            bool(region.all()), items=pos.size(1),
                            removed=pos.size(1) - pos_after.size(1))


class HessianOperator:
    r""":math:`h \mapsto (\nabla^2 \bar{\mathcal{L}} + \mathrm{shift}\, I) h` by double
    back-propagation through the mean training loss :math:`\bar{\mathcal{L}}` (its gradient graph
    is built once and reused by every product)."""

    def __init__(self, mean_loss: Tensor, params: list[Tensor], shift: float):
        self.params, self.shift, self.products = params, shift, 0
        self.grad = flat(list(torch.autograd.grad(mean_loss, params, create_graph=True)))

    def __call__(self, h: Tensor) -> Tensor:
        self.products += 1
        hv = torch.autograd.grad(self.grad, self.params, grad_outputs=h.view_as(self.grad),
                                 retain_graph=True, allow_unused=True)
        hv = flat([torch.zeros_like(p) if g is None else g for g, p in zip(hv, self.params)])
        return hv.detach() + self.shift * h


NEGATIVE_CURVATURE_RETRIES = 3


def conjugate_gradient(A: Callable[[Tensor], Tensor], b: Tensor, iterations: int,
                       tol: float) -> tuple[Tensor, str]:
    """Solves ``A x = b`` for symmetric ``A``; stops at the tolerance, the iteration cap or
    the first direction of non-positive curvature (returns the iterate reached)."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = r @ r
    target = (tol * b.norm()) ** 2
    if float(rs) <= float(target):
        return x, "converged"
    for _ in range(iterations):
        Ap = A(p)
        curv = p @ Ap
        if float(curv) <= 0:
            return x, "negative curvature"
        alpha = rs / curv
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = r @ r
        if float(rs_new) <= float(target):
            return x, "converged"
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x, "iterations"


def largest_eigenvalue(A: Callable[[Tensor], Tensor], dim_like: Tensor, steps: int,
                       generator: torch.Generator) -> float:
    """Power iteration: the largest-magnitude eigenvalue of the symmetric operator ``A``."""
    h = torch.randn(dim_like.shape, generator=generator).to(dim_like)
    h = h / h.norm()
    value = 0.0
    for _ in range(steps):
        Ah = A(h)
        value = float(h @ Ah)
        norm = Ah.norm()
        if float(norm) == 0:
            break
        h = Ah / norm
    return abs(value)


def lissa(A: Callable[[Tensor], Tensor], b: Tensor, iterations: int, scale: float) -> Tensor:
    r"""Truncated Neumann series :math:`h_{t+1} = b + h_t - A h_t / s`; returns :math:`h_T / s`."""
    h = b.clone()
    for _ in range(iterations):
        h = b + h - A(h) / scale
    return h / scale


@register
class GIF(Unlearner):
    """Graph influence function unlearning (Wu et al., WWW 2023); the estimator, the solvers
    and the arguments are described in this module's docstring."""
    name = "gif"
    supports = frozenset({"node", "edge", "feature"})
    tasks = frozenset({"node", "link"})

    def __init__(self, solver: str = "cg", iterations: int = 100, damping: float = 0.1,
                 scale: float | None = None, tol: float = 1e-3, power_iterations: int = 20,
                 mode: str = "gif", seed: int = 0):
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.solver, self.mode = solver, mode
        # ranges: the shared schema (methods.base.PARAM_RULES), checked before this runs
        self.iterations, self.power_iterations, self.seed = iterations, power_iterations, seed
        self.damping, self.tol = float(damping), float(tol)
        self.scale = None if scale is None else float(scale)

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        model.eval()                                      # no dropout in any gradient
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters to update")
        delta = self.influence_update(model, task, params)
        with torch.no_grad():
            offset = 0
            for p in params:
                p.add_(delta[offset:offset + p.numel()].view_as(p))
                offset += p.numel()
        return model

    def influence_update(self, model: nn.Module, task: UnlearningTask, params: list[Tensor]) -> Tensor:
        """:math:`\\Delta\\theta` (flat, detached); logs the solve in ``self.history``."""
        g = torch.Generator().manual_seed(self.seed)
        depth = num_hops(model)
        full_region = task.num_hops < depth               # the task's region is too small: all nodes
        region = (torch.ones_like(task.deleted_nodes) if full_region
                  else task.affected_nodes(depth))
        if model.task == "node":
            if getattr(task.data, "train_mask", None) is None:
                raise ValueError("GIF on node classification needs data.train_mask")
            problem = node_problem(model, task, region, self.mode)
        else:
            problem = link_problem(model, task, region, self.mode, g)
        wd = float((getattr(model, "train_config", None) or {}).get("weight_decay", 0.0) or 0.0)
        n = problem.num_train
        v = flat(list(torch.autograd.grad(problem.loss("before"), params, allow_unused=True,
                                          materialize_grads=True)))
        if self.mode == "gif":
            v = v - flat(list(torch.autograd.grad(problem.loss("after"), params, allow_unused=True,
                                                  materialize_grads=True)))
        if wd > 0 and self.mode == "gif":                 # the regulariser's weight shrinks too
            v = v + (n - problem.num_train_after) * wd * flat([p.detach() for p in params])
        b = v.detach() / n
        A = HessianOperator(problem.loss("all") / n, params, wd + self.damping)
        info: dict = {"damping_used": self.damping}
        if float(b.norm()) == 0:
            delta, info["stop"] = torch.zeros_like(b), "nothing to unlearn (v = 0)"
        elif self.solver == "cg":
            delta, info["stop"] = conjugate_gradient(A, b, self.iterations, self.tol)
            damping = self.damping
            for _ in range(NEGATIVE_CURVATURE_RETRIES):
                if info["stop"] != "negative curvature":
                    break
                # the damped Hessian is not positive definite along the solve: the iterate is
                # a step in an uncontrolled direction, so solve again with 10x the damping
                damping = max(10 * damping, 1e-2)
                A = HessianOperator(problem.loss("all") / n, params, wd + damping)
                delta, info["stop"] = conjugate_gradient(A, b, self.iterations, self.tol)
            info["damping_used"] = damping
            if info["stop"] == "negative curvature":
                raise FloatingPointError(
                    f"the influence solve met negative curvature even with damping {damping:g}; "
                    "the model is far from a minimum of its training loss (train it to "
                    "convergence) or use solver='lissa'")
        else:
            scale = self.scale
            if scale is None:
                scale = 1.1 * largest_eigenvalue(A, b, self.power_iterations, g)
                info["estimated_scale"] = scale
            delta, info["stop"] = lissa(A, b, self.iterations, scale), "iterations"
        residual = float((A(delta) - b).norm() / b.norm()) if float(b.norm()) > 0 else 0.0
        if not bool(torch.isfinite(delta).all()):
            raise FloatingPointError(
                "the influence solve diverged (non-finite update); with solver='lissa' raise "
                "scale (or leave it None), or add damping")
        self.history.update(solver=self.solver, mode=self.mode, hessian_products=A.products,
                            residual=residual, update_norm=float(delta.norm()),
                            v_norm=float(v.norm()), region_items=problem.region_items,
                            num_train=problem.items, removed_items=problem.removed,
                            region_is_whole_graph=full_region, weight_decay=wd, **info)
        return delta
