r"""SGU: graph unlearning by node influence maximisation.

Li, Fan, Wu, Li, Li, Wang, "Toward Scalable Graph Unlearning: A Node Influence Maximization
based Approach", arXiv 2501.11823, 2025.

**Unlearning set** :math:`U`: the deleted nodes, or the endpoints of the requested edges.

**Activated set** :math:`E` (the nodes the deletion influences most, a budget of
:math:`B = \lceil \text{budget} \cdot N \rceil` nodes outside :math:`U`). With
:math:`\tilde X = P^K X` (:math:`P = D^{-1/2}(A+I)D^{-1/2}` on the original graph, :math:`K`
= ``propagation_hops``, whatever the backbone) and :math:`p` the original model's class
distributions,

.. math::
    \text{node requests:}\quad s(v) = \sum_{u \in U} \cos(\tilde X_v, \tilde X_u)
        + \alpha \sum_{u \in U} \cos(p_v, p_u), \qquad
    \text{edge requests:}\quad s = \sum_{k=1}^{K} P^k \mathbb{1}_U

(the second is the propagated reach of the endpoints). Both are :math:`O(N d)` after the
propagation: the sums over :math:`U` factor as :math:`\hat X \cdot \sum_u \hat X_u` with unit rows.

**Anchors** from the original embeddings :math:`z^0` (the encoder's output) of the *pool*: the
retained training nodes outside :math:`U \cup E`, with their training labels. For
:math:`v \in E` with pseudo-label :math:`\hat y_v` (the original prediction: no label of a
non-training node is read): a positive anchor :math:`a^+_v` = mean of ``anchors`` pool
embeddings of class :math:`\hat y_v`, a negative anchor :math:`a^-_v` = mean of ``anchors`` pool
embeddings of other classes (drawn with replacement), and class prototypes :math:`\mu_c` = mean
pool embedding of class :math:`c`.

**Loss**, minimised with Adam for ``epochs`` steps on the **edited** graph
(``task.retained_data``), :math:`h` the encoder's output and :math:`f` the logits there,
:math:`\pi` a random permutation of the deleted nodes' pseudo-labels:

.. math::
    \mathcal{L} = p_1 \sum_j \lVert \theta_j - \theta^0_j \rVert
      + p_2\, \frac{1}{|E|}\sum_{v \in E} -\log
          \frac{e^{\cos(h_v, a^+_v)/\tau}}{e^{\cos(h_v, a^+_v)/\tau} + e^{\cos(h_v, a^-_v)/\tau}}
      + p_3\, \mathrm{KL}(p^0_E \,\|\, \sigma(f_E))
      + p_4 \big[\mathrm{CE}(f_U, \pi) + \mathrm{MSE}(h_U, \mu_\pi)\big]
      + p_5\, \mathrm{MSE}(h_E, \mu_{\hat y_E})

(the :math:`p_4` term only for deleted nodes: an edge request does not ask its endpoints to
forget their labels).

**Model selection**: the epoch with the best accuracy on the retained validation nodes
(``val_mask`` of the edited graph); without validation nodes, the last epoch.

**Link prediction** (OpenGU lists SGU for edge tasks; this is the library's reading of each term
for a link model :math:`s(a, b) = \mathrm{dec}(h_a, h_b)`, whose output per node is its embedding,
not a class distribution). :math:`U`, :math:`E` and the budget as above; the node score's
prediction similarity compares the original embeddings :math:`z^0` instead of :math:`p`, and edge
requests use the endpoints' reach. There are no classes, so a node's "class" becomes its
neighbourhood and a class label becomes an edge's existence:

* *keep pairs* :math:`K`: the retained training edges with an endpoint in :math:`E`, plus as many
  random pairs :math:`(v, w)`, :math:`v \in E` (non-edges of the original training graph), fixed
  once. The KL term becomes the Bernoulli KL
  :math:`p_3\,\frac{1}{|K|}\sum_{k \in K}\mathrm{KL}(\sigma(s^0_k) \,\|\, \sigma(s_k))`
  towards the original model's scores on the original graph;
* *anchors*: :math:`a^+_v` = mean original embedding of :math:`v`'s neighbours in the edited graph
  outside :math:`U` (what :math:`v` is linked to), :math:`a^-_v` = mean original embedding of
  ``anchors`` random nodes outside :math:`U` that are not :math:`v`'s neighbours; the contrastive
  term is unchanged, and the prototype term pulls :math:`h_v` towards its neighbourhood,
  :math:`p_5\,\mathrm{MSE}(h_E, a^+_E)`;
* *forgetting*: the label permutation :math:`\pi` becomes a random partner: each deleted training
  edge :math:`(a, b)` (requested edges and every edge of a deleted node) is taught the original
  score of :math:`(a, w)` with :math:`w` a random node,
  :math:`p_4\,\mathrm{BCE}(s(a, b), \sigma(s^0(a, w)))`: the edge should look like one of
  :math:`a`'s arbitrary pairs, not like a link it was trained on. There is no embedding part: an
  endpoint of a deleted edge keeps its other links.

The epoch is chosen on the validation AUROC of the edited graph's validation edges
(``val_pos_edge_index`` against ``val_neg_edge_index``); test edges are never read.

Differences from OpenGU's implementation (``../shared/methods/influence.md``): the checkpoint is
chosen on validation data, not on test F1; the contrastive term is a ratio (OpenGU multiplies the
positive and negative scores); the negative anchor is drawn from other classes (OpenGU averages
the node's own embedding with same-label nodes); samplers index nodes, not positions, and are
vectorised; activated test nodes use pseudo-labels, never their true labels; the graph is edited
(OpenGU lets deleted nodes keep passing messages); cross-entropy is taken on logits (OpenGU applies
softmax first).

Cost: :math:`K` sparse propagations, :math:`O(N d)` scoring, then ``epochs`` full-graph
forward/backward passes (plus one evaluation each for the selection); link models add
:math:`O((|K| + |D_f|) \log |E|)` for the pair draws and their lookups, once.

Args:
    epochs: Adam steps (the paper's 50).
    lr: Adam learning rate; ``None``: the model's training learning rate (0.01 if unknown).
    budget: :math:`B / N`, the share of nodes activated (the paper's 0.1).
    label_weight: :math:`\alpha`, the weight of the prediction (link models: embedding)
        similarity in the node score.
    propagation_hops: :math:`K`.
    anchors: embeddings averaged per anchor.
    distance_weight, contrastive_weight, kl_weight, forget_weight, prototype_weight:
        :math:`p_1 \dots p_5` (defaults 2.5, 0.01, 250, 0.1, 10).
    temperature: :math:`\tau`.
    seed: seeds the anchors, the permutation (link models: the random pairs) and dropout.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnn_unlearn.methods.base import AT_LEAST_ONE, NON_NEGATIVE, UNIT_OPEN_CLOSED, Unlearner, register
from gnn_unlearn.methods.megu import requested_edge_endpoints
from gnn_unlearn.ops.graph import lookup_edges
from gnn_unlearn.ops.propagation import Adjacency
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import validation_score
from gnn_unlearn.utils import seeded


def activation_scores(task: UnlearningTask, u: Tensor, probs: Tensor, hops: int,
                      label_weight: float) -> Tensor:
    """``[N]`` influence score of every node (module docstring): similarity to :math:`U` for
    node requests, propagated reach of the endpoints for edge-only requests. ``probs``: the
    original model's output per node whose cosine is compared (class distributions of a node
    classifier, embeddings of a link predictor)."""
    data = task.data
    p = Adjacency.from_edge_index(data.edge_index, data.num_nodes).matrix(0.5, probs.dtype)
    if not bool(task.deleted_nodes.any()):                 # edge requests: reach of the endpoints
        reach = u.to(probs.dtype).unsqueeze(1)
        score = torch.zeros_like(reach)
        for _ in range(hops):
            reach = p @ reach
            score = score + reach
        return score.view(-1)
    x = data.x.to(probs.dtype)
    for _ in range(hops):
        x = p @ x
    xn, pn = F.normalize(x, dim=1), F.normalize(probs, dim=1)
    return xn @ xn[u].sum(0) + label_weight * (pn @ pn[u].sum(0))


def activated_set(task: UnlearningTask, u: Tensor, outputs: Tensor, hops: int,
                  label_weight: float, budget: float) -> Tensor:
    r"""``[N]`` bool: the :math:`B = \lceil \text{budget} \cdot N \rceil` highest-scoring nodes
    outside :math:`U` (:func:`activation_scores`)."""
    n = task.data.num_nodes
    score = activation_scores(task, u, outputs, hops, label_weight).masked_fill(u, float("-inf"))
    size = min(max(1, math.ceil(budget * n)), int((~u).sum()))
    activated = torch.zeros(n, dtype=torch.bool, device=u.device)
    activated[torch.topk(score, size).indices] = True
    return activated


def class_draws(labels: Tensor, classes: Tensor, num: int, same: bool,
                generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """For each entry of ``classes``, ``num`` random indices into ``labels`` (with replacement)
    of the same class (``same``) or of other classes; returns ``(index [k, num], valid [k, num])``."""
    k, n = classes.numel(), labels.numel()
    dev = labels.device
    if same:
        order = torch.argsort(labels)
        counts = torch.bincount(labels, minlength=int(max(labels.max(), classes.max())) + 1)
        starts = torch.cumsum(counts, 0) - counts
        r = torch.rand(k, num, generator=generator).to(dev)
        cnt = counts[classes].unsqueeze(1)
        pos = starts[classes].unsqueeze(1) + (r * cnt).long().clamp(max=(cnt - 1).clamp(min=0))
        return order[pos.clamp(max=n - 1)], (cnt > 0).expand(k, num)
    idx = torch.randint(n, (k, num), generator=generator).to(dev)
    return idx, labels[idx] != classes.unsqueeze(1)


def masked_mean(z: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Mean of ``z`` ``[k, m, d]`` over the valid entries of ``valid`` ``[k, m]``; ``(mean, any)``."""
    w = valid.to(z.dtype).unsqueeze(-1)
    return (z * w).sum(1) / w.sum(1).clamp(min=1), valid.any(1)


