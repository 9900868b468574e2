"""CEU: certified edge unlearning by one influence (Newton) step solved with conjugate gradients.

Wu, Shen, Ning, Wang, Wang, "Certified Edge Unlearning for Graph Neural Networks" (KDD 2023).
All deleted edges :math:`\\Delta E` are removed in one shot: :math:`\\theta' = \\theta + x` with
:math:`(H_{G'}(\\theta) + \\rho I) x = \\nabla L_G(\\theta) - \\nabla L_{G'}(\\theta)`, solved by
CG with Hessian-vector products (no Hessian matrix). CEU's certified variant needs a convex
model with objective perturbation; here that is :class:`~gnn_unlearn.models.CertifiedLinear`,
whose one-vs-rest losses make the Hessian exactly block-diagonal per class (so CG per class is
exact, unlike OpenGU's per-*tensor* CG on a GNN). The CG residual and the damping's effect are
measured (:math:`\\lVert H x - v\\rVert`) and added to the step's bound, so neither voids the
certificate; budget and retraining as in :mod:`gnn_unlearn.methods.certified_common`.
"""
from __future__ import annotations

from torch import Tensor

from gnn_unlearn.methods.base import register
from gnn_unlearn.methods.cgu import CGU
from gnn_unlearn.models.certified import CertifiedLinear
from gnn_unlearn.ops.logistic import solve_cg, step_bound


@register
class CEU(CGU):
    """Certified edge unlearning (Wu et al., KDD 2023) on a
    :class:`~gnn_unlearn.models.CertifiedLinear`: exact re-propagation on :math:`G'`, one
    damped CG-solved Newton step for the whole edge set.

    Args:
        damping: :math:`\\rho \\ge 0` added to the Hessian (CEU's default 0).
        cg_max_iter: CG iterations at most (CEU: 100).
        cg_tol: CG stops once every class' residual is below ``cg_tol`` times the certificate
            budget (its residual is then charged to the bound).
        retrain: retrain automatically once the budget is spent (default).
    """
    name = "ceu"
    supports = frozenset({"edge"})

    def __init__(self, damping: float = 0.0, cg_max_iter: int = 100, cg_tol: float = 1e-6,
                 retrain: bool = True):
        super().__init__(retrain=retrain)
        self.damping, self.cg_max_iter, self.cg_tol = float(damping), cg_max_iter, float(cg_tol)

    def newton_step(self, model: CertifiedLinear, z: Tensor, s: Tensor, lam_n: float, v: Tensor,
                    tol: float, z_norm: float) -> tuple[Tensor, Tensor, Tensor]:
        # the damped system is solved, so the bound is measured against the undamped Hessian
        delta = solve_cg(z, s, lam_n + self.damping, v, tol=self.cg_tol * model.certificate.budget,
                         max_iter=self.cg_max_iter)
        return (delta, *step_bound(z, s, lam_n, v, delta, z_norm))
