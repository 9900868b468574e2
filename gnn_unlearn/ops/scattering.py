r"""Geometric scattering transform of node signals (non-trainable, sparse).

Gao, Wolf, Hirn, "Geometric Scattering for Graph Data Analysis", ICML 2019; used as the feature
map of GST (Pan, Chien, Milenkovic, "Unlearning Graph Classifiers with Limited Data Resources",
WWW 2023).

With the lazy random walk :math:`P = \tfrac12 (I + A D^{-1})` (:math:`A` without self-loops;
an isolated node keeps :math:`\tfrac12` of its own signal) the diffusion wavelets are

.. math::
    \Psi_0 = I - P, \qquad \Psi_j = P^{2^{j-1}} - P^{2^j} \quad (1 \le j < J),

and the scattering coefficients of order :math:`m` are the cascades
:math:`|\Psi_{j_m} \cdots |\Psi_{j_1} x| \cdots|` over all :math:`J^m` paths. The node features of
order :math:`\le L - 1` stack :math:`x` itself and every cascade: :math:`(1 + J + \dots + J^{L-1})\,
d` columns. For graph-level features the node rows are pooled by the moments
:math:`\frac1N \sum_v |\cdot|^q`, :math:`q = 1 \dots Q` (:func:`scattering_moments`).

Cost: each order-:math:`m` path needs :math:`2^{J-1}` sparse products of a :math:`d`-column
signal, :math:`O(J^{L-1} 2^{J-1} |E| d)` in all; memory is the output. Never an
:math:`N \times N` dense matrix.
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor


def lazy_random_walk(edge_index: Tensor, num_nodes: int, dtype: torch.dtype = torch.float64) -> Tensor:
    r""":math:`A D^{-1}` as a sparse CSR matrix (rows = targets; :math:`A` symmetrised, without
    self-loops or duplicate edges); :func:`diffuse` adds the lazy half."""
    ei = edge_index.long()
    ei = torch.cat([ei, ei.flip(0)], 1)
    ei = ei[:, ei[0] != ei[1]]
    keys = torch.unique(ei[0] * num_nodes + ei[1])
    src, dst = keys // num_nodes, keys % num_nodes
    deg = torch.bincount(src, minlength=num_nodes).to(dtype)
    values = 1.0 / deg[src]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        walk = torch.sparse_coo_tensor(torch.stack([dst, src]), values, (num_nodes, num_nodes),
                                       check_invariants=False)
        return walk.coalesce().to_sparse_csr()


def diffuse(walk: Tensor, h: Tensor) -> Tensor:
    r""":math:`P h = \tfrac12 (h + A D^{-1} h)`."""
    return 0.5 * (h + walk @ h)


def wavelet_bank(walk: Tensor, h: Tensor, wavelets: int) -> list[Tensor]:
    r"""``[Psi_0 h, ..., Psi_{J-1} h]`` from the dyadic powers :math:`P^{2^k} h`
    (:math:`2^{J-1}` diffusions)."""
    powers = [h, diffuse(walk, h)]                 # P^0 h, P^1 h
    current, steps = powers[1], 1
    for _ in range(1, wavelets):                   # P^2, P^4, ..., P^{2^{J-1}}
        for _ in range(steps):
            current = diffuse(walk, current)
        steps *= 2
        powers.append(current)
    return [powers[j] - powers[j + 1] for j in range(wavelets)]


def scattering_features(x: Tensor, edge_index: Tensor, wavelets: int = 3, order: int = 1) -> Tensor:
    r"""``[N, (1 + J + ... + J^order) d]``: :math:`x` and its scattering cascades up to ``order``
    (the module docstring), in ``x``'s dtype."""
    if wavelets < 1 or order < 0:
        raise ValueError(f"wavelets must be >= 1 and order >= 0, got {wavelets}, {order}")
    walk = lazy_random_walk(edge_index, x.size(0), x.dtype).to(x.device)
    blocks, layer = [x], [x]
    for _ in range(order):
        layer = [w.abs() for h in layer for w in wavelet_bank(walk, h, wavelets)]
        blocks.extend(layer)
    return torch.cat(blocks, 1)


def scattering_moments(features: Tensor, moments: int = 4) -> Tensor:
    r"""Graph-level pooling: :math:`[\frac1N \sum_v |f_v|^q]_{q=1..Q}` concatenated (``[Q F]``)."""
    return torch.cat([features.abs().pow(q).mean(0) for q in range(1, moments + 1)])
