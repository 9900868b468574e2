"""Gradient ascent on the deleted set (the baseline of GNNDelete's tables)."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import link_loss, validation_score
from gnn_unlearn.training import negative_pairs
from gnn_unlearn.utils import seeded


@register
class GradientAscent(Unlearner):
    r"""Maximise the training loss on the deleted set, optionally while descending on the rest.

    Link prediction: :math:`\min_\theta -\mathrm{BCE}(s_\theta(D_f), 1) + \lambda\,
    \mathcal{L}_{BCE}(D_r, \text{fresh negatives})`; node classification:
    :math:`\min_\theta -\mathrm{CE}(V_f) + \lambda\,\mathrm{CE}(V_{train} \setminus V_f)`.
    Message passing runs on the retained graph.

    Stopping (no test data and no Df-vs-negatives AUROC is looked at): stop as soon as the
    deleted set looks like data the model never learned - link: the mean probability of
    :math:`D_f` falls to that of random non-edges; node: the deleted nodes' accuracy falls to
    chance, ``1 / C`` - or when validation utility drops more than ``max_val_drop`` below its
    start, in which case the last state within the tolerance is returned.

    Args:
        lr: Adam learning rate (GNNDelete's unlearning default 1e-3).
        epochs: maximum number of steps.
        retain_weight: :math:`\lambda`; 0 is pure ascent (GNNDelete's GA baseline).
        max_val_drop: tolerated drop of validation AUROC / accuracy.
        seed: seeds the negatives and dropout.
    """
    name = "gradient_ascent"
    supports = frozenset({"edge", "node", "class", "interaction"})
    tasks = frozenset({"link", "node"})

    def __init__(self, lr: float = 1e-3, epochs: int = 200, retain_weight: float = 0.0,
                 max_val_drop: float = 0.02, seed: int = 0):
        self.lr, self.epochs, self.retain_weight = lr, epochs, retain_weight
        self.max_val_drop, self.seed = max_val_drop, seed

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        data = task.retained_data
        device = next(model.parameters()).device
        g = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        start_val = validation_score(model, data)
        best_state, reason = copy.deepcopy(model.state_dict()), "max epochs"
        losses, vals = [], []
        if model.task == "link":
            df = task.df_edge_index
            if df.size(1) == 0:
                raise ValueError("gradient ascent on link prediction needs deleted edges; "
                                 "this request deletes none")
            probe = negative_pairs(task.data, max(df.size(1), 256), g).to(device)
        else:
            forget = task.deleted_nodes & task.data.train_mask
            if not bool(forget.any()):
                raise ValueError("gradient ascent on node classification needs deleted training "
                                 "nodes; none of the deleted nodes is in train_mask")
            chance = 1.0 / model.num_classes
        with seeded(self.seed, device):
            for epoch in range(1, self.epochs + 1):
                model.train()
                opt.zero_grad()
                if model.task == "link":
                    z = model.encode(data.x, data.edge_index)
                    ascent = -F.binary_cross_entropy_with_logits(
                        model.decode(z, df), torch.ones(df.size(1), device=device))
                    loss = ascent
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
                val = validation_score(model, data)
                vals.append(val)
                if val < start_val - self.max_val_drop:
                    reason = "validation drop"
                    break
                best_state = copy.deepcopy(model.state_dict())
                if self._forgotten(model, task, data, probe if model.task == "link" else None,
                                   chance if model.task == "node" else 0.0):
                    reason = "deleted set looks unseen"
                    break
        model.load_state_dict(best_state)
        self.history.update(loss=losses, val=vals, epochs=len(losses), stop_reason=reason,
                            start_val=start_val)
        return model

    @torch.no_grad()
    def _forgotten(self, model, task, data, probe, chance) -> bool:
        model.eval()
        if model.task == "link":
            z = model.encode(data.x, data.edge_index)
            df_p = torch.sigmoid(model.decode(z, task.df_edge_index)).mean()
            neg_p = torch.sigmoid(model.decode(z, probe)).mean()
            return bool(df_p <= neg_p)
        forget = task.deleted_nodes & task.data.train_mask
        pred = model(data.x, data.edge_index)[forget].argmax(-1)
        return float((pred == task.data.y[forget]).float().mean()) <= chance
