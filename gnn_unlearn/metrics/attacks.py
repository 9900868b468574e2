"""Attacks on unlearned models: one base class and a registry, run by :func:`evaluate`.

An attack answers, for one model, "does the deleted set still look learned?". Unlike the
columns every report has, an attack may need work of its own before it can score anything
(shadow models, reference fine-tunes), done once per evaluation in :meth:`Attack.prepare`
with the original and the retrained model at hand, and then :meth:`Attack.score` is called
for each row (original, retrain, every method). A new attack is one file, importing the base
from :mod:`gnn_unlearn.metrics.attack_base` (importing it from here would make an import
circle with the built-in attacks this module loads) plus one import line in
:mod:`gnn_unlearn.metrics.attack_modules`::

    from gnn_unlearn.metrics.attack_base import Attack, register_attack

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

from typing import Any

from gnn_unlearn.metrics.attack_base import _ATTACKS, Attack, register_attack

__all__ = ["Attack", "register_attack", "available_attacks", "build_attacks"]


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
    params = {} if params is None else params
    if not isinstance(params, dict) or any(k not in names for k in params):
        raise ValueError(f"attack_params must be a dict keyed by the chosen attacks {names}, "
                         f"got {params!r}")
    out = []
    for n in names:
        kw = params.get(n, {})
        if not isinstance(kw, dict):
            raise TypeError(f"attack_params[{n!r}] must be a dict of keyword arguments")
        if "seed" in kw:
            raise ValueError(f"attack_params[{n!r}] sets 'seed'; every attack takes evaluate()'s seed "
                             "(--seed on the CLI)")
        try:
            out.append(_ATTACKS[n](seed=seed, **kw))
        except TypeError as e:          # unknown keyword or wrong type: name the attack once
            msg = str(e)
            raise TypeError(msg if msg.startswith(f"{n}:") else f"attack {n!r}: {msg}") from None
    return out


def _load_builtin() -> None:
    """Imports the attack modules shipped with the library (they register themselves)."""
    import gnn_unlearn.metrics.attack_modules  # noqa: F401
