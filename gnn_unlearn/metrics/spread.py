r"""Is an unlearned model a plausible draw from the distribution of retrained models?

Retraining is random (initial weights, sampled negatives), so "near retrain's value" means
"inside the spread of retrains", measured with :math:`K` retrained models of different seeds
(:func:`gnn_unlearn.evaluate` with ``retrain_seeds=K``). Two tests:

1. **Spread of the key measures** (:func:`outside_spread`): a row's value of each measure
   (Dt AUROC, Df AUROC, GNNDelete's Df AUC, attack columns) is compared with
   :math:`[\min, \max]` over the :math:`K` retrains.
2. **Per-item distance on the deleted set** (:func:`deleted_set_distance`). Every retrain
   scores the same deleted items (edges: their logits; nodes: the logit-scaled probability of
   their label), :math:`R \in \mathbb R^{K \times k}`. Against reference retrains
   :math:`\mathcal R`, a model's scores :math:`x` are at distance

   .. math:: d(x; \mathcal R) = \frac{1}{k}\sum_{e=1}^{k}
             \frac{(x_e - \bar r_e)^2}{\bar\sigma^2}, \qquad
             \bar\sigma^2 = \frac1k \sum_e \widehat{\operatorname{Var}}_{\mathcal R}(r_e),

   the mean squared z-score over the deleted set with the per-item retrain variance pooled
   over items (stable with few retrains). The null is calibrated leave-one-out on the
   retrains themselves: :math:`d_j = d(R_j; R_{-j})`; a model's distance is the mean of
   :math:`d(x; R_{-j})` over :math:`j`, so both use :math:`K-1` references. The p-value is
   the predictive one of a Gaussian fitted to :math:`\log d_j`: with :math:`n` null values of
   mean :math:`m` and standard deviation :math:`s`,
   :math:`p = 1 - F_{t_{n-1}}\big((\log d - m) / (s\sqrt{1 + 1/n})\big)` (exact for a new
   draw if :math:`\log d` is Gaussian). A retrain of the reference set is tested leave-one-out,
   exactly as a method would be against the other :math:`K-1` retrains (so from :math:`K \ge 4`).
3. **Signed shift on the deleted set**, the same construction with the mean z-score
   :math:`\delta(x; \mathcal R) = \frac1k \sum_e (x_e - \bar r_e)/\bar\sigma` (two-sided
   predictive t-test on :math:`\delta_j`, no log). It has the power the distance lacks against
   a systematic shift, the signature of remembering (> 0: the deleted items still score as
   trained) or of over-forgetting (< 0), while the distance also catches unsigned scatter.
   Measured on Cora (GCN, 2.5 % "in", 7 retrains): retrains' shifts within +-0.4, the
   original's +2.4.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from scipy import stats
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.metrics.link import link_logits
from gnn_unlearn.metrics.rec import embeddings
from gnn_unlearn.requests import UnlearningTask

SPREAD_ALPHA = 0.01
DISTANCE_NOTE = ("Df distance to retrains: mean over the deleted set of (score - per-item retrain mean)^2 / "
                 "(per-item retrain variance pooled over items), score = logit (edges), score (user-item "
                 "interactions) or log p/(1-p) of the true label (nodes), computed against each leave-one-out set of K-1 retrains and "
                 "averaged; p: predictive t-test of log(distance) against the retrains' own leave-one-out "
                 "distances. Df shift: the mean z-score over the deleted set "
                 "(> 0: deleted items still score as trained; < 0: over-forgotten), same leave-one-out "
                 "calibration, two-sided. A reference retrain is tested like a method against the other K-1. "
                 "Outside retrain spread: measures whose value lies outside "
                 "[min, max] of the K retrains, and 'Df distance' / 'Df shift' when its p < {alpha:g}.")


def deleted_set_scores(model: nn.Module, task: UnlearningTask, graph: Data) -> Tensor:
    """Per deleted item, the model's logit-scaled confidence on ``graph``: the logit of each
    deleted edge (link models), the score of each removed interaction (recommenders: BPR's
    :math:`\\sigma` takes it as a logit) or :math:`\\log\\frac{p_y}{1-p_y}` of each deleted
    training node (node models). Empty when the task deletes no such item."""
    if model.task in ("link", "rec"):
        df = task.df_edge_index
        if df.size(1) == 0:
            return torch.zeros(0, dtype=torch.double)
        if model.task == "rec":
            return model.decode(embeddings(model, graph), df).double().cpu()
        return link_logits(model, graph, df).double().cpu()
    if model.task == "node":
        nodes = task.deleted_nodes & task.data.train_mask
        if not bool(nodes.any()):
            return torch.zeros(0, dtype=torch.double)
        was = model.training
        model.eval()
        with torch.no_grad():
            logp = torch.log_softmax(model(graph.x, graph.edge_index).double(), -1)
        model.train(was)
        lp = logp[nodes].gather(1, task.data.y.view(-1)[nodes].view(-1, 1)).view(-1)
        return (lp - torch.log1p(-lp.exp().clamp(max=1 - 1e-15))).cpu()
    raise ValueError(f"the deleted-set distance is defined for link, rec and node models, not {model.task!r}")


def _z(x: Tensor, ref: Tensor) -> Tensor:
    """Per-item z-scores of ``x`` (``[..., k]``) against reference rows ``[n, k]``, with the
    per-item variance pooled over items."""
    var = ref.var(0, unbiased=True).mean().clamp(min=1e-12)
    return (x - ref.mean(0)) / var.sqrt()


def leave_one_out_statistics(retrains: Tensor) -> tuple[Tensor, Tensor]:
    """``([K], [K])``: each retrain's distance and shift against the other :math:`K-1` (the
    null samples)."""
    k = _check_retrains(retrains)
    keep = ~torch.eye(k, dtype=torch.bool)
    z = torch.stack([_z(retrains[j].double(), retrains[keep[j]].double()) for j in range(k)])
    return z.pow(2).mean(-1), z.mean(-1)


def leave_one_out_distances(retrains: Tensor) -> Tensor:
    """``[K]``: each retrain's distance to the other :math:`K-1` (the null sample)."""
    return leave_one_out_statistics(retrains)[0]


