"""The ``Unlearner`` base class, the method registry and :func:`unlearn`."""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from gnn_unlearn.ops.graph import graph_digest
from gnn_unlearn.params import (AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, UNIT_CLOSED,  # noqa: F401 (re-exported)
                                UNIT_OPEN_CLOSED, Rule, check_hyperparameters, checks_hyperparameters)
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.utils import CostMeter, resolve_device

_REGISTRY: dict[str, type["Unlearner"]] = {}


def register(cls: type["Unlearner"]) -> type["Unlearner"]:
    """Class decorator: makes a method available as ``methods.get(cls.name)``."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} needs a class attribute 'name'")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"an unlearning method named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of the registered unlearning methods."""
    return sorted(_REGISTRY)


def minibatch_methods() -> list[str]:
    """Names of the methods with a neighbour-sampled mini-batch path (a ``fanouts`` option)."""
    return [k for k in available() if "fanouts" in inspect.signature(_REGISTRY[k].__init__).parameters]


def data_parallel_methods() -> list[str]:
    """Names of the methods that run under ``torchrun`` as data parallelism
    (``data_parallel``; :mod:`gnn_unlearn.distributed`)."""
    return [k for k in available() if _REGISTRY[k].data_parallel]


def get(name: str, **hparams: Any) -> "Unlearner":
    """Instantiates a registered method with its hyperparameters."""
    if isinstance(name, Unlearner):
        if hparams:
            raise TypeError("pass hyperparameters to the method's constructor, not to unlearn()")
        return name
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"unknown unlearning method {name!r}; available: {', '.join(available())}")
    valid = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        hint = (f" (neighbour-sampled mini-batches: {', '.join(minibatch_methods())})"
                if "fanouts" in unknown else "")
        raise ValueError(f"method {name!r} has no parameter {', '.join(map(repr, unknown))}{hint}; "
                         f"its parameters: {', '.join(valid) or '(none)'}")
    return cls(**hparams)


class Unlearner:
    """Base class of unlearning methods.

    Subclasses set ``name``, ``supports`` (request kinds: ``"edge"``, ``"node"``,
    ``"feature"``, ``"class"``, ``"interaction"``) and ``tasks`` (``"link"``, ``"node"``,
    ``"rec"``), take their hyperparameters as keyword constructor arguments whose defaults
    are the paper's, and implement :meth:`fit`. :func:`unlearn` hands ``fit`` a private copy
    of the model, so ``fit`` may change it freely.

    ``data_parallel = True`` says that ``fit`` runs under ``torchrun`` as data parallelism
    (``DistributedDataParallel``, each rank its share of the work, all ranks ending with the
    same model; :mod:`gnn_unlearn.distributed`); the command line refuses the others there.
    """
    name: ClassVar[str] = ""
    supports: ClassVar[frozenset[str]] = frozenset()
    tasks: ClassVar[frozenset[str]] = frozenset()
    data_parallel: ClassVar[bool] = False
    param_rules: ClassVar[dict[str, Rule]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every method checks its hyperparameters (:func:`~gnn_unlearn.params.check_hyperparameters`)
        when built."""
        super().__init_subclass__(**kwargs)
        checks_hyperparameters(cls)

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (for reports), like scikit-learn estimators."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """Ranges for :func:`~gnn_unlearn.methods.tuning.random_search` (empty: not tunable)."""
        return {}

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        """Raises a clear error if this method cannot serve ``task`` with ``model``."""
        unsupported = task.kinds - self.supports
        if unsupported:
            raise ValueError(f"method {self.name!r} does not support {sorted(unsupported)} requests; "
                             f"it supports {sorted(self.supports)}. Methods that support "
                             f"{sorted(unsupported)}: {', '.join(methods_supporting(unsupported)) or 'none'}")
        model_task = getattr(model, "task", None)
        if model_task not in self.tasks:
            raise ValueError(f"method {self.name!r} works on {sorted(self.tasks)} models, "
                             f"got a {model_task!r} model")

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        """Returns the unlearned model (``model`` is a private copy that may be changed)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def methods_supporting(kinds: set[str] | frozenset[str]) -> list[str]:
    return [n for n, c in sorted(_REGISTRY.items()) if set(kinds) <= c.supports]


@dataclass
class UnlearningResult:
    """What :func:`unlearn` returns.

    Attributes:
        model: the unlearned model (a new object; the input model is untouched).
        seconds: wall time of the unlearning call.
        peak_memory_bytes: CUDA max allocated, or peak process RSS on CPU.
        extra_memory_bytes: increase of that peak over the start of the call.
        history: whatever the method logged (losses, stopping reason, ...).
        method / params: the method's name and hyperparameters.
        original: the model that was unlearned (not a copy).
    """
    model: nn.Module
    seconds: float
    peak_memory_bytes: int
    extra_memory_bytes: int = 0
    history: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    original: nn.Module | None = field(default=None, repr=False)


def model_device(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def unlearn(model: nn.Module, task: UnlearningTask, method: str | Unlearner = "gnndelete",
            device: str | torch.device | None = None, **hparams: Any) -> UnlearningResult:
    """Unlearns ``task`` from ``model`` with ``method``; ``model`` itself is never modified.

    Args:
        model: a trained :class:`~gnn_unlearn.models.LinkPredictor` or
            :class:`~gnn_unlearn.models.NodeClassifier`.
        task: from :meth:`DeletionRequest.resolve` on the graph the model was trained on.
        method: a registered name (:func:`available`) or an :class:`Unlearner` instance.
        device: where to run (default: the model's device).
        **hparams: the method's hyperparameters.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(task, UnlearningTask):
        raise TypeError(f"task must be an UnlearningTask (from DeletionRequest.resolve), "
                        f"got {type(task).__name__}")
    unlearner = get(method, **hparams)
    unlearner.check(model, task)
    _check_model_matches(model, task)
    dev = resolve_device(device) if device is not None else model_device(model)
    task = task.to(dev)
    working = copy.deepcopy(model).to(dev)
    history: dict[str, Any] = {}
    unlearner.history = history
    with CostMeter(dev) as meter:
        out = unlearner.fit(working, task)
    out.eval()
    out.data_signature = graph_digest(task.retained_data)   # what the unlearned model stands for
    return UnlearningResult(model=out, seconds=meter.seconds, peak_memory_bytes=meter.peak_memory_bytes,
                            extra_memory_bytes=meter.extra_memory_bytes, history=history,
                            method=unlearner.name, params=unlearner.get_params(), original=model)


def _check_model_matches(model: nn.Module, task: UnlearningTask) -> None:
    cfg = getattr(model, "config", {}) or {}
    x = getattr(task.data, "x", None)
    if cfg.get("in_channels") is not None and x is not None and cfg["in_channels"] != x.size(1):
        raise ValueError(f"the model expects {cfg['in_channels']} input features but the graph has "
                         f"{x.size(1)}; was the task resolved on the graph the model was trained on?")
    if cfg.get("num_nodes") is not None and cfg["num_nodes"] != task.data.num_nodes:
        raise ValueError(f"the model was built for {cfg['num_nodes']} nodes but the graph has "
                         f"{task.data.num_nodes}")
    signature = getattr(model, "data_signature", None)
    digest = None if signature is None else graph_digest(task.data)
    if signature is not None and signature != digest:
        raise ValueError(
            "the task was resolved on a graph or split other than the one this model was trained on "
            f"(digest {digest} vs the model's {signature}); resolve the request on "
            "the model's own graph (for a model that was already unlearned: its result's retained "
            "graph, task.retained_data)")
