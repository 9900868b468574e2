"""The attack base class and registry (see :mod:`gnn_unlearn.metrics.attacks`).

Kept apart from :func:`~gnn_unlearn.metrics.attacks.build_attacks`, which loads the built-in
attack modules: those modules import this one, so the package has no import circle.
"""
from __future__ import annotations

from typing import Any, ClassVar

from torch import nn
from torch_geometric.data import Data

from gnn_unlearn.params import Rule, checks_hyperparameters
from gnn_unlearn.requests import UnlearningTask

_ATTACKS: dict[str, type["Attack"]] = {}


class Attack:
    """Base class of the attacks :func:`evaluate` can run (``attacks=("name", ...)``).

    Subclasses set :attr:`name`, :attr:`tasks` (model tasks it applies to: ``"link"``,
    ``"node"``, ``"rec"``) and :attr:`columns` (row key -> column header), take their
    hyperparameters as annotated keyword arguments of ``__init__`` and implement :meth:`prepare`
    and :meth:`score`. Every construction checks them first against the shared schema
    (:func:`~gnn_unlearn.params.check_hyperparameters`: the annotations' types, the rules by
    name, the class's ``param_rules`` and ``param_choices``), before any work.
    """
    name: ClassVar[str] = ""
    tasks: ClassVar[frozenset[str]] = frozenset()
    columns: ClassVar[dict[str, str]] = {}
    note: ClassVar[str] = ""
    param_rules: ClassVar[dict[str, Rule]] = {}
    param_choices: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        checks_hyperparameters(cls)

    def __init__(self, seed: int = 0):
        self.seed = seed

    def prepare(self, task: UnlearningTask, original: nn.Module, retrained: nn.Module) -> None:
        """Work done once per evaluation (shadow models, reference statistics).

        ``original`` was trained on ``task.data``; ``retrained`` on ``task.retained_data``.
        Neither may be modified."""

    def score(self, model: nn.Module, graph: Data, on_original: bool) -> dict[str, float]:
        """The attack's columns for ``model`` run on ``graph`` (the original graph for the
        original model, the retained graph otherwise). ``model`` may not be modified."""
        raise NotImplementedError


checks_hyperparameters(Attack)          # an attack without an __init__ of its own has its seed checked


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Class decorator: makes ``cls`` available to :func:`evaluate` under ``cls.name``."""
    if not cls.name or not cls.tasks or not cls.columns:
        raise TypeError(f"{cls.__name__} must set name, tasks and columns")
    if cls.name in _ATTACKS and _ATTACKS[cls.name] is not cls:
        raise ValueError(f"an attack named {cls.name!r} is already registered")
    _ATTACKS[cls.name] = cls
    return cls