def model_statistics(x: Tensor, retrains: Tensor) -> tuple[float, float]:
    """A model's (distance, shift) to the retrains, each averaged over the leave-one-out
    reference sets (so that they compare with :func:`leave_one_out_statistics`)."""
    k = _check_retrains(retrains)
    if x.shape != retrains.shape[1:]:
        raise ValueError(f"the model scores {tuple(x.shape)} items, the retrains {retrains.size(1)}")
    keep = ~torch.eye(k, dtype=torch.bool)
    z = torch.stack([_z(x.double(), retrains[keep[j]].double()) for j in range(k)])
    return float(z.pow(2).mean(-1).mean()), float(z.mean(-1).mean())


def model_distance(x: Tensor, retrains: Tensor) -> float:
    """A model's distance to the retrains, averaged over the leave-one-out reference sets."""
    return model_statistics(x, retrains)[0]


def predictive_p(value: float, null: Sequence[float], log: bool = True,
                 two_sided: bool = False) -> float:
    """p-value of ``value`` for a new draw from a Gaussian fitted to ``null`` (Student t with
    ``n - 1`` degrees of freedom): one-sided (large = far) on logs by default (distances),
    ``log=False, two_sided=True`` for shifts. NaN with fewer than two null values."""
    f = (lambda v: math.log(max(v, 1e-300))) if log else float
    vals = [f(v) for v in null]
    n = len(vals)
    if n < 2 or math.isnan(value):
        return float("nan")
    m = sum(vals) / n
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / (n - 1))
    t = (f(value) - m) / max(s * math.sqrt(1 + 1 / n), 1e-12)
    return float(2 * stats.t.sf(abs(t), n - 1) if two_sided else stats.t.sf(t, n - 1))


def outside_spread(value: float, references: Sequence[float]) -> bool:
    """True when ``value`` lies outside ``[min, max]`` of the (non-NaN) ``references``; NaN
    values are never outside."""
    refs = [r for r in references if not math.isnan(r)]
    if math.isnan(value) or not refs:
        return False
    return value < min(refs) or value > max(refs)


def _check_retrains(retrains: Tensor) -> int:
    if not isinstance(retrains, Tensor) or retrains.dim() != 2:
        raise ValueError("retrain scores must be a [K, k] tensor (one row per retrained model)")
    if retrains.size(0) < 3 or retrains.size(1) < 1:
        raise ValueError(f"the distance needs at least 3 retrains (leave-one-out sets of 2) and 1 "
                         f"deleted item, got "
                         f"{tuple(retrains.shape)}")
    return retrains.size(0)
