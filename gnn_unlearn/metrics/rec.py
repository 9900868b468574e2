r"""Recommendation metrics: full-ranking Recall@K / NDCG@K and ranks of removed interactions.

Scores are computed for chunks of ``chunk_users`` users at a time (``[chunk, I]``, never the
whole users x items matrix); each user's known items (the training interactions) are masked
out before ranking, as in LightGCN's protocol:

.. math::
    \mathrm{Recall@K}(u) = \frac{|\mathrm{top}_K(u) \cap T_u|}{|T_u|}, \qquad
    \mathrm{NDCG@K}(u) = \frac{\sum_{r<K} [\mathrm{top}_K(u)_r \in T_u] / \log_2(r+2)}
    {\sum_{r<\min(K, |T_u|)} 1/\log_2(r+2)}

averaged over users with at least one held-out interaction :math:`T_u`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.metrics.link import deleted_vs_retained_auc


def _local(pairs: Tensor, num_users: int) -> tuple[Tensor, Tensor]:
    """(user, local item) of ``[2, k]`` pairs stored as (user, U + item)."""
    return pairs[0], pairs[1] - num_users


def _csr(users: Tensor, items: Tensor, num_users: int) -> tuple[Tensor, Tensor]:
    """Row pointer over users and item ids sorted by user."""
    order = torch.argsort(users, stable=True)
    counts = torch.bincount(users, minlength=num_users)
    rowptr = torch.zeros(num_users + 1, dtype=torch.long, device=users.device)
    rowptr[1:] = counts.cumsum(0)
    return rowptr, items[order]


@torch.no_grad()
def embeddings(model: nn.Module, data: Data) -> Tensor:
    """``z`` of a recommender on ``data`` (eval mode)."""
    was = model.training
    model.eval()
    z = model.encode(None, data.edge_index)
    model.train(was)
    return z


def _masked_scores(z: Tensor, lo: int, hi: int, num_users: int, known: tuple[Tensor, Tensor]) -> Tensor:
    """Scores of users ``lo..hi-1`` against all items, known items set to ``-inf``."""
    scores = z[lo:hi] @ z[num_users:].t()
    rowptr, col = known
    a, b = int(rowptr[lo]), int(rowptr[hi])
    if b > a:
        rows = torch.repeat_interleave(torch.arange(hi - lo, device=z.device), rowptr[lo + 1:hi + 1] - rowptr[lo:hi])
        scores[rows, col[a:b]] = float("-inf")
    return scores


@torch.no_grad()
def topk_metrics(model_or_z: nn.Module | Tensor, data: Data, split: str = "test", k: int = 20,
                 exclude: Tensor | None = None, chunk_users: int | None = None,
                 max_chunk_scores: int = 1 << 24) -> dict[str, float]:
    """Recall@k and NDCG@k of held-out interactions ``data.<split>_pos_edge_index``.

    Args:
        model_or_z: a recommender (``encode``) or its final embeddings ``z``.
        exclude: known pairs masked from the ranking (default: ``data.train_pos_edge_index``).
        chunk_users: users scored at a time; default: as many as keep one ``[users, items]``
            score block within ``max_chunk_scores`` entries (64 MiB of float32), so memory
            does not grow with the catalogue.
    """
    if getattr(data, "num_users", None) is None:
        raise ValueError("recommendation metrics need a user-item graph (data.num_users/num_items)")
    ni = int(data.num_items)
    if chunk_users is None:
        chunk_users = max(1, max_chunk_scores // max(ni, 1))
    if k < 1 or chunk_users < 1:
        raise ValueError(f"k and chunk_users must be >= 1, got {k}, {chunk_users}")
    held = getattr(data, f"{split}_pos_edge_index", None)
    if held is None:
        raise ValueError(f"data has no {split}_pos_edge_index")
    z = model_or_z if isinstance(model_or_z, Tensor) else embeddings(model_or_z, data)
    nu = int(data.num_users)
    exclude = data.train_pos_edge_index if exclude is None else exclude
    known = _csr(*_local(exclude.to(z.device), nu), nu)
    hu, hi_ = _local(held.to(z.device), nu)
    held_keys = torch.sort(hu * ni + hi_)[0]
    held_count = torch.bincount(hu, minlength=nu)
    discounts = 1.0 / torch.log2(torch.arange(k, device=z.device, dtype=torch.float) + 2)
    ideal = torch.cat([torch.zeros(1, device=z.device), discounts.cumsum(0)])
    recall_sum = ndcg_sum = 0.0
    for lo in range(0, nu, chunk_users):
        hi = min(lo + chunk_users, nu)
        cnt = held_count[lo:hi]
        if int(cnt.sum()) == 0:
            continue
        top = torch.topk(_masked_scores(z, lo, hi, nu, known), min(k, ni), dim=1).indices
        keys = (torch.arange(lo, hi, device=z.device).unsqueeze(1) * ni + top).view(-1)
        pos = torch.searchsorted(held_keys, keys).clamp_(max=held_keys.numel() - 1)
        hit = (held_keys[pos] == keys).view(hi - lo, -1).float()
        has = cnt > 0
        recall_sum += float((hit.sum(1)[has] / cnt[has]).sum())
        dcg = (hit * discounts[: hit.size(1)]).sum(1)
        ndcg_sum += float((dcg[has] / ideal[cnt[has].clamp(max=k)]).sum())
    users = int((held_count > 0).sum())
    return {f"recall@{k}": recall_sum / users, f"ndcg@{k}": ndcg_sum / users}


def _known_keys(exclude: Tensor, num_users: int, num_items: int, device: torch.device) -> Tensor:
    """Sorted ``user * I + local item`` keys of ``exclude`` ``[2, k]`` (user, U + item)."""
    return torch.sort((exclude[0] * num_items + exclude[1] - num_users).to(device))[0]


def _known_cells(ex_keys: Tensor, users: Tensor, num_items: int) -> tuple[Tensor, Tensor]:
    """(row, local item) of every known item of each row's user (``users`` one per row)."""
    lo = torch.searchsorted(ex_keys, users * num_items)
    lens = torch.searchsorted(ex_keys, users * num_items + num_items) - lo
    rows = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), lens)
    offs = torch.arange(int(lens.sum()), device=users.device) - torch.repeat_interleave(lens.cumsum(0) - lens, lens)
    return rows, ex_keys[torch.repeat_interleave(lo, lens) + offs] % num_items


