r"""Reverse-BPR unlearning for recommenders (the MMRecUn baseline).

Sinha, Mishra, Kumaraguru, "MMRecUn: A Framework for Multimodal Recommendation Unlearning"
(arXiv 2405.15513), as summarised in UnlearnRec's spec. Fine-tune the recommender's initial
embeddings on the retained graph with

.. math::
    \mathcal{L} = \mathrm{BPR}(D_r) + \lambda\, \frac{1}{|E_\Delta|}\sum_{(u,i) \in E_\Delta}
    -\log\sigma(\hat y_{uj} - \hat y_{ui}) + \tfrac{l_2}{2}\lVert E^{(0)}\rVert^2_{\text{batch}}

with :math:`j` a sampled item the user never interacted with: each removed item is pushed
below a random unseen one. Propagation runs on the retained graph, so removed interactions no
longer carry messages.

Stopping (:class:`~gnn_unlearn.methods.rec_common.RankMonitor`, checked every
``check_every`` steps): as soon as the removed items rank for their users no higher than
held-out validation items do; a validation Recall@20 drop of more than ``max_val_drop``
(relative) reverts to the last state that passed.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.methods.rec_common import RankMonitor, removed_pairs
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import bpr_loss, interaction_keys, sample_items, sample_triples
from gnn_unlearn.utils import seeded


def reverse_bpr_loss(model: nn.Module, z: torch.Tensor, removed: torch.Tensor,
                     negatives: torch.Tensor) -> torch.Tensor:
    r""":math:`-\log\sigma(\hat y_{uj} - \hat y_{ui})` averaged over removed pairs ``(u, i)``."""
    u, i = removed
    pos = model.decode(z, torch.stack([u, i]))
    neg = model.decode(z, torch.stack([u, negatives]))
    return F.softplus(pos - neg).mean()


@register
class ReverseBPR(Unlearner):
    """BPR on retained interactions + reverse BPR on removed ones (see the module docstring).

    Args:
        lr: Adam learning rate on the initial embeddings.
        epochs: maximum number of steps.
        batch_size: retained BPR triples per step (removed pairs: up to the same number).
        forget_weight: :math:`\\lambda`.
        l2: embedding L2 weight (the training recipe's default).
        check_every: steps between stopping checks (a check ranks the removed pairs and
            computes validation Recall@20).
        max_val_drop: tolerated relative drop of validation Recall@20.
        seed: seeds sampling.
    """
    name = "reverse_bpr"
    supports = frozenset({"interaction", "edge"})
    tasks = frozenset({"rec"})

    def __init__(self, lr: float = 5e-3, epochs: int = 200, batch_size: int = 8192,
                 forget_weight: float = 1.0, l2: float = 1e-4, check_every: int = 5,
                 max_val_drop: float = 0.05, seed: int = 0):
        self.lr, self.epochs, self.batch_size, self.forget_weight = lr, epochs, batch_size, forget_weight
        self.l2, self.check_every, self.max_val_drop, self.seed = l2, check_every, max_val_drop, seed

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        if self.check_every < 1 or self.batch_size < 1:
            raise ValueError("reverse_bpr needs check_every >= 1 and batch_size >= 1")
        data = task.retained_data
        df = removed_pairs(task)
        g = torch.Generator().manual_seed(self.seed)
        monitor = RankMonitor(task, g, self.max_val_drop)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        known = interaction_keys(data)
        best, reason, losses = copy.deepcopy(model.state_dict()), "max epochs", []
        verdict = monitor.check(model)
        with seeded(self.seed, task.device):
            for step in range(1, self.epochs + 1):
                if verdict is not None:
                    reason = verdict
                    break
                model.train()
                opt.zero_grad()
                z = model.encode(None, data.edge_index)
                loss = bpr_loss(model, data, sample_triples(data, self.batch_size, g, known=known), self.l2, z=z)
                forget = df if df.size(1) <= self.batch_size else \
                    df[:, torch.randint(df.size(1), (self.batch_size,), generator=g).to(df.device)]
                loss = loss + self.forget_weight * reverse_bpr_loss(
                    model, z, forget, sample_items(data, forget[0], g, known))
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                if step % self.check_every == 0 or step == self.epochs:
                    verdict = monitor.check(model)
                    if verdict == "validation drop":
                        reason = verdict
                        break
                    best = copy.deepcopy(model.state_dict())
        model.load_state_dict(best)
        self.history.update(loss=losses, epochs=len(losses), stop_reason=reason,
                            start_val=monitor.start_val, **monitor.last)
        return model
