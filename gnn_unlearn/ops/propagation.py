r"""Feature propagation :math:`Z = P^K X` for linear (SGC-style) models, exact and by local push.

:math:`P = D^{-\alpha} \tilde A D^{\alpha - 1}` with :math:`\tilde A = A + I` and :math:`D` the
degree matrix of :math:`\tilde A` (:math:`\alpha = 1/2`: the symmetric GCN normalisation), as in
Chien et al., "Certified Graph Unlearning" (2022). :class:`Adjacency` keeps :math:`\tilde A` as a
sorted CSR index (never a dense :math:`N \times N` matrix) so that edges can be removed and rows of
:math:`P h` recomputed locally. :class:`PushPropagation` is the layered forward push of Yi & Wei,
"Scalable and Certifiable Graph Unlearning" (ScaleGUN, ICLR 2025): a reserve :math:`q^{(\ell)}`
and a residue :math:`r^{(\ell)}` per layer, updated locally when the graph changes.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

#: values of one gathered block (entries x features) per chunk of the local kernels (2 MiB
#: in float64: small blocks are reused by the allocator instead of faulting in fresh pages)
_CHUNK_ENTRIES = 1 << 18


def normalize_rows(x: Tensor) -> Tensor:
    r"""Rows scaled to unit :math:`\ell_2` norm (zero rows stay zero): :math:`\lVert x_i\rVert \le 1`.

    Row-wise, so deleting one node's features changes only that node's row."""
    norm = x.norm(dim=1, keepdim=True)
    return x / norm.clamp_min(torch.finfo(x.dtype).tiny)


@dataclass
class Adjacency:
    r""":math:`\tilde A = A + I` of an undirected graph as a sorted CSR index.

    Attributes:
        row, col: ``[nnz]`` entries sorted by ``(row, col)``; both directions of every edge and
            one self-loop per node.
        crow: ``[N + 1]`` row pointers.
        deg: ``[N]`` degrees of :math:`\tilde A` (self-loop included), float64.
    """
    row: Tensor
    col: Tensor
    crow: Tensor
    deg: Tensor
    num_nodes: int

    @classmethod
    def from_edge_index(cls, edge_index: Tensor, num_nodes: int) -> "Adjacency":
        """Symmetrises ``edge_index``, drops duplicates and adds one self-loop per node."""
        dev = edge_index.device
        ei = edge_index.long()
        loops = torch.arange(num_nodes, device=dev)
        row = torch.cat([ei[0], ei[1], loops])
        col = torch.cat([ei[1], ei[0], loops])
        keys = torch.unique(row * num_nodes + col)          # sorted: CSR order
        return cls._from_keys(keys, num_nodes)

    @classmethod
    def _from_keys(cls, keys: Tensor, num_nodes: int) -> "Adjacency":
        row, col = keys // num_nodes, keys % num_nodes
        counts = torch.bincount(row, minlength=num_nodes)
        crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=keys.device)
        crow[1:] = torch.cumsum(counts, 0)
        return cls(row, col, crow, counts.double(), num_nodes)

    @property
    def num_edges(self) -> int:
        """Undirected edges without self-loops."""
        return int((self.row.numel() - self.num_nodes) // 2)

    def without_edges(self, pairs: Tensor) -> "Adjacency":
        """A new adjacency without the undirected edges ``pairs`` ``[2, k]`` (both directions;
        self-loops are kept). Pairs that are not edges are ignored.

        The entries to drop are found among the CSR rows of the pairs' endpoints only (no pass
        that computes keys for all entries); the rest is one compaction of the index."""
        n = self.num_nodes
        pairs = pairs.long().to(self.row.device)
        pairs = pairs[:, pairs[0] != pairs[1]]
        pos = self.find(torch.cat([pairs[0], pairs[1]]), torch.cat([pairs[1], pairs[0]]))
        keep = torch.ones_like(self.row, dtype=torch.bool)
        keep[pos] = False
        keep = keep.nonzero().view(-1)
        removed = torch.bincount(self.row[pos], minlength=n)
        crow = self.crow.clone()
        crow[1:] -= torch.cumsum(removed, 0)
        return Adjacency(self.row.index_select(0, keep), self.col.index_select(0, keep), crow,
                         self.deg - removed.to(self.deg.dtype), n)

    def find(self, src: Tensor, dst: Tensor) -> Tensor:
        r"""Sorted unique CSR positions of the entries ``(src[k], dst[k])`` that exist.

        Searches the (sorted) keys of the rows ``src`` only: :math:`O(\text{rows' entries})`."""
        n = self.num_nodes
        if src.numel() == 0:
            return src.new_zeros(0)
        owner, pos = self._entries(torch.unique(src))
        if pos.numel() == 0:
            return pos
        keys = owner * n + self.col[pos]                  # sorted: CSR order of sorted rows
        want = src * n + dst
        at = torch.searchsorted(keys, want).clamp_(max=keys.numel() - 1)
        return torch.unique(pos[at[keys[at] == want]])

    def weights(self, alpha: float) -> Tensor:
        r"""Values of :math:`P_{ij} = d_i^{-\alpha} d_j^{\alpha - 1}` on the entries."""
        return self.deg[self.row].pow(-alpha) * self.deg[self.col].pow(alpha - 1.0)

    def matrix(self, alpha: float, dtype: torch.dtype = torch.float64) -> Tensor:
        """:math:`P` as a sparse CSR tensor (rows = targets)."""
        with warnings.catch_warnings():   # torch flags its CSR support as beta
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(self.crow, self.col, self.weights(alpha).to(dtype),
                                           (self.num_nodes, self.num_nodes),
                                           check_invariants=False)

    def transpose_matrix(self, alpha: float, dtype: torch.dtype = torch.float64) -> Tensor:
        r""":math:`P^\top` as a sparse CSR tensor (:math:`\tilde A` is symmetric, so only the
        degree exponents swap)."""
        w = self.deg[self.row].pow(alpha - 1.0) * self.deg[self.col].pow(-alpha)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(self.crow, self.col, w.to(dtype),
                                           (self.num_nodes, self.num_nodes),
                                           check_invariants=False)

    def spectral_factor(self, alpha: float) -> float:
        r"""An upper bound on :math:`\lVert P^k \rVert_2` for every :math:`k`.

        :math:`P^k = D^{1/2-\alpha} N^k D^{\alpha-1/2}` with :math:`N` the symmetric normalisation
        (:math:`\lVert N\rVert_2 \le 1`), hence :math:`(d_{max}/d_{min})^{|\alpha - 1/2|}`."""
        return float((self.deg.max() / self.deg.min()) ** abs(alpha - 0.5))

    def _entries(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """(owner node, entry position) of every CSR entry of the rows ``nodes``."""
        local, pos = self._local_entries(nodes)
        return nodes[local], pos

    def _local_entries(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """(index into ``nodes`` of the owner, entry position) of every CSR entry of the rows
        ``nodes``."""
        start, stop = self.crow[nodes], self.crow[nodes + 1]
        counts = stop - start
        local = torch.repeat_interleave(torch.arange(nodes.numel(), device=nodes.device), counts)
        offset = torch.arange(local.numel(), device=nodes.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts)
        return local, torch.repeat_interleave(start, counts) + offset

    def rows_product(self, rows: Tensor, h: Tensor, alpha: float) -> Tensor:
        r""":math:`(P h)_{\text{rows}}` computed from those rows only (``[len(rows), d]``)."""
        out = h.new_zeros(rows.numel(), h.size(1))
        if rows.numel() == 0:
            return out
        local, pos = self._local_entries(rows)
        owner, col = rows[local], self.col[pos]
        w = self.deg[owner].pow(-alpha) * self.deg[col].pow(alpha - 1.0)
        gather_scatter(out, local, h, col, w)
        return out

    def scatter_columns(self, cols: Tensor, values: Tensor, alpha: float, out: Tensor) -> Tensor:
        r"""``out += P[:, cols] values`` in place, ``values`` ``[len(cols), d]`` (the rows
        ``cols`` of some :math:`h`); returns the rows of ``out`` it touched (with repeats).

        :math:`\tilde A` is symmetric, so column :math:`u` of :math:`P` has its non-zeros on the
        row :math:`u` of the CSR index: :math:`P_{iu} = d_i^{-\alpha} d_u^{\alpha-1}`."""
        if cols.numel() == 0:
            return cols.new_zeros(0)
        local, pos = self._local_entries(cols)
        owner, target = cols[local], self.col[pos]
        w = self.deg[target].pow(-alpha) * self.deg[owner].pow(alpha - 1.0)
        gather_scatter(out, target, values, local, w)
        return target

    def push_columns(self, cols: Tensor, h: Tensor, alpha: float, out: Tensor) -> Tensor:
        r"""``out += P[:, cols] h[cols]`` in place; returns the rows of ``out`` it touched
        (sorted, unique)."""
        touched = self.scatter_columns(cols, h.index_select(0, cols), alpha, out)
        return torch.unique(touched)

    def neighbourhood(self, nodes: Tensor) -> Tensor:
        """``nodes`` and their neighbours (sorted, unique)."""
        if nodes.numel() == 0:
            return nodes
        _, pos = self._entries(nodes)
        return torch.unique(torch.cat([nodes, self.col[pos]]))


def chunk_rows(width: int) -> int:
    """Rows of width ``width`` per chunk of the local kernels (``_CHUNK_ENTRIES`` values)."""
    return max(1, _CHUNK_ENTRIES // max(width, 1))


def unique_nodes(index: Tensor, num_nodes: int) -> Tensor:
    r"""The sorted distinct values of ``index`` (node ids below ``num_nodes``) through a node
    mask: :math:`O(N + \text{len(index)})` without a sort."""
    mask = torch.zeros(num_nodes, dtype=torch.bool, device=index.device)
    mask[index] = True
    return mask.nonzero().view(-1)


def gather_scatter(out: Tensor, out_index: Tensor, src: Tensor, src_index: Tensor,
                   weight: Tensor) -> None:
    r"""``out[out_index[e]] += weight[e] * src[src_index[e]]`` for every entry ``e``, in place.

    In chunks of ``_CHUNK_ENTRIES`` gathered values: the gathered block stays small (in cache,
    and below the allocator's threshold for fresh pages), so the cost is the entries' reads
    and writes, not page faults of a block as large as (entries x d)."""
    step = chunk_rows(src.size(1))
    weight = weight.to(src.dtype)
    for start in range(0, out_index.numel(), step):
        part = slice(start, start + step)
        block = src.index_select(0, src_index[part])
        block.mul_(weight[part].unsqueeze(1))
        out.index_add_(0, out_index[part], block)


def operator_change(old: Adjacency, new: Adjacency, ends: Tensor, h: Tensor, alpha: float,
                    out: Tensor, old_rows: Tensor | None = None) -> Tensor:
    r"""``out += (P' - P) h`` in place after deleting edges between the nodes ``ends``;
    returns the rows it changed (sorted).

    :math:`P'_{ij} - P_{ij}` is non-zero only where :math:`i` or :math:`j` is an endpoint
    (:math:`S`): rows :math:`i \in S` are recomputed whole; a row :math:`i \notin S` changes only
    through its entries :math:`j \in S`, :math:`d_i^{-\alpha}(d'^{\,\alpha-1}_j -
    d^{\alpha-1}_j) h_j` (an edge between :math:`S` and the rest is never deleted). Work:
    :math:`O(|S| \cdot \text{degree} \cdot d)`, written straight into ``out``. ``old_rows``:
    :math:`(P h)_S` if the caller knows it (else it is recomputed)."""
    in_s = torch.zeros(old.num_nodes, dtype=torch.bool, device=ends.device)
    in_s[ends] = True
    owner, pos = new._entries(ends)
    target = new.col[pos]
    outside = ~in_s[target]
    owner, target = owner[outside], target[outside]
    if old_rows is None:
        old_rows = old.rows_product(ends, h, alpha)
    out.index_add_(0, ends, new.rows_product(ends, h, alpha) - old_rows)
    w = new.deg[target].pow(-alpha) * (new.deg[owner].pow(alpha - 1.0)
                                       - old.deg[owner].pow(alpha - 1.0))
    gather_scatter(out, target, h, owner, w)
    return unique_nodes(torch.cat([ends, target]), old.num_nodes)


def propagate(adj: Adjacency, x: Tensor, num_hops: int, alpha: float = 0.5) -> Tensor:
    r""":math:`P^K x` by :math:`K` sparse CSR products, :math:`O(K |E| d)`."""
    p = adj.matrix(alpha, x.dtype)
    for _ in range(num_hops):
        x = p @ x
    return x


class PushPropagation:
    r"""Layered forward push for :math:`Z = P^L X` with residue threshold ``rmax`` (ScaleGUN).

    Per layer :math:`\ell`: a reserve :math:`q^{(\ell)}` (the estimate of :math:`P^\ell X`) and
    a residue defined by :math:`r^{(0)} = X - q^{(0)}`, :math:`r^{(\ell)} = P q^{(\ell-1)} -
    q^{(\ell)}`. Then :math:`P^L X - q^{(L)} = \sum_{\ell < L} P^{L-\ell} r^{(\ell)}`: the
    estimate is exact once every residue is zero (``rmax = 0``). Pushing node :math:`u` at layer
    :math:`\ell` moves :math:`r^{(\ell)}_u` into :math:`q^{(\ell)}_u` and adds
    :math:`P_{:,u} r^{(\ell)}_u` to :math:`r^{(\ell+1)}`; the last layer's residue is always
    absorbed. A push touches only a node's neighbours, so an update after a small graph change
    costs about (changed rows x degree x d), not :math:`O(L|E|d)`.

    Nodes are pushed in synchronous rounds (all rows of a layer whose largest residue exceeds
    :meth:`threshold`, ScaleGUN's degree-scaled ``rmax``, at once: vectorised); only rows whose
    residue changed are examined.
    """

    def __init__(self, adj: Adjacency, x: Tensor, num_layers: int, alpha: float = 0.5,
                 rmax: float = 0.0):
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not rmax >= 0:
            raise ValueError(f"rmax must be >= 0, got {rmax}")
        self.adj, self.num_layers, self.alpha, self.rmax = adj, num_layers, alpha, float(rmax)
        # the exact start (every residue zero) by L CSR products: the cheapest valid state
        p = adj.matrix(alpha, x.dtype)
        self.q = [x.clone()]
        for _ in range(num_layers):
            self.q.append(p @ self.q[-1])
        self.r = [torch.zeros_like(x) for _ in range(num_layers + 1)]
        self.r_sq = [x.new_zeros(x.size(0)) for _ in range(num_layers + 1)]
        self._dirty = [x.new_zeros(0, dtype=torch.long) for _ in range(num_layers + 1)]
        #: counts the changes of :attr:`features` (so that copies of its rows can tell if stale)
        self.version = getattr(self, "version", -1) + 1

    def apply_(self, fn) -> None:
        """Applies ``fn`` (e.g. a device move) to every tensor of the state."""
        a = self.adj
        self.adj = Adjacency(fn(a.row), fn(a.col), fn(a.crow), fn(a.deg), a.num_nodes)
        for name in ("q", "r", "r_sq", "_dirty"):
            setattr(self, name, [fn(t) for t in getattr(self, name)])

    def export_state(self) -> dict[str, Any]:
        """The whole state as plain values and tensors (a checkpoint loads it with
        ``weights_only=True``); :meth:`from_state` rebuilds it exactly."""
        a = self.adj
        return {"num_layers": self.num_layers, "alpha": float(self.alpha), "rmax": self.rmax,
                "num_nodes": a.num_nodes, "row": a.row, "col": a.col, "crow": a.crow, "deg": a.deg,
                "q": list(self.q), "r": list(self.r), "r_sq": list(self.r_sq), "dirty": list(self._dirty)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "PushPropagation":
        """The push state :meth:`export_state` wrote; a malformed one raises ``ValueError``."""
        if not isinstance(state, dict):
            raise ValueError(f"a push state is a dict, got {type(state).__name__}")
        missing = {"num_layers", "alpha", "rmax", "num_nodes", "row", "col", "crow", "deg", "q", "r",
                   "r_sq", "dirty"} - set(state)
        if missing:
            raise ValueError(f"the push state lacks {sorted(missing)}")
        layers, n = state["num_layers"], state["num_nodes"]
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1 \
                or isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"the push state has num_layers={layers!r}, num_nodes={n!r}")
        tensors = [state[k] for k in ("row", "col", "crow", "deg")]
        lists = [state[k] for k in ("q", "r", "r_sq", "dirty")]
        if not all(isinstance(t, Tensor) for t in tensors) or not all(
                isinstance(v, list) and len(v) == layers + 1 and all(isinstance(t, Tensor) for t in v)
                for v in lists):
            raise ValueError(f"the push state's adjacency must be tensors and q, r, r_sq, dirty lists "
                             f"of {layers + 1} tensors")
        if state["crow"].numel() != n + 1 or state["deg"].numel() != n or \
                any(t.size(0) != n for v in lists[:3] for t in v):
            raise ValueError(f"the push state's tensors do not fit its {n} nodes")
        out = cls.__new__(cls)
        out.adj = Adjacency(state["row"], state["col"], state["crow"], state["deg"], n)
        out.num_layers, out.alpha, out.rmax = layers, float(state["alpha"]), float(state["rmax"])
        out.q, out.r, out.r_sq, out._dirty = (list(v) for v in lists)
        out.version = 0
        return out

    @property
    def features(self) -> Tensor:
        """The estimate :math:`q^{(L)}` of :math:`P^L X` (all nodes)."""
        return self.q[self.num_layers]

    def residue_norm(self) -> float:
        r""":math:`\sum_{\ell<L} \lVert r^{(\ell)}\rVert_F` (0 when the estimate is exact)."""
        return float(sum(s.clamp_min(0).sum().sqrt() for s in self.r_sq[:self.num_layers]))

    def error_bound(self) -> float:
        r"""Upper bound on :math:`\lVert P^L X - q^{(L)}\rVert_F`:
        :math:`\kappa \sum_{\ell<L} \lVert r^{(\ell)}\rVert_F` with
        :math:`\kappa \ge \lVert P^k\rVert_2` (:meth:`Adjacency.spectral_factor`)."""
        return self.adj.spectral_factor(self.alpha) * self.residue_norm()

    def row_error_bound(self) -> float:
        r"""Upper bound on :math:`\sum_i \lVert(P^L X - q^{(L)})_i\rVert`, the sum of the error's
        row norms: :math:`\sum_{\ell<L} c^{L-\ell} \sum_j \lVert r^{(\ell)}_j\rVert` with
        :math:`c = \max_j \sum_i P_{ij}` (since :math:`\sum_i\lVert(Ph)_i\rVert \le \sum_j
        (\sum_i P_{ij})\lVert h_j\rVert`). Tight when the residues sit on few rows."""
        if all(not bool((s > 0).any()) for s in self.r_sq[:self.num_layers]):
            return 0.0
        adj = self.adj
        colsum = torch.zeros(adj.num_nodes, dtype=adj.deg.dtype, device=adj.deg.device)
        colsum.index_add_(0, adj.col, adj.weights(self.alpha))
        c = float(colsum.max())
        L = self.num_layers
        return float(sum(c ** (L - l) * self.r_sq[l].clamp_min(0).sqrt().sum() for l in range(L)))

    def error_times(self, w: Tensor) -> Tensor:
        r""":math:`E w` for the error :math:`E = P^L X - q^{(L)} = \sum_{\ell<L} P^{L-\ell}
        r^{(\ell)}` and ``w`` ``[d, C]``: ``[N, C]`` by Horner's rule, :math:`L` sparse products
        with :math:`C` columns (only residue rows enter the dense products)."""
        p = self.adj.matrix(self.alpha, w.dtype)
        h = w.new_zeros(self.adj.num_nodes, w.size(1))
        for layer in range(self.num_layers):
            if layer:
                h = p @ h
            rows = (self.r_sq[layer] > 0).nonzero().view(-1)
            h[rows] += self.r[layer][rows] @ w
        return p @ h

    def error_transpose_times(self, a: Tensor) -> Tensor:
        r""":math:`E^\top a = \sum_{\ell<L} r^{(\ell)\top} (P^\top)^{L-\ell} a` for ``a``
        ``[N, C]``: ``[d, C]``."""
        pt = self.adj.transpose_matrix(self.alpha, a.dtype)
        g = a
        out = a.new_zeros(self.r[0].size(1), a.size(1))
        for layer in reversed(range(self.num_layers)):
            g = pt @ g
            rows = (self.r_sq[layer] > 0).nonzero().view(-1)
            out += (g[rows].t() @ self.r[layer][rows]).t()     # = r^T g, MKL's faster form
        return out

    def restart(self) -> None:
        """Recomputes the state exactly from scratch on the current graph (all residues zero)."""
        x = self.q[0] + self.r[0]
        self.__init__(self.adj, x, self.num_layers, self.alpha, self.rmax)

    def _mark(self, layer: int, rows: Tensor) -> None:
        """Rows whose residue changed: :meth:`push` examines them (and refreshes ``r_sq``)."""
        self._dirty[layer] = torch.cat([self._dirty[layer], rows])

    def threshold(self, nodes: Tensor) -> Tensor:
        r"""The push threshold of ``nodes``: :math:`r_{max} d_u^{-\alpha}`.

        ScaleGUN (like InstantGNN) pushes on :math:`(\tilde A D^{-1})^\ell` applied to
        :math:`D^{\alpha} X` and compares the residues of *those* coordinates with
        :math:`r_{max}`; here :math:`P^\ell = D^{-\alpha}(\tilde A D^{-1})^\ell D^{\alpha}`
        keeps unscaled residues, so the same rule reads :math:`|r_u| > r_{max} d_u^{-\alpha}`."""
        return self.rmax * self.adj.deg[nodes].pow(-self.alpha)

    def push(self) -> Tensor:
        r"""Pushes every row of a layer :math:`\ell < L` whose largest residue exceeds
        :meth:`threshold` (every changed row when ``rmax = 0``), layer by layer; the last
        layer's residue is always absorbed, so pushes into layer :math:`L` go straight into
        :math:`q^{(L)}`. Returns the sorted rows of :math:`q^{(L)}` that changed (callers that
        need the previous values keep them: ``scalegun`` keeps the training rows).

        Work: the pushed rows' entries times :math:`d`; the graph-sized state is updated in
        place (no block as large as the changed rows is formed)."""
        L = self.num_layers
        reached = []
        for layer in range(L):
            cand = unique_nodes(self._dirty[layer], self.adj.num_nodes)
            self._dirty[layer] = cand[:0]
            if cand.numel() == 0:
                continue
            r = self.r[layer]
            values = r.index_select(0, cand)
            if self.rmax > 0:
                big_rows = values.abs().amax(1) > self.threshold(cand)
                small = ~big_rows
                self.r_sq[layer][cand[small]] = values[small].pow(2).sum(1)
                big, values = cand[big_rows], values[big_rows]
            else:                       # exact: push every changed row
                big = cand
            if big.numel() == 0:
                continue
            self.q[layer].index_add_(0, big, values)
            r.index_fill_(0, big, 0.0)
            self.r_sq[layer][big] = 0
            if layer + 1 < L:
                self._mark(layer + 1, self.adj.scatter_columns(big, values, self.alpha,
                                                               self.r[layer + 1]))
            else:
                reached.append(self.adj.scatter_columns(big, values, self.alpha, self.q[L]))
        pending = unique_nodes(self._dirty[L], self.adj.num_nodes)   # residue set by updates
        self._dirty[L] = pending[:0]
        if pending.numel():
            self.q[L].index_add_(0, pending, self.r[L].index_select(0, pending))
            self.r[L].index_fill_(0, pending, 0.0)
        self.version += 1
        return unique_nodes(torch.cat([pending, *reached]), self.adj.num_nodes)

    def remove_edges(self, pairs: Tensor) -> None:
        r"""Deletes undirected edges and restores the residue invariant locally, then pushes.

        With :math:`P'` the new operator, :math:`r'^{(\ell)} = r^{(\ell)} + (P' - P)
        q^{(\ell-1)}`; :math:`P' - P` is non-zero only on the rows of the endpoints and of their
        neighbours (their degrees enter the normalisation), so only those rows are recomputed.
        Call :meth:`push` afterwards."""
        old = self.adj
        new = old.without_edges(pairs)
        ends = torch.unique(pairs.reshape(-1)).to(old.row.device)
        for layer in range(1, self.num_layers + 1):
            # (P q^(l-1))_S = q^(l)_S + r^(l)_S by the invariant: no product under the old P
            known = self.q[layer].index_select(0, ends) + self.r[layer].index_select(0, ends)
            self._mark(layer, operator_change(old, new, ends, self.q[layer - 1], self.alpha,
                                              self.r[layer], known))
        self.adj = new

    def set_features(self, rows: Tensor, values: Tensor) -> None:
        """Replaces ``x[rows]`` by ``values`` (:math:`r^{(0)}` absorbs the change); call
        :meth:`push` afterwards."""
        self.r[0][rows] += values - self._x_rows(rows)
        self._mark(0, rows)

    def _x_rows(self, rows: Tensor) -> Tensor:
        # x = q^(0) + r^(0) by the invariant
        return self.q[0][rows] + self.r[0][rows]
