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

That is the published loss (``target="published"``). It over-forgets in score and
under-forgets in rank at once (lastfm, 1 %: removed pairs' mean rank percentile 0.047 against
retraining's 0.107, scores 5.4 retrain standard deviations too low, deletion identification
0.748 against 0.655): one random unseen item is not where a retrained model puts a removed
interaction, and pushing below it shrinks the user's whole score scale.

The default, ``target="matched"``, regresses each removed pair's score onto where a retrained
model would rank it (:class:`~gnn_unlearn.methods.rec_common.HeldOutInteractions`):

.. math::
    \mathcal{L} = \mathrm{BPR}(D_r) + \lambda\, \frac{1}{|E_\Delta|}\sum_{(u,i) \in E_\Delta}
    \big(\hat y_{ui} - t_{ui}\big)^2 + \lambda\mu\,\frac{1}{|A|}\sum_{(u,j) \in A}
    \big(\hat y_{uj} - \hat y^{0}_{uj}\big)^2 + \tfrac{l_2}{2}\lVert E^{(0)}\rVert^2_{\text{batch}}

with :math:`t_{ui}` the score that puts :math:`i` at rank :math:`Q^{-1}((r_{ui}+1/2)/k)` among
:math:`u`'s candidate items - :math:`r_{ui}` the pair's order among the removed ones, :math:`Q`
the rank-percentile distribution of held-out validation interactions of the same users under the
*current* model, re-weighted to the removed items' popularity (1-D optimal transport, the
recommender analogue of :meth:`~gnn_unlearn.methods.stopping.UnseenEdges.quantile_targets`).
Targets are recomputed at every check from the current embeddings. :math:`A` holds, per removed
pair of the batch, one retained interaction of a user with removed ones and one random unseen item
of the pair's user, :math:`\hat y^0` the scores at the start (on the retained graph): without it
the regression lowers a removed pair by shrinking its user's whole score scale (lastfm, 1 %:
retained items' mean score 7.8 -> 4.5, removed pairs' scores 2.8 against retraining's 5.7),
where retraining keeps that scale (7.76). Users and items that keep no
interaction are redrawn from the initialisation first
(:func:`~gnn_unlearn.methods.rec_common.untrained_embeddings`: a retrained model never trains such
users and trains such items only as negatives, like the catalogue's cold items).

Stopping (:class:`~gnn_unlearn.methods.rec_common.RankMonitor`, checked every
``check_every`` steps): ``"matched"``: when the removed pairs' rank distribution has been that of
the reference, within ``tolerance`` null standard deviations, at 5 checks in a row (or stops
improving for ``patience`` checks); ``"published"``: as soon as their mean rank percentile reaches the reference's. A
validation Recall@20 drop of more than ``max_val_drop`` (relative) reverts to the last state
that passed.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.methods.rec_common import (RankMonitor, check_target, matchable, own_interactions,
                                            removed_pairs, reset_untrained)
from gnn_unlearn.methods.reference import HeldOutReference, as_reference, check_reference
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


def matched_loss(model: nn.Module, z: torch.Tensor, pairs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r""":math:`(\hat y_{ui} - t_{ui})^2` averaged over ``pairs`` (``targets``: detached scores)."""
    return F.mse_loss(model.decode(z, pairs), targets)


@register
class ReverseBPR(Unlearner):
    """BPR on retained interactions + a term on the removed ones (see the module docstring).

    Args:
        lr: Adam learning rate on the initial embeddings.
        epochs: maximum number of steps.
        batch_size: retained BPR triples per step (removed pairs: up to the same number).
        forget_weight: :math:`\\lambda`.
        l2: embedding L2 weight (the training recipe's default).
        check_every: steps between stopping checks (a check ranks the removed pairs and
            computes validation Recall@20; ``"matched"`` also refreshes the targets).
        max_val_drop: tolerated relative drop of validation Recall@20.
        target: ``"matched"`` (default: removed pairs to the ranks a retrained model gives them)
            or ``"published"`` (reverse BPR against one random unseen item, mean-rank stop).
        tolerance, patience: of the ``"matched"`` stop
            (:class:`~gnn_unlearn.methods.rec_common.RankMonitor`).
        preserve_weight: ``"matched"`` only: :math:`\\mu` of the stay-close term (module docstring).
        seed: seeds sampling.
        reference: ``"matched"`` only, a recommender's
            :class:`~gnn_unlearn.methods.reference.HeldOutReference` of this model (or the path of
            a saved one): each removed pair's target is the held-out rank quantile at its own
            level (:meth:`~gnn_unlearn.methods.reference.HeldOutReference.pair_levels`) instead of
            at its order under the original; ``None`` (default): the order-keeping transport.
    """
    name = "reverse_bpr"
    supports = frozenset({"interaction", "edge"})
    tasks = frozenset({"rec"})

    def __init__(self, lr: float = 5e-3, epochs: int = 200, batch_size: int = 8192,
                 forget_weight: float = 1.0, l2: float = 1e-4, check_every: int = 5,
                 max_val_drop: float = 0.05, target: str = "matched", tolerance: float = 0.5,
                 patience: int = 10, preserve_weight: float = 1.0, seed: int = 0,
                 reference: HeldOutReference | str | None = None):
        check_target(target, "reverse_bpr")
        self.lr, self.epochs, self.batch_size, self.forget_weight = lr, epochs, batch_size, forget_weight
        self.l2, self.check_every, self.max_val_drop, self.seed = l2, check_every, max_val_drop, seed
        self.target, self.tolerance, self.patience = target, tolerance, patience
        self.preserve_weight = preserve_weight
        self.reference = as_reference(self.name, reference)

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        super().check(model, task)
        check_reference(self.name, self.reference, model, task, self.target)

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        if self.check_every < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("reverse_bpr needs check_every >= 1, batch_size >= 1 and patience >= 1")
        data = task.retained_data
        df = removed_pairs(task)
        g = torch.Generator().manual_seed(self.seed)
        matched = self.target == "matched"
        if matched:
            rows = reset_untrained(model, task, g)
            self.history["reset_rows"] = int(rows.sum())
            df = matchable(df, rows)
            if df.size(1) == 0:          # every removed pair belongs to a row nobody trains now
                self.history.update(loss=[], epochs=0, stop_reason="untrained rows redrawn")
                return model
        monitor = RankMonitor(task, g, self.max_val_drop, self.target, pairs=df,
                              tolerance=self.tolerance, patience=self.patience,
                              max_pairs=2000 if matched else 5000, reference=self.reference)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        known = interaction_keys(data)
        best, reason, losses = copy.deepcopy(model.state_dict()), "max epochs", []
        z_eval = monitor.embeddings(model)
        if matched:                      # the touched users' scores of their other items stay put
            z_start = z_eval
            own = own_interactions(data, df)
        verdict = monitor.check(model, z_eval)
        targets = monitor.score_targets(z_eval) if matched and verdict is None else None
        with seeded(self.seed, task.device):
            for step in range(1, self.epochs + 1):
                if verdict is not None:
                    reason = verdict
                    break
                model.train()
                opt.zero_grad()
                z = model.encode(None, data.edge_index)
                loss = bpr_loss(model, data, sample_triples(data, self.batch_size, g, known=known), self.l2, z=z)
                pick = None if df.size(1) <= self.batch_size else \
                    torch.randint(df.size(1), (self.batch_size,), generator=g).to(df.device)
                forget = df if pick is None else df[:, pick]
                if matched:
                    term = matched_loss(model, z, forget, targets if pick is None else targets[pick])
                    if self.preserve_weight > 0:
                        anchors = torch.cat([own[:, torch.randint(own.size(1), (forget.size(1),), generator=g)
                                                     .to(own.device)],
                                             torch.stack([forget[0], sample_items(data, forget[0], g, known)])], 1)
                        term = term + self.preserve_weight * F.mse_loss(model.decode(z, anchors),
                                                                        model.decode(z_start, anchors))
                else:
                    term = reverse_bpr_loss(model, z, forget, sample_items(data, forget[0], g, known))
                loss = loss + self.forget_weight * term
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                if step % self.check_every == 0 or step == self.epochs:
                    z_eval = monitor.embeddings(model)
                    verdict = monitor.check(model, z_eval)
                    if verdict == "validation drop":
                        reason = verdict
                        break
                    best = copy.deepcopy(model.state_dict())
                    if matched and verdict is None:
                        targets = monitor.score_targets(z_eval)
        model.load_state_dict(best)
        self.history.update(loss=losses, epochs=len(losses), stop_reason=reason,
                            start_val=monitor.start_val, **monitor.last)
        return model
