r"""Likelihood-ratio membership inference (LiRA) at low false-positive rates, for deleted edges
(and deleted training nodes).

Carlini et al., "Membership Inference Attacks From First Principles" (IEEE S&P 2022), used to
audit unlearning as in "Verifying Robust Unlearning" and "Are We Truly Forgetting?": a
deletion is only as good as the strongest attack's power at a low false-positive rate.

Targets are the deleted edges :math:`D_f` and a pool of true edges that no target model
trained on (the test positives; the validation edges select models and are left out). In
:meth:`LiRA.prepare`, :math:`S` shadow models with the original's architecture and recipe are
trained on the retained training edges :math:`D_r` plus a random half of the targets (each
target IN for exactly :math:`\lfloor S/2 \rfloor` shadows), each passing messages over its own
training edges. The confidence of a pair is its logit
:math:`\phi = \log\frac{p}{1-p}` (already logit-scaled, so roughly Gaussian across models).
Per target :math:`t`, Gaussians :math:`\mathcal N(\mu^{in}_t, \sigma^{in\,2})` and
:math:`\mathcal N(\mu^{out}_t, \sigma^{out\,2})` are fitted over the IN and OUT shadows (the
variances pooled over targets by default, as the paper advises for few shadows). The score of
a target on a model is the log-likelihood ratio (online LiRA)

.. math:: \Lambda_t = \log \mathcal N(\phi_t; \mu^{in}_t, \sigma^{in\,2})
                     - \log \mathcal N(\phi_t; \mu^{out}_t, \sigma^{out\,2}),

or, offline (all shadows OUT: trained on :math:`D_r` only, cheaper to interpret with few
shadows), the one-sided standardized score :math:`(\phi_t - \mu^{out}_t)/\sigma^{out}`.

Node models (deleted training nodes): targets are the deleted training nodes and the test
nodes that were not deleted; a shadow trains on the retained training nodes plus its IN
targets, and an IN deleted node gets its edges back (an OUT one stays isolated, as in
retraining); the confidence is :math:`\log\frac{p_y}{1-p_y}` of the node's true label.

Reported per model: TPR at 1 % and 0.1 % FPR and the AUC of ":math:`D_f` (positives) vs the
never-seen target edges (negatives)". Thresholds are taken on the negatives only: at FPR
:math:`\alpha` the threshold is the :math:`(\lfloor\alpha n_{neg}\rfloor + 1)`-th largest
negative score, so the realised FPR is at most :math:`\alpha` (with fewer than
:math:`1/\alpha` negatives it is 0 and the TPR is that of "above every negative").
"""
from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.metrics.attack_base import Attack, register_attack
from gnn_unlearn.metrics.link import link_logits
from gnn_unlearn.models.predictors import build_model
from gnn_unlearn.ops.graph import symmetrize
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import TrainConfig, fit
from gnn_unlearn.utils import seeded

VARIANTS = ("online", "offline")
VARIANCES = ("global", "per_target")


def tpr_at_fpr(pos: Tensor, neg: Tensor, fpr: float) -> float:
    r"""Fraction of ``pos`` scoring strictly above the threshold that at most
    :math:`\lfloor \text{fpr}\cdot n_{neg} \rfloor` negatives exceed."""
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError("TPR at a fixed FPR needs at least one positive and one negative score")
    if not 0.0 < fpr < 1.0:
        raise ValueError(f"fpr must lie in (0, 1), got {fpr!r}")
    allowed = int(math.floor(fpr * neg.numel() + 1e-9))
    threshold = torch.sort(neg.double(), descending=True)[0][allowed]
    return float((pos.double() > threshold).double().mean())


def gaussian_fit(logits: Tensor, member: Tensor, pooled: bool) -> tuple[Tensor, Tensor]:
    r"""Per-target mean and standard deviation of ``logits`` ``[S, T]`` over the shadows where
    ``member`` ``[S, T]`` is True; with ``pooled`` the variance is pooled over targets
    (:math:`\sum (\phi - \mu_t)^2 / (N - T)`), otherwise per target (unbiased)."""
    w = member.to(logits.dtype)
    count = w.sum(0)
    mu = (logits * w).sum(0) / count.clamp(min=1)
    sq = ((logits - mu) ** 2 * w)
    if pooled:
        var = sq.sum() / (count.sum() - count.numel()).clamp(min=1)
        var = var.expand_as(mu)
    else:
        var = sq.sum(0) / (count - 1).clamp(min=1)
    floor = torch.finfo(logits.dtype).eps + 1e-8 * float(logits.abs().max().clamp(min=1))
    return mu, var.clamp(min=floor).sqrt()


def _log_normal(x: Tensor, mu: Tensor, sd: Tensor) -> Tensor:
    return -0.5 * ((x - mu) / sd) ** 2 - torch.log(sd)