def _chunk(chunk_pairs: int | None, num_items: int, max_chunk_scores: int) -> int:
    chunk = max(1, max_chunk_scores // max(num_items, 1)) if chunk_pairs is None else chunk_pairs
    if chunk < 1:
        raise ValueError(f"chunk_pairs must be >= 1, got {chunk}")
    return chunk


@torch.no_grad()
def pair_ranks(model_or_z: nn.Module | Tensor, data: Data, pairs: Tensor,
               exclude: Tensor | None = None, chunk_pairs: int | None = None,
               max_chunk_scores: int = 1 << 24) -> Tensor:
    """0-based rank of each pair's item among all items for its user (``exclude`` masked out;
    default: the training interactions of ``data``, which for a retained graph no longer hold
    the removed ones). Rank 0 = the user's top recommendation. ``chunk_pairs``: pairs scored
    at a time; default: a ``[pairs, items]`` block within ``max_chunk_scores`` entries."""
    z = model_or_z if isinstance(model_or_z, Tensor) else embeddings(model_or_z, data)
    nu, ni = int(data.num_users), int(data.num_items)
    chunk_pairs = _chunk(chunk_pairs, ni, max_chunk_scores)
    exclude = data.train_pos_edge_index if exclude is None else exclude
    ex_keys = _known_keys(exclude, nu, ni, z.device)
    out = []
    for s in range(0, pairs.size(1), chunk_pairs):
        u, i = pairs[0, s:s + chunk_pairs].to(z.device), pairs[1, s:s + chunk_pairs].to(z.device)
        scores = z[u] @ z[nu:].t()                                         # [c, I]
        own = scores.gather(1, (i - nu).unsqueeze(1))   # from the same product: no self-count
        above = scores > own
        above[_known_cells(ex_keys, u, ni)] = False     # known items above the pair's score do not count
        out.append(above.sum(1))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=z.device)


