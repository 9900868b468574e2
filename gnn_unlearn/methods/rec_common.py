r"""Pieces shared by the recommendation unlearning methods: where the removed interactions must
land (:class:`HeldOutInteractions`), the rows a retrained model never trains
(:func:`untrained_rows`) and the forget test with its guard (:class:`RankMonitor`).

The target is fidelity, as for links (:mod:`gnn_unlearn.methods.stopping`): an unlearned
recommender should score the removed interactions :math:`E_\Delta` as a model retrained without
them does - not as low as possible. To a retrained model a removed interaction of a user who
keeps other interactions is an interaction it never saw, like a held-out validation
interaction; so the *current* model's ranks of validation interactions of the same users are
the reference. A user that loses every interaction is, to a retrained model, a row that never
received a gradient (its initial embedding is a draw of the initialisation); an item that loses
every interaction is still a sampled negative, trained like the catalogue's cold items
(:func:`untrained_embeddings`).

Measured on lastfm (LightGCN, 1 % of the interactions, seed 0; the end-to-end numbers are in
``benchmarks/results/fidelity_rec_lastfm_matched.md``): under the original model the validation interactions of the
removed pairs' users have mean rank percentile 0.116 (median 0.0077); a retrained model ranks
the removed pairs at 0.109 (median 0.0074), and deletion identification of those validation
pairs under the original (0.679) is near retraining's on the removed pairs (0.663). Pushing
each removed item below one random unseen item (reverse BPR) instead shrinks the whole user's
score scale (retained items' mean score 7.8 -> 4.2) and halves the median rank without making
the tail of unpredictable interactions that a retrained model has: mean rank 0.050, deletion
identification 0.751.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.utils import degree

from gnn_unlearn.methods.stopping import STALLED, Plateau, weighted_cdf, weighted_quantiles
from gnn_unlearn.metrics.rec import CandidateScores, pair_ranks, topk_metrics
from gnn_unlearn.models.lightgcn import INIT_STD
from gnn_unlearn.requests import UnlearningTask

TARGETS = ("matched", "published")


def removed_pairs(task: UnlearningTask) -> Tensor:
    """The removed interactions ``[2, k]`` (user, U + item); fails clearly when there are none."""
    df = task.df_edge_index
    if df.size(1) == 0:
        raise ValueError("this request removes no interactions; nothing to unlearn")
    return df


def check_target(target: str, method: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"{method}: target must be one of {TARGETS} ('matched': land where a retrained "
                         f"model puts the removed interactions; 'published': the paper's loss), got {target!r}")


def untrained_rows(task: UnlearningTask) -> Tensor:
    """``[N]`` bool: users and items that had training interactions and keep none - rows a
    model retrained on the retained graph never updates (no BPR triple, no L2 term reaches
    them), so it keeps their random initial embeddings."""
    return untrained_nodes(task.data.train_pos_edge_index, task.retained_data.train_pos_edge_index,
                           task.data.num_nodes)


def untrained_nodes(train: Tensor, retained: Tensor, num_nodes: int) -> Tensor:
    """:func:`untrained_rows` from the training interactions before and after a removal."""
    before = degree(train.reshape(-1), num_nodes) > 0
    return before & ~(degree(retained.reshape(-1), num_nodes) > 0)


def own_interactions(data, pairs: Tensor) -> Tensor:
    """The retained training interactions of the users of ``pairs`` (anchors of a stay-close term)."""
    train = data.train_pos_edge_index
    return train[:, torch.isin(train[0], torch.unique(pairs[0]))]


@torch.no_grad()
def untrained_embeddings(e0: Tensor, task: UnlearningTask, generator: torch.Generator,
                         min_cold: int | None = None) -> tuple[Tensor, Tensor]:
    r"""``(rows, values)``: the rows of :func:`untrained_rows` and initial embeddings for them
    drawn like a model retrained on the retained graph holds them.

    * A **user** without interactions is in no BPR triple of retraining (triples start from an
      interaction), so it keeps its initial draw: :math:`\mathcal N(0, \sigma^2 I)`,
      :math:`\sigma` = :data:`~gnn_unlearn.models.lightgcn.INIT_STD`.
    * An **item** without interactions still serves as a sampled negative, so retraining pushes it
      down like the catalogue's cold items (items with no training interaction at all). Their
      current initial embeddings :math:`C` are the sample: :math:`\mathcal N(\bar c, \hat\Sigma_C)`
      (mean and covariance of :math:`C`; the initialisation when there are fewer than
      ``min_cold``, default :math:`2d`, cold items).

    Measured on lastfm (1 %, seed 0: 86 items lose their interactions): retraining ranks their
    removed pairs at percentile 0.595 and holds embeddings of norm 1.97 aligned with the cold items'
    mean (cosine 0.97); the cold-item draw gives 0.589, the initialisation 0.483, the original 0.043.
    """
    rows = untrained_rows(task).to(e0.device)
    n, d = e0.shape
    nu = int(task.data.num_users)
    is_user = torch.arange(n, device=e0.device) < nu
    values = torch.randn(int(rows.sum()), d, generator=generator).to(e0.device, e0.dtype) * INIT_STD
    deg = degree(task.data.train_pos_edge_index.reshape(-1), n).to(e0.device)
    cold = (deg == 0) & ~is_user
    need = 2 * d if min_cold is None else min_cold
    item_rows = ~is_user[rows]
    if int(cold.sum()) >= max(need, 2) and bool(item_rows.any()):
        sample = e0[cold].double()
        mean = sample.mean(0)
        cov = torch.cov(sample.t()) + 1e-6 * torch.eye(d, dtype=torch.double, device=e0.device)
        chol = torch.linalg.cholesky(cov)
        std_normal = torch.randn(int(item_rows.sum()), d, generator=generator, dtype=torch.double).to(e0.device)
        values[item_rows] = (mean + std_normal @ chol.t()).to(e0.dtype)
    return rows, values


@torch.no_grad()
def reset_untrained(model: nn.Module, task: UnlearningTask, generator: torch.Generator) -> Tensor:
    """Writes :func:`untrained_embeddings` into the model's initial embeddings; returns the rows."""
    weight = model.embedding.weight
    rows, values = untrained_embeddings(weight.detach(), task, generator)
    weight[rows] = values
    return rows


