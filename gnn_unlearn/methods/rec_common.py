"""Pieces shared by the recommendation unlearning methods: the forget test and the guard."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gnn_unlearn.metrics.rec import pair_ranks, topk_metrics
from gnn_unlearn.requests import UnlearningTask


def removed_pairs(task: UnlearningTask) -> Tensor:
    """The removed interactions ``[2, k]`` (user, U + item); fails clearly when there are none."""
    df = task.df_edge_index
    if df.size(1) == 0:
        raise ValueError("this request removes no interactions; nothing to unlearn")
    return df


class RankMonitor:
    r"""Stops when the removed interactions rank like interactions the model never saw.

    Statistic: the mean rank percentile (0 = top) of the removed pairs :math:`E_\Delta` for
    their users, with the retained training items masked. Target: the same statistic for
    validation interactions (held out, so unseen), taken from the same users when they have
    at least ``min_pairs`` of them (else a seeded sample of all validation pairs) - how a
    model retrained without :math:`E_\Delta` sees them. Guard: Recall@20 on validation may
    fall at most ``max_val_drop`` (relative) below its start; otherwise the caller reverts.
    No test data is looked at.
    """

    def __init__(self, task: UnlearningTask, generator: torch.Generator, max_val_drop: float = 0.05,
                 min_pairs: int = 100, max_pairs: int = 5000):
        data = task.retained_data
        self.data, self.df, self.max_val_drop = data, removed_pairs(task), max_val_drop
        val = data.val_pos_edge_index
        same = torch.isin(val[0], torch.unique(self.df[0]))
        pool = val[:, same] if int(same.sum()) >= min_pairs else val
        if pool.size(1) > max_pairs:
            pool = pool[:, torch.randperm(pool.size(1), generator=generator)[:max_pairs].to(pool.device)]
        self.reference = pool
        if self.df.size(1) > max_pairs:
            self.df_sample = self.df[:, torch.randperm(self.df.size(1), generator=generator)[:max_pairs].to(pool.device)]
        else:
            self.df_sample = self.df
        self.start_val: float | None = None
        self.last: dict[str, float] = {}
        self.num_items = int(data.num_items)

    def rank_levels(self, z: Tensor) -> tuple[float, float]:
        """(mean rank percentile of the removed pairs, of the unseen reference pairs)."""
        exclude = self.data.train_pos_edge_index
        scale = max(self.num_items - 1, 1)
        df = float(pair_ranks(z, self.data, self.df_sample, exclude).float().mean()) / scale
        ref = float(pair_ranks(z, self.data, self.reference, exclude).float().mean()) / scale
        return df, ref

    @torch.no_grad()
    def check(self, model: nn.Module, z: Tensor | None = None, e0: Tensor | None = None) -> str | None:
        """``None`` (go on), ``"forgotten"`` or ``"validation drop"``."""
        was = model.training
        model.eval()
        if z is None:
            z = model.encode(None, self.data.edge_index, e0=e0)
        model.train(was)
        val = topk_metrics(z, self.data, "val")["recall@20"]
        if self.start_val is None:
            self.start_val = val
        if val < self.start_val * (1 - self.max_val_drop):
            return "validation drop"
        df, ref = self.rank_levels(z)
        self.last = dict(df_rank=df, reference_rank=ref, val_recall=val)
        return "forgotten" if df >= ref else None
