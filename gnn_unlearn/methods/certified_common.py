r"""What CGU, CEU and ScaleGUN share: the Newton removal step, its data-dependent residual bound
and the certificate budget with automatic retraining.

One request (one ``unlearn`` call) is one Newton step (Guo et al. 2020; Chien et al. 2022):

.. math::
    w^- = w + H_{new}^{-1}\big(\nabla L_{old}(w) - \nabla L_{new}(w)\big)

with both gradients including their own regulariser :math:`\lambda n` and :math:`H_{new}` the
Hessian at :math:`w` on the remaining rows with their new features (graph deletions change the
features of neighbours too). The gradient residual on the new data grows by at most

.. math::
    \beta = \lVert H_{new}\Delta - v\rVert + \gamma \lVert Z\rVert_2 \lVert Z\Delta\rVert_\infty
    \lVert Z\Delta\rVert_2

(the first term is zero for an exact solve; it is *measured*, so inexact CG solves keep the
bound valid). Each class's certificate is ``train_residual + sum(beta) + approximation``; when
a step would push it over :math:`\sigma\varepsilon/c(\delta)`, the model is retrained from
scratch on the retained data with fresh noise instead, and the sum restarts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gnn_unlearn.methods.base import Unlearner
from gnn_unlearn.models.certified import CertifiedLinear
from gnn_unlearn.ops.logistic import (curvature, gradient, ovr_targets, solve_cg_bounded,
                                      solve_direct, step_bound)
from gnn_unlearn.requests import UnlearningTask


@dataclass
class GraphChange:
    """What a method's feature update hands the shared Newton step.

    Attributes:
        v: ``[d, C]`` :math:`\\nabla L_{old}(w) - \\nabla L_{new}(w)` (regularisers included).
        z_train: ``[n', d]`` the remaining training rows' new features.
        y_train: ``[n', C]`` their one-vs-rest targets.
        z_norm: :math:`\\lVert Z_{train}\\rVert_2` (exact, or an upper bound).
    """
    v: Tensor
    z_train: Tensor
    y_train: Tensor
    z_norm: float


class CertifiedUnlearner(Unlearner):
    """Base of the certified methods (``cgu``, ``ceu``, ``scalegun``); subclasses implement
    :meth:`apply_change` (update the model's features and graph state, return the
    :class:`GraphChange`) and may choose the linear solver.

    Args:
        retrain: retrain automatically when the budget is spent (default). ``False``: refuse
            (raise) instead of releasing a model whose certificate would not hold.
    """
    tasks = frozenset({"node"})

    def __init__(self, retrain: bool = True):
        self.retrain = retrain

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        if not isinstance(model, CertifiedLinear):
            raise ValueError(f"method {self.name!r} needs a certified linear model (a "
                             f"CertifiedLinear from gnn_unlearn.models.train_certified); a "
                             f"{type(model).__name__} carries no removal certificate")
        super().check(model, task)
        if model.certificate is None:
            raise ValueError("the CertifiedLinear was never trained: call model.fit(data) or "
                             "gnn_unlearn.models.train_certified(data)")
        data = task.data
        if getattr(data, "train_pos_edge_index", None) is not None:
            raise ValueError(f"method {self.name!r} serves node classification; the task's graph "
                             "carries a link split")
        if (task.df_mask.numel() != model.graph_edges
                or getattr(data, "train_mask", None) is None
                or data.train_mask.numel() != model.train_mask.numel()
                or not bool((data.train_mask.to(model.train_mask.device) == model.train_mask).all())):
            raise ValueError("the task was not resolved on the graph this model holds (edge count "
                             "or training set differ); in a sequence of requests, resolve each "
                             "request on the previous task's retained_data and unlearn from the "
                             "model the previous call returned")

    # ------------------------------------------------------------------------------------------
    def apply_change(self, model: CertifiedLinear, task: UnlearningTask) -> GraphChange:
        raise NotImplementedError

    def newton_step(self, model: CertifiedLinear, z: Tensor, s: Tensor, lam_n: float, v: Tensor,
                    tol: float, z_norm: float) -> tuple[Tensor, Tensor, Tensor]:
        r"""``(delta, solve residual, remainder bound)`` of :math:`\Delta = H^{-1} v` with the
        model's solver (subclasses may override): ``direct`` measures the bound terms with
        :func:`step_bound`; ``cg``/``pcg`` take them from the solver's own products
        (:func:`solve_cg_bounded`, no further pass over :math:`Z`)."""
        if model.solver == "direct":
            delta = solve_direct(z, s, lam_n, v)
            return (delta, *step_bound(z, s, lam_n, v, delta, z_norm))
        pre = model.precond if (model.solver == "pcg" and model.precond.numel()) else None
        return solve_cg_bounded(z, s, lam_n, v, tol=tol, z_norm=z_norm, precond=pre)

    def fit(self, model: CertifiedLinear, task: UnlearningTask) -> CertifiedLinear:
        cert = model.certificate
        before = cert.to_dict()
        y = task.data.y.to(model.weight.device)
        t0, cpu0 = time.perf_counter(), time.process_time()
        change = self.apply_change(model, task)
        t1 = time.perf_counter()
        w = model.weight.data
        z, yt = change.z_train, change.y_train
        if z.size(0) < 2:
            raise ValueError(f"the request leaves {z.size(0)} training node(s); the certified "
                             "model needs at least 2 to train on")
        lam_n = model.lam * z.size(0)
        s = curvature(w, z, yt)
        delta, solve_residual, remainder = self.newton_step(model, z, s, lam_n, change.v,
                                                            1e-6 * cert.budget, change.z_norm)
        beta = (solve_residual + remainder).cpu()
        model.weight.data = w + delta
        approx = (model.approximation_bound(z, yt) if model.push is not None
                  else torch.zeros_like(beta))
        t2 = time.perf_counter()
        bound = (torch.tensor(cert.train_residual, dtype=beta.dtype)
                 + torch.tensor(cert.accumulated, dtype=beta.dtype) + beta + approx)
        over = bool((bound > cert.budget).any())
        self.history.update(certificate_before=before, beta=beta.tolist(),
                            solve_residual=solve_residual.tolist(),
                            step_norm=delta.norm(dim=0).tolist(),
                            bound_if_updated=bound.tolist(), retrained=over,
                            seconds_features=t1 - t0, seconds_newton=t2 - t1)
        if over:
            if not self.retrain:
                raise RuntimeError(f"the removal certificate's budget {cert.budget:.3e} would be "
                                   f"exceeded (bound {float(bound.max()):.3e}); retraining is off "
                                   f"(retrain=False), so no certified model can be returned")
            model.refit(y, cert.noise_seed + 1, retrains=cert.retrains + 1,
                        total_requests=cert.total_requests + 1)
            model.certificate.requests = 0
            self.history["retrain_info"] = dict(model.train_info)
        else:
            cert.accumulated = (torch.tensor(cert.accumulated, dtype=beta.dtype) + beta).tolist()
            cert.approximation = approx.tolist()
            cert.requests += 1
            cert.total_requests += 1
        after = model.certificate
        self.history.update(certificate=after.to_dict(), budget_left=after.budget_left,
                            bound=after.bound, worst_bound=after.worst_bound,
                            certified=after.certified, cpu_seconds=time.process_time() - cpu0)
        return model


def gradient_change(model: CertifiedLinear, z_old: Tensor, y_old: Tensor, z_new: Tensor,
                    y_new: Tensor, n_old: int, n_new: int) -> Tensor:
    r""":math:`\nabla L_{old}(w) - \nabla L_{new}(w)` from the rows that differ only:
    ``z_old``/``y_old`` the changed rows as they were in the old training set, ``z_new``/``y_new``
    as they are in the new one; the regularisers of ``n_old`` and ``n_new`` rows."""
    w = model.weight.data
    return (gradient(w, z_old, y_old, 0.0) - gradient(w, z_new, y_new, 0.0)
            + model.lam * (n_old - n_new) * w)


def targets(model: CertifiedLinear, y: Tensor) -> Tensor:
    return ovr_targets(y, model.num_classes).to(model.weight.device)