@register_attack
class LiRA(Attack):
    """Likelihood-ratio membership inference on the deleted edges or nodes (see module docstring).

    Args:
        seed: seeds the IN/OUT assignment and the shadow models' training.
        shadows: number of shadow models :math:`S` (online >= 4: each target IN for
            ``shadows // 2`` of them; offline >= 2). The cost of the attack: :math:`S` trainings.
        variant: ``"online"`` (IN and OUT shadows, likelihood ratio) or ``"offline"`` (OUT
            shadows only, standardized score).
        variance: ``"global"`` (pooled over targets; the paper's choice with few shadows) or
            ``"per_target"``.
        epochs: overrides the original's training epochs for the shadows (default: the
            original's recipe, ``original.train_config``).
    """
    name = "lira"
    tasks = frozenset({"link", "node"})
    columns = {"lira_tpr_1": "LiRA TPR@1%FPR", "lira_tpr_01": "LiRA TPR@0.1%FPR",
               "lira_auc": "LiRA AUC"}
    note = ("LiRA (Carlini et al. 2022): shadows of the original's recipe on the retained data plus half "
            "the targets; score = per-target Gaussian log-likelihood ratio of the logit-scaled confidence "
            "(pair logit / true-label log-odds); deleted items (positives) vs never-seen test edges / "
            "test nodes (negatives), thresholds on the negatives")

    param_rules = {"shadows": (2, True, None, False)}
    param_choices = {"variant": VARIANTS, "variance": VARIANCES}

    def __init__(self, seed: int = 0, shadows: int = 8, variant: str = "online",
                 variance: str = "global", epochs: int | None = None):
        super().__init__(seed)
        if variant == "online" and shadows < 4:     # two IN and two OUT fits per target
            raise ValueError(f"lira: hyperparameter shadows={shadows!r} is too few for the online variant: "
                             "it needs >= 4 (two IN and two OUT shadows per target); the offline one >= 2")
        self.shadows, self.variant, self.variance, self.epochs = shadows, variant, variance, epochs

    # ---- preparation: shadow models ---------------------------------------------------------
    def _recipe(self, original: nn.Module) -> TrainConfig:
        base = dict(getattr(original, "train_config", None) or {})
        if base.get("fanouts"):
            raise ValueError("lira: the original was trained with neighbour-sampled mini-batches; "
                             "shadows are trained full batch only")
        for k in ("fanouts", "minibatch_size", "sampler", "max_steps"):
            base.pop(k, None)
        base["progress"] = False
        if self.epochs is not None:
            base["epochs"] = self.epochs
        return TrainConfig.from_dict(base)

    def prepare(self, task: UnlearningTask, original: nn.Module, retrained: nn.Module) -> None:
        if not getattr(original, "config", None):
            raise ValueError("lira needs original.config to rebuild the architecture for its shadows; "
                             "build models with gnn_unlearn.models.make_model / build_model")
        self.kind = original.task
        if self.kind == "link":
            held = getattr(task.data, "test_pos_edge_index", None)
            if held is None or held.size(1) < 2:
                raise ValueError("lira needs test positive edges (never trained on) as its negatives; "
                                 "make a link split with gnn_unlearn.link_split(data)")
            positives = task.df_edge_index
            self.targets = torch.cat([positives, held], 1)
            self.num_positives, self.num_negatives = int(positives.size(1)), int(held.size(1))
        else:                       # deleted training nodes vs test nodes that were not deleted
            data = task.data
            positives = (task.deleted_nodes & data.train_mask).nonzero().view(-1)
            held = (data.test_mask & ~task.deleted_nodes).nonzero().view(-1)
            self.targets = torch.cat([positives, held])
            self.num_positives, self.num_negatives = positives.numel(), held.numel()
        recipe = self._recipe(original)
        self.note = (type(self).note + f"; {self.kind} task, {self.variant}, {self.shadows} shadows, variance "
                     f"{self.variance}, {self.num_positives} positives vs {self.num_negatives} negatives "
                     f"(TPR@0.1% resolves FPR steps of 1/{self.num_negatives})")
        if self.num_positives == 0:
            return
        dev = self.targets.device
        num_t = self.targets.size(-1)
        g = torch.Generator().manual_seed(self.seed)
        if self.variant == "online":      # each target IN for exactly shadows // 2 shadows
            ranks = torch.rand(self.shadows, num_t, generator=g).argsort(0).argsort(0)
            member = ranks < self.shadows // 2
        else:
            member = torch.zeros(self.shadows, num_t, dtype=torch.bool)
        seeds = torch.randint(1, 2 ** 31 - 1, (self.shadows,), generator=g).tolist()
        arch = {k: v for k, v in original.config.items() if k != "gnndelete"}
        logits = []
        for s in range(self.shadows):
            graph = (self._shadow_graph(task.retained_data, self.targets[:, member[s].to(dev)])
                     if self.kind == "link" else self._shadow_node_graph(task, self.targets[member[s].to(dev)]))
            config = dataclasses.replace(recipe, seed=int(seeds[s]))
            with seeded(config.seed):
                shadow = build_model(arch)
            shadow, _ = fit(shadow, graph, config, dev)
            logits.append(self.confidence(shadow, graph))
        self.shadow_logits = torch.stack(logits).double()          # [S, T]
        self.member = member
        pooled = self.variance == "global"
        self._out = gaussian_fit(self.shadow_logits, ~member, pooled)
        self._in = gaussian_fit(self.shadow_logits, member, pooled) if self.variant == "online" else None
        self.shadow_auc = self._held_out_power() if self.variant == "online" else float("nan")

    @staticmethod
    def _shadow_graph(data: Data, extra: Tensor) -> Data:
        """The retained graph plus ``extra`` training edges (in message passing too); the test
        edges are dropped from it since some of them are now training edges."""
        graph = copy.copy(data)
        graph.train_pos_edge_index = torch.cat([data.train_pos_edge_index, extra], 1)
        graph.edge_index = symmetrize(graph.train_pos_edge_index)
        for key in ("test_pos_edge_index", "test_neg_edge_index"):
            if key in graph:
                del graph[key]
        return graph

    @staticmethod
    def _shadow_node_graph(task: UnlearningTask, members: Tensor) -> Data:
        """The retained graph with the ``members`` nodes back: among the training nodes, and
        their deleted edges restored where every deleted endpoint is a member (the other
        deleted nodes stay isolated, as in retraining)."""
        data, graph = task.data, copy.copy(task.retained_data)
        member = torch.zeros(data.num_nodes, dtype=torch.bool, device=members.device)
        member[members] = True
        graph.train_mask = graph.train_mask | member
        absent = task.deleted_nodes & ~member
        df = task.df_edge_index
        touches = task.deleted_nodes[df[0]] | task.deleted_nodes[df[1]]
        back = df[:, touches & ~(absent[df[0]] | absent[df[1]])]
        kept = torch.cat([task.dr_edge_index, back], 1)
        if getattr(data, "train_pos_edge_index", None) is not None:
            graph.train_pos_edge_index = kept
        graph.edge_index = symmetrize(kept)
        return graph

    def confidence(self, model: nn.Module, graph: Data) -> Tensor:
        r"""Logit-scaled confidence of ``model`` on every target: the pair's logit (link) or
        :math:`\log\frac{p_y}{1 - p_y}` of the node's true label (node), ``[T]`` in float64."""
        if self.kind == "link":
            return link_logits(model, graph, self.targets).double().cpu()
        was = model.training
        model.eval()
        with torch.no_grad():
            logp = torch.log_softmax(model(graph.x, graph.edge_index).double(), -1)
        model.train(was)
        y = graph.y.view(-1)[self.targets]
        lp = logp[self.targets].gather(1, y.view(-1, 1)).view(-1)
        return (lp - torch.log(-torch.expm1(lp).clamp(max=-1e-300))).cpu()

    def _held_out_power(self) -> float:
        """The attack's own power: for each shadow, its targets scored with Gaussians fitted on
        the other shadows; mean AUC of its IN targets vs its OUT targets."""
        pooled = self.variance == "global"
        aucs = []
        for s in range(self.shadows):
            rest = torch.arange(self.shadows) != s
            mu_in, sd_in = gaussian_fit(self.shadow_logits[rest], self.member[rest], pooled)
            mu_out, sd_out = gaussian_fit(self.shadow_logits[rest], ~self.member[rest], pooled)
            x = self.shadow_logits[s]
            score = _log_normal(x, mu_in, sd_in) - _log_normal(x, mu_out, sd_out)
            aucs.append(roc_auc_score(self.member[s].numpy(), score.numpy()))
        return float(np.mean(aucs))

    # ---- scoring ------------------------------------------------------------------------------
    def target_scores(self, model: nn.Module, graph: Data) -> Tensor:
        """LiRA score of every target (``[n_pos + n_neg]``, deleted items first) on ``model``."""
        x = self.confidence(model, graph)
        mu_out, sd_out = self._out
        if self.variant == "offline":
            return (x - mu_out) / sd_out
        mu_in, sd_in = self._in
        return _log_normal(x, mu_in, sd_in) - _log_normal(x, mu_out, sd_out)

    def score(self, model: nn.Module, graph: Data, on_original: bool) -> dict[str, float]:
        if self.num_positives == 0:
            return {k: float("nan") for k in self.columns}
        s = self.target_scores(model, graph)
        pos, neg = s[: self.num_positives], s[self.num_positives:]
        labels = np.concatenate([np.ones(pos.numel()), np.zeros(neg.numel())])
        return {"lira_tpr_1": tpr_at_fpr(pos, neg, 0.01), "lira_tpr_01": tpr_at_fpr(pos, neg, 0.001),
                "lira_auc": float(roc_auc_score(labels, torch.cat([pos, neg]).numpy()))}
