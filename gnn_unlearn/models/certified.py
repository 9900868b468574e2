r"""A linear, certifiably unlearnable node classifier: SGC features + perturbed logistic regression.

:math:`Z = P^K \bar X` (:math:`\bar X`: rows scaled to unit norm; :math:`P = D^{-\alpha}(A + I)
D^{\alpha-1}`, :mod:`gnn_unlearn.ops.propagation`) and one-vs-rest logistic regression with
objective perturbation :math:`b \sim \mathcal N(0, \sigma^2 I)` (:mod:`gnn_unlearn.ops.logistic`),
trained to the *exact* minimiser. That exactness is what (epsilon, delta)-certified removal
(Guo et al. 2020; Chien et al., "Certified Graph Unlearning", 2022) rests on: the model refuses to
train when the gradient norm :math:`\lVert\nabla L + b\rVert` misses its tolerance, and the
reached norm is folded into the model's :class:`Certificate`.

The certificate state lives on the model so that a sequence of requests composes: each
``unlearn`` call takes the model the previous one returned (methods ``cgu``, ``ceu``, ``scalegun``).
"""
from __future__ import annotations

import copy
import math
import weakref
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.ops.logistic import (curvature, hessian_cholesky, newton_fit, ovr_targets,
                                      spectral_norm)
from gnn_unlearn.ops.propagation import Adjacency, PushPropagation, normalize_rows, propagate

SOLVERS = ("direct", "cg", "pcg")


def certificate_budget(noise_std: float, epsilon: float, delta: float) -> float:
    r"""The largest gradient residual an (epsilon, delta)-certificate tolerates per class:
    :math:`\sigma\varepsilon / c(\delta)`, :math:`c(\delta) = \sqrt{2\ln(1.5/\delta)}`
    (Guo et al. 2020, Thm. 3)."""
    return noise_std * epsilon / math.sqrt(2 * math.log(1.5 / delta))


@dataclass
class Certificate:
    """Certificate state of a :class:`CertifiedLinear` (per class: one-vs-rest weight vectors).

    A class's bound on the gradient residual :math:`\\lVert\\nabla L(w; D_{now}) + b\\rVert` is
    ``train_residual + accumulated + approximation``: the norm reached by training, the sum of
    the data-dependent bounds of every Newton update since, and (approximate propagation only)
    the error of the propagated features. Each class's weights are (epsilon, delta)-certified
    while its bound stays within ``budget``; all C classes together by composition
    (C epsilon, C delta).
    """
    epsilon: float
    delta: float
    noise_std: float
    budget: float
    noise_seed: int
    train_residual: list[float]
    accumulated: list[float]
    approximation: list[float]
    requests: int = 0          # served since the last (re)training
    retrains: int = 0          # automatic retrainings so far
    total_requests: int = 0

    @classmethod
    def fresh(cls, epsilon: float, delta: float, noise_std: float, noise_seed: int,
              train_residual: Tensor, approximation: Tensor | None = None) -> "Certificate":
        c = train_residual.numel()
        approx = [0.0] * c if approximation is None else approximation.tolist()
        return cls(epsilon, delta, noise_std, certificate_budget(noise_std, epsilon, delta),
                   noise_seed, train_residual.tolist(), [0.0] * c, approx)

    @property
    def bound(self) -> list[float]:
        return [a + b + c for a, b, c in zip(self.train_residual, self.accumulated,
                                             self.approximation)]

    @property
    def worst_bound(self) -> float:
        return max(self.bound)

    @property
    def budget_left(self) -> float:
        return self.budget - self.worst_bound

    @property
    def certified(self) -> bool:
        return self.worst_bound <= self.budget

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bound": self.bound, "worst_bound": self.worst_bound,
                "budget_left": self.budget_left, "certified": self.certified}


def _check_positive_finite(**values: float) -> None:
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{k} must be a positive finite number, got {v!r}")


