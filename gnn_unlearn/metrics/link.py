"""Link-prediction metrics: AUROC / AUPR on the test set (Dt) and on the deleted set (Df)."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor, nn
from torch_geometric.data import Data


@torch.no_grad()
def link_logits(model: nn.Module, data: Data, pairs: Tensor, z: Tensor | None = None) -> Tensor:
    """Logits of ``pairs`` with message passing on ``data.edge_index`` (eval mode, chunked)."""
    was = model.training
    model.eval()
    if z is None:
        z = model.encode(data.x, data.edge_index)
    out = model.decode(z, pairs.to(z.device))
    model.train(was)
    return out


def auroc_aupr(pos: Tensor, neg: Tensor) -> dict[str, float]:
    """AUROC and AUPR (average precision) of positives (label 1) vs negatives (label 0)."""
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError("AUROC needs at least one positive and one negative score")
    scores = torch.cat([pos, neg]).float().cpu().numpy()
    labels = np.concatenate([np.ones(pos.numel()), np.zeros(neg.numel())])
    return {"auroc": float(roc_auc_score(labels, scores)),
            "aupr": float(average_precision_score(labels, scores))}


def link_auc(model: nn.Module, data: Data, pos: Tensor, neg: Tensor,
             z: Tensor | None = None) -> dict[str, float]:
    """AUROC/AUPR of ``pos`` vs ``neg`` pairs scored by ``model`` on ``data``."""
    logits = link_logits(model, data, torch.cat([pos, neg], 1), z)
    return auroc_aupr(logits[:pos.size(1)], logits[pos.size(1):])


def logit_stats(logits: Tensor) -> dict[str, float]:
    """Mean and std of predicted probabilities (GNNDelete logs these on Df)."""
    p = torch.sigmoid(logits.float())
    return {"prob_mean": float(p.mean()), "prob_std": float(p.std()) if p.numel() > 1 else 0.0}


DF_PROTOCOLS = {
    "library": "Df AUROC (library): deleted edges (1) vs as many sampled non-edges (0); "
               "near retrain's value = forgotten the way retraining forgets",
    "gnndelete": "Df AUC (GNNDelete protocol): deleted edges (0) vs an equal-size random sample of "
                 "retained training edges (1), mean over 500 samples, probabilities as in the "
                 "reference code; 0.5 = deleted edges look like retained ones, higher = they score "
                 "lower than retained edges (Cheng et al., ICLR 2023; code: framework/trainer/base.py)",
}


#: Above this many items, :func:`random_subsets` draws subsets without a full permutation each.
PERMUTATION_LIMIT = 1 << 20


def random_subsets(m: int, k: int, draws: int,
                   generator: torch.Generator | None = None) -> Tensor:
    """``[draws, k]`` int64: each row a uniform random ``k``-subset of ``range(m)``.

    Up to :data:`PERMUTATION_LIMIT` items (or when ``k > m / 4``): the first ``k`` of one
    permutation per draw. Larger: per draw, uniform ids are drawn until ``k`` distinct ones
    are in hand and a random ``k`` of them are kept - a rule that treats every id alike, so
    the subset is uniform - at :math:`O(k)` time and memory per draw instead of the
    :math:`O(m)` of a permutation (ogbn-products size: 26 M training edges, 500 draws).
    """
    if m <= PERMUTATION_LIMIT or 4 * k > m:
        # clone: a slice would keep each draw's whole [m] permutation alive until the stack
        return torch.stack([torch.randperm(m, generator=generator)[:k].clone()
                            for _ in range(draws)])
    rows = []
    for _ in range(draws):
        picked = torch.empty(0, dtype=torch.long)
        while picked.numel() < k:
            extra = torch.randint(m, (int(1.1 * (k - picked.numel())) + 16,), generator=generator)
            picked = torch.unique(torch.cat([picked, extra]))
        rows.append(picked[torch.randperm(picked.numel(), generator=generator)[:k]])
    return torch.stack(rows)


def deleted_vs_retained_auc(deleted: Tensor, retained: Tensor, draws: int = 500,
                            generator: torch.Generator | None = None) -> float:
    r"""Deletion identification: how well a score tells retained items (label 1) from deleted
    ones (label 0), averaged over ``draws`` equal-size random samples of the retained items.

    For each draw, a subset :math:`R_d` of the retained scores with :math:`|R_d| = |D_f|`
    (without replacement) and the Mann-Whitney statistic
    :math:`\frac{1}{k^2}\sum_{r \in R_d}\sum_{f \in D_f} [s_r > s_f] + \tfrac12 [s_r = s_f]`;
    the result is the mean, computed for all draws at once with a binary search in the sorted
    deleted scores. 0.5: deleted items look like retained ones (what the original model gives,
    having trained on both); retraining's value is the target of unlearning.
    """
    k, m = deleted.numel(), retained.numel()
    if k == 0:
        raise ValueError("deletion identification needs at least one deleted item")
    if m < k:
        raise ValueError(f"deletion identification draws {k} retained items per sample but only {m} remain")
    if not isinstance(draws, int) or isinstance(draws, bool) or draws < 1:
        raise ValueError(f"draws must be a positive int, got {draws!r}")
    neg = torch.sort(deleted.detach().cpu())[0]
    pos_all = retained.detach().cpu()
    idx = random_subsets(m, k, draws, generator)
    pos = pos_all[idx]                                                  # [draws, k]
    below = torch.searchsorted(neg, pos, right=False)
    not_above = torch.searchsorted(neg, pos, right=True)
    auc = (below.double() + 0.5 * (not_above - below).double()).sum(1) / (k * k)
    return float(auc.mean())


def gnndelete_df_auc(df_logits: Tensor, dr_logits: Tensor, draws: int = 500,
                     generator: torch.Generator | None = None) -> float:
    r"""GNNDelete's Df AUC: deleted edges against retained training edges, averaged over draws.

    :func:`deleted_vs_retained_auc` on :math:`\sigma(\text{logit})` in float32, as the
    reference code scores (so saturated probabilities tie as they do there).
    """
    return deleted_vs_retained_auc(torch.sigmoid(df_logits.detach().float()),
                                   torch.sigmoid(dr_logits.detach().float()), draws, generator)
