"""The :class:`Attack` base class and :func:`register_attack` (the registry's storage).

Kept apart from :mod:`gnn_unlearn.metrics.attacks` (which lists and builds attacks and loads the
built-in ones) so that an attack module imports this one without an import circle.
"""
from __future__ import annotations

from typing import Any, ClassVar

from torch import nn
from torch_geometric.data import Data

from gnn_unlearn.requests import UnlearningTask

_ATTACKS: dict[str, type["Attack"]] = {}


class Attack:
    """Base class of the attacks :func:`evaluate` can run (``attacks=("name", ...)``).

    Subclasses set :attr:`name`, :attr:`tasks` (model tasks it applies to: ``"link"``,
    ``"node"``, ``"rec"``) and :attr:`columns` (row key -> column header), take their
    hyperparameters as keyword arguments of ``__init__`` (validated there, before any work),
    and implement :meth:`prepare` and :meth:`score`.
    """
    name: ClassVar[str] = ""
    tasks: ClassVar[frozenset[str]] = frozenset()
    columns: ClassVar[dict[str, str]] = {}
    note: ClassVar[str] = ""

    def __init__(self, seed: int = 0):
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"{self.name}: seed must be an int, got {seed!r}")
        self.seed = seed

    def prepare(self, task: UnlearningTask, original: nn.Module, retrained: nn.Module) -> None:
        """Work done once per evaluation (shadow models, reference statistics).

        ``original`` was trained on ``task.data``; ``retrained`` on ``task.retained_data``.
        Neither may be modified."""

    def score(self, model: nn.Module, graph: Data, on_original: bool) -> dict[str, float]:
        """The attack's columns for ``model`` run on ``graph`` (the original graph for the
        original model, the retained graph otherwise). ``model`` may not be modified."""
        raise NotImplementedError


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Class decorator: makes ``cls`` available to :func:`evaluate` under ``cls.name``."""
    if not cls.name or not cls.tasks or not cls.columns:
        raise TypeError(f"{cls.__name__} must set name, tasks and columns")
    if cls.name in _ATTACKS and _ATTACKS[cls.name] is not cls:
        raise ValueError(f"an attack named {cls.name!r} is already registered")
    _ATTACKS[cls.name] = cls
    return cls
