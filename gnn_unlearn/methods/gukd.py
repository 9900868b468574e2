r"""GUKD: graph unlearning by knowledge distillation.

"Graph Unlearning Using Knowledge Distillation", ICICS 2023 (LNCS 14252).

A teacher that has seen everything speaks only through the **edited** graph, and a fresh student
learns from what it says there. The teacher is the input model :math:`f_0` (trained on the full
data; the paper's teacher is a deeper GCNII, any trained model of the library can serve) run on
``task.retained_data`` (deleted nodes' edges or deleted edges removed); the student is a new
model of the same architecture, initialised from ``seed`` and trained for ``epochs`` Adam steps
on the edited graph to match the teacher's softened distributions on the distillation set
:math:`S` (the retained training nodes):

.. math::
    \mathcal{L} = T^2 \cdot \frac{1}{|S|} \sum_{v \in S}
        \mathrm{CE}\big(\sigma(f_0(X', A')_v / T),\ \sigma(s(X', A')_v / T)\big)
        + \beta\, \mathrm{CE}(s(X', A')_S, y_S).

The student returned is the one of the epoch with the best accuracy on the retained validation
nodes (the last epoch without validation nodes).

**Link prediction** (the paper's edge task; OpenGU: "MSE between decoded edge scores"): teacher
and student are link predictors, and the student matches the teacher's decoded scores (logits)
on the edited graph's training pairs :math:`S_t` of epoch :math:`t`, the retained training edges
plus as many non-edges of the edited graph drawn afresh each epoch (as link training draws its
negatives; without them every pair could score high):

.. math::
    \mathcal{L}_t = \frac{1}{|S_t|} \sum_{(a, b) \in S_t}
        \big(s(a, b) - s_0(a, b)\big)^2 + \beta\, \mathrm{BCE}(s(S_t), y_{S_t}),

:math:`s_0` the input model's scores with message passing on the edited graph and :math:`y` 1 for
edges, 0 for the drawn non-edges. The temperature plays no part (scaling both logits by
:math:`1/T` only rescales the MSE). The student of the epoch with the best validation AUROC
(``val_pos_edge_index`` against ``val_neg_edge_index``) is returned; test edges are never read.

Differences from OpenGU's implementation (``../shared/methods/influence.md``): OpenGU distils on
the **test** nodes and picks the checkpoint on test F1; here the distillation set is the retained
training nodes and selection uses validation nodes. OpenGU trains its student on the original
graph; here the student never sees the deleted nodes' edges or the deleted edges. Edges are removed
in both directions by the task's masks (OpenGU removes one direction in a Python loop).

Cost: one training run of the student (as retraining) plus one teacher forward pass.

Args:
    epochs: the student's Adam steps; ``None``: the original training's epochs (100 if unknown).
    lr: Adam learning rate; ``None``: the original training's (0.01 if unknown).
    weight_decay: Adam weight decay; ``None``: the original training's.
    temperature: :math:`T` (node classifiers only).
    label_weight: :math:`\beta`, the weight of the training labels (0: pure distillation).
    seed: seeds the student's initialisation and dropout (link models: also the non-edge draws).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from gnn_unlearn.methods.base import NON_NEGATIVE, Unlearner, register
from gnn_unlearn.models.predictors import build_model
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import labelled_pairs, validation_score
from gnn_unlearn.utils import seeded


@register
class GUKD(Unlearner):
    """Knowledge-distillation unlearning (ICICS 2023); see the module docstring."""
    name = "gukd"
    supports = frozenset({"node", "edge"})
    tasks = frozenset({"node", "link"})
    param_rules = {"label_weight": NON_NEGATIVE}

    def __init__(self, epochs: int | None = None, lr: float | None = None,
                 weight_decay: float | None = None, temperature: float = 2.0,
                 label_weight: float = 0.0, seed: int = 0):
        self.epochs, self.lr, self.weight_decay = epochs, lr, weight_decay
        self.temperature, self.label_weight, self.seed = temperature, label_weight, seed

    def recipe(self, model: nn.Module) -> tuple[int, float, float]:
        """(epochs, lr, weight decay): the given ones, else the original training's."""
        recipe = getattr(model, "train_config", None) or {}
        epochs = self.epochs or int(recipe.get("epochs", 100) or 100)
        lr = self.lr or float(recipe.get("lr", 0.01) or 0.01)
        wd = (self.weight_decay if self.weight_decay is not None
              else float(recipe.get("weight_decay", 0.0) or 0.0))
        return epochs, lr, wd

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        config = dict(getattr(model, "config", None) or {})
        if not config or config.get("encoder") == "linear":
            raise ValueError(f"GUKD builds a fresh student from model.config (a GNN {model.task} "
                             "model made with make_model/build_model)")
        student = self._fit_link(model, task, config) if model.task == "link" else \
            self._fit_node(model, task, config)
        for key in ("train_config", "data_signature"):
            if hasattr(model, key):
                setattr(student, key, copy.deepcopy(getattr(model, key)))
        return student

    def _fit_node(self, model: nn.Module, task: UnlearningTask, config: dict) -> nn.Module:
        kept = task.retained_data
        if getattr(kept, "train_mask", None) is None:
            raise ValueError("GUKD on a node classifier needs data.train_mask")
        epochs, lr, wd = self.recipe(model)
        device = task.device
        model.eval()
        with torch.no_grad():
            teacher = F.softmax(model(kept.x, kept.edge_index) / self.temperature, dim=-1)
        train = kept.train_mask
        val = getattr(kept, "val_mask", None)
        val = val if val is not None and bool(val.any()) else None
        y = kept.y.view(-1)
        t = self.temperature
        best, best_val, best_epoch = None, -1.0, epochs
        with seeded(self.seed, device):
            student = build_model(config).to(device)
            opt = torch.optim.Adam(student.parameters(), lr=lr, weight_decay=wd)
            for epoch in range(1, epochs + 1):
                student.train()
                opt.zero_grad()
                out = student(kept.x, kept.edge_index)[train]
                loss = -(teacher[train] * F.log_softmax(out / t, dim=-1)).sum(-1).mean() * t * t
                if self.label_weight > 0:
                    loss = loss + self.label_weight * F.cross_entropy(out, y[train])
                loss.backward()
                opt.step()
                if val is not None:
                    student.eval()
                    with torch.no_grad():
                        pred = student(kept.x, kept.edge_index)[val].argmax(-1)
                    acc = float((pred == y[val]).float().mean())
                    if acc > best_val:
                        best_val, best_epoch, best = acc, epoch, copy.deepcopy(student.state_dict())
        if best is not None:
            student.load_state_dict(best)
        self.history.update(epochs=epochs, selected_epoch=best_epoch,
                            selected_val_acc=best_val if val is not None else None, lr=lr)
        return student

    def _fit_link(self, model: nn.Module, task: UnlearningTask, config: dict) -> nn.Module:
        kept = task.retained_data
        for key in ("train_pos_edge_index", "val_pos_edge_index", "val_neg_edge_index"):
            if getattr(kept, key, None) is None:
                raise ValueError(f"GUKD on a link predictor needs data.{key} (a link split: "
                                 "gnn_unlearn.link_split)")
        epochs, lr, wd = self.recipe(model)
        device = task.device
        pos = kept.train_pos_edge_index
        if pos.size(1) == 0:
            raise ValueError("GUKD needs retained training edges to distil on; the request deletes all")
        model.eval()
        with torch.no_grad():
            z_teacher = model.encode(kept.x, kept.edge_index)
        g = torch.Generator().manual_seed(self.seed)
        best, best_val, best_epoch = None, -1.0, epochs
        with seeded(self.seed, device):
            student = build_model(config).to(device)
            opt = torch.optim.Adam(student.parameters(), lr=lr, weight_decay=wd)
            for epoch in range(1, epochs + 1):
                pairs, labels = labelled_pairs(pos, negative_pairs(kept, pos.size(1), g).to(device))
                with torch.no_grad():
                    target = model.decode(z_teacher, pairs)
                student.train()
                opt.zero_grad()
                out = student.decode(student.encode(kept.x, kept.edge_index), pairs)
                loss = F.mse_loss(out, target)
                if self.label_weight > 0:
                    loss = loss + self.label_weight * F.binary_cross_entropy_with_logits(out, labels)
                loss.backward()
                opt.step()
                auroc = validation_score(student, kept)
                if auroc > best_val:
                    best_val, best_epoch, best = auroc, epoch, copy.deepcopy(student.state_dict())
        if best is not None:
            student.load_state_dict(best)
        self.history.update(epochs=epochs, selected_epoch=best_epoch, selected_val_auroc=best_val,
                            lr=lr, distilled_edges=int(pos.size(1)))
        return student