def matchable(df: Tensor, rows: Tensor) -> Tensor:
    """The removed pairs whose user and item both keep retained interactions."""
    rows = rows.to(df.device)
    return df[:, ~(rows[df[0]] | rows[df[1]])]


def _dot(z: Tensor, pairs: Tensor) -> Tensor:
    return (z[pairs[0]] * z[pairs[1]]).sum(-1)


def item_bins(data, pairs: Tensor) -> Tensor:
    r""":math:`\lfloor\log_2 d_i\rfloor + 1` of each pair's item degree in ``data`` (0 for items without
    interactions): popularity decides much of an item's rank."""
    deg = degree(data.train_pos_edge_index[1], data.num_nodes)
    return deg[pairs[1]].clamp(min=0.5).log2().floor().long() + 1


class HeldOutInteractions:
    r"""How a recommender retrained without :math:`E_\Delta` ranks it, estimated from the current
    model without retraining and without test data.

    Reference :math:`V`: validation interactions of the users of ``df`` (all validation
    interactions when those have fewer than ``min_pairs``; at most ``max_pairs``, a seeded
    sample), re-weighted to :math:`E_\Delta`'s item popularity (:func:`item_bins`):
    :math:`w_v = n_{E_\Delta}(b_v) / n_V(b_v)`. With :math:`\rho` the rank percentile of a pair's
    item among its user's candidate items (:func:`~gnn_unlearn.metrics.rec.pair_ranks` over
    :math:`I - 1`; 0 = top):

    * :meth:`target_percentiles`: 1-D optimal transport of the removed pairs' :math:`\rho` onto
      the weighted reference distribution :math:`Q`: the removed pair of order :math:`r` (of
      :math:`k`, best ranked first) gets :math:`Q^{-1}((r + 1/2)/k)`. The pairs most predictable
      from the rest of the data stay on top, the others take the reference's long tail - as after
      retraining (lastfm: mean 0.11 with median 0.007).
    * :meth:`score_targets`: the score that puts each removed pair at its target rank among its
      user's current candidate items (:class:`~gnn_unlearn.metrics.rec.CandidateScores`), so the
      target is relative to each user's own score scale; since it is a rank among that user's
      items, the score relative to the user's retained items (deletion identification) follows.
    * :meth:`excess`: how far the removed pairs still rank above the reference, in null standard
      deviations: the larger of :math:`(P_w(\rho_\Delta < \rho_V) - 1/2)/\sigma_{AUC} - t` (the
      bulk) and :math:`(\bar\rho_V - \bar\rho_\Delta)/\sigma_{mean} - t` (the tail, which the
      mean rank is made of), :math:`\sigma_{AUC} = \sqrt{(k + n + 1)/(12kn)}`,
      :math:`\sigma_{mean} = s_V\sqrt{1/k + 1/n}` with :math:`n` Kish's effective size of the
      weights and :math:`t` = ``tolerance``; :math:`\le 0`: matched.
    """

    def __init__(self, data, df: Tensor, generator: torch.Generator, min_pairs: int = 100,
                 max_pairs: int = 2000, tolerance: float = 0.5):
        val = data.val_pos_edge_index
        if val.size(1) == 0:
            raise ValueError("estimating how a retrained recommender ranks the removed interactions "
                             "needs validation interactions (data.val_pos_edge_index); the split has none")
        same = torch.isin(val[0], torch.unique(df[0]))
        pool = val[:, same] if int(same.sum()) >= min_pairs else val
        if pool.size(1) > max_pairs:
            pool = pool[:, torch.randperm(pool.size(1), generator=generator)[:max_pairs].to(pool.device)]
        self.data, self.df, self.reference, self.tolerance = data, df, pool, tolerance
        self.sample_seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator))
        b_df, b_ref = item_bins(data, df), item_bins(data, pool)
        size = int(torch.cat([b_df, b_ref]).max()) + 1
        n_df = torch.bincount(b_df, minlength=size).float()
        n_ref = torch.bincount(b_ref, minlength=size).float()
        self.weights = n_df[b_ref] / n_ref[b_ref]
        if not bool(self.weights.sum() > 0):
            self.weights = torch.ones_like(self.weights)
        self.n_eff = float(self.weights.sum() ** 2 / (self.weights ** 2).sum())
        self.scale = max(int(data.num_items) - 1, 1)

    @torch.no_grad()
    def percentiles(self, z: Tensor, pairs: Tensor) -> Tensor:
        """Exact rank percentile of each pair among its user's candidate items (one score block
        per pair; :meth:`measure` summarises per user instead)."""
        return pair_ranks(z, self.data, pairs).double() / self.scale

    @torch.no_grad()
    def measure(self, z: Tensor) -> tuple[Tensor, Tensor, CandidateScores]:
        """(removed pairs' percentiles, reference percentiles, the users' candidate scores) under
        ``z``, from one :class:`~gnn_unlearn.metrics.rec.CandidateScores` pass over their users
        (exact for ranks below its ``head``, deeper ones from a fixed item sample)."""
        users = torch.cat([self.df[0], self.reference[0]])
        cand = CandidateScores(z, self.data, users, generator=torch.Generator().manual_seed(self.sample_seed))
        df_pct = cand.ranks(self.df[0], _dot(z, self.df)) / self.scale
        ref_pct = cand.ranks(self.reference[0], _dot(z, self.reference)) / self.scale
        return df_pct, ref_pct, cand

    @torch.no_grad()
    def target_percentiles(self, df_pct: Tensor, ref_pct: Tensor, levels: Tensor | None = None) -> Tensor:
        """Per removed pair, the weighted reference quantile at its order (see the class) or,
        with ``levels`` (``[k]`` in [0, 1], a held-out reference's
        :meth:`~gnn_unlearn.methods.reference.HeldOutReference.pair_levels`), at its own level."""
        w = self.weights.to(ref_pct.device, torch.double)
        if levels is None:
            # ties broken by position: a stable order of the removed pairs, best ranked first
            rank = torch.argsort(torch.argsort(df_pct, stable=True), stable=True)
            level = (rank.double() + 0.5) / df_pct.numel()
        else:
            level = levels.to(ref_pct.device, torch.double).clamp(1e-12, 1.0)
        return weighted_quantiles(ref_pct, w, level)

    @torch.no_grad()
    def score_targets(self, cand: CandidateScores, df_pct: Tensor, ref_pct: Tensor,
                      levels: Tensor | None = None) -> Tensor:
        """Per removed pair, the score that gives it its target percentile, from the
        :meth:`measure` of the current embeddings (``levels``: see :meth:`target_percentiles`)."""
        target = self.target_percentiles(df_pct, ref_pct, levels)
        ranks = torch.round(target * self.scale).long()
        return cand.scores_at(self.df[0], ranks, torch.round(df_pct * self.scale).long()).detach()

    def excess(self, df_pct: Tensor, ref_pct: Tensor) -> tuple[float, float, float]:
        """(excess, separation :math:`P_w(\\rho_\\Delta < \\rho_V)`, weighted reference mean)."""
        w = self.weights.to(ref_pct.device, torch.double)
        k, n = df_pct.numel(), self.n_eff
        # P_w(rho_ref > rho_df) + ties / 2: one minus the mid-rank CDF of the reference
        separation = float((1 - weighted_cdf(df_pct, ref_pct, w, torch.double)).mean())
        ref_mean = float((w * ref_pct).sum() / w.sum())
        ref_sd = float(((w * (ref_pct - ref_mean) ** 2).sum() / w.sum()).sqrt())
        sd_auc = math.sqrt((k + n + 1) / (12 * max(k, 1) * max(n, 1)))
        sd_mean = max(ref_sd * math.sqrt(1 / max(k, 1) + 1 / max(n, 1)), 1e-12)
        excess = max((separation - 0.5) / sd_auc, (ref_mean - float(df_pct.mean())) / sd_mean) - self.tolerance
        return excess, separation, ref_mean


