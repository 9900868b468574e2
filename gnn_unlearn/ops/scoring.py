"""Scoring large sets of node pairs in bounded memory."""
from __future__ import annotations

import contextlib
import warnings
from typing import Callable

import torch
from torch import Tensor


def chunked_pair_scores(score_fn: Callable[[Tensor, Tensor], Tensor], z: Tensor,
                        pairs: Tensor, chunk_size: int = 1 << 18) -> Tensor:
    """Applies ``score_fn(z, pairs_chunk)`` to ``pairs`` chunk by chunk.

    Peak extra memory is ``chunk_size x hidden`` instead of ``|pairs| x hidden``.
    """
    if pairs.size(1) <= chunk_size:
        return score_fn(z, pairs)
    return torch.cat([score_fn(z, pairs[:, i:i + chunk_size])
                      for i in range(0, pairs.size(1), chunk_size)])


@contextlib.contextmanager
def _quiet_csr():
    """Silences torch's notices that CSR support is beta and that invariant checks are off
    (duplicate pairs are separate entries on purpose)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        yield


def _pairs_csr(rows: Tensor, cols: Tensor, values: Tensor, n: int, order: Tensor) -> Tensor:
    """The ``n x n`` CSR matrix with an entry ``values[k]`` at ``(rows[k], cols[k])``, given
    ``order`` sorting the entries by row and column (duplicates stay separate entries)."""
    crow = torch.zeros(n + 1, dtype=torch.long, device=rows.device)
    crow[1:] = torch.bincount(rows, minlength=n).cumsum(0)
    if n < 2 ** 31 - 1 and rows.numel() < 2 ** 31 - 1:    # int32 indices: faster CPU kernels
        crow, col = crow.int(), cols[order].int()
    else:
        col = cols[order]
    with _quiet_csr():
        return torch.sparse_csr_tensor(crow, col, values[order], (n, n))


class PairDot(torch.autograd.Function):
    r""":math:`s_k = z_{a_k}^\top z_{b_k}` for many pairs without a ``[pairs, d]`` tensor.

    Forward: the pairs as the pattern of a sparse matrix :math:`S` and one sampled dense
    product (SDDMM, ``torch.sparse.sampled_addmm``): :math:`s = (Z Z^\top)|_S`. Backward,
    with :math:`G` the same pattern holding the incoming gradient:
    :math:`\partial L / \partial Z = G Z + G^\top Z`, two CSR products (rows sorted by
    :math:`a`, then by :math:`b`). Gathering ``z[a] * z[b]`` instead moves two ``[pairs, d]``
    tensors forward and scatters two back; measured forward+backward on 1 M random pairs of
    a 100 k x 128 table, one thread: 4.8-6.4 s gathered, 0.74-0.82 s here; equal at about
    4 k pairs (``benchmarks/kernels.py``).
    """

    @staticmethod
    def forward(ctx, z: Tensor, a: Tensor, b: Tensor) -> Tensor:
        n = z.size(0)
        order = torch.argsort(a * n + b)      # rows, then columns, sorted (CSR's layout)
        pattern = _pairs_csr(a, b, torch.ones_like(a, dtype=z.dtype), n, order)
        with _quiet_csr():
            vals = torch.sparse.sampled_addmm(pattern, z, z.t(), beta=0.0).values()
        out = torch.empty_like(vals)
        out[order] = vals
        ctx.save_for_backward(z, a, b, order)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        z, a, b, order = ctx.saved_tensors
        n = z.size(0)
        by_a = _pairs_csr(a, b, grad, n, order)
        by_b = _pairs_csr(b, a, grad, n, torch.argsort(b * n + a))
        with _quiet_csr():
            return by_a @ z + by_b @ z, None, None


def pair_dot(z: Tensor, pairs: Tensor, min_pairs: int = 4096) -> Tensor:
    """``(z[pairs[0]] * z[pairs[1]]).sum(-1)``: through :class:`PairDot` for at least
    ``min_pairs`` pairs of a float32/float64 ``z`` (below, the plain gather is as fast)."""
    if pairs.size(1) < min_pairs or z.dtype not in (torch.float32, torch.float64) or z.dim() != 2:
        return (z[pairs[0]] * z[pairs[1]]).sum(-1)
    return PairDot.apply(z, pairs[0], pairs[1])
