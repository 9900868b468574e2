r"""Sparse input features: the first layer's :math:`X W^\top` as a CSR product.

Bag-of-words features are mostly zeros (Cora: 98.7 %, CiteSeer: 99.1 %), yet a dense
:math:`X W^\top` and its weight gradient :math:`G^\top X` cost :math:`O(N F H)` each. As CSR
products they cost :math:`O(\mathrm{nnz}(X) H)`: on Cora (2,708 x 1,433, H = 128, one thread)
forward + weight gradient took 21 ms dense and 1 ms sparse in a micro-benchmark; whole training
epochs before/after are in ``benchmarks/results/train_speed_cpu.md`` (Cora node
classification: 2.8x less CPU time to early stop).

The input :math:`X` of the first layer needs no gradient, so the product only differentiates
with respect to :math:`W`: :math:`\partial L / \partial W = G^\top X = (X^\top G)^\top`, one
CSR product with :math:`X^\top` built once next to :math:`X` (torch would transpose the CSR
matrix on every backward call).
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

#: Features whose share of non-zeros is at most this go through CSR products. One thread on
#: 2,708 x 1,433 random 0/1 features, H = 128, forward + weight gradient: dense 20 ms at every
#: density; CSR 0.8 ms at 1 %, 7.7 ms at 10 %, 15 ms at 20 %, 22 ms at 30 %. The break-even
#: (about 25 %) is halved for a margin (GPUs' dense products are relatively faster).
SPARSE_FEATURE_DENSITY = 0.1


def density(x: Tensor) -> float:
    """Share of non-zero entries of ``x`` (0 for an empty tensor)."""
    return float(torch.count_nonzero(x)) / x.numel() if x.numel() else 0.0


def is_sparse_enough(x: Tensor, threshold: float = SPARSE_FEATURE_DENSITY) -> bool:
    """Whether the features ``x`` should use :class:`SparseFeatures`: a 2-D float32/float64
    dense tensor that needs no gradient, with ``density(x) <= threshold`` (``threshold <= 0``
    turns the sparse path off)."""
    if threshold <= 0 or x.dim() != 2 or x.layout != torch.strided or x.requires_grad:
        return False
    if x.dtype not in (torch.float32, torch.float64) or x.numel() == 0:
        return False
    return density(x) <= threshold


def csr_from_entries(rows: Tensor, cols: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """A CSR matrix from entries sorted by row (then column), with int32 indices when they fit
    (torch's CPU product is faster with them). Plain tensor ops: the same on every device."""
    small = values.numel() < 2 ** 31 - 1 and max(shape) < 2 ** 31 - 1
    index = torch.int32 if small else torch.int64
    crow = torch.zeros(shape[0] + 1, dtype=index, device=values.device)
    crow[1:] = torch.bincount(rows, minlength=shape[0]).cumsum(0)
    with warnings.catch_warnings():  # torch flags its CSR support as beta
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, cols.to(index), values, shape, check_invariants=False)


class SparseFeatures:
    """A feature matrix :math:`X` kept as CSR (``matrix``) and its transpose as CSR
    (``transposed``, for the weight gradient). Built once per feature tensor."""

    def __init__(self, x: Tensor):
        rows, cols = x.nonzero(as_tuple=True)          # row-major order
        values = x[rows, cols]
        n, f = x.shape
        self.matrix = csr_from_entries(rows, cols, values, (n, f))
        by_col = torch.argsort(cols, stable=True)      # row-major order of x^T
        self.transposed = csr_from_entries(cols[by_col], rows[by_col], values[by_col], (f, n))
        self.shape = x.shape

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        r""":math:`X W^\top [+ b]`, as ``torch.nn.functional.linear(x, weight, bias)``."""
        out = SparseLinear.apply(self.matrix, self.transposed, weight)
        return out + bias if bias is not None else out

    def apply(self, lin: nn.Module) -> Tensor:
        """``lin(x)`` for a PyG or torch ``Linear`` module ``lin``."""
        return self.linear(lin.weight, getattr(lin, "bias", None))


class SparseLinear(torch.autograd.Function):
    r""":math:`X W^\top` for a constant CSR :math:`X`; backward :math:`(X^\top G)^\top`."""

    @staticmethod
    def forward(ctx, x: Tensor, x_t: Tensor, weight: Tensor) -> Tensor:
        ctx.x_t = x_t
        return x @ weight.t()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, None, Tensor]:
        return None, None, (ctx.x_t @ grad).t()


def cached_features(module: nn.Module, x: Tensor,
                    threshold: float = SPARSE_FEATURE_DENSITY) -> SparseFeatures | None:
    """The :class:`SparseFeatures` of ``x`` when it is sparse enough (:func:`is_sparse_enough`),
    else ``None``; the decision and the CSR copies are cached on ``module`` for the last ``x``
    seen (a plain attribute like the graph cache: it holds that very tensor and its version
    counter, and is never in ``state_dict``)."""
    cached = module.__dict__.get("_features")
    if (cached is not None and cached[0] is x and cached[1] == x._version
            and cached[2] == threshold):
        return cached[3]
    features = SparseFeatures(x) if is_sparse_enough(x, threshold) else None
    module.__dict__["_features"] = (x, x._version, threshold, features)
    return features
