"""Gradient ascent on the deleted set (the baseline of GNNDelete's tables)."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.methods.stopping import Monitor
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import link_loss
from gnn_unlearn.utils import seeded


@register
class GradientAscent(Unlearner):
    r"""Maximise the training loss on the deleted set, optionally while descending on the rest.

    Link prediction: :math:`\min_\theta -\mathrm{BCE}(s_\theta(D_f), 1) + \lambda\,
    \mathcal{L}_{BCE}(D_r, \text{fresh negatives})`; node classification:
    :math:`\min_\theta -\mathrm{CE}(V_f) + \lambda\,\mathrm{CE}(V_{train} \setminus V_f)`.
    Message passing runs on the retained graph.

    Stopping (no test data and no evaluation negatives are looked at): stop as soon as the
    deleted set looks like data the model never learned (link:
    :class:`~gnn_unlearn.methods.stopping.ForgetCriterion`; node:
    :class:`~gnn_unlearn.methods.stopping.NodeForgetCriterion`), or when validation utility
    drops more than ``max_val_drop`` below its start, in which case the last state within the
    tolerance is returned.

    Args:
        lr: Adam learning rate (GNNDelete's unlearning default 1e-3).
        epochs: maximum number of steps.
        retain_weight: :math:`\lambda`; 0 is pure ascent (GNNDelete's GA baseline).
        target: ``"unseen_edges"`` or ``"non_edges"`` (see ForgetCriterion).
        max_val_drop: tolerated drop of validation AUROC / accuracy.
        seed: seeds the negatives and dropout.
    """
    name = "gradient_ascent"
    supports = frozenset({"edge", "node", "class", "interaction"})
    tasks = frozenset({"link", "node"})

    def __init__(self, lr: float = 1e-3, epochs: int = 200, retain_weight: float = 0.0,
                 target: str = "unseen_edges", max_val_drop: float = 0.03, seed: int = 0):
        self.lr, self.epochs, self.retain_weight, self.target = lr, epochs, retain_weight, target
        self.max_val_drop, self.seed = max_val_drop, seed

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        data = task.retained_data
        device = task.device
        g = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        if model.task == "link":
            df = task.df_edge_index
            if df.size(1) == 0:
                raise ValueError("gradient ascent on link prediction needs deleted edges; "
                                 "this request deletes none")
        else:
            forget = task.deleted_nodes & task.data.train_mask
            if not bool(forget.any()):
                raise ValueError("gradient ascent on node classification needs deleted training "
                                 "nodes; none of the deleted nodes is in train_mask")
        monitor = Monitor(model, task, g, self.target, self.max_val_drop)
        best, reason, losses = copy.deepcopy(model.state_dict()), "max epochs", []
        with seeded(self.seed, device):
            for _ in range(self.epochs):
                model.train()
                opt.zero_grad()
                if model.task == "link":
                    z = model.encode(data.x, data.edge_index)
                    loss = -F.binary_cross_entropy_with_logits(
                        model.decode(z, df), torch.ones(df.size(1), device=device))
                    if self.retain_weight > 0:
                        loss = loss + self.retain_weight * link_loss(model, data, g)
                else:
                    out = model(data.x, data.edge_index)
                    loss = -F.cross_entropy(out[forget], task.data.y[forget])
                    if self.retain_weight > 0:
                        keep = data.train_mask
                        loss = loss + self.retain_weight * F.cross_entropy(out[keep], data.y[keep])
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                verdict = monitor.check(model)
                if verdict == "validation drop":
                    reason = verdict
                    break
                best = copy.deepcopy(model.state_dict())
                if verdict is not None:
                    reason = verdict
                    break
        model.load_state_dict(best)
        self.history.update(loss=losses, epochs=len(losses), stop_reason=reason,
                            start_val=monitor.start_val)
        return model
