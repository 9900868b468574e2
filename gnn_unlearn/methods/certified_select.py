r"""Validation-selected :math:`\lambda` and :math:`\sigma` for the certified linear models.

A certified model (:class:`~gnn_unlearn.models.CertifiedLinear`: SGC features, methods ``cgu``
and ``scalegun``; :class:`~gnn_unlearn.models.scattering.ScatteringLinear`: GST's, method
``gst``) trades accuracy against the number of requests it serves before it must retrain
(Guo et al. 2020; Chien et al., "Certified Graph Unlearning", 2022):

* the budget of a class's gradient residual is :math:`\sigma\varepsilon / c(\delta)`,
  :math:`c(\delta) = \sqrt{2\ln(1.5/\delta)}`: proportional to :math:`\sigma`;
* the objective perturbation :math:`b \sim \mathcal N(0, \sigma^2 I)` moves the minimiser by
  about :math:`\lVert b\rVert / (\lambda n)`: accuracy falls once :math:`\sigma / (\lambda n)`
  is no longer small against the weights;
* a request's data-dependent residual bound :math:`\beta` (one Newton step,
  :mod:`gnn_unlearn.methods.certified_common`) grows as :math:`\lambda` shrinks (measured on
  Cora, OpenGU's 80/0/20 split with a 20 % hold-out, 1 % node requests, :math:`\sigma = 0.1`:
  the bound over the budget rises from 0.52 at :math:`\lambda = 10^{-2}` to 3.5 at
  :math:`10^{-3}` and 37 at :math:`10^{-4}`), while small :math:`\lambda` is what fits the
  data (hold-out accuracy 0.58, 0.83 and 0.89).

:func:`select_certified` sweeps a grid of :math:`(\lambda, \sigma)`, scores each candidate on
validation nodes and serves, on a copy of the training graph, a few seeded requests of the
kind and size the user expects with the real unlearner (``retrain=False``: a request that
would exceed the budget is counted as the end, nothing is retrained). The choice is the
validation-best candidate that serves ``min_requests`` consecutive requests; the chosen
model is then trained on all training nodes and the requests are served again on it
(``verify``), so the returned model is the one that met the constraint.

Test data is never read: labels outside the training and validation nodes are hidden (set to
0) in the graph the selection works on; validation is ``data.val_mask`` or, when the split has
no validation nodes (OpenGU's 80/0/20), a seeded hold-out of the training nodes, after which
the winner is refit on all training nodes. The number of classes is taken as
:func:`~gnn_unlearn.models.train_certified` takes it (``data.y.max() + 1``).
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from gnn_unlearn.data.samplers import sample_edges, sample_nodes
from gnn_unlearn.methods.base import get, unlearn
from gnn_unlearn.models.certified import SOLVERS, CertifiedLinear, train_certified
from gnn_unlearn.models.scattering import ScatteringLinear, train_scattering
from gnn_unlearn.ops.graph import training_edges
from gnn_unlearn.requests import DeletionRequest
from gnn_unlearn.utils import data_to, resolve_device

#: The request kinds a certified model serves (what the simulation can sample).
REQUEST_KINDS = ("node", "edge", "feature")
#: Default grids, half a decade apart, chosen from a sweep on Cora (OpenGU's 80/0/20 split,
#: 20 % hold-out accuracy, the (1, 1e-4) budget): :math:`\lambda = 3\cdot 10^{-2}` underfits
#: (0.46); :math:`10^{-4}` fits best (0.89) but a 1 % node request exceeds its budget at every
#: :math:`\sigma` of the grid (bound / budget 19 to 116), so smaller :math:`\lambda` would only
#: add candidates that cannot win; between :math:`\sigma` = 0.1 and 1 the accuracy moves by
#: 0.02 for :math:`\lambda \ge 10^{-3}`, while :math:`\sigma = 3` costs 0.14 at
#: :math:`10^{-3}` (and :math:`\sigma = 10` more than 0.3), so the grid stops at 3. A single
#: request of 10 % of the nodes (270) fits, among :math:`\lambda \le 10^{-2}`, only
#: :math:`\lambda = 10^{-2}` with :math:`\sigma \ge 1`.
DEFAULT_LAMS = (3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
DEFAULT_NOISE_STDS = (0.1, 0.3, 1.0, 3.0)
FALLBACKS = ("raise", "accuracy", "requests")
COUNT_SCALINGS = ("proportional", "strict")
VALIDATIONS = ("auto", "val_mask", "holdout")


class NoCertifiedCandidate(ValueError):
    """No candidate of the grid serves the requested number of requests within its budget."""


@dataclass
class Candidate:
    """One :math:`(\\lambda, \\sigma)` of the sweep.

    Attributes:
        val_accuracy: accuracy on the validation nodes.
        requests_served: consecutive simulated requests served within the budget (at most
            ``simulated``); ``None``: not simulated (its validation accuracy was below a
            candidate that met the constraint, see ``simulate_all``).
        bound_share: the worst class bound over the budget after the last request tried (> 1:
            that request would have exceeded it).
        final_requests_served: the same count on the model refit on all training nodes
            (``verify``; only for candidates that got that far).
    """
    lam: float
    noise_std: float
    budget: float
    val_accuracy: float
    requests_served: int | None = None
    simulated: int = 0
    bound_share: float | None = None
    final_requests_served: int | None = None
    seconds_train: float = 0.0
    seconds_requests: float = 0.0
    note: str = ""


@dataclass
class CertifiedSelection:
    """What :func:`select_certified` returns: the chosen model and the record of the sweep.

    Attributes:
        model: the chosen candidate trained on all training nodes (what ``train_certified`` /
            ``train_scattering`` returns with these hyperparameters and ``seed``).
        lam, noise_std: the choice.
        constraint_met: the chosen model served ``min_requests`` simulated requests within its
            budget (on the selection graph and, with ``verify``, refit on all training nodes).
        fallback: ``None``, or the rule that picked the model when no candidate met the
            constraint (``"accuracy"`` / ``"requests"``).
        validation: how the candidates were scored.
        simulated_size: the request size the candidates were tried with (``count_scaling``).
        candidates: every candidate of the grid, in grid order.
    """
    model: CertifiedLinear
    lam: float
    noise_std: float
    constraint_met: bool
    fallback: str | None
    validation: str
    method: str
    request: tuple[str, float | int]
    min_requests: int
    simulate: int
    simulated_size: float | int
    epsilon: float
    delta: float
    seed: int
    candidates: list[Candidate] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for JSON and checkpoints); the model is left out."""
        out = {k: v for k, v in asdict(self).items() if k not in ("model", "candidates")}
        out["request"] = list(self.request)
        out["candidates"] = [asdict(c) for c in self.candidates]
        return out

    def table(self) -> str:
        """The candidates as a Markdown table (the chosen one marked)."""
        lines = ["| lambda | sigma | budget | val acc | served | bound/budget | refit served | s | note |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for c in self.candidates:
            mark = " **(chosen)**" if (c.lam, c.noise_std) == (self.lam, self.noise_std) else ""
            served = "-" if c.requests_served is None else f"{c.requests_served}/{c.simulated}"
            share = "-" if c.bound_share is None else f"{c.bound_share:.3g}"
            final = "-" if c.final_requests_served is None else str(c.final_requests_served)
            lines.append(f"| {c.lam:g} | {c.noise_std:g}{mark} | {c.budget:.3g} | {c.val_accuracy:.4f} | "
                         f"{served} | {share} | {final} | {c.seconds_train + c.seconds_requests:.1f} | "
                         f"{c.note} |")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
def check_grid(name: str, values: Any) -> tuple[float, ...]:
    """Validates a grid of positive values (no repeats); returns it as a tuple of floats."""
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = (values,)
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{name} must be a non-empty list of positive numbers, got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must hold positive finite numbers, got {v!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} holds a value twice: {list(values)}")
    return tuple(float(v) for v in values)


def check_request(request: Any) -> tuple[str, float | int]:
    """Validates an expected request ``(kind, size)``; returns it as a tuple."""
    if not isinstance(request, (tuple, list)) or len(request) != 2:
        raise ValueError(f"request must be (kind, size), e.g. ('node', 0.01) or ('edge', 20), got "
                         f"{request!r}")
    kind, size = request
    if kind not in REQUEST_KINDS:
        raise ValueError(f"request kind must be one of {REQUEST_KINDS}, got {kind!r}")
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise ValueError(f"request size must be a fraction in (0, 1) or a count >= 1, got {size!r}")
    if isinstance(size, float) and not 0 < size < 1:
        raise ValueError(f"a fractional request size must lie in (0, 1), got {size!r} (a count: "
                         "pass an int)")
    if isinstance(size, int) and size < 1:
        raise ValueError(f"a request size given as a count must be >= 1, got {size}")
    return kind, size


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _validation_split(data: Data, validation: str, holdout: float, seed: int) -> tuple[Tensor, Tensor, str]:
    """``(fit mask, validation mask, description)``; the fit mask is what candidates train on."""
    train = data.train_mask
    val = getattr(data, "val_mask", None)
    has_val = val is not None and bool(val.any())
    if validation == "val_mask" and not has_val:
        raise ValueError("validation='val_mask' but the split has no validation nodes (data.val_mask "
                         "is missing or empty); use validation='holdout'")
    if validation in ("auto", "val_mask") and has_val:
        if val.shape != train.shape or val.dtype != torch.bool:
            raise ValueError(f"data.val_mask must be a bool mask like data.train_mask {tuple(train.shape)}")
        shared = int((val & train).sum())
        if shared:
            raise ValueError(f"data.val_mask shares {shared} nodes with data.train_mask: a validation "
                             "set must be held out; fix the split or pass validation='holdout' (a "
                             "seeded part of the training nodes)")
        return train, val, f"data.val_mask ({int(val.sum())} nodes)"
    nodes = train.nonzero().view(-1)
    k = int(round(holdout * nodes.numel()))
    if k < 1 or nodes.numel() - k < 2:
        raise ValueError(f"a hold-out of {holdout:g} of {nodes.numel()} training nodes leaves "
                         f"{k} validation and {nodes.numel() - k} training nodes; need >= 1 and >= 2")
    g = torch.Generator().manual_seed(seed)
    held = nodes[torch.randperm(nodes.numel(), generator=g).to(nodes.device)[:k]]
    val = torch.zeros_like(train)
    val[held] = True
    return train & ~val, val, (f"hold-out of {holdout:g} of the training nodes ({k} nodes, seed {seed}); "
                               "the winner refit on all training nodes")


def _hide_labels(data: Data, keep: Tensor) -> Data:
    """A shallow copy of ``data`` whose labels outside ``keep`` are 0: the selection cannot read
    them (the tensors of ``data`` are not modified)."""
    out = copy.copy(data)
    y = data.y.clone()
    y[~keep] = 0
    out.y = y
    return out


def _sample_request(graph: Data, kind: str, size: float | int, seed: int) -> DeletionRequest:
    if kind == "edge":
        return sample_edges(graph, size, where="random", seed=seed)
    nodes = sample_nodes(graph, size, seed=seed, among=graph.train_mask)
    return nodes if kind == "node" else DeletionRequest.features(nodes.parts[0].payload["ids"])


def serve_simulated(model: CertifiedLinear, graph: Data, method: str, kind: str, size: float | int,
                    count: int, seed: int) -> tuple[int, float | None]:
    """Serves up to ``count`` seeded requests (``kind``, ``size``; request ``i`` sampled with seed
    ``seed + i`` on the graph the previous one left) with ``method`` and ``retrain=False``;
    stops at the first that would exceed the budget. Returns ``(requests served, worst bound /
    budget after the last request tried)``. ``model`` and ``graph`` are not modified."""
    served, share = 0, None
    for i in range(count):
        task = _sample_request(graph, kind, size, seed + i).resolve(graph, num_hops=model.num_hops)
        unlearner = get(method, retrain=False)
        try:
            result = unlearn(model, task, unlearner)
        except RuntimeError:
            if unlearner.history.get("retrained") is not True:
                raise
            share = max(unlearner.history["bound_if_updated"]) / model.certificate.budget
            break
        served += 1
        share = result.model.certificate.worst_bound / result.model.certificate.budget
        model, graph = result.model, task.retained_data
    return served, share


def select_certified(data: Data, *, lams: Sequence[float] = DEFAULT_LAMS,
                     noise_stds: Sequence[float] = DEFAULT_NOISE_STDS, epsilon: float = 1.0,
                     delta: float = 1e-4, request: tuple[str, float | int] = ("node", 0.01),
                     min_requests: int = 1, simulate: int | None = None, count_scaling: str = "proportional",
                     validation: str = "auto",
                     holdout: float = 0.2, fallback: str = "raise", features: str = "sgc",
                     num_hops: int = 2, alpha: float = 0.5, rmax: float | None = None,
                     wavelets: int = 3, order: int = 1, solver: str = "direct",
                     search_solver: str = "cg", tol: float = 1e-9, seed: int = 0,
                     simulate_all: bool = False, verify: bool = True,
                     device: str | torch.device | None = None) -> CertifiedSelection:
    r"""Chooses :math:`(\lambda, \sigma)` of a certified linear model on validation accuracy among
    the candidates that serve ``min_requests`` expected requests within the (epsilon, delta)
    budget; see the module docstring for the reasoning and what is read.

    Args:
        data: a node-classification graph with ``train_mask`` (never modified; its test labels
            never read).
        lams, noise_stds: the grid (every pair is a candidate).
        epsilon, delta: the certificate, as in :func:`~gnn_unlearn.models.train_certified`.
        request: the expected request: ``(kind, size)``, kind ``"node"`` / ``"edge"`` /
            ``"feature"``, size a fraction in (0, 1) of the training nodes (training edges for
            ``"edge"``) of the graph it is sampled on, or a count of them (a count of all
            training nodes: see ``count_scaling``).
        min_requests: consecutive requests the model must serve without retraining.
        count_scaling: how a node or feature request given as a count is simulated on a
            hold-out (which trains the candidates on fewer nodes): ``"proportional"`` (default)
            scales it to the same share of the nodes the candidates train on (OpenGU's CiteSeer:
            332 of ~2,660 training nodes -> 266 of ~2,130), ``"strict"`` simulates the count
            as it is, a larger share (conservative: it can rule out better-fitting candidates).
            Either way the model refit on all training nodes is checked on the real count
            (``verify``) and passed over if it fails.
        simulate: requests simulated per candidate (default ``min_requests``; more gives a
            longer record, the count served is capped at it).
        validation: ``"auto"`` (``data.val_mask`` when it has nodes, else a hold-out),
            ``"val_mask"`` or ``"holdout"``. A ``val_mask`` that overlaps ``train_mask`` is
            refused.
        holdout: the share of training nodes held out for validation when there is no
            ``val_mask``; the winner is refit on all training nodes.
        fallback: when no candidate meets the constraint: ``"raise"``
            (:class:`NoCertifiedCandidate`, with the table), ``"accuracy"`` (the validation-best
            candidate) or ``"requests"`` (the one that served most, then by accuracy); the
            result records it (``constraint_met=False``, ``fallback``) and a warning is issued.
        features: ``"sgc"`` (:class:`~gnn_unlearn.models.CertifiedLinear`, unlearned with
            ``cgu``, or ``scalegun`` when ``rmax`` is set) or ``"scattering"``
            (:class:`~gnn_unlearn.models.scattering.ScatteringLinear`, ``gst``).
        num_hops, alpha, rmax: the SGC feature map (``features="sgc"``).
        wavelets, order: the scattering feature map (``features="scattering"``).
        solver: the returned model's Newton solver.
        search_solver: the candidates' solver (``"cg"``: the same exact minimiser, about 10x
            faster than ``"direct"`` on Cora; its measured solve residual enters the bound, so
            the simulation is if anything stricter).
        tol: the gradient norm training must reach.
        seed: the noise seed of every candidate and of the returned model, the hold-out and the
            simulated requests (request ``i``: ``seed + i``).
        simulate_all: simulate requests on every candidate (default: only until the
            validation-best candidate that meets the constraint is found; the others are
            recorded as not simulated).
        verify: serve the requests again on the returned model (trained on all training nodes)
            and move on to the next candidate if it fails.
        device: where to work (default: the device of ``data.x``).
    """
    t_start = time.perf_counter()
    # ---- validation of every argument, before any work ------------------------------------
    if not isinstance(data, Data):
        raise TypeError(f"data must be a torch_geometric Data, got {type(data).__name__}")
    for key in ("x", "y", "edge_index", "train_mask"):
        if getattr(data, key, None) is None:
            raise ValueError(f"select_certified needs data.{key}"
                             + (" (make a split with gnn_unlearn.node_split)" if key == "train_mask" else ""))
    if data.train_mask.dtype != torch.bool or data.train_mask.shape != (data.num_nodes,):
        raise ValueError(f"data.train_mask must be a bool mask of shape [{data.num_nodes}]")
    lams = check_grid("lams", lams)
    noise_stds = check_grid("noise_stds", noise_stds)
    kind, size = check_request(request)
    min_requests = _positive_int("min_requests", min_requests)
    simulate = min_requests if simulate is None else _positive_int("simulate", simulate)
    if simulate < min_requests:
        raise ValueError(f"simulate ({simulate}) must be >= min_requests ({min_requests})")
    if count_scaling not in COUNT_SCALINGS:
        raise ValueError(f"count_scaling must be one of {COUNT_SCALINGS}, got {count_scaling!r}")
    if validation not in VALIDATIONS:
        raise ValueError(f"validation must be one of {VALIDATIONS}, got {validation!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1:
        raise ValueError(f"holdout must be a fraction in (0, 1), got {holdout!r}")
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
    if features not in ("sgc", "scattering"):
        raise ValueError(f"features must be 'sgc' or 'scattering', got {features!r}")
    if features == "scattering" and rmax is not None:
        raise ValueError("rmax (ScaleGUN's push state) is for features='sgc'")
    for name, value in (("solver", solver), ("search_solver", search_solver)):
        if value not in SOLVERS:
            raise ValueError(f"{name} must be one of {SOLVERS}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    for name, flag in (("simulate_all", simulate_all), ("verify", verify)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    # the model's own checks (num_hops, alpha, rmax, wavelets, order, epsilon, delta, tol)
    num_classes = int(data.y.max()) + 1
    if features == "sgc":
        CertifiedLinear(1, max(num_classes, 2), num_hops=num_hops, alpha=alpha, lam=lams[0],
                        noise_std=noise_stds[0], epsilon=epsilon, delta=delta, rmax=rmax, tol=tol)
        method = "scalegun" if rmax is not None else "cgu"
    else:
        ScatteringLinear(1, max(num_classes, 2), wavelets=wavelets, order=order, lam=lams[0],
                         noise_std=noise_stds[0], epsilon=epsilon, delta=delta, tol=tol)
        method = "gst"
    fit_mask, val_mask, described = _validation_split(data, validation, holdout, seed)
    holding_out = not torch.equal(fit_mask, data.train_mask)
    sim_size = size
    if isinstance(size, int) and kind != "edge" and holding_out and count_scaling == "proportional":
        sim_size = max(1, round(size * int(fit_mask.sum()) / int(data.train_mask.sum())))
    if isinstance(size, int):       # a count must leave the model something to train on
        available = (training_edges(data).size(1) if kind == "edge" else int(fit_mask.sum()) - 2)
        unit = "edges" if kind == "edge" else "training nodes the selection trains on, less 2"
        if sim_size * simulate > available:
            raise ValueError(f"{simulate} simulated requests of {sim_size} {kind}s need {sim_size * simulate}, "
                             f"but the graph has {available} {unit}; ask for fewer or smaller requests")

    dev = resolve_device(device) if device is not None else data.x.device
    data = data_to(data, dev)
    fit_mask, val_mask = fit_mask.to(dev), val_mask.to(dev)
    visible = fit_mask | val_mask
    graph = _hide_labels(data, visible)
    graph.train_mask = fit_mask
    graph.val_mask = val_mask
    graph.test_mask = ~visible          # everything else: never read

    def train(on: Data, lam: float, sigma: float, how: str) -> CertifiedLinear:
        if features == "sgc":
            return train_certified(on, num_hops=num_hops, alpha=alpha, lam=lam, noise_std=sigma,
                                   epsilon=epsilon, delta=delta, rmax=rmax, tol=tol, solver=how,
                                   seed=seed)
        return train_scattering(on, wavelets=wavelets, order=order, lam=lam, noise_std=sigma,
                                epsilon=epsilon, delta=delta, tol=tol, solver=how, seed=seed)

    # ---- every candidate: train (features propagated once), score on validation ------------
    grid = [(lam, sigma) for lam in lams for sigma in noise_stds]
    candidates: list[Candidate] = []
    val_idx = val_mask.nonzero().view(-1)
    y_val = graph.y[val_idx]
    t0 = time.perf_counter()
    template = train(graph, grid[0][0], grid[0][1], search_solver)
    seconds_template = time.perf_counter() - t0
    z_val = (template.features if template.push is None
             else template.propagated(graph.x, graph.edge_index))[val_idx]

    def candidate_model(i: int) -> CertifiedLinear:    # not kept: a graph-sized copy each
        return template if i == 0 else template.retuned(graph.y, *grid[i], noise_seed=seed)

    for i, (lam, sigma) in enumerate(grid):
        t0 = time.perf_counter()
        model = candidate_model(i)
        acc = float(((z_val @ model.weight).argmax(1) == y_val).double().mean())
        candidates.append(Candidate(lam, sigma, model.certificate.budget, acc,
                                    seconds_train=time.perf_counter() - t0))
    candidates[0].seconds_train += seconds_template
    refit = holding_out or solver != search_solver     # else a candidate is the final model

    def final_model(i: int) -> CertifiedLinear:
        """Candidate ``i`` trained on all training nodes with the caller's solver."""
        if refit:
            return train(data, *grid[i], solver)
        return candidate_model(i)

    # ---- requests: in order of validation accuracy, until the best feasible one verifies ----
    ranking = sorted(range(len(grid)), key=lambda i: (-candidates[i].val_accuracy, -grid[i][0], grid[i][1]))
    full = _hide_labels(data, data.train_mask | val_mask)
    chosen, final = None, None
    for i in ranking:
        c = candidates[i]
        if chosen is not None and not simulate_all:
            c.note = "not simulated: a candidate with higher validation accuracy met the constraint"
            continue
        t0 = time.perf_counter()
        c.requests_served, c.bound_share = serve_simulated(candidate_model(i), graph, method, kind,
                                                           sim_size, simulate, seed)
        c.simulated = simulate
        c.seconds_requests = time.perf_counter() - t0
        if chosen is not None or c.requests_served < min_requests:
            continue
        model = final_model(i)
        if not refit:       # the model just simulated, on the same training graph
            c.final_requests_served = c.requests_served
        elif verify:
            t0 = time.perf_counter()
            c.final_requests_served = serve_simulated(model, full, method, kind, size, simulate, seed)[0]
            c.seconds_requests += time.perf_counter() - t0
            if c.final_requests_served < min_requests:
                c.note = ("met the constraint on the selection graph but not refit on all training "
                          "nodes: rejected")
                continue
        chosen, final = i, model
    used_fallback = None
    if chosen is None:
        table = CertifiedSelection(template, float("nan"), float("nan"), False, None, described, method,
                                   (kind, size), min_requests, simulate, sim_size, epsilon, delta, seed,
                                   candidates).table()
        if fallback == "raise":
            raise NoCertifiedCandidate(
                f"no (lambda, sigma) of the grid serves {min_requests} {kind} request(s) of size {size} "
                f"within the ({epsilon:g}, {delta:g}) budget:\n{table}\nwiden the grid (larger sigma, "
                "larger lambda), expect smaller requests, raise epsilon, or pass fallback='accuracy' / "
                "'requests' to take a model that will retrain")
        key = ((lambda i: ranking.index(i)) if fallback == "accuracy" else
               (lambda i: (-(candidates[i].requests_served or 0), ranking.index(i))))
        chosen = min(range(len(grid)), key=key)
        c = candidates[chosen]
        final = final_model(chosen)
        if not refit:
            c.final_requests_served = c.requests_served
        elif verify:
            c.final_requests_served = serve_simulated(final, full, method, kind, size, simulate, seed)[0]
        used_fallback = fallback
        warnings.warn(f"select_certified: no candidate serves {min_requests} {kind} request(s) of size "
                      f"{size} within the budget; fallback={fallback!r} took lambda={c.lam:g}, "
                      f"sigma={c.noise_std:g}, which will retrain on such requests", RuntimeWarning)
    c = candidates[chosen]
    c.note = ("chosen" if used_fallback is None else f"chosen by fallback={used_fallback!r}") + \
        (f"; {c.note}" if c.note else "")
    final.train_info["selection"] = {"lam": c.lam, "noise_std": c.noise_std, "validation": described,
                                     "request": [kind, size], "min_requests": min_requests,
                                     "constraint_met": used_fallback is None}
    return CertifiedSelection(final, c.lam, c.noise_std, used_fallback is None, used_fallback, described,
                              method, (kind, size), min_requests, simulate, sim_size, float(epsilon),
                              float(delta), seed, candidates, time.perf_counter() - t_start)
