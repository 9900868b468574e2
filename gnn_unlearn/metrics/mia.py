"""Membership-inference attacks (MIA): do deleted elements still look like training members?

Two attacks (see ``evaluation.md``), both seeded:

1. :class:`ShadowPosteriorAttack` - GNNDelete's attack (Cheng et al., ICLR 2023), kept for
   comparability with the published MI ratio. A shadow model of the same architecture is
   trained on the test edges; an MLP learns to tell the shadow's training pairs
   ("present", label 1) from other pairs ("absent", label 0) from the posterior
   ``[1 - p, p]``; it is then asked about :math:`D_f` on the target model.
   MI ratio = mean over :math:`D_f` of :math:`P_{present}(after) / P_{present}(before)`.
   Its own held-out AUC is reported: near 0.5 the attack measures nothing.
2. :class:`LossAttack` - a stronger member/non-member attack. Members are retained
   training elements, non-members held-out test elements; features are the target model's
   loss/posterior (and embedding norms) on each element; a gradient-boosting classifier is
   trained on half and measured (AUC) on the other half, then it labels :math:`D_f`.
   After good unlearning :math:`D_f` looks like the retrained model's :math:`D_f`.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.models.predictors import build_model
from gnn_unlearn.ops.graph import symmetrize
from gnn_unlearn.utils import seeded


def _split_half(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    perm = rng.permutation(n)
    return perm[: n // 2], perm[n // 2:]


def _cap(x: np.ndarray, y: np.ndarray, per_class: int, rng: np.random.Generator):
    """At most ``per_class`` rows of each label (seeded), so attacks stay fast on big graphs."""
    keep = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in (0, 1)])
    return x[keep], y[keep]


def _fit(clf, x: np.ndarray, y: np.ndarray):
    with warnings.catch_warnings():  # lbfgs may stop early on separable 2-d features: harmless
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return clf.fit(x, y)


def _held_out_auc(clf, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    """Fits ``clf`` on a stratified half and returns its AUC on the other half."""
    idx_pos, idx_neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    a_pos, b_pos = _split_half(len(idx_pos), rng)
    a_neg, b_neg = _split_half(len(idx_neg), rng)
    train = np.concatenate([idx_pos[a_pos], idx_neg[a_neg]])
    test = np.concatenate([idx_pos[b_pos], idx_neg[b_neg]])
    _fit(clf, x[train], y[train])
    return float(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))


class ShadowPosteriorAttack:
    """GNNDelete's shadow-model attack on link prediction (see module docstring).

    Args:
        epochs / lr: training of the shadow model (same architecture as the target).
        seed: seeds the shadow model, the sampled pairs and the attack MLP.
    """

    def __init__(self, epochs: int = 200, lr: float = 0.01, seed: int = 0, max_samples: int = 5000):
        self.epochs, self.lr, self.seed, self.max_samples = epochs, lr, seed, max_samples

    def fit(self, model_config: dict, data: Data) -> "ShadowPosteriorAttack":
        dev = data.edge_index.device
        g = torch.Generator().manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        shadow_graph = Data(x=getattr(data, "x", None), edge_index=symmetrize(data.test_pos_edge_index),
                            num_nodes=data.num_nodes)
        pos = data.test_pos_edge_index
        neg = getattr(data, "test_neg_edge_index", None)
        val_neg = getattr(data, "val_neg_edge_index", None)
        from gnn_unlearn.ops.negative import negative_pairs
        if neg is None or val_neg is None:   # user-item graphs come without negatives: sample them
            known = torch.cat([data.train_pos_edge_index, data.val_pos_edge_index, pos], 1)
            neg = negative_pairs(data, pos.size(1), g, exclude=known).to(dev) if neg is None else neg
            if val_neg is None:
                val_neg = negative_pairs(data, data.val_pos_edge_index.size(1), g, exclude=known).to(dev)
        with seeded(self.seed, dev):
            shadow = build_model(model_config).to(dev)
            opt = torch.optim.Adam(shadow.parameters(), lr=self.lr)
            pairs = torch.cat([pos, neg], 1)
            labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))]).to(dev)
            for _ in range(self.epochs):
                shadow.train()
                opt.zero_grad()
                loss = F.binary_cross_entropy_with_logits(
                    shadow(shadow_graph.x, shadow_graph.edge_index, pairs), labels)
                loss.backward()
                opt.step()
        shadow.eval()
        # present: the shadow's training pairs; absent: validation pairs, a sample of
        # training edges (unseen by the shadow) and fresh non-edges
        present = pairs
        quarter = max(present.size(1) // 4, 1)
        train_pos = data.train_pos_edge_index
        take = torch.randperm(train_pos.size(1), generator=g)[:quarter].to(dev)
        known = torch.cat([train_pos, data.val_pos_edge_index, pos, val_neg, neg], 1)
        extra_neg = negative_pairs(data, quarter, g, exclude=known).to(dev)
        absent = torch.cat([data.val_pos_edge_index, val_neg, train_pos[:, take], extra_neg], 1)
        with torch.no_grad():
            p = torch.sigmoid(shadow(shadow_graph.x, shadow_graph.edge_index,
                                     torch.cat([present, absent], 1))).cpu().numpy()
        x = np.stack([1 - p, p], 1)
        y = np.concatenate([np.ones(present.size(1)), np.zeros(absent.size(1))])
        x, y = _cap(x, y, self.max_samples, rng)
        self.attack_auc = _held_out_auc(self._mlp(), x, y, rng)
        self.classifier = _fit(self._mlp(), x, y)
        return self

    def _mlp(self) -> MLPClassifier:
        # L2 alpha=1: without it the MLP turns the 1-d posterior into 0/1 steps (measured on
        # Cora: P_present down to 1e-283), and ratios of such probabilities mean nothing
        return MLPClassifier(hidden_layer_sizes=(64,), solver="lbfgs", alpha=1.0, max_iter=2000,
                             random_state=self.seed)

    def present_probability(self, logits: Tensor) -> np.ndarray:
        """P(present) for each pair given the target model's logits on it."""
        p = torch.sigmoid(logits.float()).cpu().numpy()
        return self.classifier.predict_proba(np.stack([1 - p, p], 1))[:, 1]


