r"""Adversarial probe: can a small input perturbation resurface the deleted edges?

In the spirit of the Unlearning Mapping Attack (UMA, 2025), which searches for inputs on
which an unlearned model again produces what it was to forget: an unlearned model may only
have moved :math:`D_f`'s scores just below the surface, so that a small push of its input
brings them back, while a retrained model has no such shortcut. The probe perturbs the
features of the endpoints :math:`S` of the deleted edges by :math:`\delta` (rows of
:math:`\delta` outside :math:`S` are zero) within a budget and runs ``steps`` steps of
projected gradient ascent (Madry et al., ICLR 2018) on

.. math::
    J(\delta) = \frac{1}{|D_f|}\sum_{(u,v) \in D_f} \log\sigma\big(s_{uv}(X + \delta)
                - s_{u w_{uv}}(X + \delta)\big),

:math:`s` the model's logit and :math:`(u, w_{uv})` a non-edge sharing the endpoint
:math:`u` (endpoint-matched, so that making a node score high with everyone does not count),
with the step :math:`\alpha = 2.5\,\epsilon / \text{steps}` along the sign of the gradient
(``norm="linf"``: :math:`\lVert\delta\rVert_\infty \le \epsilon \max|X|`) or its row-wise
normalised direction (``norm="l2"``: each row :math:`\lVert\delta_i\rVert_2 \le \epsilon`
times the mean row norm of :math:`X`). The model is never changed: gradients go to
:math:`\delta` only. Measured after the ascent, against a second, independent draw of
matched non-edges: the AUROC of :math:`D_f` vs those non-edges and the mean :math:`D_f`
probability, each with its gap to the retrained model probed with the same budget, steps
and seed.

Node classification (node deletion): :math:`S` is the deleted training nodes, the ascent
raises their mean log-probability of the true label, and the measure is the
deletion-identification AUC (:func:`~gnn_unlearn.metrics.link.deleted_vs_retained_auc`:
retained training nodes (1) vs deleted ones (0) by that probability; lower = the deleted
nodes look learned) and the deleted nodes' mean true-label probability.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.metrics.attack_base import Attack, register_attack
from gnn_unlearn.metrics.link import auroc_aupr, deleted_vs_retained_auc
from gnn_unlearn.ops.graph import edge_keys
from gnn_unlearn.params import POSITIVE
from gnn_unlearn.requests import UnlearningTask

NORMS = ("l2", "linf")


def matched_non_edges(pairs: Tensor, known: Tensor, num_nodes: int, generator: torch.Generator,
                      rounds: int = 20) -> Tensor:
    """For each pair ``(u, v)`` a non-edge ``(u, w)``, ``w`` uniform over the nodes with
    ``(u, w)`` not in ``known`` (either direction) and ``w != u``; collisions are redrawn,
    all at once, up to ``rounds`` times."""
    keys = torch.sort(edge_keys(known, num_nodes).cpu())[0]
    u = pairs[0].cpu()
    w = torch.randint(num_nodes, (u.numel(),), generator=generator)
    for _ in range(rounds):
        q = edge_keys(torch.stack([u, w]), num_nodes)
        pos = torch.searchsorted(keys, q).clamp_(max=max(keys.numel() - 1, 0))
        bad = ((keys[pos] == q) if keys.numel() else torch.zeros_like(q, dtype=torch.bool)) | (w == u)
        if not bool(bad.any()):
            return torch.stack([u, w]).to(pairs.device)
        w[bad] = torch.randint(num_nodes, (int(bad.sum()),), generator=generator)
    raise ValueError(f"could not find non-edges for every deleted edge's endpoint in {rounds} rounds; "
                     "the graph is too dense around the deleted edges")


@register_attack
class ProbeAttack(Attack):
    """Projected gradient ascent on the deleted items' features; see the module doc.

    Args:
        seed: seeds the matched non-edges (links: one draw for the ascent, one for the
            measure) and the retained-node draws of the identification AUC (nodes).
        eps: budget relative to the feature scale (see ``norm``).
        steps: ascent steps.
        norm: ``"l2"`` (per node) or ``"linf"``.
    """
    name = "probe"
    tasks = frozenset({"link", "node"})
    columns = {"probe_df_auc": "probe Df AUC", "probe_auc_gap": "probe AUC gap",
               "probe_df_prob": "probe Df mean p", "probe_prob_gap": "probe p gap"}
    note = ("features of the deleted edges' endpoints (node tasks: of the deleted training "
            "nodes) perturbed within a budget (eps times the feature scale) by projected gradient "
            "ascent raising Df's logits over endpoint-matched non-edges (nodes: the true label's "
            "log-probability); the model is unchanged. Df AUC: links, Df AUROC vs a fresh draw of "
            "matched non-edges (higher: Df resurfaced); nodes, the deleted-node id AUC (lower: "
            "resurfaced). Mean p: Df's mean probability (nodes: of the true label). Gap: minus "
            "retrain's value under the same probe (0: the probe resurfaces Df no more than in a "
            "model that never saw it)")
    param_rules = {"eps": POSITIVE}
    param_choices = {"norm": NORMS}

    def __init__(self, seed: int = 0, eps: float = 0.02, steps: int = 10, norm: str = "l2"):
        super().__init__(seed)
        self.eps, self.steps, self.norm = float(eps), steps, norm
        self.reference: dict[str, float] = {}

    def prepare(self, task: UnlearningTask, original: nn.Module, retrained: nn.Module) -> None:
        if not isinstance(task, UnlearningTask):
            raise TypeError(f"probe: task must be an UnlearningTask, got {type(task).__name__}")
        data = task.data
        if getattr(data, "x", None) is None or not data.x.is_floating_point():
            raise ValueError("probe: the graph has no float node features to perturb")
        self.kind = original.task
        if self.kind == "link":
            self.df = task.df_edge_index
            if self.df.size(1) == 0:
                raise ValueError("probe: the task deletes no training edges; nothing to probe")
            g = torch.Generator().manual_seed(self.seed)
            known = torch.cat([data.train_pos_edge_index, data.val_pos_edge_index,
                               data.test_pos_edge_index], 1)
            self.ascent_neg = matched_non_edges(self.df, known, data.num_nodes, g)
            self.measure_neg = matched_non_edges(self.df, known, data.num_nodes, g)
            self.nodes = torch.unique(self.df)
        else:
            self.nodes = (data.train_mask & task.deleted_nodes).nonzero().view(-1)
            self.members = data.train_mask & ~task.deleted_nodes
            if self.nodes.numel() == 0:
                raise ValueError("probe: the task deletes no training nodes; nothing to probe")
            if int(self.members.sum()) < self.nodes.numel():
                raise ValueError("probe: fewer retained than deleted training nodes; the "
                                 "identification AUC needs as many retained as deleted")
            self.y = data.y.view(-1)
        x = data.x.float()
        self.radius = self.eps * (float(x.abs().max()) if self.norm == "linf"
                                  else float(x.norm(dim=1).mean()))
        if self.radius <= 0:
            raise ValueError("probe: the node features are all zero; the budget would be zero")
        self.reference = self.probed(retrained, task.retained_data)

    def score(self, model: nn.Module, graph: Data, on_original: bool) -> dict[str, float]:
        value = self.probed(model, graph)
        return {"probe_df_auc": value["auc"], "probe_auc_gap": value["auc"] - self.reference["auc"],
                "probe_df_prob": value["prob"], "probe_prob_gap": value["prob"] - self.reference["prob"]}

    def _objective(self, model: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor:
        """What the ascent raises: the mean log-sigmoid margin of Df over the matched non-edges
        (links) or the deleted nodes' mean true-label log-probability (nodes)."""
        if self.kind == "link":
            k = self.df.size(1)
            logits = model.decode(model.encode(x, edge_index), torch.cat([self.df, self.ascent_neg], 1))
            return F.logsigmoid(logits[:k] - logits[k:]).mean()
        log_p = F.log_softmax(model(x, edge_index)[self.nodes], -1)
        return log_p.gather(1, self.y[self.nodes].view(-1, 1)).mean()

    def perturbation(self, model: nn.Module, graph: Data) -> Tensor:
        """The probe's ``[|S|, F]`` feature perturbation of the nodes ``S`` for ``model``."""
        x = graph.x
        delta = torch.zeros(self.nodes.numel(), x.size(1), dtype=x.dtype, device=x.device)
        alpha = 2.5 * self.radius / self.steps
        for _ in range(self.steps):
            delta.requires_grad_(True)
            (grad,) = torch.autograd.grad(self._objective(model, self._shifted(x, delta), graph.edge_index),
                                          delta)
            with torch.no_grad():
                if self.norm == "linf":
                    delta = (delta + alpha * grad.sign()).clamp_(-self.radius, self.radius)
                else:
                    delta = delta + alpha * grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
                    delta = delta * (self.radius / delta.norm(dim=1, keepdim=True).clamp_min(self.radius))
        return delta.detach()

    def probed(self, model: nn.Module, graph: Data) -> dict[str, Any]:
        """``{"auc", "prob"}`` of the deleted set after the probe of ``model`` on ``graph``."""
        was = model.training
        model.eval()
        try:
            delta = self.perturbation(model, graph)
            with torch.no_grad():
                x = self._shifted(graph.x, delta)
                if self.kind == "link":
                    z = model.encode(x, graph.edge_index)
                    df, neg = model.decode(z, self.df), model.decode(z, self.measure_neg)
                else:
                    logits = model(x, graph.edge_index)
        finally:
            model.train(was)
        if self.kind == "link":
            return {"auc": auroc_aupr(df, neg)["auroc"], "prob": float(torch.sigmoid(df.float()).mean())}
        p_true = torch.softmax(logits.float(), -1).gather(1, self.y.view(-1, 1)).view(-1)
        return {"auc": deleted_vs_retained_auc(p_true[self.nodes], p_true[self.members], 500,
                                               torch.Generator().manual_seed(self.seed)),
                "prob": float(p_true[self.nodes].mean())}

    def _shifted(self, x: Tensor, delta: Tensor) -> Tensor:
        return x.index_add(0, self.nodes, delta)
