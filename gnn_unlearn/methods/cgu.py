"""CGU: certified graph unlearning of node, edge and feature requests on SGC-style linear models.

Chien, Pan, Milenkovic, "Certified Graph Unlearning" (NeurIPS 2022 GLFrontiers workshop; the
long version is "Efficient Model Updates for Approximate Unlearning of Graph-Structured Data",
ICLR 2023). A request changes the graph (node: its edges go and it leaves the training set;
edge: both directions go; feature: its features are zeroed), which changes the propagated
features :math:`Z = P^K X` of every node within :math:`K` hops. CGU recomputes :math:`Z'` on the
retained graph, takes one Newton step from the old to the new loss and accounts for the step's
data-dependent residual bound (:mod:`gnn_unlearn.methods.certified_common`).
"""
from __future__ import annotations

from torch import nn

from gnn_unlearn.methods.base import register
from gnn_unlearn.methods.certified_common import (CertifiedUnlearner, GraphChange,
                                                  gradient_change, targets)
from gnn_unlearn.models.certified import CertifiedLinear
from gnn_unlearn.ops.logistic import spectral_norm
from gnn_unlearn.requests import UnlearningTask


@register
class CGU(CertifiedUnlearner):
    """Certified graph unlearning (Chien et al. 2022): exact recomputation of :math:`P^K X` on the
    retained graph, :math:`O(K|E|d)` per request, then the shared certified Newton step.

    The model must be a :class:`~gnn_unlearn.models.CertifiedLinear`; the certificate (budget
    left, bound per class, retrainings) is on ``result.model.certificate`` and in
    ``result.history``. Serve a sequence by resolving each request on the previous task's
    ``retained_data`` and unlearning from the previous result's model.

    Args:
        retrain: retrain automatically once the (epsilon, delta) budget is spent (default);
            ``False`` raises instead.
    """
    name = "cgu"
    supports = frozenset({"node", "edge", "feature"})

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        super().check(model, task)
        if model.push is not None:      # its weights were fit on the pushed estimate, not model.features
            raise ValueError(f"{self.name!r} recomputes P^K X exactly, but this CertifiedLinear keeps "
                             "ScaleGUN's push state (trained with rmax); unlearn it with 'scalegun'")

    def apply_change(self, model: CertifiedLinear, task: UnlearningTask) -> GraphChange:
        retained = task.retained_data
        dev = model.weight.device
        y = task.data.y.to(dev)
        old_mask = model.train_mask
        new_mask = retained.train_mask.to(dev)
        z_old = model.features
        z_new = model.propagated(retained.x.to(dev), retained.edge_index.to(dev))
        n_old, n_new = int(old_mask.sum()), int(new_mask.sum())
        z_train, y_train = z_new[new_mask], targets(model, y[new_mask])
        v = gradient_change(model, z_old[old_mask], targets(model, y[old_mask]), z_train, y_train,
                            n_old, n_new)
        model.features = z_new
        model.train_mask = new_mask
        model.graph_edges = int((~task.df_mask).sum())
        return GraphChange(v, z_train, y_train, spectral_norm(z_train))
