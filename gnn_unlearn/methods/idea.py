r"""IDEA: a flexible framework of certified unlearning for GNNs.

Zhang, Dong, Wang, Li, "IDEA: A Flexible Framework of Certified Unlearning for Graph Neural
Networks", KDD 2024.

The update is the influence estimate of :mod:`gnn_unlearn.methods.gif` (same region, same
training-only losses, same Hessian-vector-product solvers), followed by the certification
mechanism: Gaussian noise on the parameters,

.. math::
    \theta' = \hat\theta + \Delta\theta + b, \qquad b \sim \mathcal{N}(0, \sigma^2 I).

The distance to the retrained parameters is bounded by :math:`\alpha_1 + \alpha_2` with
:math:`\alpha_2 = \lVert \Delta\theta \rVert_2` and, for :math:`m` removed training items,
:math:`t` training items in the influenced region and :math:`n` training items,

.. math::
    \alpha_1 = \frac{m\,l + \sqrt{m^2 + l^2 + 4 \lambda\, n\, t\, c}}{\lambda\, n}

(:math:`l`: Lipschitz constant of the loss, :math:`\lambda`: strong convexity, :math:`c`: bound
of a per-item loss - assumptions of the analysis, given as arguments with the defaults of the
reference implementation). With ``epsilon`` set, :math:`\sigma` is calibrated to that bound by
the Gaussian mechanism, :math:`\sigma = (\alpha_1 + \alpha_2)\sqrt{2\ln(1.25/\delta)}/\epsilon`,
which makes :math:`\theta'` :math:`(\epsilon, \delta)`-indistinguishable from the retrained
model plus the same noise *under the bound's assumptions* (strong convexity does not hold for
a GCN: the guarantee is the paper's, not a property checked here). Without ``epsilon``,
``noise_std`` is used as is (default 0: no noise and no certification, as in the reference
implementation's default). The bound, its parts and the noise used are returned in
``history`` whether or not noise is added.

Requests: node, edge and feature (whole rows or some columns, the paper's partial feature
unlearning: ``DeletionRequest.features(ids, columns)``); node classification and link
prediction.

Args:
    solver, iterations, damping, scale, tol, power_iterations, mode: as :class:`GIF`.
    noise_std: :math:`\sigma` when ``epsilon`` is ``None``.
    epsilon, delta: the certification target; ``epsilon=None`` disables calibration.
    lipschitz, strong_convexity, loss_bound: :math:`l`, :math:`\lambda`, :math:`c` of the bound.
    seed: seeds the non-edges of the link loss and the noise.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gnn_unlearn.methods.base import POSITIVE, register
from gnn_unlearn.methods.gif import GIF
from gnn_unlearn.requests import UnlearningTask


def idea_bound(removed: int, region: int, num_train: int, update_norm: float,
               lipschitz: float, strong_convexity: float, loss_bound: float) -> dict[str, float]:
    """``alpha1``, ``alpha2`` and their sum (the module docstring's bound)."""
    m, t, n, l, lam, c = removed, region, num_train, lipschitz, strong_convexity, loss_bound
    alpha1 = (m * l + math.sqrt(m * m + l * l + 4 * lam * n * t * c)) / (lam * n)
    return {"alpha1": alpha1, "alpha2": update_norm, "bound": alpha1 + update_norm}


def gaussian_mechanism_std(sensitivity: float, epsilon: float, delta: float) -> float:
    r""":math:`\sigma = \Delta \sqrt{2 \ln(1.25/\delta)} / \epsilon`."""
    return sensitivity * math.sqrt(2 * math.log(1.25 / delta)) / epsilon


@register
class IDEA(GIF):
    """Influence-based certified unlearning (Zhang et al., KDD 2024); see the module docstring."""
    name = "idea"
    supports = frozenset({"node", "edge", "feature"})
    tasks = frozenset({"node", "link"})
    param_rules = {"lipschitz": POSITIVE, "strong_convexity": POSITIVE, "loss_bound": POSITIVE}

    def __init__(self, solver: str = "cg", iterations: int = 100, damping: float = 0.1,
                 scale: float | None = None, tol: float = 1e-3, power_iterations: int = 20,
                 mode: str = "gif", noise_std: float = 0.0, epsilon: float | None = None,
                 delta: float = 1e-4, lipschitz: float = 0.25, strong_convexity: float = 1.0,
                 loss_bound: float = 0.5, seed: int = 0):
        super().__init__(solver=solver, iterations=iterations, damping=damping, scale=scale, tol=tol,
                         power_iterations=power_iterations, mode=mode, seed=seed)
        self.noise_std, self.delta = float(noise_std), float(delta)
        self.epsilon = None if epsilon is None else float(epsilon)
        self.lipschitz, self.strong_convexity = float(lipschitz), float(strong_convexity)
        self.loss_bound = float(loss_bound)

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        model = super().fit(model, task)
        h = self.history
        bound = idea_bound(h["removed_items"], h["region_items"], h["num_train"], h["update_norm"],
                           self.lipschitz, self.strong_convexity, self.loss_bound)
        std = (self.noise_std if self.epsilon is None
               else gaussian_mechanism_std(bound["bound"], self.epsilon, self.delta))
        if std > 0:
            g = torch.Generator().manual_seed(self.seed + 1)
            with torch.no_grad():
                for p in model.parameters():
                    if p.requires_grad:
                        p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
        h.update(**bound, noise_std=std, certified=self.epsilon is not None,
                 epsilon=self.epsilon, delta=self.delta)
        return model