def link_attack_features(model: nn.Module, data: Data, pairs: Tensor, z: Tensor | None = None) -> np.ndarray:
    """Per positive pair: logit, BCE loss with label 1, and the endpoints' embedding norms."""
    with torch.no_grad():
        model.eval()
        if z is None:
            z = model.encode(data.x, data.edge_index)
        logit = model.decode(z, pairs)
        loss = F.softplus(-logit)
        nu, nv = z[pairs[0]].norm(dim=-1), z[pairs[1]].norm(dim=-1)
    return torch.stack([logit, loss, torch.minimum(nu, nv), torch.maximum(nu, nv)], 1).float().cpu().numpy()


def node_attack_features(logits: Tensor, y: Tensor) -> np.ndarray:
    """Per node: CE loss with its label, max probability and entropy of the posterior."""
    with torch.no_grad():
        logp = F.log_softmax(logits.float(), -1)
        loss = -logp.gather(1, y.view(-1, 1)).view(-1)
        p = logp.exp()
        ent = -(p * logp).sum(-1)
        return torch.stack([loss, p.max(-1).values, ent], 1).cpu().numpy()


class LossAttack:
    """The stronger member / non-member attack (see module docstring).

    ``fit(members, non_members)`` takes feature arrays computed on the *target* model
    (:func:`link_attack_features` / :func:`node_attack_features`); ``member_rate(x)`` is
    the fraction of rows classified as members.
    """

    def __init__(self, seed: int = 0, n_estimators: int = 100, max_depth: int = 3,
                 max_samples: int = 5000):
        self.seed, self.n_estimators, self.max_depth = seed, n_estimators, max_depth
        self.max_samples = max_samples

    def _clf(self) -> GradientBoostingClassifier:
        return GradientBoostingClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                          random_state=self.seed)

    def fit(self, members: np.ndarray, non_members: np.ndarray) -> "LossAttack":
        if len(members) < 4 or len(non_members) < 4:
            raise ValueError("the attack needs at least 4 members and 4 non-members")
        rng = np.random.default_rng(self.seed)
        x = np.concatenate([members, non_members])
        y = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
        x, y = _cap(x, y, self.max_samples, rng)
        self.attack_auc = _held_out_auc(self._clf(), x, y, rng)
        self.classifier = _fit(self._clf(), x, y)
        return self

    def member_probability(self, x: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(x)[:, 1]

    def member_rate(self, x: np.ndarray) -> float:
        if len(x) == 0:
            return float("nan")
        return float((self.member_probability(x) > 0.5).mean())