class CandidateScores:
    r"""Each user's scores of its candidate items (all items but the ``exclude`` ones, default
    the training interactions of ``data``), summarised once for many pairs of the same users.

    Per user: the ``head`` highest scores exactly, and the sorted scores of a uniform sample of
    ``sample`` items (drawn once from ``generator``) for deeper ranks - a rank :math:`r > `
    ``head`` of :math:`n` candidates is read at position :math:`r\, n_s / n` of the sample's
    :math:`n_s` candidates (error of the order of :math:`\sqrt{r / (n\,n_s)}` in rank
    percentile). Exact for catalogues of at most ``head + sample`` items. One
    ``[users, items]`` score block per chunk of users, so a request with many pairs per user
    costs one pass over its users instead of one per pair.

    * :meth:`ranks`: the rank :func:`pair_ranks` gives a pair ``(u, i)`` of score ``s``
      (candidates other than ``i`` scoring above ``s``; scores within a relative 1e-5 of ``s``
      count as ties);
    * :meth:`scores_at`: the inverse - the score that gives the pair rank ``r``, midway between
      the candidates at positions :math:`r - 1` and :math:`r` among the others (so that the rank is
      ``r`` and not a tie), the last candidate's score at the bottom.
    """

    def __init__(self, z: Tensor, data: Data, users: Tensor, exclude: Tensor | None = None,
                 head: int = 256, sample: int = 2048, generator: torch.Generator | None = None,
                 max_chunk_scores: int = 1 << 24):
        nu, ni = int(data.num_users), int(data.num_items)
        if head < 1 or sample < 1:
            raise ValueError(f"head and sample must be >= 1, got {head}, {sample}")
        self.users = torch.unique(users.to(z.device))
        exclude = data.train_pos_edge_index if exclude is None else exclude
        ex_keys = _known_keys(exclude, nu, ni, z.device)
        exact = ni <= head + sample
        self.head = ni if exact else head
        subset = None if exact else torch.randperm(ni, generator=generator)[:sample].to(z.device)
        chunk = _chunk(None, ni, max_chunk_scores)
        tops, deeps, counts, deep_counts = [], [], [], []
        for s in range(0, self.users.numel(), chunk):
            u = self.users[s:s + chunk]
            scores = z[u] @ z[nu:].t()
            scores[_known_cells(ex_keys, u, ni)] = float("-inf")
            counts.append(torch.isfinite(scores).sum(1))
            if exact:
                tops.append(torch.sort(scores, dim=1, descending=True).values)
                continue
            tops.append(torch.topk(scores, head, dim=1).values)
            part = torch.sort(scores[:, subset], dim=1, descending=True).values
            deeps.append(part)
            deep_counts.append(torch.isfinite(part).sum(1))
        empty = z.new_empty(0, self.head)
        self.top = torch.cat(tops) if tops else empty
        self.count = torch.cat(counts) if counts else torch.zeros(0, dtype=torch.long, device=z.device)
        self.deep = torch.cat(deeps) if deeps else None
        self.deep_count = torch.cat(deep_counts) if deep_counts else None

    def _rows(self, users: Tensor) -> Tensor:
        row = torch.searchsorted(self.users, users).clamp(max=max(self.users.numel() - 1, 0))
        if self.users.numel() == 0 or not torch.equal(self.users[row], users):
            raise ValueError("CandidateScores: a pair's user was not among the summarised users")
        return row

    def ranks(self, users: Tensor, scores: Tensor) -> Tensor:
        """Float ranks (exact below ``head``) of pairs of these users with these scores."""
        row = self._rows(users)
        # the pair's own item is among the candidates, its score from another product: a
        # relative margin keeps float round-off from counting it above itself
        level = (scores + 1e-5 * (1 + scores.abs())).unsqueeze(1)
        above = (self.top[row] > level).sum(1)
        if self.deep is None:
            return above.double()
        frac = (self.deep[row] > level).sum(1).double() / self.deep_count[row].clamp(min=1).double()
        estimate = torch.maximum(frac * (self.count[row] - 1).clamp(min=0).double(), torch.full_like(frac, self.head))
        return torch.where(above < self.head, above.double(), estimate)

    def scores_at(self, users: Tensor, ranks: Tensor, own_ranks: Tensor) -> Tensor:
        """The scores that give pairs of these users (now at ``own_ranks``) ranks ``ranks``."""
        row = self._rows(users)
        others = (self.count[row] - 1).clamp(min=1)
        r = torch.minimum(ranks.long().clamp(min=0), others - 1)
        own = own_ranks.long()

        def at(pos: Tensor) -> Tensor:                # pos-th other candidate, 0-based
            full = pos + (own <= pos).long()        # skip the pair's own item in the full order
            if self.deep is None:
                return self.top[row].gather(1, full.clamp(max=self.top.size(1) - 1).unsqueeze(1)).squeeze(1)
            shallow = self.top[row].gather(1, full.clamp(max=self.head - 1).unsqueeze(1)).squeeze(1)
            scale = self.deep_count[row].double() / self.count[row].clamp(min=1).double()
            dpos = torch.minimum((full.double() * scale).long(), (self.deep_count[row] - 1).clamp(min=0))
            deep = self.deep[row].gather(1, dpos.unsqueeze(1)).squeeze(1)
            return torch.where(full < self.head, shallow, deep)

        below = at(r)
        above = at((r - 1).clamp(min=0))
        first = below + (below - at((r + 1).clamp(max=others - 1))).abs() / 2    # above the top one
        mid = torch.where(r == 0, first, (above + below) / 2)
        return torch.where(r >= others - 1, below, mid)


