"""The shared hyperparameter schema of methods and attacks.

A rule per name (or name ending), checked when a method or an attack is built, before any
work: (minimum, minimum allowed?, maximum, maximum allowed?). A class adds or overrides rules in
its ``param_rules`` and lists allowed values of string options in ``param_choices``; the
annotations of its ``__init__`` give the allowed types. :func:`checks_hyperparameters` wraps a
class's ``__init__`` so that every construction is checked.
"""
from __future__ import annotations

import functools
import inspect
import math
from typing import Any

Rule = tuple[float | None, bool, float | None, bool]
POSITIVE: Rule = (0, False, None, False)
NON_NEGATIVE: Rule = (0, True, None, False)
AT_LEAST_ONE: Rule = (1, True, None, False)
UNIT_OPEN_CLOSED: Rule = (0, False, 1, True)
UNIT_CLOSED: Rule = (0, True, 1, True)
PARAM_RULES: dict[str, Rule] = {
    "epochs": AT_LEAST_ONE, "steps": AT_LEAST_ONE, "iterations": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE,
    "eval_every": AT_LEAST_ONE, "check_every": AT_LEAST_ONE, "patience": AT_LEAST_ONE,
    "num_negatives": AT_LEAST_ONE, "random_ratio": AT_LEAST_ONE, "retain_pairs": AT_LEAST_ONE,
    "num_region_pairs": AT_LEAST_ONE, "max_dense_region": AT_LEAST_ONE, "backtrack": NON_NEGATIVE,
    "raise_alpha": NON_NEGATIVE, "lower_alpha": NON_NEGATIVE,
    "k_hop": NON_NEGATIVE, "num_hops": NON_NEGATIVE,
    "lr": POSITIVE, "temperature": POSITIVE, "scale": POSITIVE, "epsilon": POSITIVE,
    "damping": NON_NEGATIVE, "weight_decay": NON_NEGATIVE, "l2": NON_NEGATIVE, "lam": NON_NEGATIVE,
    "alpha": UNIT_CLOSED, "max_val_drop": UNIT_CLOSED, "contrastive_frac": UNIT_OPEN_CLOSED,
    "delta": (0, False, 1, False), "tol": POSITIVE, "noise_std": NON_NEGATIVE, "seed": NON_NEGATIVE,
    "workers": AT_LEAST_ONE, "settle": (0, True, 30, True), "stop_tolerance": (0, True, 5, True),
}
SUFFIX_RULES: dict[str, Rule] = {"_epochs": AT_LEAST_ONE, "_steps": AT_LEAST_ONE,
                                 "_iterations": AT_LEAST_ONE, "_lr": POSITIVE, "_weight": NON_NEGATIVE,
                                 "_every": AT_LEAST_ONE, "_batch_size": AT_LEAST_ONE,
                                 "_tol": POSITIVE, "_max_iter": AT_LEAST_ONE}


def _rule(name: str, extra: dict[str, Rule]) -> Rule | None:
    if name in extra:
        return extra[name]
    if name in PARAM_RULES:
        return PARAM_RULES[name]
    return next((r for suffix, r in SUFFIX_RULES.items() if name.endswith(suffix)), None)


def _annotation_types(annotation: Any) -> set[str] | None:
    """The simple types an annotation allows (``"int | None"`` -> {"int", "None"}); None: unchecked."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional["):-1] + " | None"
    parts = {p.strip() for p in text.split("|")}
    simple = {"int", "float", "str", "bool", "None", "list[int]", "list[float]"}
    return parts if parts and parts <= simple else None


def check_hyperparameters(cls: type, values: dict[str, Any]) -> None:
    """Validates hyperparameters against their annotations and the shared rules.

    Refuses, with the parameter's name, what it got and what is allowed: a value of the wrong
    type (a float number of epochs, a bool where a number is meant), NaN or infinite
    numbers, numbers outside their rule (epochs <= 0, a negative learning rate, ...) and
    options outside ``cls.param_choices``.
    """
    sig = inspect.signature(cls.__init__)
    extra = getattr(cls, "param_rules", {}) or {}
    choices = getattr(cls, "param_choices", {}) or {}
    where = getattr(cls, "name", "") or cls.__name__
    for name, value in values.items():
        param = sig.parameters.get(name)
        if param is None or name == "self":
            continue
        types = _annotation_types(param.annotation) if param.annotation is not inspect.Parameter.empty else None
        prefix = f"{where}: hyperparameter {name}={value!r}"
        if value is None:
            if types is not None and "None" not in types:
                raise ValueError(f"{prefix} is not allowed; give a value (default {param.default!r})")
            continue
        if types is not None:
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ((isinstance(value, bool) and "bool" in types)
                  or (numeric and isinstance(value, int) and ("int" in types or "float" in types))
                  or (numeric and isinstance(value, float) and "float" in types)
                  or (isinstance(value, str) and "str" in types)
                  or (isinstance(value, (list, tuple)) and any(t.startswith("list") for t in types)))
            if not ok:
                want = " or ".join(sorted(t for t in types if t != "None"))
                raise TypeError(f"{prefix} has type {type(value).__name__}; expected {want}")
        if name in choices and (isinstance(value, (list, dict, set)) or value not in choices[name]):
            raise ValueError(f"{prefix} is not one of {tuple(choices[name])}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{prefix} must be a finite number")
        rule = _rule(name, extra)
        if rule is None:
            continue
        lo, lo_ok, hi, hi_ok = rule
        if (lo is not None and (value < lo or (value == lo and not lo_ok))) or \
                (hi is not None and (value > hi or (value == hi and not hi_ok))):
            low = "" if lo is None else f"{'>=' if lo_ok else '>'} {lo:g}"
            high = "" if hi is None else f"{'<=' if hi_ok else '<'} {hi:g}"
            raise ValueError(f"{prefix} is out of range; it must be {' and '.join(x for x in (low, high) if x)}")


def checks_hyperparameters(cls: type) -> None:
    """Wraps ``cls.__init__`` (if ``cls`` defines one) so that every construction first runs
    :func:`check_hyperparameters` on the bound arguments. Call it from ``__init_subclass__``."""
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_checks_hyperparameters", False):
        return

    @functools.wraps(init)
    def checked_init(self, *args: Any, **kw: Any) -> None:
        bound = inspect.signature(init).bind(self, *args, **kw)
        check_hyperparameters(type(self), {k: v for k, v in bound.arguments.items() if k != "self"})
        init(self, *args, **kw)

    checked_init._checks_hyperparameters = True
    cls.__init__ = checked_init
