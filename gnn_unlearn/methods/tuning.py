"""Seeded random search over an unlearning method's hyperparameters.

Each trial draws one value per hyperparameter, runs :func:`~gnn_unlearn.methods.unlearn` on a
copy of the model and scores the result (default: validation utility of the retained graph,
:func:`~gnn_unlearn.training.validation_score`). The score never looks at test data.

Validation utility is the right target for *corrective* unlearning (Cognac's setting: the
validation labels are clean, so undoing the damage raises it). For privacy deletion it would
favour doing nothing; pass a ``score`` that also measures forgetting there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from gnn_unlearn.methods.base import UnlearningResult, get, unlearn
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import validation_score


@dataclass(frozen=True)
class LogUniform:
    """A float drawn log-uniformly from ``[low, high]``."""
    low: float
    high: float

    def sample(self, g: torch.Generator) -> float:
        if not 0 < self.low <= self.high:
            raise ValueError(f"LogUniform needs 0 < low <= high, got ({self.low}, {self.high})")
        u = float(torch.rand(1, generator=g))
        return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))


@dataclass(frozen=True)
class IntRange:
    """An integer drawn uniformly from ``low..high`` (both included)."""
    low: int
    high: int

    def sample(self, g: torch.Generator) -> int:
        if self.low > self.high:
            raise ValueError(f"IntRange needs low <= high, got ({self.low}, {self.high})")
        return int(torch.randint(self.low, self.high + 1, (1,), generator=g))


@dataclass
class SearchResult:
    """Best hyperparameters, their score and unlearning result, and every trial."""
    best_params: dict[str, Any]
    best_score: float
    best: UnlearningResult
    trials: list[tuple[dict[str, Any], float]] = field(default_factory=list)


def _draw(spec: Any, g: torch.Generator) -> Any:
    if hasattr(spec, "sample"):
        return spec.sample(g)
    if isinstance(spec, (list, tuple)) and len(spec) > 0:
        return spec[int(torch.randint(len(spec), (1,), generator=g))]
    raise ValueError(f"a search space entry must be a non-empty list of choices, LogUniform or "
                     f"IntRange, got {spec!r}")


def random_search(model: nn.Module, task: UnlearningTask, method: str,
                  space: dict[str, Sequence[Any] | LogUniform | IntRange] | None = None, trials: int = 20,
                  seed: int = 0, fixed: dict[str, Any] | None = None,
                  score: Callable[[UnlearningResult], float] | None = None) -> SearchResult:
    """Runs ``trials`` seeded draws from ``space`` and keeps the best by ``score``.

    Args:
        model: the trained model (never modified).
        task: the resolved request.
        method: a registered method name.
        space: hyperparameter name -> list of choices, :class:`LogUniform` or :class:`IntRange`
            (default: the method's :meth:`~gnn_unlearn.methods.base.Unlearner.search_space`).
        trials: number of draws; the method's defaults are always tried first.
        seed: seeds the draws (and is passed to the method when it takes a ``seed``).
        fixed: hyperparameters held fixed in every trial.
        score: result -> float to maximise (default: validation utility on the retained graph).
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    fixed = dict(fixed or {})
    space = get(method).search_space() if space is None else space
    if not space:
        raise ValueError(f"{method} declares no search space; pass space={{name: choices}}")
    known = set(get(method).get_params())
    unknown = (set(space) | set(fixed)) - known
    if unknown:
        raise ValueError(f"{method} has no hyperparameters {sorted(unknown)}; it has {sorted(known)}")
    score = score or (lambda r: validation_score(r.model, task.retained_data))
    g = torch.Generator().manual_seed(seed)
    best: tuple[float, dict, UnlearningResult] | None = None
    history = []
    for t in range(trials):
        params = dict(fixed) if t == 0 else {**{k: _draw(v, g) for k, v in space.items()}, **fixed}
        result = unlearn(model, task, method, **params)
        value = float(score(result))
        history.append((params, value))
        if best is None or value > best[0]:
            best = (value, params, result)
    return SearchResult(best_params=best[1], best_score=best[0], best=best[2], trials=history)

