r"""GST's node classifier: geometric scattering features and a certified linear head.

Pan, Chien, Milenkovic, "Unlearning Graph Classifiers with Limited Data Resources", WWW 2023.
The features :math:`Z = S(\bar X, A)` are the non-trainable scattering transform of
:mod:`gnn_unlearn.ops.scattering` (rows of :math:`X` scaled to unit norm first); the head is the
one-vs-rest logistic regression with objective perturbation of
:class:`~gnn_unlearn.models.certified.CertifiedLinear`, trained to its exact minimiser, so the
Newton removal step and certificate of :mod:`gnn_unlearn.methods.certified_common` apply as they
are (method ``gst``).

Feature size :math:`(1 + J + \dots + J^{L-1})\,d`: the paper's :math:`J = 5, L = 3` (and
:math:`Q = 4` moments, which only graph-level pooling uses) gives :math:`31 d` per node, meant for
molecule features (:math:`d \approx 10`-:math:`40`); for bag-of-words node features
(:math:`d` = 1433 on Cora) the defaults here are :math:`J = 3`, order 1 (:math:`4d`).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from gnn_unlearn.models.certified import CertifiedLinear, check_graph
from gnn_unlearn.ops.propagation import Adjacency, normalize_rows
from gnn_unlearn.ops.scattering import scattering_features


class ScatteringLinear(CertifiedLinear):
    """Scattering features + certified one-vs-rest logistic regression.

    Args:
        raw_channels: the node feature dimension :math:`d`.
        num_classes: :math:`C`.
        wavelets: :math:`J`.
        order: the highest scattering order (the paper's :math:`L - 1`).
        lam, noise_std, epsilon, delta, tol, solver: as :class:`CertifiedLinear`.
    """

    def __init__(self, raw_channels: int, num_classes: int, wavelets: int = 3, order: int = 1,
                 lam: float = 1e-2, noise_std: float = 1e-2, epsilon: float = 1.0,
                 delta: float = 1e-4, tol: float = 1e-9, solver: str = "direct"):
        for k, v, low in (("raw_channels", raw_channels, 1), ("wavelets", wavelets, 1), ("order", order, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{k} must be an int >= {low}, got {v!r}")
        width = sum(wavelets ** m for m in range(order + 1)) * raw_channels
        reach = order * 2 ** (wavelets - 1)           # hops a coefficient can see
        super().__init__(width, num_classes, num_hops=reach, lam=lam, noise_std=noise_std,
                         epsilon=epsilon, delta=delta, tol=tol, solver=solver)
        self.raw_channels, self.wavelets, self.order = raw_channels, wavelets, order
        self.config = dict(task="node", in_channels=raw_channels, num_classes=num_classes,
                           scattering=self.scattering_hparams())

    def scattering_hparams(self) -> dict[str, Any]:
        """The constructor's arguments besides the sizes (what ``config["scattering"]`` holds)."""
        return dict(wavelets=self.wavelets, order=self.order, lam=self.lam, noise_std=self.noise_std,
                    epsilon=self.epsilon, delta=self.delta, tol=self.tol, solver=self.solver)

    def refresh_config(self) -> None:
        self.config["scattering"] = self.scattering_hparams()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ScatteringLinear":
        """An untrained model from :attr:`config` (as a checkpoint stores it); refuses, with what
        is wrong, a config of another shape."""
        hparams = config.get("scattering")
        allowed = {"wavelets", "order", "lam", "noise_std", "epsilon", "delta", "tol", "solver"}
        if not isinstance(hparams, dict) or not set(hparams) <= allowed:
            raise ValueError(f"a scattering model's config needs a 'scattering' dict with keys from "
                             f"{sorted(allowed)}, got {hparams!r}")
        unknown = set(config) - {"task", "in_channels", "num_classes", "scattering"}
        if unknown or config.get("task", "node") != "node":
            raise ValueError(f"a scattering model's config has unknown fields {sorted(unknown)} or a "
                             f"task other than 'node' ({config.get('task')!r})")
        return cls(config.get("in_channels"), config.get("num_classes"), **hparams)

    def propagated(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """The scattering features (float64) of a graph."""
        return scattering_features(normalize_rows(x.double()), edge_index, self.wavelets, self.order)

    def fit(self, data: Data, noise_seed: int = 0) -> "ScatteringLinear":
        """Computes ``data``'s scattering features and trains on ``data.train_mask`` (in place)."""
        check_graph(data, self.raw_channels, self.num_classes)
        self.features = self.propagated(data.x, data.edge_index)
        self.push = None
        self.graph_edges = Adjacency.from_edge_index(data.edge_index, data.num_nodes).num_edges
        self.train_mask = data.train_mask.clone()
        return self.refit(data.y, noise_seed)


def train_scattering(data: Data, wavelets: int = 3, order: int = 1, lam: float = 1e-2,
                     noise_std: float = 1e-2, epsilon: float = 1.0, delta: float = 1e-4,
                     tol: float = 1e-9, solver: str = "direct", seed: int = 0,
                     device: str | torch.device | None = None) -> ScatteringLinear:
    """Builds and exactly trains a :class:`ScatteringLinear` on ``data`` (noise seed ``seed``)."""
    from gnn_unlearn.utils import data_to, resolve_device
    if getattr(data, "x", None) is None or getattr(data, "y", None) is None:
        raise ValueError("GST needs node features data.x and labels data.y")
    dev = resolve_device(device) if device is not None else data.x.device
    data = data_to(data, dev)
    model = ScatteringLinear(int(data.x.size(1)), int(data.y.max()) + 1, wavelets=wavelets,
                             order=order, lam=lam, noise_std=noise_std, epsilon=epsilon,
                             delta=delta, tol=tol, solver=solver).to(dev)
    return model.fit(data, noise_seed=seed)
