"""Gradient ascent on the deleted set (the baseline of GNNDelete's tables)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnn_unlearn.distributed import Replica
from gnn_unlearn.loader import Embedder, check_batch_size, check_sampler, index_batches
from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.methods.reference import HeldOutReference, as_reference, check_reference, reference_levels
from gnn_unlearn.methods.stopping import STOP_TOLERANCE, Monitor, StopControl
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.training import labelled_pairs
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
        settle: when the deleted set is found to look unseen, bisect the steps since the
            previous check this many times for the shortest one that still gets there (where
            none meets both targets, for the point closest to both)
            (:meth:`~gnn_unlearn.methods.stopping.Monitor.settle`; 0: keep the whole step).
        stop_tolerance: the link stopping criterion's tolerance, in null standard deviations of its
            statistics (:class:`~gnn_unlearn.methods.stopping.ForgetCriterion`); 0 stops only once
            the deleted set sits at its targets themselves, not within chance of them.
        reference: link prediction, a :class:`~gnn_unlearn.methods.reference.HeldOutReference`
            of this model (or the path of one saved by ``HeldOutReference.save`` / ``gnn-unlearn
            fit-reference``): stop where each deleted edge's held-out level puts it (see
            :class:`~gnn_unlearn.methods.stopping.ForgetCriterion`) instead of where unseen
            edges sit on average; ``None`` (default): validation positives only.

    Under ``torchrun`` the model trains in ``DistributedDataParallel``
    (:mod:`gnn_unlearn.distributed`): full batch, every rank draws the step's retained pairs
    and negatives identically and takes the loss of its share of them and of the deleted set,
    each mean term weighted so that the averaged gradient is the single-process one (the
    result equals one process's up to round-off); mini-batches, each rank its share of the
    epoch's deleted items with its own sampling. Rank 0's stopping verdict holds for all.
    """
    name = "gradient_ascent"
    data_parallel = True
    supports = frozenset({"edge", "node", "class", "interaction"})
    tasks = frozenset({"link", "node"})

    def __init__(self, lr: float = 1e-3, epochs: int = 200, retain_weight: float = 0.0,
                 target: str = "matched", max_val_drop: float = 0.03,
                 backtrack: int = 3, fanouts: list[int] | None = None, batch_size: int = 1024,
                 sampler: str = "torch", seed: int = 0, reference: HeldOutReference | str | None = None,
                 settle: int = 0, stop_tolerance: float = STOP_TOLERANCE):
        self.backtrack, self.sampler = backtrack, check_sampler(sampler)
        self.reference = as_reference(self.name, reference)
        self.settle, self.stop_tolerance = settle, stop_tolerance
        self.lr, self.epochs, self.retain_weight, self.target = lr, epochs, retain_weight, target
        self.max_val_drop, self.fanouts, self.batch_size, self.seed = max_val_drop, fanouts, batch_size, seed

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        super().check(model, task)
        check_reference(self.name, self.reference, model, task, self.target)

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        data = task.retained_data
        device = task.device
        replica = Replica.current()
        g = torch.Generator().manual_seed(self.seed)        # drawn identically on every rank
        local = replica.local_generator(g, self.seed)      # each rank's mini-batch draws
        embedder = Embedder(data, self.fanouts, self.sampler)
        embedder.check(model)
        batch_size = check_batch_size(self.batch_size) if embedder.sampled else None
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
        loss_fn = self._link_loss if model.task == "link" else self._node_loss
        monitor = Monitor(model, task, g, self.target, self.max_val_drop,
                          levels=reference_levels(self.reference, task), tolerance=self.stop_tolerance)
        step = replica.wrap(model)          # DistributedDataParallel under torchrun
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        control = StopControl(monitor, model, model.state_dict, model.load_state_dict, self.lr,
                              self.backtrack, self.settle, decide=replica.decide)

        def one_epoch(step=step) -> float:
            model.train()
            for idx in index_batches(forget.size(-1), batch_size, g, device, replica):
                opt.zero_grad()
                if embedder.sampled:        # as many retained items as forgotten ones
                    keep = retained[..., torch.randint(retained.size(-1), (idx.numel(),),
                                                       generator=local).to(device)]
                    batch = self._batch(model, task, forget[..., idx], keep, local, Replica())
                else:                       # this rank's share of all of them
                    batch = self._batch(model, task, forget, retained, g, replica)
                loss = step(loss_fn, embedder, *batch, local)
                loss.backward()
                opt.step()
            return float(replica.mean(loss.detach()))

        def restart(lr: float) -> None:
            nonlocal opt
            opt = torch.optim.Adam(model.parameters(), lr=lr)

        # the start may already sit where retraining would (a reference can say so, e.g. for
        # deleted edges the rest of the graph predicts): then no step is taken
        at_start = bool(replica.decide(monitor.evaluate(model)[1]))
        with seeded(self.seed, device):     # rank 0 decides for all
            losses = control.run(self.epochs, at_start, one_epoch,
                                 lambda: replica.decide(monitor.check(model)), restart)
        del step, one_epoch                 # DDP's gradient hooks go with them
        control.finish(self.history)
        self.history.update(loss=losses, epochs=len(losses))
        return model

    def _batch(self, model, task, forget: Tensor, keep: Tensor, g, split: Replica) -> tuple:
        """The loss arguments of one step: this rank's shares of the forgotten and the retained
        items, the labels (link: of the retained pairs, which get as many fresh non-edges,
        drawn from ``g`` before splitting so that the ranks' shares make up the single-process
        batch; node: the node labels), ``split`` (which takes the shares; ``Replica()``: a
        mini-batch that is the rank's own) and the numbers of items on all ranks."""
        labels = task.data.y if model.task == "node" else None
        if model.task == "link" and self.retain_weight > 0:
            neg = negative_pairs(task.retained_data, keep.size(1), g).to(keep.device)
            keep, labels = labelled_pairs(keep, neg)
            labels = split.take(labels)
        elif model.task == "link":
            keep = keep[:, :0]
        return split.take(forget), split.take(keep), labels, split, forget.size(-1), keep.size(-1)

    def _link_loss(self, model, embedder, df: Tensor, pairs: Tensor, labels: Tensor | None,
                   split: Replica, num_df: int, num_pairs: int, g) -> Tensor:
        """``df``: deleted edges; ``pairs`` / ``labels``: retained edges and non-edges (this
        rank's shares of ``num_df`` and ``num_pairs``, :meth:`Replica.share_mean`)."""
        z, _, index = embedder(model, torch.cat([df, pairs], 1).reshape(-1), g)
        logits = model.decode(z, index.view(2, -1))
        nf, device = df.size(1), logits.device
        bce = F.binary_cross_entropy_with_logits(logits[:nf], torch.ones(nf, device=device),
                                                 reduction="none")
        loss = -split.share_mean(bce, num_df)
        if self.retain_weight > 0:
            bce = F.binary_cross_entropy_with_logits(logits[nf:], labels, reduction="none")
            loss = loss + self.retain_weight * split.share_mean(bce, num_pairs)
        return loss

    def _node_loss(self, model, embedder, forget: Tensor, keep: Tensor, y_all: Tensor, split: Replica,
                   num_forget: int, num_keep: int, g) -> Tensor:
        """Cross-entropy ascent on ``forget``, descent on ``keep`` (this rank's shares)."""
        nodes = torch.cat([forget, keep]) if self.retain_weight > 0 else forget
        z, _, index = embedder(model, nodes, g)
        out = model.head(z)[index]
        y = y_all[nodes]
        nf = forget.numel()
        loss = -split.share_mean(F.cross_entropy(out[:nf], y[:nf], reduction="none"), num_forget)
        if self.retain_weight > 0:
            ce = F.cross_entropy(out[nf:], y[nf:], reduction="none")
            loss = loss + self.retain_weight * split.share_mean(ce, num_keep)
        return loss
