r"""Representation similarity: linear CKA of the affected region's embeddings.

Outputs can agree with retraining while the hidden representations still carry the deleted
data. Linear centered kernel alignment (CKA; Kornblith et al., "Similarity of neural network
representations revisited", ICML 2019) compares two representations of the same :math:`n`
nodes, :math:`X \in \mathbb{R}^{n \times d_1}` and :math:`Y \in \mathbb{R}^{n \times d_2}`
with columns centred:

.. math::
    \mathrm{CKA}(X, Y) = \frac{\lVert Y^\top X\rVert_F^2}
                              {\lVert X^\top X\rVert_F \, \lVert Y^\top Y\rVert_F},

invariant to rotations and isotropic scaling, 1 for identical representations. It is
computed from the :math:`d \times d` Gram matrices in :math:`O(n d^2)` (never an
:math:`n \times n` kernel). The attack compares each model's node embeddings (``encode``)
on the task's affected region (``task.affected_nodes()``, the nodes within ``num_hops`` of
the deleted elements; read from the task, not recomputed) with the original model's
(on the original graph) and with the retrained model's (on the retained graph). An unlearned
model should be as close to retraining as it can: ``cka_retrain`` near 1, and no closer to
the original than retraining is (``cka_original`` near retrain's row).

With ``seed_reference=True``, a second model is trained on the retained graph with the
original's recipe (full batch, :func:`gnn_unlearn.training.fit`) and its training seed + 1, and the column
``cka_seed_ref`` gives CKA(retrain, retrain with the other seed): the noise floor of
``cka_retrain`` (how far two faithful retrains are apart). Measured on Cora (GCN, 2.5 % "in"):
CKA(original, retrain) 0.80 against a seed reference of 0.76, so at that size the final
embeddings' CKA does not separate the original from retraining beyond seed noise.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.metrics.attack_base import Attack, register_attack
from gnn_unlearn.models.predictors import build_model
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.training import TrainConfig, fit
from gnn_unlearn.utils import seeded


def linear_cka(x: Tensor, y: Tensor) -> float:
    r"""Linear CKA of two representations of the same rows (see the module doc); float64."""
    if x.dim() != 2 or y.dim() != 2 or x.size(0) != y.size(0):
        raise ValueError(f"linear_cka needs two [n, d] matrices with the same n, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.size(0) < 2:
        raise ValueError("linear_cka needs at least 2 rows")
    x = x.detach().double()
    y = y.detach().double().to(x.device)
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    cross = torch.linalg.matrix_norm(y.t() @ x) ** 2
    norm = torch.linalg.matrix_norm(x.t() @ x) * torch.linalg.matrix_norm(y.t() @ y)
    if float(norm) == 0.0:
        return float("nan")          # a constant representation: similarity undefined
    return float(cross / norm)


@torch.no_grad()
def embeddings(model: nn.Module, graph: Data) -> Tensor:
    """``model.encode`` on ``graph`` in eval mode (the training flag is restored)."""
    was = model.training
    model.eval()
    try:
        return model.encode(graph.x, graph.edge_index)
    finally:
        model.train(was)


@register_attack
class CKAAttack(Attack):
    """Linear CKA of the affected region's embeddings against the original and the retrained
    model (see the module doc). Deterministic; ``seed`` is unused.

    Args:
        seed_reference: train a second retrain (the original's training seed + 1) whose CKA
            with the retrained model is the ``cka_seed_ref`` column (one full training more;
            default: off, NaN).
    """
    name = "cka"
    tasks = frozenset({"link", "node"})
    columns = {"cka_original": "CKA vs original", "cka_retrain": "CKA vs retrain",
               "cka_seed_ref": "CKA retrain vs retrain (other seed)"}
    note = ("linear CKA (Kornblith et al. 2019) of node embeddings on the affected region "
            "(nodes within num_hops of the deleted elements), against the original model on the "
            "original graph and the retrained model on the retained graph (1: same representation "
            "up to rotation and scale); seed reference (if asked): CKA of retrain and a retrain with "
            "another seed, the noise floor of 'CKA vs retrain'")

    def __init__(self, seed: int = 0, seed_reference: bool = False):
        super().__init__(seed)
        self.seed_reference = seed_reference
        self.seed_ref: float | None = None

    def prepare(self, task: UnlearningTask, original: nn.Module, retrained: nn.Module) -> None:
        if not isinstance(task, UnlearningTask):
            raise TypeError(f"cka: task must be an UnlearningTask, got {type(task).__name__}")
        self.region = task.affected_nodes()
        self.region_size = int(self.region.sum())
        if self.region_size < 2:
            raise ValueError(f"cka: the affected region has {self.region_size} node(s); CKA needs at least 2")
        self.original_z = embeddings(original, task.data)[self.region]
        self.retrained_z = embeddings(retrained, task.retained_data)[self.region]
        if self.seed_reference:
            other = self._retrain(task, original)
            self.seed_ref = linear_cka(embeddings(other, task.retained_data)[self.region], self.retrained_z)

    def score(self, model: nn.Module, graph: Data, on_original: bool) -> dict[str, float]:
        z = embeddings(model, graph)[self.region]
        return {"cka_original": linear_cka(z, self.original_z),
                "cka_retrain": linear_cka(z, self.retrained_z),
                "cka_seed_ref": float("nan") if self.seed_ref is None else self.seed_ref}

    @staticmethod
    def _retrain(task: UnlearningTask, original: nn.Module) -> nn.Module:
        """A model trained on the retained graph with the original's recipe, seed + 1."""
        config = getattr(original, "config", None)
        if not config:
            raise ValueError("cka: reference_seed needs a model built by gnn_unlearn (with .config)")
        recipe = {k: v for k, v in (getattr(original, "train_config", None) or {}).items()
                  if k in TrainConfig.__dataclass_fields__}
        device = next(original.parameters()).device
        seed = int(recipe.get("seed", 0)) + 1
        with seeded(seed):
            model = build_model(config).to(device)
        return fit(model, task.retained_data, TrainConfig.from_dict({**recipe, "seed": seed}), device)[0]
