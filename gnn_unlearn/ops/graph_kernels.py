r"""The pyramid match graph kernel (Nikolentzos, Meladianos, Vazirgiannis, "Matching Node
Embeddings for Graph Similarity", AAAI 2017), sparse: GUIDE's shard-similarity weights.

Vertex embeddings are the absolute values of the top-``d`` singular vectors of the adjacency
matrix (:func:`spectral_vertex_embedding`, bitwise repeatable); at level :math:`l` each of
the ``d`` dimensions of :math:`[0, 1]` is cut into :math:`2^l` cells and
:math:`I_l = \sum_{\text{cells}} \min(H^1_l, H^2_l)` counts matches. The kernel is

.. math::
    k(G_1, G_2) = I_L + \sum_{l=0}^{L-1} \frac{1}{2^{L-l}} (I_l - I_{l+1}),

and :func:`normalised_pyramid_match` divides by :math:`\sqrt{k(G_1,G_1)\,k(G_2,G_2)}`. A graph
matches itself fully at every level (:math:`I_l = |V|`), so :math:`k(G, G) = |V|`: the
normalisation needs no self-match. Comparing one graph with many (GUIDE: the whole graph with
each shard) builds its histograms once (:func:`pyramid_histograms`).
Cells are hashed to integer keys, so no histogram of :math:`2^{Ld}` bins is ever built.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def spectral_vertex_embedding(edge_index: Tensor, num_nodes: int, dim: int = 6,
                              iters: int = 50) -> Tensor:
    r"""``[N, dim]``: absolute values of the top-``dim`` singular vectors of the (symmetrised,
    binary) adjacency :math:`A`, columns beyond what a small graph has left at zero.

    For symmetric :math:`A` these are the eigenvectors of largest :math:`|\lambda|`: found by
    subspace iteration (``dim + 4`` columns from a fixed start, :math:`Q \leftarrow
    \mathrm{qr}(AQ)`, ``iters`` times) and a Rayleigh-Ritz step, in float64 torch code. Unlike
    ARPACK (whose results changed in the last bits between identical calls here), the result
    is bitwise repeatable on a CPU, which exact unlearning needs.
    """
    out = torch.zeros(num_nodes, dim, dtype=torch.float64)
    if num_nodes == 0 or edge_index.numel() == 0:
        return out.float()
    ei = edge_index.cpu()
    keys = torch.unique(torch.cat([ei[0] * num_nodes + ei[1], ei[1] * num_nodes + ei[0]]))
    pairs = torch.stack([keys // num_nodes, keys % num_nodes])
    a = torch.sparse_coo_tensor(pairs, torch.ones(keys.numel(), dtype=torch.float64),
                                (num_nodes, num_nodes), check_invariants=False).coalesce()
    width = min(dim + 4, num_nodes)
    g = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.rand(num_nodes, width, generator=g, dtype=torch.float64)).Q
    for _ in range(iters):
        q = torch.linalg.qr(torch.sparse.mm(a, q)).Q
    ritz = q.t() @ torch.sparse.mm(a, q)
    lam, vec = torch.linalg.eigh((ritz + ritz.t()) / 2)
    order = torch.argsort(lam.abs(), descending=True, stable=True)[:dim]
    u = q @ vec[:, order]
    out[:, : u.size(1)] = u.abs()
    return out.float()


def _cell_counts(emb: Tensor, level: int) -> tuple[Tensor, Tensor]:
    cells = 2 ** level
    coords = (emb.clamp(0, 1) * cells).long().clamp_(max=cells - 1)
    weights = cells ** torch.arange(emb.size(1), dtype=torch.long)
    keys = (coords * weights).sum(1)
    return torch.unique(keys, return_counts=True)


def _intersection(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> int:
    keys = torch.cat([a[0], b[0]])
    counts = torch.cat([a[1], b[1]])
    uniq, inv = torch.unique(keys, return_inverse=True)
    # keys are unique within each histogram: a key appears at most once on each side
    n_a = a[0].numel()
    first = torch.zeros(uniq.numel(), dtype=torch.long).index_put_((inv[:n_a],), counts[:n_a])
    second = torch.zeros(uniq.numel(), dtype=torch.long).index_put_((inv[n_a:],), counts[n_a:])
    return int(torch.minimum(first, second).sum())


Histograms = list[tuple[Tensor, Tensor]]


def pyramid_histograms(emb: Tensor, levels: int = 4) -> Histograms:
    """The occupied cells and their counts at levels ``0..levels`` (reusable across matches)."""
    emb = emb.cpu()
    return [_cell_counts(emb, level) for level in range(levels + 1)]


def match_histograms(h1: Histograms, h2: Histograms) -> float:
    """:math:`k(G_1, G_2)` from both graphs' :func:`pyramid_histograms` (same levels)."""
    if len(h1) != len(h2):
        raise ValueError(f"histograms of {len(h1) - 1} and {len(h2) - 1} levels cannot be matched")
    levels = len(h1) - 1
    inter = [_intersection(a, b) for a, b in zip(h1, h2)]
    value = float(inter[levels])
    for level in range(levels):
        value += (inter[level] - inter[level + 1]) / 2 ** (levels - level)
    return value


def pyramid_match(emb1: Tensor, emb2: Tensor, levels: int = 4) -> float:
    """Pyramid match kernel between two sets of vertex embeddings in :math:`[0, 1]^d`."""
    if emb1.size(1) != emb2.size(1):
        raise ValueError("both graphs need embeddings of the same dimension")
    return match_histograms(pyramid_histograms(emb1, levels), pyramid_histograms(emb2, levels))


def normalised_pyramid_match(emb1: Tensor, emb2: Tensor, levels: int = 4,
                             histograms1: Histograms | None = None) -> float:
    """:func:`pyramid_match` divided by :math:`\\sqrt{k(G_1,G_1)k(G_2,G_2)} = \\sqrt{|V_1||V_2|}`
    (in [0, 1]). ``histograms1``: ``emb1``'s :func:`pyramid_histograms`, when already built."""
    if emb1.size(1) != emb2.size(1):
        raise ValueError("both graphs need embeddings of the same dimension")
    n1, n2 = emb1.size(0), emb2.size(0)
    if n1 == 0 or n2 == 0:
        return 0.0
    h1 = pyramid_histograms(emb1, levels) if histograms1 is None else histograms1
    return normalised_match_histograms(h1, n1, pyramid_histograms(emb2, levels), n2)


def normalised_match_histograms(h1: Histograms, n1: int, h2: Histograms, n2: int) -> float:
    """:func:`normalised_pyramid_match` from both graphs' :func:`pyramid_histograms` and vertex
    counts (for histograms kept from an earlier match)."""
    if n1 == 0 or n2 == 0:
        return 0.0
    return match_histograms(h1, h2) / math.sqrt(float(n1) * float(n2))