class CertifiedLinear(nn.Module):
    r"""SGC features :math:`Z = P^K \bar X` and a one-vs-rest logistic regression with objective
    perturbation, trained exactly (:meth:`fit`).

    Args:
        in_channels: feature dimension :math:`d`.
        num_classes: :math:`C`.
        num_hops: :math:`K` (CGU's default 2 here, ScaleGUN's 3 in its paper).
        alpha: :math:`\alpha` of :math:`P = D^{-\alpha}(A + I)D^{\alpha-1}` (0.5: symmetric).
        lam: :math:`\lambda` of the :math:`\lambda n/2 \lVert w\rVert^2` regulariser.
        noise_std: :math:`\sigma` of the perturbation :math:`b`.
        epsilon, delta: the certificate's :math:`(\varepsilon, \delta)`.
        rmax: ``None``: exact propagation. A float :math:`\ge 0`: keep ScaleGUN's push state
            (:class:`~gnn_unlearn.ops.propagation.PushPropagation`) with that residue
            threshold, so that ``scalegun`` can update :math:`Z` locally (a row :math:`u` is
            pushed while its largest residue exceeds :math:`r_{max} d_u^{-\alpha}`, ScaleGUN's
            rule; 0: exact).
        tol: the gradient norm training must reach (else it raises).
        solver: Newton's linear solver: ``"direct"`` (Cholesky / Woodbury), ``"cg"`` or
            ``"pcg"`` (CG preconditioned by a cached single-precision Hessian: large graphs).
    """
    task = "node"

    def __init__(self, in_channels: int, num_classes: int, num_hops: int = 2, alpha: float = 0.5,
                 lam: float = 1e-2, noise_std: float = 1e-2, epsilon: float = 1.0,
                 delta: float = 1e-4, rmax: float | None = None, tol: float = 1e-9,
                 solver: str = "direct"):
        super().__init__()
        for k, v in (("in_channels", in_channels), ("num_classes", num_classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{k} must be a positive int, got {v!r}")
        if num_classes < 2:
            raise ValueError("num_classes must be >= 2")
        if isinstance(num_hops, bool) or not isinstance(num_hops, int) or num_hops < 0:
            raise ValueError(f"num_hops must be a non-negative int, got {num_hops!r}")
        _check_positive_finite(lam=lam, noise_std=noise_std, epsilon=epsilon, tol=tol)
        if not (isinstance(delta, (int, float)) and 0 < delta < 1):
            raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
        if not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1):
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
        if rmax is not None and not (isinstance(rmax, (int, float)) and math.isfinite(rmax)
                                     and rmax >= 0):
            raise ValueError(f"rmax must be None (exact propagation) or a finite number >= 0, "
                             f"got {rmax!r}")
        if rmax is not None and num_hops < 1:
            raise ValueError("push propagation (rmax) needs num_hops >= 1")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        self.in_channels, self.num_classes, self.num_hops = in_channels, num_classes, num_hops
        self.alpha, self.lam, self.noise_std = float(alpha), float(lam), float(noise_std)
        self.epsilon, self.delta, self.tol, self.solver = float(epsilon), float(delta), tol, solver
        self.rmax = None if rmax is None else float(rmax)
        self.weight = nn.Parameter(torch.zeros(in_channels, num_classes, dtype=torch.float64),
                                   requires_grad=False)
        self.register_buffer("noise", torch.zeros(in_channels, num_classes, dtype=torch.float64))
        self.register_buffer("train_mask", torch.zeros(0, dtype=torch.bool))
        self.register_buffer("features", torch.zeros(0, in_channels, dtype=torch.float64))
        self.register_buffer("precond", torch.zeros(0, dtype=torch.float64))
        self.push: PushPropagation | None = None
        self.certificate: Certificate | None = None
        self.graph_edges = -1
        self.z_norm_bound = 0.0     # an upper bound on ||Z_train||_2 (kept by scalegun)
        self.train_info: dict[str, Any] = {}
        self.config = dict(task="node", in_channels=in_channels, num_classes=num_classes,
                           certified=self.hparams())

    def hparams(self) -> dict[str, Any]:
        return dict(num_hops=self.num_hops, alpha=self.alpha, lam=self.lam,
                    noise_std=self.noise_std, epsilon=self.epsilon, delta=self.delta,
                    rmax=self.rmax, tol=self.tol, solver=self.solver)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "CertifiedLinear":
        """An untrained model from :attr:`config` (as a checkpoint stores it)."""
        hparams = config.get("certified")
        if not isinstance(hparams, dict):
            raise ValueError("a certified model's config needs a 'certified' dict of hyperparameters")
        unknown = set(config) - {"task", "in_channels", "num_classes", "certified"}
        if unknown or config.get("task", "node") != "node":
            raise ValueError(f"a certified model's config has unknown fields {sorted(unknown)} or a task "
                             f"other than 'node' ({config.get('task')!r})")
        return cls(config.get("in_channels"), config.get("num_classes"), **hparams)

    # checkpoints ---------------------------------------------------------------------------
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """The graph-sized buffers (``train_mask``, ``features``, ``precond``) take the saved
        shapes: an untrained model holds empty ones."""
        for name in ("train_mask", "features", "precond"):
            saved = state_dict.get(prefix + name)
            mine = self._buffers.get(name)
            if isinstance(saved, Tensor) and mine is not None and saved.dim() == mine.dim() \
                    and saved.shape[1:] == mine.shape[1:]:
                self._buffers[name] = mine.new_empty(saved.shape)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def export_state(self) -> dict[str, Any]:
        """What a checkpoint needs besides :meth:`state_dict`: the certificate, ScaleGUN's push
        state and the training record, as plain values and tensors (``weights_only``-loadable)."""
        return {"certificate": None if self.certificate is None else asdict(self.certificate),
                "push": None if self.push is None else self.push.export_state(),
                "graph_edges": int(self.graph_edges), "z_norm_bound": float(self.z_norm_bound),
                "train_info": dict(self.train_info)}

    def import_state(self, state: dict[str, Any]) -> "CertifiedLinear":
        """Restores :meth:`export_state` (after :meth:`load_state_dict`); refuses, with what is
        wrong, a state that does not fit this model."""
        if not isinstance(state, dict) or set(state) != {"certificate", "push", "graph_edges",
                                                         "z_norm_bound", "train_info"}:
            raise ValueError("a certified model's state must hold exactly certificate, push, "
                             f"graph_edges, z_norm_bound and train_info; got "
                             f"{sorted(state) if isinstance(state, dict) else type(state).__name__}")
        cert = state["certificate"]
        if cert is not None:
            fields = set(Certificate.__dataclass_fields__)
            if not isinstance(cert, dict) or set(cert) != fields:
                raise ValueError(f"the saved certificate must have the fields {sorted(fields)}")
            per_class = [cert[k] for k in ("train_residual", "accumulated", "approximation")]
            if not all(isinstance(v, list) and len(v) == self.num_classes for v in per_class):
                raise ValueError(f"the saved certificate must hold {self.num_classes} values per class")
            cert = Certificate(**cert)
        push = state["push"]
        if (push is None) != (self.rmax is None):
            raise ValueError("the saved push state does not match rmax "
                             f"({'no push state' if push is None else 'a push state'}, rmax={self.rmax})")
        if push is not None:
            push = PushPropagation.from_state(push)
            if push.features.shape[1:] != (self.in_channels,) or push.num_layers != self.num_hops:
                raise ValueError("the saved push state does not fit the model's features or hops")
        edges, znorm = state["graph_edges"], state["z_norm_bound"]
        if isinstance(edges, bool) or not isinstance(edges, int) or \
                not isinstance(znorm, (int, float)) or not isinstance(state["train_info"], dict):
            raise ValueError("graph_edges must be an int, z_norm_bound a number, train_info a dict")
        self.certificate, self.push = cert, push
        self.graph_edges, self.z_norm_bound = edges, float(znorm)
        self.train_info = dict(state["train_info"])
        return self

    def _apply(self, fn, recurse=True):
        """``.to(device)`` and friends also move the push state."""
        out = super()._apply(fn, recurse)
        if self.push is not None:
            self.push.apply_(fn)
        self.__dict__.pop("_propagation_cache", None)
        kept = self.__dict__.get("_train_rows")
        if kept is not None:                # moved along (a move to its own device is free)
            self.__dict__["_train_rows"] = (kept[0], kept[1], fn(kept[2]))
        return out

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles leave the propagation cache behind (it is rebuilt on demand)."""
        state = super().__getstate__()
        state.pop("_propagation_cache", None)
        return state

    # ---------------------------------------------------------------------------------------
    def propagated(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Exact :math:`P^K \\bar X` (float64) of a graph."""
        adj = Adjacency.from_edge_index(edge_index, x.size(0))
        return propagate(adj, normalize_rows(x.double()), self.num_hops, self.alpha)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Class scores :math:`Z W` (one-vs-rest margins), exact propagation.

        The propagated features of the last graph seen are kept (scoring a model calls it
        many times on one graph): reused only for the very same ``x`` and ``edge_index``
        tensor objects, unchanged since (their version counters), with the same ``num_hops``
        and ``alpha``, so the result is always that of a fresh propagation. Tensors that need
        gradients or have no version counter (inference mode) are propagated afresh."""
        return (self._features_of(x, edge_index) @ self.weight).float()

    def _features_of(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if x.requires_grad or x.is_inference() or edge_index.is_inference():
            return self.propagated(x, edge_index)
        key = (x._version, edge_index._version, self.num_hops, self.alpha)
        cached = self.__dict__.get("_propagation_cache")
        if cached is not None and cached[0]() is x and cached[1]() is edge_index and cached[2] == key:
            return cached[3]
        z = self.propagated(x, edge_index)
        self.__dict__["_propagation_cache"] = (weakref.ref(x), weakref.ref(edge_index), key, z)
        return z

    @property
    def train_features(self) -> Tensor:
        """``[N, d]`` the features the weights were fit on (:math:`q^{(L)}` with a push state)."""
        return self.push.features if self.push is not None else self.features

    def train_rows(self) -> Tensor:
        """``train_features[train_mask]``, contiguous. With a push state the block is kept
        between requests (``scalegun`` updates its changed rows in place, see
        :meth:`keep_train_rows`), so a request does not gather 0.6 N rows afresh; it is used
        only while the push state is the one, at the version, it was kept for, and is rebuilt
        otherwise. Copies of the model (``unlearn`` works on one) carry it."""
        if self.push is None:
            return self.features[self.train_mask]
        kept = self.__dict__.get("_train_rows")
        if kept is not None and kept[0] is self.push and kept[1] == self.push.version \
                and kept[2].size(0) == int(self.train_mask.sum()):
            return kept[2]
        z = self.push.features.index_select(0, self.train_mask.nonzero().view(-1))
        self.keep_train_rows(z)
        return z

    def keep_train_rows(self, z: Tensor) -> None:
        """Records ``z`` as ``push.features[train_mask]`` at the push state's current version
        (the caller guarantees it is)."""
        self.__dict__["_train_rows"] = (self.push, self.push.version, z)

    # ---------------------------------------------------------------------------------------
    def fit(self, data: Data, noise_seed: int = 0) -> "CertifiedLinear":
        """Propagates ``data``'s features and trains on ``data.train_mask`` (in place)."""
        check_graph(data, self.in_channels, self.num_classes)
        x = normalize_rows(data.x.double())
        adj = Adjacency.from_edge_index(data.edge_index, data.num_nodes)
        if self.rmax is None:
            self.features = propagate(adj, x, self.num_hops, self.alpha)
            self.push = None
        else:
            self.push = PushPropagation(adj, x, self.num_hops, self.alpha, self.rmax)
            self.features = self.features.new_zeros(0, self.in_channels)
        self.graph_edges = adj.num_edges
        self.train_mask = data.train_mask.clone()
        return self.refit(data.y, noise_seed)

    def refit(self, y: Tensor, noise_seed: int, retrains: int = 0,
              total_requests: int = 0) -> "CertifiedLinear":
        """Trains the weights from scratch on the current features and ``train_mask`` with the
        noise of ``noise_seed``; resets the certificate. Raises if the exact minimiser is not
        reached (the certificate would be void). A push state is first recomputed exactly, so
        retraining also clears the approximation error."""
        if self.push is not None and self.push.residue_norm() > 0:
            self.push.restart()
        z = self.train_rows()
        yt = ovr_targets(y[self.train_mask], self.num_classes).to(z.device)
        gen = torch.Generator().manual_seed(int(noise_seed))
        b = (self.noise_std * torch.randn(self.in_channels, self.num_classes, generator=gen,
                                          dtype=torch.float64)).to(z.device)
        lam_n = self.lam * z.size(0)
        w, gnorm, iters = newton_fit(z, yt, lam_n, b, self.tol, solver=self.solver)
        if not bool((gnorm <= self.tol).all()):
            raise RuntimeError(f"training did not reach the exact minimiser: max ||grad L + b|| = "
                               f"{float(gnorm.max()):.3e} > tol={self.tol:.1e} after {iters} Newton "
                               "iterations; the removal certificate needs the exact minimiser "
                               "(raise tol or lam)")
        self.weight.data = w
        self.noise = b
        if self.solver == "pcg":
            self.precond = hessian_cholesky(z, curvature(w, z, yt), lam_n)
        self.z_norm_bound = spectral_norm(z)
        approx = self.approximation_bound(z, yt) if self.push is not None else None
        self.certificate = Certificate.fresh(self.epsilon, self.delta, self.noise_std,
                                             int(noise_seed), gnorm.cpu(), approx)
        self.certificate.retrains = retrains
        self.certificate.total_requests = total_requests
        self.train_info = {"train_gradient_norm": gnorm.tolist(), "newton_iterations": iters,
                           "train_nodes": int(z.size(0)), "tol": self.tol}
        return self

    def retuned(self, y: Tensor, lam: float, noise_std: float, noise_seed: int = 0,
                solver: str | None = None) -> "CertifiedLinear":
        """A trained copy with another :math:`\\lambda`, :math:`\\sigma` (and solver): the same
        features, graph state and training set, refit from scratch (:meth:`refit`) with the
        noise of ``noise_seed``; ``self`` is not modified (the propagated feature tensor, which
        no method changes in place, is shared). What a hyperparameter sweep needs without
        propagating the graph again for every candidate."""
        if self.certificate is None:
            raise ValueError("retuned() copies a trained model; call fit(data) first")
        _check_positive_finite(lam=lam, noise_std=noise_std)
        if solver is not None and solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        out = copy.deepcopy(self, {id(self.features): self.features})   # read-only: shared
        out.lam, out.noise_std = float(lam), float(noise_std)
        out.solver = self.solver if solver is None else solver
        out.precond = out.precond.new_zeros(0)
        out.refresh_config()
        return out.refit(y, noise_seed)

    def refresh_config(self) -> None:
        """Writes the current hyperparameters into :attr:`config` (what a checkpoint stores)."""
        self.config["certified"] = self.hparams()

    def approximation_bound(self, z_train: Tensor, y_train: Tensor) -> Tensor:
        r"""``[C]``: bound on :math:`\lVert\nabla L(w; Z) - \nabla L(w; \hat Z)\rVert` between
        the exact features :math:`Z` and the pushed estimate :math:`\hat Z` on the training rows
        (``z_train`` = :math:`\hat Z` there, ``y_train`` their one-vs-rest targets).

        With :math:`e_i = z_i - \hat z_i`, :math:`f(z) = (\sigma(y w^\top z) - 1) y z` and
        :math:`a_i = (\sigma(y_i w^\top \hat z_i) - 1) y_i`:
        :math:`\sum_i f(z_i) - f(\hat z_i) = E^\top a + \sum_i (\sigma_i - \hat\sigma_i) y_i
        (\hat z_i + e_i)` and :math:`|\sigma_i - \hat\sigma_i| \le \tfrac14 |(Ew)_i|`, so

        .. math::
            \le \lVert E^\top a\rVert + \tfrac14 \sum_i |(Ew)_i| \lVert\hat z_i\rVert
            + \tfrac14 \lVert Ew\rVert \lVert E\rVert_F,

        where :math:`E^\top a` and :math:`Ew` are computed exactly from the residues (sparse
        products with C columns) and :math:`\lVert E\rVert_F` is bounded by
        :meth:`PushPropagation.error_bound`. The cruder :math:`(1 + \tfrac14\lVert w\rVert
        \max_i\lVert\hat z_i\rVert)\sum_i\lVert e_i\rVert` is also valid; the smaller is
        returned."""
        frob = self.push.error_bound()
        if frob == 0.0:
            return torch.zeros(self.num_classes, dtype=torch.float64)
        w = self.weight.data
        znorm = z_train.norm(dim=1)
        rows = min(math.sqrt(z_train.size(0)) * frob, self.push.row_error_bound())
        crude = (1 + 0.25 * w.norm(dim=0) * znorm.max()) * rows
        a = w.new_zeros(self.train_mask.numel(), self.num_classes)
        a[self.train_mask] = (torch.sigmoid(y_train * (z_train @ w)) - 1) * y_train
        ew = self.push.error_times(w)[self.train_mask]
        tight = (self.push.error_transpose_times(a).norm(dim=0)
                 + 0.25 * (ew.abs() * znorm.unsqueeze(1)).sum(0) + 0.25 * ew.norm(dim=0) * frob)
        return torch.minimum(crude, tight).cpu()


def check_graph(data: Data, in_channels: int, num_classes: int) -> None:
    """Validates what :class:`CertifiedLinear` trains on."""
    if not isinstance(data, Data):
        raise TypeError(f"expected a torch_geometric Data, got {type(data).__name__}")
    for key in ("x", "y", "train_mask", "edge_index"):
        if getattr(data, key, None) is None:
            raise ValueError(f"certified training needs data.{key}"
                             + (" (make a split with gnn_unlearn.node_split)" if key == "train_mask"
                                else ""))
    if data.x.dim() != 2 or data.x.size(1) != in_channels:
        raise ValueError(f"expected features [N, {in_channels}], got {tuple(data.x.shape)}")
    if not bool(torch.isfinite(data.x).all()):
        raise ValueError("data.x holds NaN or infinite values")
    y = data.y[data.train_mask]
    if y.numel() < 2:
        raise ValueError("certified training needs at least 2 training nodes")
    if int(data.y.min()) < 0 or int(data.y.max()) >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")


def train_certified(data: Data, num_hops: int = 2, alpha: float = 0.5, lam: float = 1e-2,
                    noise_std: float = 1e-2, epsilon: float = 1.0, delta: float = 1e-4,
                    rmax: float | None = None, tol: float = 1e-9, solver: str = "direct",
                    seed: int = 0, device: str | torch.device | None = None) -> CertifiedLinear:
    """Builds and exactly trains a :class:`CertifiedLinear` on ``data`` (noise seed ``seed``).

    >>> model = train_certified(load_dataset("Cora"), epsilon=1.0, delta=1e-4)
    >>> model.certificate.budget_left
    """
    from gnn_unlearn.utils import data_to, resolve_device
    if getattr(data, "x", None) is None or getattr(data, "y", None) is None:
        raise ValueError("certified training needs node features data.x and labels data.y")
    dev = resolve_device(device) if device is not None else data.x.device
    data = data_to(data, dev)
    model = CertifiedLinear(int(data.x.size(1)), int(data.y.max()) + 1, num_hops=num_hops,
                            alpha=alpha, lam=lam, noise_std=noise_std, epsilon=epsilon,
                            delta=delta, rmax=rmax, tol=tol, solver=solver).to(dev)
    return model.fit(data, noise_seed=seed)