def _drift(model: nn.Module, theta0: list[Tensor]) -> Tensor:
    r""":math:`\sum_l \lVert \theta_l - \theta_{0,l} \rVert`: SGU's stay-close term."""
    return sum((p - p0).norm() for p, p0 in zip(model.parameters(), theta0))


@register
class SGU(Unlearner):
    """Node-influence-maximisation unlearning (Li et al., 2025); see the module docstring."""
    name = "sgu"
    supports = frozenset({"node", "edge"})
    tasks = frozenset({"node", "link"})
    param_rules = {"budget": UNIT_OPEN_CLOSED, "propagation_hops": NON_NEGATIVE,
                   "anchors": AT_LEAST_ONE, "label_weight": NON_NEGATIVE}

    def __init__(self, epochs: int = 50, lr: float | None = None, budget: float = 0.1,
                 label_weight: float = 1.0, propagation_hops: int = 3, anchors: int = 5,
                 distance_weight: float = 2.5, contrastive_weight: float = 0.01,
                 kl_weight: float = 250.0, forget_weight: float = 0.1, prototype_weight: float = 10.0,
                 temperature: float = 0.5, seed: int = 0):
        self.epochs, self.lr, self.budget, self.label_weight = epochs, lr, budget, label_weight
        self.propagation_hops, self.anchors = propagation_hops, anchors
        self.distance_weight, self.contrastive_weight = distance_weight, contrastive_weight
        self.kl_weight = kl_weight
        self.forget_weight, self.prototype_weight = forget_weight, prototype_weight
        self.temperature, self.seed = temperature, seed

    def _start(self, model: nn.Module) -> tuple[list[Tensor], float]:
        """The weights to stay close to and the step size (``lr``, else the backbone's)."""
        lr = self.lr or float((getattr(model, "train_config", None) or {}).get("lr", 0.01) or 0.01)
        return [p.detach().clone() for p in model.parameters()], lr

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        return self._fit_link(model, task) if model.task == "link" else self._fit_node(model, task)

    def _fit_node(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        data, kept = task.data, task.retained_data
        if getattr(data, "x", None) is None or getattr(data, "train_mask", None) is None:
            raise ValueError("SGU needs node features data.x and a training split data.train_mask")
        if not (hasattr(model, "encode") and isinstance(getattr(model, "head", None), nn.Module)):
            raise ValueError("SGU needs a node classifier with an encoder and a head "
                             "(model.encode, model.head), as built by make_model(data, 'node')")
        device = task.device
        g = torch.Generator().manual_seed(self.seed)
        model.eval()
        with torch.no_grad():
            z0 = model.encode(data.x, data.edge_index)
            logits0 = model.head(z0)
        p0, pseudo = logits0.softmax(-1), logits0.argmax(-1)
        forgetting = task.deleted_nodes.clone()
        u = forgetting | requested_edge_endpoints(task)
        activated = activated_set(task, u, p0, self.propagation_hops, self.label_weight, self.budget)
        pool = (kept.train_mask & ~u & ~activated).nonzero().view(-1)
        if pool.numel() == 0:
            raise ValueError("SGU needs retained training nodes outside the activated set; "
                             "lower budget")
        y_pool = data.y.view(-1)[pool]
        num_classes = logits0.size(1)
        counts = torch.bincount(y_pool, minlength=num_classes)
        prototypes = torch.zeros(num_classes, z0.size(1), device=device, dtype=z0.dtype)
        prototypes.index_add_(0, y_pool, z0[pool])
        prototypes = prototypes / counts.clamp(min=1).unsqueeze(1).to(z0.dtype)
        has_proto = counts > 0
        act = activated.nonzero().view(-1)
        c_act = pseudo[act]
        pos_idx, pos_ok = class_draws(y_pool, c_act, self.anchors, True, g)
        neg_idx, neg_ok = class_draws(y_pool, c_act, self.anchors, False, g)
        pos, pos_any = masked_mean(z0[pool[pos_idx]], pos_ok)
        neg, neg_any = masked_mean(z0[pool[neg_idx]], neg_ok)
        contrast = pos_any & neg_any
        act_proto = has_proto[c_act]
        fnodes = forgetting.nonzero().view(-1)
        perm = pseudo[fnodes][torch.randperm(fnodes.numel(), generator=g).to(device)]
        theta0, lr = self._start(model)
        val = getattr(kept, "val_mask", None)
        val = val if val is not None and bool(val.any()) else None
        y = data.y.view(-1)
        best, best_val, best_epoch, losses = None, -1.0, self.epochs, []
        with seeded(self.seed, device):
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            for epoch in range(1, self.epochs + 1):
                model.train()
                opt.zero_grad()
                h = model.encode(kept.x, kept.edge_index)
                f = model.head(h)
                drift = _drift(model, theta0)
                loss = self.distance_weight * drift
                if bool(contrast.any()):
                    hc = h[act][contrast]
                    s_pos = F.cosine_similarity(hc, pos[contrast], dim=-1) / self.temperature
                    s_neg = F.cosine_similarity(hc, neg[contrast], dim=-1) / self.temperature
                    nce = -(s_pos - torch.logsumexp(torch.stack([s_pos, s_neg]), 0)).mean()
                    loss = loss + self.contrastive_weight * nce
                loss = loss + self.kl_weight * F.kl_div(F.log_softmax(f[act], -1), p0[act],
                                                        reduction="batchmean")
                if fnodes.numel() and self.forget_weight > 0:
                    forget = F.cross_entropy(f[fnodes], perm)
                    ok = has_proto[perm]
                    if bool(ok.any()):
                        forget = forget + F.mse_loss(h[fnodes][ok], prototypes[perm[ok]])
                    loss = loss + self.forget_weight * forget
                if bool(act_proto.any()):
                    loss = loss + self.prototype_weight * F.mse_loss(h[act][act_proto],
                                                                     prototypes[c_act[act_proto]])
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                if val is not None:
                    model.eval()
                    with torch.no_grad():
                        pred = model(kept.x, kept.edge_index)[val].argmax(-1)
                    score_val = float((pred == y[val]).float().mean())
                    if score_val > best_val:
                        best_val, best_epoch = score_val, epoch
                        best = copy.deepcopy(model.state_dict())
        if best is not None:
            model.load_state_dict(best)
        self.history.update(unlearning_nodes=int(u.sum()), activated=int(activated.sum()),
                            pool=int(pool.numel()), loss=losses, epochs=self.epochs,
                            selected_epoch=best_epoch, selected_val_acc=best_val if val is not None else None,
                            lr=lr)
        return model

    def _fit_link(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        data, kept = task.data, task.retained_data
        for key in ("x", "train_pos_edge_index", "val_pos_edge_index", "val_neg_edge_index"):
            if getattr(data, key, None) is None:
                raise ValueError(f"SGU on a link predictor needs data.{key} (a link split: "
                                 "gnn_unlearn.link_split)")
        if not (hasattr(model, "encode") and hasattr(model, "decode")):
            raise ValueError("SGU needs a link predictor with model.encode and model.decode, as built "
                             "by make_model(data, 'link')")
        device, n = task.device, data.num_nodes
        g = torch.Generator().manual_seed(self.seed)
        model.eval()
        with torch.no_grad():
            z0 = model.encode(data.x, data.edge_index)
        u = task.deleted_nodes | requested_edge_endpoints(task)
        activated = activated_set(task, u, z0, self.propagation_hops, self.label_weight, self.budget)
        act = activated.nonzero().view(-1)
        if act.numel() == 0:
            raise ValueError("SGU needs nodes outside the unlearning set to activate; the request "
                             "touches every node")
        train = data.train_pos_edge_index
        # keep pairs: retained training edges at E and as many random non-edges from E
        pos = kept.train_pos_edge_index
        pos = pos[:, activated[pos[0]] | activated[pos[1]]]
        count = max(pos.size(1), act.numel())
        rand = torch.stack([act[torch.randint(act.numel(), (count,), generator=g).to(device)],
                            torch.randint(n, (count,), generator=g).to(device)])
        rand = rand[:, (rand[0] != rand[1]) & ~lookup_edges(rand, train, n)[1]]
        keep = torch.cat([pos, rand], 1)
        # forgetting: each deleted edge (a, b) is taught the original score of (a, random w)
        forget = task.df_edge_index
        partner = torch.stack([forget[0], torch.randint(n, (forget.size(1),), generator=g).to(device)])
        # anchors: neighbourhood means (positive) and random non-neighbours (negative) outside U
        ei = kept.edge_index
        inward = activated[ei[1]] & ~u[ei[0]]
        count_in = torch.bincount(ei[1, inward], minlength=n)
        pos_anchor = z0.new_zeros(n, z0.size(1)).index_add_(0, ei[1, inward], z0[ei[0, inward]])
        pos_anchor = (pos_anchor / count_in.clamp(min=1).unsqueeze(1).to(z0.dtype))[act]
        has_pos = count_in[act] > 0
        pool = (~u).nonzero().view(-1)
        others = pool[torch.randint(pool.numel(), (act.numel(), self.anchors), generator=g).to(device)]
        pairs = torch.stack([act.unsqueeze(1).expand_as(others).reshape(-1), others.reshape(-1)])
        linked = lookup_edges(pairs, ei, n)[1].view_as(others)
        neg_anchor, has_neg = masked_mean(z0[others], (others != act.unsqueeze(1)) & ~linked)
        contrast = has_pos & has_neg
        with torch.no_grad():
            q_keep = torch.sigmoid(model.decode(z0, keep))
            q_forget = torch.sigmoid(model.decode(z0, partner))
        # the entropy of the targets turns BCE into the Bernoulli KL (same gradient)
        entropy = F.binary_cross_entropy(q_keep, q_keep) if keep.size(1) else None
        theta0, lr = self._start(model)
        best, best_val, best_epoch, losses = None, -1.0, self.epochs, []
        with seeded(self.seed, device):
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            for epoch in range(1, self.epochs + 1):
                model.train()
                opt.zero_grad()
                h = model.encode(kept.x, kept.edge_index)
                drift = _drift(model, theta0)
                loss = self.distance_weight * drift
                ha = h[act]
                if bool(contrast.any()):
                    hc = ha[contrast]
                    s_pos = F.cosine_similarity(hc, pos_anchor[contrast], dim=-1) / self.temperature
                    s_neg = F.cosine_similarity(hc, neg_anchor[contrast], dim=-1) / self.temperature
                    nce = -(s_pos - torch.logsumexp(torch.stack([s_pos, s_neg]), 0)).mean()
                    loss = loss + self.contrastive_weight * nce
                if entropy is not None:
                    kl = F.binary_cross_entropy_with_logits(model.decode(h, keep), q_keep) - entropy
                    loss = loss + self.kl_weight * kl
                if forget.size(1) and self.forget_weight > 0:
                    loss = loss + self.forget_weight * F.binary_cross_entropy_with_logits(
                        model.decode(h, forget), q_forget)
                if bool(has_pos.any()):
                    loss = loss + self.prototype_weight * F.mse_loss(ha[has_pos], pos_anchor[has_pos])
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                score_val = validation_score(model, kept)
                if score_val > best_val:
                    best_val, best_epoch = score_val, epoch
                    best = copy.deepcopy(model.state_dict())
        if best is not None:
            model.load_state_dict(best)
        self.history.update(unlearning_nodes=int(u.sum()), activated=int(activated.sum()),
                            keep_pairs=int(keep.size(1)), forget_pairs=int(forget.size(1)),
                            anchored=int(contrast.sum()), loss=losses, epochs=self.epochs,
                            selected_epoch=best_epoch, selected_val_auroc=best_val, lr=lr)
        return model
