r"""GST: certified unlearning of a scattering-transform classifier.

Pan, Chien, Milenkovic, "Unlearning Graph Classifiers with Limited Data Resources", WWW 2023.

The model is a :class:`~gnn_unlearn.models.scattering.ScatteringLinear`: non-trainable
geometric scattering features :math:`Z = S(\bar X, A)` and a one-vs-rest logistic regression with
objective perturbation trained to its exact minimiser (``train_scattering``). A request edits
the graph (node: its edges go and it leaves the training set; edge: both directions go; feature:
its row is zeroed), the scattering features are recomputed on the retained graph (all deleted
nodes at once, as the paper does for node tasks), and one Newton step moves the weights from the
old to the new loss:

.. math::
    w^- = w + H_{new}^{-1}\big(\nabla L_{old}(w) - \nabla L_{new}(w)\big).

The step's gradient residual is bounded with the *measured* :math:`\lVert Z\rVert_2` of the new
training features (:mod:`gnn_unlearn.methods.certified_common`); this data-dependent bound holds
for any feature map, so the paper's worst-case factor :math:`\sqrt{L}` (a bound on the
scattering transform's stability) is not needed. When the accumulated bound exceeds the
:math:`(\epsilon, \delta)` budget :math:`\sigma\epsilon / c(\delta)` the head is retrained from
scratch with fresh noise (OpenGU overwrites the budget with :math:`10^5`, so it never retrains and
certifies nothing).

Cost: the scattering recomputation (:math:`O(J^{L-1} 2^{J-1} |E| d)` sparse products) and one
Newton solve in the feature dimension :math:`F` (Woodbury in :math:`n` when :math:`n < F`).

Args:
    retrain: retrain automatically once the budget is spent (default); ``False`` raises instead.
"""
from __future__ import annotations

from torch import nn

from gnn_unlearn.methods.base import register
from gnn_unlearn.methods.cgu import CGU
from gnn_unlearn.models.scattering import ScatteringLinear
from gnn_unlearn.requests import UnlearningTask


@register
class GST(CGU):
    """Certified unlearning of GST's scattering classifier (Pan et al., WWW 2023); see the
    module docstring. Serves a sequence like ``cgu``: resolve each request on the previous
    task's ``retained_data`` and unlearn from the previous result's model."""
    name = "gst"
    supports = frozenset({"node", "edge", "feature"})

    def __init__(self, retrain: bool = True):
        super().__init__(retrain=retrain)

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        if not isinstance(model, ScatteringLinear):
            raise ValueError("method 'gst' needs a scattering classifier (a ScatteringLinear from "
                             "gnn_unlearn.models.train_scattering); for an SGC-style CertifiedLinear "
                             f"use 'cgu'; got a {type(model).__name__}")
        super().check(model, task)