def rank_summary(ranks: Tensor, num_items: int, k: int = 20) -> dict[str, float]:
    """Mean rank percentile (0 = top, 1 = bottom) and hit@k of removed interactions."""
    if ranks.numel() == 0:
        return {"rank_pct": math.nan, f"hit@{k}": math.nan}
    return {"rank_pct": float(ranks.float().mean() / max(num_items - 1, 1)),
            f"hit@{k}": float((ranks < k).float().mean())}


def fit_shadow_attack(original: nn.Module, task, seed: int = 0, epochs: int = 100):
    """GNNDelete's shadow-posterior attack for a recommender (a LightGCN of the original's
    configuration trained on the test interactions) and the original model's P(present) on the
    removed interactions - the two things :func:`evaluate_recommender` needs for the MI ratio;
    fit once per request and pass to every model's evaluation."""
    from gnn_unlearn.metrics.mia import ShadowPosteriorAttack
    shadow = ShadowPosteriorAttack(epochs=epochs, seed=seed).fit(original.config, task.data)
    z = embeddings(original, task.data)
    before = shadow.present_probability(original.decode(z, task.df_edge_index))
    return shadow, before


def evaluate_recommender(model: nn.Module, task, on_original: bool = False, k: int = 20,
                         attack_samples: int = 2000, seed: int = 0,
                         shadow: tuple | None = None, mia: bool = True,
                         id_draws: int = 200) -> dict[str, float]:
    """Everything the recommendation tables report for one model and one request.

    * Recall@k / NDCG@k on the test split (training items of the graph the model is served
      on masked: the original graph for ``on_original``, else the retained one);
    * ``rank_pct`` / ``hit@k`` of the removed interactions, ranked among the items that are
      not retained training items of their user (the same candidate set for every model);
    * ``deleted_id_auc``: deletion identification, the GNNDelete protocol carried over to
      interactions (:func:`~gnn_unlearn.metrics.link.deleted_vs_retained_auc`): retained training
      interactions (1) against the removed ones (0) by the model's score, mean over ``id_draws``
      equal-size draws of retained interactions (the same draws for every model of one
      ``seed``). 0.5: the removed interactions score like the retained ones (the original);
      the target is retraining's value, not 1;
    * (``mia``) ``mia_member``: share of removed interactions that a loss attack (gradient boosting on
      score, loss and embedding norms; members = retained training interactions, non-members
      = test interactions, trained on this model) calls members, and the attack's own
      held-out ``mia_auc``;
    * with ``shadow`` (from :func:`fit_shadow_attack`): ``mi_ratio``, the mean ratio of the
      shadow attack's P(present) on the removed interactions for this model over the
      original's (floored at 1e-3, as for links), and that attack's ``shadow_auc``.
    """

    from gnn_unlearn.metrics.mia import LossAttack, link_attack_features
    data = task.data if on_original else task.retained_data
    kept, df = task.retained_data, task.df_edge_index
    z = embeddings(model, data)
    out = topk_metrics(z, data, "test", k)
    out.update(rank_summary(pair_ranks(z, kept, df), int(kept.num_items), k))
    members = kept.train_pos_edge_index
    nan = float("nan")
    out["deleted_id_auc"] = (deleted_vs_retained_auc(model.decode(z, df).float(),
                                                     model.decode(z, members).float(), id_draws,
                                                     torch.Generator().manual_seed(seed))
                             if 0 < df.size(1) <= members.size(1) else nan)
    if not mia:
        out.update(mia_member=nan, mia_auc=nan, mi_ratio=nan, shadow_auc=nan)
        return out
    g = torch.Generator().manual_seed(seed)
    members = members[:, torch.randperm(members.size(1), generator=g)[:attack_samples].to(members.device)]
    test = data.test_pos_edge_index
    test = test[:, torch.randperm(test.size(1), generator=g)[:attack_samples].to(test.device)]
    attack = LossAttack(seed=seed).fit(link_attack_features(model, data, members, z),
                                       link_attack_features(model, data, test, z))
    out.update(mia_member=attack.member_rate(link_attack_features(model, data, df, z)),
               mia_auc=float(attack.attack_auc))
    if shadow is not None:
        attack_s, before = shadow
        p = attack_s.present_probability(model.decode(z, df))
        out.update(mi_ratio=float(np.mean(np.maximum(p, 1e-3) / np.maximum(before, 1e-3))),
                   shadow_auc=float(attack_s.attack_auc))
    return out
