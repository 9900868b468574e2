r"""MEGU: mutual evolution of a predictive and an unlearning module.

Li, Zhao, Wu, Zhang, Li, Wang, "Towards Effective and General Graph Unlearning via Mutual
Evolution", AAAI 2024.

**Unlearning set** :math:`U`: the deleted nodes (node requests), the endpoints of the deleted
edges (edge requests) and the nodes whose features are deleted (feature requests).

**High-influence neighbours** (HIN). With :math:`P = D^{-1/2}(A + I)D^{-1/2}` on the original
graph and :math:`L` hops (default: the model's depth), compare the propagated features
:math:`\tilde X = P^L X` with :math:`\tilde X' = P^L X'`, where :math:`X'` *flips* the deleted
entries (:math:`x \mapsto lo_j + hi_j - x` with the column's range :math:`[lo_j, hi_j]`; for
binary features the paper's :math:`1 - x`; whole rows for node and edge requests, the deleted
entries for feature requests). With :math:`s_v = \cos(\tilde X_v, \tilde X'_v)`, the threshold
:math:`\alpha` rises from ``threshold_step`` in steps of ``threshold_step`` while the step adds
nodes (the paper's adaptive selection: it stops at the first empty band
:math:`(\alpha, \alpha + \text{step}]`), and

.. math::
    N = \{v : s_v \le \alpha\} \cap \mathcal{N}_L(U) \setminus U

with :math:`\mathcal{N}_L(U)` the :math:`L`-hop neighbourhood of :math:`U`. All of it is
vectorised: two sparse propagations and a histogram of :math:`s`.

**Mutual evolution.** The predictive module :math:`f` (the GNN) and the unlearning module
:math:`g` (a linear map :math:`\mathbb{R}^C \to \mathbb{R}^C` on :math:`f`'s logits) are trained
*together* (both in the optimiser) for ``epochs`` steps of SGD on the **edited** graph
(``task.retained_data``: deleted nodes' edges and deleted edges gone, deleted features zero),
with pseudo-labels :math:`\hat y = \arg\max f_0(X, A)` of the original model (no label is read)
and :math:`\mathrm{KD}_T(p, q) = \mathrm{KL}(\sigma(q/T) \,\|\, \sigma(p/T))`, :math:`q`
detached:

.. math::
    \mathcal{L}_u &= \mathrm{KD}_T(f(U), g(f(U))) - \mathrm{CE}(g(f(U)), \hat y_U) \\
    \mathcal{L}_r &= \mathrm{KD}_T(g(f(N)), f(N)) + \mathrm{CE}(f(N), \hat y_N) \\
    \mathcal{L} &= \kappa\, \mathcal{L}_u + \mathcal{L}_r.

On :math:`U`, :math:`g` learns to move away from the original predictions and :math:`f` follows
it; on the HIN, :math:`g` imitates :math:`f` while :math:`f` keeps its predictions. The returned
model is :math:`f`; :math:`g` is discarded.

**Link prediction** (this library's reading of the paper's framework for link models; OpenGU's
implementation has node classification only): the items are node pairs with two-class logits
:math:`[0, s(u, v)]` and :math:`g: \mathbb{R}^2 \to \mathbb{R}^2`; the forget items are the deleted
training edges (for feature requests, the training edges at the nodes whose features went), the
keep items the retained training edges at a HIN node plus as many fixed non-edges of the edited
graph; pseudo-labels are the original model's decisions :math:`s > 0`.

Differences from OpenGU's implementation (``../shared/methods/influence.md``): :math:`g` is
trained (OpenGU leaves it out of the optimiser, a frozen random map); edge requests remove the
edges (OpenGU passes no edge list to its graph editor); the flip is defined for any feature range;
feature requests name nodes, not positions in the training list; no Correct & Smooth
post-processing (the reference code evaluates with C&S seeded by the original predictions of every
training node, deleted ones included, which puts deleted information back at inference; here the
returned GNN is scored alone, as every other method). Defaults are those of the authors' code
(30 epochs, :math:`\kappa = 0.01`, :math:`T = 1.5`, SGD at the backbone's learning rate: their
``unlearn_lr`` 0.05 equals their GCN's training rate; OpenGU uses the backbone's rate and weight
decay too). A rate far above the training one wrecks the model: measured on CiteSeer in OpenGU's
protocol (GCN trained at lr 0.005), SGD at 0.05 drops test F1 from 0.74 to 0.39 within 30 epochs,
even without the unlearning loss. The number of epochs is fixed, so nothing is selected on any
data.

Cost: two sparse propagations of :math:`X` (:math:`O(L|E|d)`), one hop expansion, then
``epochs`` full-graph forward/backward passes.

Args:
    epochs: SGD steps (the authors' code: 30; OpenGU: 50).
    lr: SGD learning rate of both modules; ``None``: the model's training rate (0.01 if unknown).
    weight_decay: SGD weight decay; ``None``: the model's training weight decay.
    kappa: :math:`\kappa`, the weight of the unlearning loss.
    temperature: :math:`T` of the distillation terms.
    hin_hops: :math:`L` of the propagation and the neighbourhood; ``None``: the model's depth.
    threshold_step: the step of the adaptive threshold :math:`\alpha`.
    seed: seeds :math:`g`'s initialisation and dropout.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnn_unlearn.methods.base import NON_NEGATIVE, UNIT_OPEN_CLOSED, Unlearner, register
from gnn_unlearn.models.predictors import num_hops
from gnn_unlearn.ops.graph import hop_distance
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.ops.propagation import Adjacency, propagate
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.utils import seeded


def distillation(p: Tensor, q: Tensor, temperature: float) -> Tensor:
    r""":math:`\mathrm{KL}(\sigma(q/T) \,\|\, \sigma(p/T))` averaged over rows; ``q`` is detached."""
    target = F.softmax(q.detach() / temperature, dim=-1)
    return F.kl_div(F.log_softmax(p / temperature, dim=-1), target, reduction="batchmean")


def requested_edge_endpoints(task: UnlearningTask) -> Tensor:
    """``[N]`` bool: endpoints of the requested edges (not the edges of deleted nodes)."""
    ends = torch.zeros_like(task.deleted_nodes)
    if "edge" in task.kinds:
        df = task.df_edge_index
        own = ~(task.deleted_nodes[df[0]] | task.deleted_nodes[df[1]])
        ends[df[0, own]] = True
        ends[df[1, own]] = True
    return ends


def unlearning_nodes(task: UnlearningTask) -> Tensor:
    """``[N]`` bool: the paper's unlearning set :math:`U` (deleted nodes, endpoints of the
    requested edges, nodes with deleted features)."""
    u = task.deleted_nodes | requested_edge_endpoints(task)
    if task.feature_mask is not None:
        u = u | task.feature_mask.any(1)
    return u


def flipped_features(x: Tensor, rows: Tensor, entries: Tensor | None) -> Tensor:
    r"""``x`` with the deleted entries reflected in their column's range,
    :math:`x \mapsto lo_j + hi_j - x` (``1 - x`` for binary features): whole ``rows`` (bool
    ``[N]``) and the ``entries`` (bool ``[N, F]`` or ``None``)."""
    reflected = x.min(0).values + x.max(0).values - x
    mask = rows.unsqueeze(1)
    if entries is not None:
        mask = mask | entries
    return torch.where(mask, reflected, x)


def adaptive_threshold(sim: Tensor, step: float) -> tuple[Tensor, float]:
    r"""The paper's selection: :math:`\alpha` rises from ``step`` by ``step`` while the band
    :math:`(\alpha - \text{step}, \alpha]` holds nodes (the first band may be empty, it starts at
    the lowest non-empty one); returns ``(sim <= alpha, alpha)``."""
    bands = torch.ceil(sim.clamp(max=1.0) / step - 1e-6).clamp(min=1).long()   # s in band k: s <= k*step
    present = torch.zeros(int(bands.max()) + 2, dtype=torch.bool, device=sim.device)
    present[bands] = True
    present = present.cpu()
    first = int(present.nonzero()[0])
    gaps = (~present[first:]).nonzero()
    last = first + int(gaps[0]) - 1
    alpha = last * step
    return bands <= last, alpha


def high_influence_neighbours(task: UnlearningTask, u: Tensor, hops: int,
                              step: float) -> tuple[Tensor, dict]:
    """``[N]`` bool HIN set of the module docstring, and what was measured on the way."""
    data = task.data
    x = data.x
    rows = task.deleted_nodes | requested_edge_endpoints(task)
    adj = Adjacency.from_edge_index(data.edge_index, data.num_nodes)
    x_prop = propagate(adj, x, hops)
    x_flip = propagate(adj, flipped_features(x, rows, task.feature_mask), hops)
    sim = F.cosine_similarity(x_prop, x_flip, dim=-1)
    selected, alpha = adaptive_threshold(sim, step)
    near = hop_distance(data.edge_index, u, hops, data.num_nodes) <= hops
    hin = selected & near & ~u & ~task.deleted_nodes
    info = {"threshold": alpha, "selected_by_threshold": int(selected.sum()),
            "neighbourhood": int((near & ~u).sum()), "hin": int(hin.sum())}
    if not bool(hin.any()):            # nothing passed the threshold: keep the whole neighbourhood
        hin = near & ~u & ~task.deleted_nodes
        info["hin_fallback"] = "neighbourhood"
    return hin, info


@register
class MEGU(Unlearner):
    """Mutual-evolution graph unlearning (Li et al., AAAI 2024); see the module docstring."""
    name = "megu"
    supports = frozenset({"node", "edge", "feature"})
    tasks = frozenset({"node", "link"})
    param_rules = {"kappa": NON_NEGATIVE, "threshold_step": UNIT_OPEN_CLOSED,
                   "hin_hops": (1, True, None, False)}

    def __init__(self, epochs: int = 30, lr: float | None = None, weight_decay: float | None = None,
                 kappa: float = 0.01, temperature: float = 1.5, hin_hops: int | None = None,
                 threshold_step: float = 0.1, seed: int = 0):
        self.epochs, self.lr, self.weight_decay, self.kappa = epochs, lr, weight_decay, kappa
        self.temperature, self.hin_hops, self.threshold_step = temperature, hin_hops, threshold_step
        self.seed = seed

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        data = task.data
        if getattr(data, "x", None) is None:
            raise ValueError("MEGU selects neighbours by propagating node features; the graph has no data.x")
        hops = self.hin_hops or num_hops(model)
        recipe = getattr(model, "train_config", None) or {}
        lr = self.lr or float(recipe.get("lr", 0.01) or 0.01)
        wd = (self.weight_decay if self.weight_decay is not None
              else float(recipe.get("weight_decay", 0.0) or 0.0))
        u = unlearning_nodes(task)
        hin, info = high_influence_neighbours(task, u, hops, self.threshold_step)
        model.eval()
        items = (NodeItems(model, task, u, hin) if model.task == "node"
                 else PairItems(model, task, u, hin, torch.Generator().manual_seed(self.seed)))
        with seeded(self.seed, task.device):
            g = nn.Linear(items.width, items.width).to(task.device)
            g_start = g.weight.detach().clone()
            params = list(model.parameters()) + list(g.parameters())
            opt = torch.optim.SGD(params, lr=lr, weight_decay=wd)
            losses = []
            for _ in range(self.epochs):
                model.train()
                opt.zero_grad()
                f_u, f_r = items.outputs(model)
                g_u, g_r = g(f_u), g(f_r)
                loss_u = (distillation(f_u, g_u, self.temperature)
                          - F.cross_entropy(g_u, items.pseudo_u))
                loss_r = (distillation(g_r, f_r, self.temperature)
                          + F.cross_entropy(f_r, items.pseudo_r))
                loss = self.kappa * loss_u + loss_r
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
        self.history.update(unlearning_nodes=int(u.sum()), hops=hops, loss=losses,
                            unlearning_module_change=float((g.weight.detach() - g_start).norm()),
                            epochs=self.epochs, lr=lr, weight_decay=wd, forget_items=items.num_u,
                            keep_items=items.num_r, **info)
        return model


class NodeItems:
    """Node classification: the forget items are :math:`U`, the keep items the HIN; outputs
    are class logits on the edited graph, pseudo-labels the original predictions."""

    def __init__(self, model: nn.Module, task: UnlearningTask, u: Tensor, hin: Tensor):
        data, self.kept = task.data, task.retained_data
        with torch.no_grad():
            logits = model(data.x, data.edge_index)
        pseudo = logits.argmax(-1)                       # no label is read
        self.width = logits.size(1)
        self.u, self.hin = u, hin
        self.pseudo_u, self.pseudo_r = pseudo[u], pseudo[hin]
        self.num_u, self.num_r = int(u.sum()), int(hin.sum())

    def outputs(self, model: nn.Module) -> tuple[Tensor, Tensor]:
        out = model(self.kept.x, self.kept.edge_index)
        return out[self.u], out[self.hin]


class PairItems:
    r"""Link prediction: items are node pairs with two-class logits :math:`[0, s(u, v)]`
    (:math:`\sigma` of them is :math:`[1 - p, p]`). Forget items: the deleted training edges
    (for feature requests, the training edges at the nodes whose features went); keep items: the
    retained training edges at a HIN node and as many non-edges of the edited graph (fixed, from
    ``generator``), so that the keep loss has both classes."""

    def __init__(self, model: nn.Module, task: UnlearningTask, u: Tensor, hin: Tensor,
                 generator: torch.Generator):
        data, self.kept = task.data, task.retained_data
        forget = task.df_edge_index
        if forget.size(1) == 0:                          # feature requests: edges at U
            e = data.train_pos_edge_index
            forget = e[:, u[e[0]] | u[e[1]]]
        pos = self.kept.train_pos_edge_index
        pos = pos[:, hin[pos[0]] | hin[pos[1]]]
        neg = negative_pairs(self.kept, max(pos.size(1), 1), generator).to(pos.device)
        self.forget, self.keep = forget, torch.cat([pos, neg], 1)
        with torch.no_grad():
            z = model.encode(data.x, data.edge_index)
            self.pseudo_u = (model.decode(z, forget) > 0).long()
            self.pseudo_r = (model.decode(z, self.keep) > 0).long()
        self.width, self.num_u, self.num_r = 2, forget.size(1), self.keep.size(1)

    @staticmethod
    def two_class(scores: Tensor) -> Tensor:
        return torch.stack([torch.zeros_like(scores), scores], -1)

    def outputs(self, model: nn.Module) -> tuple[Tensor, Tensor]:
        z = model.encode(self.kept.x, self.kept.edge_index)
        return self.two_class(model.decode(z, self.forget)), self.two_class(model.decode(z, self.keep))