class RankMonitor:
    r"""Decides when the removed interactions rank like interactions the model never saw.

    * ``target="matched"``: their rank percentiles have the distribution of the weighted held-out
      reference (:meth:`HeldOutInteractions.excess` :math:`\le 0`) at ``settle + 1`` checks in a
      row ("forgotten"), or the excess has not improved by 0.01 for ``patience`` checks ("matched
      as far as it goes"). The settling checks matter: a regression onto the targets reaches the
      reference's mean and bulk before its head fills up again (lastfm, 1 %, reverse BPR: stopping
      at the first match leaves hit@20 0.213 and deletion identification 0.677, 20 more steps
      0.229 and 0.668, retraining 0.235-0.243 and 0.650-0.661). Only the
      pairs whose user and item keep retained interactions (``pairs``) are tested; the others
      are untrained rows (:func:`reset_untrained`).
    * ``target="published"``: the mean rank percentile of the removed pairs reaches that of
      the (unweighted) reference.

    With ``reference`` (a recommender's :class:`~gnn_unlearn.methods.reference.HeldOutReference`)
    each pair's target is the quantile at its own held-out level instead of at its order.

    Guard: validation Recall@20 may fall at most ``max_val_drop`` (relative) below its start
    ("validation drop"; the caller reverts to the last state that passed). No test data is
    looked at. :attr:`last` holds the levels of the last check.
    """

    def __init__(self, task: UnlearningTask, generator: torch.Generator, max_val_drop: float = 0.05,
                 target: str = "matched", pairs: Tensor | None = None, tolerance: float = 0.5,
                 patience: int = 10, settle: int = 4, min_pairs: int = 100, max_pairs: int = 2000,
                 reference: Any = None):
        check_target(target, "RankMonitor")
        data = task.retained_data
        self.data, self.max_val_drop, self.target, self.patience = data, max_val_drop, target, patience
        self.df = removed_pairs(task) if pairs is None else pairs
        if self.df.size(1) == 0:
            raise ValueError("no removed interaction has a user and an item that keep retained ones; "
                             "nothing to rank (reset_untrained handles such rows)")
        self.held = HeldOutInteractions(data, self.df, generator, min_pairs, max_pairs, tolerance)
        self.reference = self.held.reference
        # per-pair levels from a held-out reference (the targets' order), computed once
        self.levels = None if reference is None else reference.pair_levels(self.held, self.df)
        self.start_val: float | None = None
        self.plateau = Plateau(patience, 1e-2)
        self.settle, self.settled = settle, 0
        self.last: dict[str, float] = {}
        self.df_pct: Tensor | None = None
        self.ref_pct: Tensor | None = None
        self.cand: CandidateScores | None = None

    def rank_levels(self, z: Tensor) -> tuple[float, float]:
        """(mean rank percentile of the removed pairs, of the unseen reference pairs)."""
        if self.target == "published":          # the published stop: exact ranks, as before
            self.df_pct = self.held.percentiles(z, self.df)
            self.ref_pct = self.held.percentiles(z, self.reference)
        else:
            self.df_pct, self.ref_pct, self.cand = self.held.measure(z)
        return float(self.df_pct.mean()), float(self.ref_pct.mean())

    @torch.no_grad()
    def embeddings(self, model: nn.Module, e0: Tensor | None = None) -> Tensor:
        was = model.training
        model.eval()
        z = model.encode(None, self.data.edge_index, e0=e0)
        model.train(was)
        return z

    @torch.no_grad()
    def check(self, model: nn.Module, z: Tensor | None = None, e0: Tensor | None = None) -> str | None:
        """``None`` (go on), ``"forgotten"``, ``"matched as far as it goes"`` or
        ``"validation drop"``."""
        z = self.embeddings(model, e0) if z is None else z
        val = topk_metrics(z, self.data, "val")["recall@20"]
        if self.start_val is None:
            self.start_val = val
        if val < self.start_val * (1 - self.max_val_drop):
            return "validation drop"
        df, ref = self.rank_levels(z)
        self.last = dict(df_rank=df, reference_rank=ref, val_recall=val)
        if self.target == "published":
            return "forgotten" if df >= ref else None
        excess, separation, ref_mean = self.held.excess(self.df_pct, self.ref_pct)
        self.last.update(excess=excess, separation=separation, reference_rank=ref_mean)
        if excess <= 0:
            self.settled += 1
            if self.settled > self.settle:
                return "forgotten"
            return None
        self.settled = 0
        return STALLED if self.plateau.stalled(excess) else None

    @torch.no_grad()
    def score_targets(self, z: Tensor) -> Tensor:
        """Target scores of the removed pairs (:meth:`HeldOutInteractions.score_targets`) from
        the percentiles of the last :meth:`check` or :meth:`rank_levels` on ``z``."""
        if self.cand is None:
            self.rank_levels(z)
        return self.held.score_targets(self.cand, self.df_pct, self.ref_pct, self.levels)
