"""Attacks on unlearned models: one base class and a registry, run by :func:`evaluate`.

An attack answers, for one model, "does the deleted set still look learned?". Unlike the
columns every report has, an attack may need work of its own before it can score anything
(shadow models, reference fine-tunes), done once per evaluation in :meth:`Attack.prepare`
with the original and the retrained model at hand, and then :meth:`Attack.score` is called
for each row (original, retrain, every method). A new attack is one file::

    @register_attack
    class MyAttack(Attack):
        name = "mine"
        tasks = frozenset({"link"})
        columns = {"mine_tpr": "Mine TPR"}

        def prepare(self, task, original, retrained): ...
        def score(self, model, graph, on_original): return {"mine_tpr": ...}

Every attack is seeded (``seed``) and reports its own power where it has one (a held-out AUC
or the spread of its statistic), so a "pass" of an unlearned model means something.
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


def available_attacks(task: str | None = None) -> list[str]:
    """Names of the registered attacks (those that apply to ``task`` if given)."""
    _load_builtin()
    return sorted(n for n, c in _ATTACKS.items() if task is None or task in c.tasks)


def build_attacks(names: Any, task: str, params: dict[str, dict[str, Any]] | None = None,
                  seed: int = 0) -> list[Attack]:
    """Checks and builds the attacks ``names`` for a ``task`` model, before any work."""
    _load_builtin()
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"attacks must be a list of attack names, got {names!r}")
    names = list(names)
    unknown = [n for n in names if n not in _ATTACKS]
    if unknown:
        raise ValueError(f"unknown attacks {unknown}; available: {available_attacks()}")
    wrong = [n for n in names if task not in _ATTACKS[n].tasks]
    if wrong:
        raise ValueError(f"attacks {wrong} do not apply to {task!r} models; those that do: "
                         f"{available_attacks(task)}")
    if len(set(names)) != len(names):
        raise ValueError(f"attacks listed twice: {names}")
    params = dict(params or {})
    if not isinstance(params, dict) or any(k not in names for k in params):
        raise ValueError(f"attack_params keys must be among the chosen attacks {names}, "
                         f"got {list(params)}")
    out = []
    for n in names:
        kw = params.get(n, {})
        if not isinstance(kw, dict):
            raise TypeError(f"attack_params[{n!r}] must be a dict of keyword arguments")
        try:
            out.append(_ATTACKS[n](seed=seed, **kw))
        except TypeError as e:
            raise TypeError(f"attack {n!r}: {e}") from None
    return out


def _load_builtin() -> None:
    """Imports the attack modules shipped with the library (they register themselves)."""
    import gnn_unlearn.metrics.attack_modules  # noqa: F401
