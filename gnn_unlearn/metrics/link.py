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
