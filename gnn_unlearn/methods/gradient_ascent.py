"""Gradient ascent on the deleted set (the baseline of GNNDelete's tables)."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnn_unlearn.loader import Embedder, check_batch_size, check_sampler, index_batches
from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.methods.stopping import Monitor
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.ops.negative import negative_pairs
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
        target: ``"matched"`` (default), ``"unseen_edges"`` or ``"non_edges"`` (see ForgetCriterion).
            Measured on Cora (GCN, 2.5 %, seeds 0-1): "matched" lands the deleted-vs-retained
            AUC within 0.03 of retraining's ("unseen_edges": up to 0.035 above it, "out").
        max_val_drop: tolerated drop of validation AUROC / accuracy.
        backtrack: on a step that drops validation beyond ``max_val_drop``, return to the
            last good state and halve the learning rate, at most this many times (then stop
            there). Ascent is unbounded, so a fixed rate either crawls or overshoots: on Cora
            class removal lr 1e-2 overshoots in its first step while 3e-3 forgets the class in 4.
        fanouts: neighbours sampled per layer for mini-batches (graphs too large for full
            batch); ``None`` (default) runs full batch. With fanouts, an epoch is one pass over
            the deleted set in batches of ``batch_size`` edges / nodes, each on its sampled
            computation subgraph, with as many retained ones drawn alongside.
        batch_size: deleted edges / nodes per mini-batch.
        sampler: ``"torch"`` (this library's sampler, seeded) or ``"pyg"`` (PyG's
            ``NeighborSampler``; needs pyg-lib or torch-sparse).
        seed: seeds the negatives and dropout.
    """
    name = "gradient_ascent"
    supports = frozenset({"edge", "node", "class", "interaction"})
    tasks = frozenset({"link", "node"})

    def __init__(self, lr: float = 1e-3, epochs: int = 200, retain_weight: float = 0.0,
                 target: str = "matched", max_val_drop: float = 0.03,
                 backtrack: int = 3, fanouts: list[int] | None = None, batch_size: int = 1024,
                 sampler: str = "torch", seed: int = 0):
        self.backtrack, self.sampler = backtrack, check_sampler(sampler)
        self.lr, self.epochs, self.retain_weight, self.target = lr, epochs, retain_weight, target
        self.max_val_drop, self.fanouts, self.batch_size, self.seed = max_val_drop, fanouts, batch_size, seed

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        data = task.retained_data
        device = task.device
        g = torch.Generator().manual_seed(self.seed)
        embedder = Embedder(data, self.fanouts, self.sampler)
        embedder.check(model)
        batch_size = check_batch_size(self.batch_size) if embedder.sampled else None
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        if model.task == "link":
            forget = task.df_edge_index
            if forget.size(1) == 0:
                raise ValueError("gradient ascent on link prediction needs deleted edges; "
                                 "this request deletes none")
            retained = data.train_pos_edge_index
        else:
            forget = (task.deleted_nodes & task.data.train_mask).nonzero().view(-1)
            if forget.numel() == 0:
                raise ValueError("gradient ascent on node classification needs deleted training "
                                 "nodes; none of the deleted nodes is in train_mask")
            retained = data.train_mask.nonzero().view(-1)
        step = self._link_loss if model.task == "link" else self._node_loss
        monitor = Monitor(model, task, g, self.target, self.max_val_drop)
        best, reason, losses = copy.deepcopy(model.state_dict()), "max epochs", []
        halvings, lr = 0, self.lr
        with seeded(self.seed, device):
            for _ in range(self.epochs):
                model.train()
                for idx in index_batches(forget.size(-1), batch_size, g, device):
                    opt.zero_grad()
                    keep = retained
                    if embedder.sampled:        # as many retained items as forgotten ones
                        keep = retained[..., torch.randint(retained.size(-1), (idx.numel(),),
                                                           generator=g).to(device)]
                    loss = step(model, embedder, task, forget[..., idx], keep, g)
                    loss.backward()
                    opt.step()
                losses.append(float(loss.detach()))
                verdict = monitor.check(model)
                if verdict == "validation drop" and halvings < self.backtrack:
                    # the step was too large: back to the last good state, half the rate
                    halvings, lr = halvings + 1, lr / 2
                    model.load_state_dict(best)
                    opt = torch.optim.Adam(model.parameters(), lr=lr)
                    continue
                if verdict == "validation drop":
                    reason = verdict
                    break
                best = copy.deepcopy(model.state_dict())
                if verdict is not None:
                    reason = verdict
                    break
        model.load_state_dict(best)
        self.history.update(loss=losses, epochs=len(losses), stop_reason=reason, lr_halvings=halvings,
                            start_val=monitor.start_val)
        return model

    def _link_loss(self, model, embedder, task, df: Tensor, dr: Tensor, g) -> Tensor:
        pairs = df
        if self.retain_weight > 0:
            neg = negative_pairs(task.retained_data, dr.size(1), g).to(dr.device)
            pairs = torch.cat([df, dr, neg], 1)
        z, _, index = embedder(model, pairs.reshape(-1), g)
        logits = model.decode(z, index.view(2, -1))
        nf, device = df.size(1), logits.device
        loss = -F.binary_cross_entropy_with_logits(logits[:nf], torch.ones(nf, device=device))
        if self.retain_weight > 0:
            labels = torch.cat([torch.ones(dr.size(1)), torch.zeros(dr.size(1))]).to(device)
            loss = loss + self.retain_weight * F.binary_cross_entropy_with_logits(logits[nf:], labels)
        return loss

    def _node_loss(self, model, embedder, task, forget: Tensor, keep: Tensor, g) -> Tensor:
        nodes = torch.cat([forget, keep]) if self.retain_weight > 0 else forget
        z, _, index = embedder(model, nodes, g)
        out = model.head(z)[index]
        y = task.data.y[nodes]
        nf = forget.numel()
        loss = -F.cross_entropy(out[:nf], y[:nf])
        if self.retain_weight > 0:
            loss = loss + self.retain_weight * F.cross_entropy(out[nf:], y[nf:])
        return loss
