"""ScaleGUN: certified unlearning with local (push-based) updates of the propagated features.

Yi & Wei, "Scalable and Certifiable Graph Unlearning: Overcoming the Approximation Error Barrier"
(ICLR 2025). The model keeps the layered push state of :math:`Z = P^L X`
(:class:`~gnn_unlearn.ops.propagation.PushPropagation`); an edge, node or feature deletion
corrects the residues of the endpoints' neighbourhoods and re-pushes only residues above
``rmax``, so a small request touches a small part of the graph instead of recomputing
:math:`P^L X`. The Newton step, its bound and the budget are the shared ones
(:mod:`gnn_unlearn.methods.certified_common`), plus ScaleGUN's approximation term: the
gradient error caused by the residues left below ``rmax``
(:meth:`~gnn_unlearn.models.CertifiedLinear.approximation_bound`), so the certificate holds
against the *exact* features.
"""
from __future__ import annotations

import torch
from torch import nn

from gnn_unlearn.methods.base import register
from gnn_unlearn.methods.certified_common import (CertifiedUnlearner, GraphChange,
                                                  gradient_change, targets)
from gnn_unlearn.models.certified import CertifiedLinear
from gnn_unlearn.ops.propagation import normalize_rows
from gnn_unlearn.requests import UnlearningTask


@register
class ScaleGUN(CertifiedUnlearner):
    """Certified unlearning with ScaleGUN's local propagation update (Yi & Wei, ICLR 2025).

    Needs a :class:`~gnn_unlearn.models.CertifiedLinear` trained with a push state
    (``train_certified(data, rmax=0.0)`` for exact propagation, ``rmax > 0`` for the approximate,
    cheaper one whose error enters the certificate; ``solver="pcg"`` for large graphs: the
    Newton step then runs CG preconditioned by the Hessian cached at training).
    A node request deletes the node's edges *and* its training row (unlike OpenGU's wrapper,
    which keeps the node's loss term).

    Args:
        retrain: retrain automatically once the (epsilon, delta) budget is spent (default).
    """
    name = "scalegun"
    supports = frozenset({"node", "edge", "feature"})

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        super().check(model, task)
        if model.push is None:
            raise ValueError("scalegun updates a push state, but this CertifiedLinear propagates "
                             "exactly without one; train it with train_certified(data, rmax=0.0) "
                             "(or rmax > 0), or unlearn with 'cgu'")

    def apply_change(self, model: CertifiedLinear, task: UnlearningTask) -> GraphChange:
        push = model.push
        adj = push.adj
        dev = model.weight.device
        data = task.data
        y = data.y.to(dev)
        # the task's training edges are the graph's pairs u < v in key order: the upper entries
        upper = adj.row < adj.col
        pairs = torch.stack([adj.row[upper], adj.col[upper]])[:, task.df_mask.to(dev)]
        if pairs.size(1):
            push.remove_edges(pairs)
        if task.feature_mask is not None:
            fm = task.feature_mask.to(dev)
            rows = fm.any(1).nonzero().view(-1)
            values = normalize_rows(data.x.to(dev)[rows].masked_fill(fm[rows], 0.0).double())
            push.set_features(rows, values)
        changed, old_values = push.push()
        self.history.update(rows_changed=int(changed.numel()), edges_removed=int(pairs.size(1)))
        old_mask = model.train_mask
        new_mask = old_mask & ~task.deleted_nodes.to(dev)
        rows = torch.unique(torch.cat([changed, (old_mask & ~new_mask).nonzero().view(-1)]))
        z_now = push.features
        z_new_rows = z_now[rows]
        if rows.numel() == changed.numel():         # the usual case: rows == changed
            z_old_rows = old_values
        else:
            z_old_rows = z_new_rows.clone()
            z_old_rows[torch.searchsorted(rows, changed)] = old_values
        was, now = old_mask[rows], new_mask[rows]
        n_old, n_new = int(old_mask.sum()), int(new_mask.sum())
        v = gradient_change(model, z_old_rows[was], targets(model, y[rows][was]),
                            z_new_rows[now], targets(model, y[rows][now]), n_old, n_new)
        model.train_mask = new_mask
        model.graph_edges -= int(pairs.size(1))
        z_train = z_now[new_mask]
        # ||Z_new||_2 <= ||Z_old||_2 + ||Z_new - Z_old||_F (dropping rows only lowers it): a
        # running upper bound, exact again after every retraining; O(changed rows x d)
        model.z_norm_bound += float((z_new_rows[now & was] - z_old_rows[now & was]).norm())
        model.z_norm_bound += float(z_new_rows[now & ~was].norm())
        z_norm = model.z_norm_bound
        return GraphChange(v, z_train, targets(model, y[new_mask]), z_norm)
