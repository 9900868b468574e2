r"""Relearning attack: does a few steps of fine-tuning bring the deleted set back?

An unlearned model can hide what it was told to forget instead of losing it: its output on
:math:`D_f` looks forgotten, yet a short fine-tune on data that does not contain
:math:`D_f` (or on a small part of it) brings the rest of :math:`D_f` back, because the
weights still sit near a solution that fitted it. Retraining from scratch has nothing to
bring back. This is the relearning attack of Hu et al., "Jogging the memory of unlearned
LLMs through targeted relearning attacks" (2024), and Lynch et al., "Eight methods to
evaluate robust unlearning in LLMs" (2024), applied to GNNs:

1. copy the model (all parameters made trainable: an attacker holding the weights tunes
   them all, whatever the unlearning method froze) and run ``steps`` Adam steps at the
   training learning rate on the training loss of :mod:`gnn_unlearn.training` (link: BCE on
   positives vs fresh non-edges; node: cross-entropy), with the row's graph for message
   passing and as positives / labelled nodes

   * ``mode="retained"``: the retained training edges :math:`D_r` (nodes: retained
     training nodes) only;
   * ``mode="df_part"``: :math:`D_r` plus a seeded ``df_fraction`` of :math:`D_f` (the
     "jog" set); the recovery is measured on the other, held-out part of :math:`D_f`;

2. measure the held-out deleted items after relearning: the deletion-identification AUC
   (:func:`~gnn_unlearn.metrics.link.deleted_vs_retained_auc`: retained training items (1)
   vs deleted ones (0); 0.5 = the deleted items look learned) and, for links, the AUROC of
   held-out :math:`D_f` vs as many sampled non-edges (nodes: accuracy on the held-out
   deleted training nodes);

3. report each next to the same measure of the retrained model relearned with the same
   steps, seed and data (its "gap"): a gap near 0 means relearning finds no more of
   :math:`D_f` in the model than in a model that never saw it.
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.metrics.attack_base import Attack, register_attack
from gnn_unlearn.metrics.link import auroc_aupr, deleted_vs_retained_auc
from gnn_unlearn.metrics.node import accuracy
from gnn_unlearn.params import AT_LEAST_ONE
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import link_loss, node_loss
from gnn_unlearn.utils import seeded

MODES = ("retained", "df_part")


def split_forget_set(count: int, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """A seeded split of ``count`` deleted items into a jog set (``round(fraction * count)``,
    at least 1) and the held-out rest (at least 1): two index tensors."""
    if count < 2:
        raise ValueError(f"mode 'df_part' needs at least 2 deleted items (a part to relearn on and "
                         f"a part to measure), the task has {count}; use mode='retained'")
    k = min(max(1, round(fraction * count)), count - 1)
    perm = torch.randperm(count, generator=generator)
    return perm[:k], perm[k:]


@register_attack
class RelearnAttack(Attack):
    """Fine-tunes a copy of each model for a few steps and measures how much of the deleted
    set returns, next to the retrained model relearned the same way (see the module doc).

    Args:
        seed: seeds the jog split, the non-edges, the fine-tuning negatives/dropout and the
            retained-item draws of the identification AUC.
        steps: Adam steps of relearning.
        lr: learning rate (default: the original model's training ``lr``, else 0.01).
        mode: ``"retained"`` or ``"df_part"``.
        df_fraction: share of the deleted items relearned on in ``"df_part"`` mode.
        draws: retained-item draws of the identification AUC.
    """
    name = "relearn"
    tasks = frozenset({"link", "node"})
    columns = {"relearn_id_auc": "relearn id AUC", "relearn_id_shift": "relearn id shift",
               "relearn_id_gap": "relearn id gap",
               "relearn_df": "relearn Df AUROC/acc", "relearn_df_gap": "relearn Df gap"}
    note = ("a copy fine-tuned for a few Adam steps at the training lr on the retained "
            "training data (mode 'df_part': plus a small part of Df, measured on the rest); id AUC: "
            "retained (1) vs held-out deleted training items (0) after relearning (0.5: Df looks "
            "learned again); id shift: its change by relearning (negative: Df returns); Df: "
            "held-out Df AUROC vs non-edges (links) or accuracy on held-out deleted nodes; gap: the "
            "model's relearned value minus retrain's relearned the same way (0: relearning finds no "
            "more of Df than in a model that never saw it)")
    param_rules = {"df_fraction": (0, False, 1, False), "draws": AT_LEAST_ONE}
    param_choices = {"mode": MODES}

    def __init__(self, seed: int = 0, steps: int = 10, lr: float | None = None, mode: str = "retained",
                 df_fraction: float = 0.1, draws: int = 500):
        super().__init__(seed)
        self.steps, self.draws = steps, draws
        self.lr = None if lr is None else float(lr)
        self.mode, self.df_fraction = mode, float(df_fraction)
        self.reference: dict[str, float] = {}

    def prepare(self, task: UnlearningTask, original: nn.Module, retrained: nn.Module) -> None:
        if not isinstance(task, UnlearningTask):
            raise TypeError(f"relearn: task must be an UnlearningTask, got {type(task).__name__}")
        self.kind = original.task
        g = torch.Generator().manual_seed(self.seed)
        train_config = getattr(original, "train_config", None) or {}
        self.step_lr = self.lr if self.lr is not None else float(train_config.get("lr", 0.01))
        data = task.data
        if self.kind == "link":
            df = task.df_edge_index
            if df.size(1) == 0:
                raise ValueError("relearn: the task deletes no training edges; nothing to relearn")
            jog, held = self._jog_and_held(df.size(1), g)
            self.dr = task.dr_edge_index
            self.held = df[:, held.to(df.device)]
            self.positives = torch.cat([self.dr, df[:, jog.to(df.device)]], 1)
            known = torch.cat([data.train_pos_edge_index, data.val_pos_edge_index,
                               data.test_pos_edge_index], 1)
            self.non_edges = negative_pairs(data, self.held.size(1), g, exclude=known).to(df.device)
        else:
            forget = (data.train_mask & task.deleted_nodes).nonzero().view(-1)
            if forget.numel() == 0:
                raise ValueError("relearn: the task deletes no training nodes; nothing to relearn")
            jog, held = self._jog_and_held(forget.numel(), g)
            self.members = data.train_mask & ~task.deleted_nodes
            if int(self.members.sum()) < held.numel():
                raise ValueError("relearn: fewer retained than deleted training nodes; the "
                                 "identification AUC needs as many retained as deleted")
            self.held = forget[held.to(forget.device)]
            self.train_mask = self.members.clone()
            self.train_mask[forget[jog.to(forget.device)]] = True
            self.y = data.y.view(-1)
        self.reference = self.relearned(retrained, task.retained_data)

    def _jog_and_held(self, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Indices of the deleted items relearned on (none in mode "retained") and measured."""
        if self.mode == "retained":
            return torch.empty(0, dtype=torch.long), torch.arange(count)
        return split_forget_set(count, self.df_fraction, generator)

    def score(self, model: nn.Module, graph: Data, on_original: bool) -> dict[str, float]:
        value = self.relearned(model, graph)
        before = self.relearned(model, graph, steps=0)
        return {"relearn_id_auc": value["id_auc"], "relearn_id_shift": value["id_auc"] - before["id_auc"],
                "relearn_id_gap": value["id_auc"] - self.reference["id_auc"],
                "relearn_df": value["df"], "relearn_df_gap": value["df"] - self.reference["df"]}

    def relearned(self, model: nn.Module, graph: Data, steps: int | None = None) -> dict[str, float]:
        """``{"id_auc", "df"}`` of a copy of ``model`` after ``steps`` (default: the attack's)
        steps of relearning on ``graph`` (0 steps: of ``model`` itself, unchanged)."""
        steps = self.steps if steps is None else steps
        if steps == 0:
            return self._measure(model, graph)
        student = copy.deepcopy(model).requires_grad_(True)
        params = list(student.parameters())
        if not params:
            return self._measure(student, graph)
        if self.kind == "link":
            data = copy.copy(graph)
            data.train_pos_edge_index = self.positives
        opt = torch.optim.Adam(params, lr=self.step_lr)
        gen = torch.Generator().manual_seed(self.seed)
        with seeded(self.seed, params[0].device):
            student.train()
            for _ in range(steps):
                opt.zero_grad()
                loss = (link_loss(student, data, gen) if self.kind == "link"
                        else node_loss(student, graph, self.train_mask))
                loss.backward()
                opt.step()
        return self._measure(student, graph)

    @torch.no_grad()
    def _measure(self, model: nn.Module, graph: Data) -> dict[str, float]:
        """``{"id_auc", "df"}`` of ``model`` on the held-out deleted items (eval mode; the
        training flag is restored)."""
        was = model.training
        model.eval()
        draw_gen = torch.Generator().manual_seed(self.seed)
        try:
            if self.kind == "link":
                z = model.encode(graph.x, graph.edge_index)
                held, dr, non = (model.decode(z, p) for p in (self.held, self.dr, self.non_edges))
                return {"id_auc": deleted_vs_retained_auc(held, dr, self.draws, draw_gen),
                        "df": auroc_aupr(held, non)["auroc"]}
            logits = model(graph.x, graph.edge_index)
        finally:
            model.train(was)
        p_true = torch.softmax(logits.float(), -1).gather(1, self.y.view(-1, 1)).view(-1)
        return {"id_auc": deleted_vs_retained_auc(p_true[self.held], p_true[self.members],
                                                  self.draws, draw_gen),
                "df": accuracy(logits[self.held].argmax(-1), self.y[self.held])}
