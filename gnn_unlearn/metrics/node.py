"""Node-classification metrics."""
from __future__ import annotations

from sklearn.metrics import f1_score
from torch import Tensor


def accuracy(pred: Tensor, y: Tensor) -> float:
    if pred.numel() == 0:
        return float("nan")
    return float((pred == y).float().mean())


def macro_f1(pred: Tensor, y: Tensor) -> float:
    if pred.numel() == 0:
        return float("nan")
    return float(f1_score(y.cpu().numpy(), pred.cpu().numpy(), average="macro", zero_division=0))
