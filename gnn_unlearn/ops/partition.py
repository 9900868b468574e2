r"""Balanced graph partitions for shard-based (SISA) unlearning, vectorised on ``edge_index``.

Every function returns an assignment vector ``[N]`` (node -> shard id in ``0..K-1``). None
builds an :math:`N \times N` matrix: neighbour communities are counted with one scatter over
the edges, capacity-constrained assignments are greedy rounds over an :math:`N \times K` cost
matrix (replacing GraphEraser's LP and its Hungarian matching on an :math:`N \times N` cost
matrix), and GUIDE's spectral step multiplies a sparse :math:`W` with an :math:`N \times K`
block.

A partition computed from the graph depends on every node and edge in it, deleted ones
included. The shard-unlearning methods keep it after a deletion (the leak the papers accept)
unless asked to repartition; :func:`random_partition` alone depends on nothing but ``N``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.utils import subgraph

from gnn_unlearn.ops.graph import symmetrize, undirected_pairs


def _check_k(num_nodes: int, num_shards: int) -> None:
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"num_shards must be a positive int, got {num_shards!r}")
    if num_shards > num_nodes:
        raise ValueError(f"cannot split {num_nodes} nodes into {num_shards} non-empty shards; "
                         "use fewer shards")


def shard_capacity(num_nodes: int, num_shards: int, delta: float = 0.0) -> int:
    r"""GraphEraser's size cap :math:`\lceil N/K + \delta (N - N/K) \rceil`."""
    if not 0 <= delta < 1:
        raise ValueError(f"delta must lie in [0, 1), got {delta}")
    return math.ceil(num_nodes / num_shards + delta * (num_nodes - num_nodes / num_shards) - 1e-9)


def random_partition(num_nodes: int, num_shards: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> Tensor:
    """A random equal split (shard sizes differ by at most one). It depends only on
    ``num_nodes`` and the generator, never on the graph, so it survives any deletion."""
    _check_k(num_nodes, num_shards)
    perm = torch.randperm(num_nodes, generator=generator)
    out = torch.empty(num_nodes, dtype=torch.long)
    out[perm] = torch.arange(num_nodes) % num_shards
    return out.to(device) if device is not None else out


def _rank_in_group(group: Tensor, score: Tensor) -> Tensor:
    """Rank of each item within its group by descending ``score`` (ties by position)."""
    if group.numel() == 0:
        return group.clone()
    order = torch.argsort(score, descending=True, stable=True)
    order = order[torch.argsort(group[order], stable=True)]
    sorted_group = group[order]
    idx = torch.arange(sorted_group.numel(), device=group.device)
    first = torch.ones_like(sorted_group, dtype=torch.bool)
    first[1:] = sorted_group[1:] != sorted_group[:-1]
    start = torch.cummax(torch.where(first, idx, torch.zeros_like(idx)), 0).values
    rank = torch.empty_like(idx)
    rank[order] = idx - start
    return rank


def neighbour_counts(edge_index: Tensor, assignment: Tensor, num_shards: int) -> Tensor:
    """``[N, K]``: how many neighbours (in ``edge_index``, by target) each node has in each shard."""
    n = assignment.numel()
    src, dst = edge_index
    counts = torch.zeros(n * num_shards, dtype=torch.long, device=assignment.device)
    counts.index_add_(0, dst * num_shards + assignment[src], torch.ones_like(src))
    return counts.view(n, num_shards)


def balanced_lpa(edge_index: Tensor, num_nodes: int, num_shards: int, delta: float = 0.005,
                 max_iters: int = 30, terminate_delta: int = 0,
                 generator: torch.Generator | None = None) -> Tensor:
    r"""Balanced label propagation (GraphEraser's BLPA; Chen et al., "Graph Unlearning",
    CCS 2022), vectorised.

    Start from :func:`random_partition`. Each round every node proposes to move to the
    neighbouring shard holding most of its neighbours when the gain
    :math:`g = |N(v) \cap S_t| - |N(v) \cap S_{own}|` is positive (the paper also lets
    :math:`g = 0` propose, which only churns). Moves are accepted without an LP, keeping
    every shard at most :math:`\lceil N/K + \delta(N - N/K)\rceil` nodes:

    1. between each pair of shards, the top :math:`\min(n_{st}, n_{ts})` proposals each way
       swap (size-neutral);
    2. the remaining proposals into shard :math:`t` are accepted by decreasing gain while
       :math:`t` has room (outflows are not counted, so the cap always holds).

    Stops after ``max_iters`` rounds or when at most ``terminate_delta`` nodes moved.
    Cost per round: :math:`O(|E| + N \log N)` time, :math:`O(NK)` memory.
    """
    _check_k(num_nodes, num_shards)
    if max_iters < 0 or terminate_delta < 0:
        raise ValueError("max_iters and terminate_delta must be non-negative")
    device = edge_index.device
    k = num_shards
    cap = shard_capacity(num_nodes, k, delta)
    assign = random_partition(num_nodes, k, generator, device)
    for _ in range(max_iters):
        counts = neighbour_counts(edge_index, assign, k)
        own = counts.gather(1, assign.view(-1, 1)).view(-1)
        others = counts.masked_fill(torch.nn.functional.one_hot(assign, k).bool(), -1)
        best_count, target = others.max(1)
        gain = best_count - own
        movers = (gain > 0).nonzero().view(-1)
        if movers.numel() == 0:
            break
        s, t, g = assign[movers], target[movers], gain[movers]
        pair = s * k + t
        rank = _rank_in_group(pair, g.float())
        n_pair = torch.bincount(pair, minlength=k * k).view(k, k)
        swaps = torch.minimum(n_pair, n_pair.t())
        accept = rank < swaps.view(-1)[pair]
        rest = (~accept).nonzero().view(-1)
        size = torch.bincount(assign, minlength=k)
        room = (cap - size).clamp(min=0)
        rank_t = _rank_in_group(t[rest], g[rest].float())
        accept[rest[rank_t < room[t[rest]]]] = True
        moved = movers[accept]
        assign = assign.clone()
        assign[moved] = t[accept]
        if moved.numel() <= terminate_delta:
            break
    return assign


def capacity_assign(cost: Tensor, capacity: Tensor | int) -> Tensor:
    r"""Capacity-constrained assignment of ``N`` items to ``K`` bins by greedy rounds.

    Each round, every unassigned item proposes the cheapest bin that still has room; each
    bin takes its cheapest proposers up to its room. At most ``K`` rounds (each one fills a
    bin or places every remaining item). An :math:`O(NK)` stand-in for GraphEraser's
    Hungarian matching on an :math:`N \times N` cost matrix; with capacity
    :math:`\lceil N/K \rceil` every bin ends within one item of :math:`N/K`.

    Args:
        cost: ``[N, K]`` costs (e.g. squared distances to centroids).
        capacity: an int for every bin, or ``[K]``; their sum must be at least ``N``.
    """
    n, k = cost.shape
    cap = (torch.full((k,), int(capacity), dtype=torch.long, device=cost.device)
           if not isinstance(capacity, Tensor) else capacity.to(cost.device).long())
    if int(cap.sum()) < n:
        raise ValueError(f"total capacity {int(cap.sum())} is below the {n} items to place")
    assign = torch.full((n,), -1, dtype=torch.long, device=cost.device)
    room = cap.clone()
    for _ in range(k + 1):
        todo = (assign < 0).nonzero().view(-1)
        if todo.numel() == 0:
            break
        c = cost[todo].masked_fill((room <= 0).view(1, -1), float("inf"))
        choice = c.argmin(1)
        rank = _rank_in_group(choice, -c.gather(1, choice.view(-1, 1)).view(-1))
        ok = rank < room[choice]
        assign[todo[ok]] = choice[ok]
        room -= torch.bincount(choice[ok], minlength=k)
    return assign


def balanced_kmeans(embeddings: Tensor, num_shards: int, iters: int = 10,
                    capacity: int | None = None,
                    generator: torch.Generator | None = None) -> Tensor:
    r"""Balanced k-means (GraphEraser's BEKM), with :func:`capacity_assign` in place of the
    Hungarian matching.

    :math:`K` centroids are random rows of ``embeddings``; each iteration assigns the rows
    under a cap (default :math:`\lceil N/K \rceil`) by squared distance, then moves each
    centroid to the mean of its rows. Stops early when the assignment no longer changes.
    """
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be [N, d], got shape {tuple(embeddings.shape)}")
    n = embeddings.size(0)
    _check_k(n, num_shards)
    cap = capacity if capacity is not None else math.ceil(n / num_shards)
    x = embeddings.float()
    first = torch.randperm(n, generator=generator)[:num_shards].to(x.device)
    centroids = x[first]
    assign = None
    for _ in range(max(1, iters)):
        cost = torch.cdist(x, centroids).pow(2)
        new = capacity_assign(cost, cap)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        sizes = torch.bincount(assign, minlength=num_shards).clamp(min=1).unsqueeze(1)
        centroids = sums / sizes
    return assign


def metis_partition(edge_index: Tensor, num_nodes: int, num_shards: int,
                    recursive: bool = False) -> Tensor:
    """METIS membership vector (through torch-sparse or pyg-lib, as PyG's ``ClusterData``).

    Unlike OpenGU's wrapper, this returns each node's own part (``ClusterData`` sorts nodes
    by part; slicing the original order with its part pointers gives ranges of node ids).

    Raises:
        ImportError: when neither ``torch-sparse`` nor ``pyg-lib`` (with METIS) is installed.
    """
    import torch_geometric.typing as pyg_typing
    from torch_geometric.index import index2ptr
    from torch_geometric.utils import sort_edge_index

    _check_k(num_nodes, num_shards)
    if not (pyg_typing.WITH_TORCH_SPARSE or pyg_typing.WITH_METIS):
        raise ImportError("METIS partitioning needs torch-sparse or pyg-lib (built with METIS); "
                          "install one of them, or use partition='blpa', 'bekm' or 'random'")
    row, col = sort_edge_index(edge_index, num_nodes=num_nodes)
    indptr = index2ptr(row, size=num_nodes).cpu()
    cluster = None
    if pyg_typing.WITH_TORCH_SPARSE:
        try:
            cluster = torch.ops.torch_sparse.partition(indptr, col.cpu(), None, num_shards, recursive)
        except (AttributeError, RuntimeError):
            cluster = None
    if cluster is None and pyg_typing.WITH_METIS:
        import pyg_lib
        cluster = pyg_lib.partition.metis(indptr, col.cpu(), num_shards, recursive=recursive)
    if cluster is None:
        raise ImportError("the installed torch-sparse has no METIS; install pyg-lib with METIS")
    return cluster.long().to(edge_index.device)


def _sparse_normalised(edge_index: Tensor, num_nodes: int) -> Tensor:
    r""":math:`W = D^{-1/2}\bar A D^{-1/2}` of the symmetrised graph, sparse COO."""
    pairs = undirected_pairs(edge_index, num_nodes)
    both = symmetrize(pairs)
    deg = torch.bincount(both[0], minlength=num_nodes).double()
    inv = deg.clamp(min=1).rsqrt()
    w = inv[both[0]] * inv[both[1]]
    return torch.sparse_coo_tensor(both, w, (num_nodes, num_nodes), check_invariants=False).coalesce()


def fair_spectral_embedding(edge_index: Tensor, num_nodes: int, colours: Tensor,
                            num_shards: int, alpha: float = 1e-3, iters: int = 10,
                            generator: torch.Generator | None = None) -> Tensor:
    r"""GUIDE's fair and balanced spectral embedding (Wang et al., "Inductive Graph
    Unlearning", USENIX Security 2023), by generalised power iteration.

    Maximises :math:`\mathrm{Tr}(H^\top(\eta I + W)H) - \alpha\lVert F^\top H\rVert^2 +
    2\,\mathrm{Tr}(H^\top M_B)` over :math:`H^\top H = I` (:math:`H \in \mathbb R^{N\times K}`),
    with :math:`W = D^{-1/2}\bar A D^{-1/2}`, :math:`F` the one-hot ``colours``,
    :math:`M_B = \alpha F B`, :math:`B = (F^\top 1)(\sqrt{N/K}\,1_K^\top)/N`, and
    :math:`\eta = 1 \ge \lambda_{\max}(W)`. Each step: :math:`H \leftarrow UV^\top` from the
    thin SVD of :math:`2(\eta I + W)H - 2\alpha F(F^\top H) + 2M_B`. :math:`W` stays sparse and
    :math:`F` is applied as a scatter, so a step is :math:`O(|E|K + NK^2)`.
    """
    _check_k(num_nodes, num_shards)
    dev = edge_index.device
    w = _sparse_normalised(edge_index, num_nodes)
    colours = colours.to(dev).long()
    c = int(colours.max()) + 1
    counts = torch.bincount(colours, minlength=c).double()
    b = counts.view(-1, 1) * math.sqrt(num_nodes / num_shards) / num_nodes     # [C, 1] (same for all K)
    m_b = alpha * b[colours].expand(num_nodes, num_shards)
    h = torch.randn(num_nodes, num_shards, generator=generator, dtype=torch.double).to(dev)
    h = torch.linalg.qr(h).Q
    eta = 1.0          # lambda_max of a normalised adjacency is at most 1
    for _ in range(iters):
        ft_h = torch.zeros(c, num_shards, dtype=torch.double, device=dev).index_add_(0, colours, h)
        m = 2 * (eta * h + torch.sparse.mm(w, h)) - 2 * alpha * ft_h[colours] + 2 * m_b
        u, _, vh = torch.linalg.svd(m, full_matrices=False)
        h = u @ vh
    return h.float()


def _check_colours(colours: Tensor, num_nodes: int) -> None:
    if colours.shape != (num_nodes,) or colours.dtype in (torch.bool,) or colours.is_floating_point():
        raise ValueError(f"colours must be [N] integers, got shape {tuple(colours.shape)} and "
                         f"dtype {colours.dtype}")
    if bool((colours < 0).any()):
        raise ValueError("colours must be non-negative")


def _check_assignment(assignment: Tensor, colours: Tensor, num_shards: int) -> None:
    """An ``[N]`` shard assignment in ``0..K-1`` and ``[N]`` colours beside it."""
    _check_k(max(assignment.numel(), 1), num_shards)
    if assignment.dim() != 1 or assignment.dtype != torch.long:
        raise ValueError(f"assignment must be an [N] long tensor, got shape {tuple(assignment.shape)} "
                         f"and dtype {assignment.dtype}")
    if assignment.numel() and (int(assignment.min()) < 0 or int(assignment.max()) >= num_shards):
        raise ValueError(f"assignment must hold shard ids in 0..{num_shards - 1}")
    _check_colours(colours, assignment.numel())


def fair_partition(edge_index: Tensor, num_nodes: int, num_shards: int, colours: Tensor,
                   alpha: float = 1e-3, iters: int = 10, kmeans_iters: int = 10,
                   generator: torch.Generator | None = None, refine_rounds: int = 20) -> Tensor:
    r"""GUIDE's fair and balanced partition: the ``Fast`` variant with a capacity constraint, then
    every colour shared evenly (:func:`colour_fair_moves`) and fewer edges cut
    (:func:`colour_swap_refine`).

    Nodes with edges get :func:`fair_spectral_embedding` rows, clustered by
    :func:`balanced_kmeans` under the cap :math:`\lceil N/K \rceil`; zero-degree nodes are then
    poured into the shards with room, colour by colour, round-robin over shards (so each
    colour spreads evenly). GUIDE's spectral-rotation (``SR``) refinement, which seeks a fair and
    balanced partition that keeps the graph's structure, is not implemented. In its place:
    :func:`colour_fair_moves` gives every shard its share of every colour (the ``Fast``
    partition alone leaves the training labels less evenly spread than a random split: Cora,
    fairness 0.17 against 0.07), then ``refine_rounds`` rounds of :func:`colour_swap_refine` cut
    fewer edges while keeping every shard's size and colour mix. Fewer cut edges also mean fewer
    virtual neighbours from GUIDE's repair, so a deleted node touches fewer shards
    (``benchmarks/partition_quality.py``). ``refine_rounds=0`` gives the unrefined ``Fast``
    partition.

    Args:
        colours: ``[N]`` non-negative ints (GUIDE: labels; use training labels only and give
            unlabelled nodes their own colour, so no test label shapes the partition).
    """
    _check_k(num_nodes, num_shards)
    _check_colours(colours, num_nodes)
    if isinstance(refine_rounds, bool) or not isinstance(refine_rounds, int) or refine_rounds < 0:
        raise ValueError(f"refine_rounds must be an int >= 0, got {refine_rounds!r}")
    dev = edge_index.device
    colours = colours.to(dev).long()
    deg = torch.bincount(edge_index.reshape(-1), minlength=num_nodes)
    linked = (deg > 0).nonzero().view(-1)
    isolated = (deg == 0).nonzero().view(-1)
    cap = math.ceil(num_nodes / num_shards)
    assign = torch.full((num_nodes,), -1, dtype=torch.long, device=dev)
    if linked.numel() >= num_shards:
        # the spectral step on the linked nodes only (relabelled 0..n'-1; every edge is kept)
        sub = subgraph(linked, edge_index, relabel_nodes=True, num_nodes=num_nodes)[0]
        h = fair_spectral_embedding(sub, linked.numel(), colours[linked], num_shards, alpha, iters,
                                    generator)
        assign[linked] = balanced_kmeans(h, num_shards, kmeans_iters, capacity=cap, generator=generator)
    else:
        isolated = torch.arange(num_nodes, device=dev)
    if isolated.numel():
        room = (cap - torch.bincount(assign[assign >= 0], minlength=num_shards)).clamp(min=0)
        # slots ordered round-robin over shards: (0th free slot of every shard), (1st ...), ...
        slot_shard = torch.repeat_interleave(torch.arange(num_shards, device=dev), room)
        slot_pos = torch.arange(slot_shard.numel(), device=dev) - torch.repeat_interleave(
            torch.cumsum(room, 0) - room, room)
        slots = slot_shard[torch.argsort(slot_pos * num_shards + slot_shard)]
        by_colour = isolated[torch.argsort(colours[isolated], stable=True)]
        assign[by_colour] = slots[: by_colour.numel()]
    if refine_rounds == 0:
        return assign
    both = symmetrize(undirected_pairs(edge_index, num_nodes))
    assign = _fair_moves(both, assign, colours, num_shards)
    return _swap_refine(both, assign, colours, num_shards, refine_rounds)


def colour_fair_moves(edge_index: Tensor, assignment: Tensor, colours: Tensor, num_shards: int) -> Tensor:
    r"""Moves nodes so that every shard holds its share of every colour, only from over-share shards.

    Colour :math:`c` with :math:`n_c` nodes gets :math:`\lfloor n_c/K \rfloor` or one more per
    shard (the extra ones rotated over the shards colour after colour, so shard sizes stay
    within one of each other). A shard over its share gives up its least attached nodes of that
    colour (fewest neighbours in it), and they go to the shards under their share where they
    have the most neighbours (:func:`capacity_assign`). Every shard then holds
    :math:`\lfloor n_c/K \rfloor` or :math:`\lceil n_c/K \rceil` nodes of every colour; the
    edges this cuts are won back by :func:`colour_swap_refine`, which keeps those counts. One
    pass per colour, vectorised over nodes.
    """
    _check_assignment(assignment, colours, num_shards)
    both = symmetrize(undirected_pairs(edge_index.to(assignment.device), assignment.numel()))
    return _fair_moves(both, assignment, colours.to(assignment.device).long(), num_shards)


def _fair_moves(both: Tensor, assignment: Tensor, colours: Tensor, num_shards: int) -> Tensor:
    """:func:`colour_fair_moves` on the graph's pairs in both directions (``both``)."""
    n = assignment.numel()
    dev = assignment.device
    c_count = int(colours.max()) + 1 if n else 0
    counts = torch.bincount(colours * num_shards + assignment,
                            minlength=c_count * num_shards).view(c_count, num_shards)
    total = counts.sum(1)
    rem = total % num_shards
    offset = torch.cumsum(rem, 0) - rem
    slot = torch.arange(num_shards, device=dev).view(1, -1)
    target = (total // num_shards).view(-1, 1) + (((slot - offset.view(-1, 1)) % num_shards)
                                                   < rem.view(-1, 1)).long()
    near = neighbour_counts(both, assignment, num_shards)
    out = assignment.clone()
    for c in range(c_count):                     # one pass per colour (a handful), not per node
        excess = (counts[c] - target[c]).clamp(min=0)
        if int(excess.sum()) == 0:
            continue
        members = (colours == c).nonzero().view(-1)
        own = assignment[members]
        attached = near[members].gather(1, own.view(-1, 1)).view(-1)
        leaves = _rank_in_group(own, -attached.double()) < excess[own]
        movers = members[leaves]
        room = (target[c] - counts[c]).clamp(min=0)
        cost = (-near[movers].double()).masked_fill((room == 0).view(1, -1), float("inf"))
        out[movers] = capacity_assign(cost, room)
    return out


def colour_swap_refine(edge_index: Tensor, assignment: Tensor, colours: Tensor, num_shards: int,
                       rounds: int = 20) -> Tensor:
    r"""Fewer cut edges at exactly the same shard sizes and colour mix, by batched swaps.

    A node :math:`u` of colour :math:`c` in shard :math:`A` gains
    :math:`g_u = n_u(B) - n_u(A)` cut edges removed by moving to shard :math:`B` (its
    neighbour counts in each shard; :math:`B` its best other shard). Swapping it with a node
    :math:`v` of the *same colour* moving :math:`B \to A` leaves every shard's size and colour
    counts unchanged, so GUIDE's balance and fairness scores are kept exactly, while the cut
    falls by :math:`g_u + g_v` (less 2 if :math:`u, v` are adjacent). Each round pairs, per
    (colour, :math:`\{A, B\}`), the :math:`A \to B` and :math:`B \to A` candidates in
    descending gain and applies every pair with :math:`g_u + g_v > 0` at once (a
    Kernighan-Lin pass, vectorised: no loop over nodes). Simultaneous swaps can interact: a
    batch that does not lower the cut is undone and the best half of it tried instead
    (refinement stops when even the best single swap does not help). This optimises the
    structure term :math:`\mathrm{Tr}(H^\top W H)` of GUIDE's objective (Wang et al., USENIX
    Security 2023) under its balance and fairness constraints, as GUIDE's spectral rotation step
    does (not implemented here); it is deterministic (ties by node index).
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds must be an int >= 0, got {rounds!r}")
    _check_assignment(assignment, colours, num_shards)
    both = symmetrize(undirected_pairs(edge_index.to(assignment.device), assignment.numel()))
    return _swap_refine(both, assignment, colours.to(assignment.device).long(), num_shards, rounds)


def _swap_refine(both: Tensor, assignment: Tensor, colours: Tensor, num_shards: int, rounds: int) -> Tensor:
    """:func:`colour_swap_refine` on the graph's pairs in both directions (``both``)."""
    n = assignment.numel()
    assign = assignment.clone()

    def cut(a: Tensor) -> int:
        return int((a[both[0]] != a[both[1]]).sum())

    current = cut(assign)
    big = 2 * n + 1
    share = 1.0
    for _ in range(rounds):
        counts = neighbour_counts(both, assign, num_shards)
        own = counts.gather(1, assign.view(-1, 1)).view(-1)
        others = counts.masked_fill(torch.nn.functional.one_hot(assign, num_shards).bool(), -big)
        best_count, target = others.max(1)
        gain = best_count - own
        # candidates grouped by (colour, A, B); the partner group is (colour, B, A)
        group = (colours * num_shards + assign) * num_shards + target
        partner = (colours * num_shards + target) * num_shards + assign
        rank = _rank_in_group(group, gain)
        forward = assign < target                        # pair every A < B mover with a B -> A one
        key_f = group[forward] * n + rank[forward]
        back = ~forward
        key_b = partner[back] * n + rank[back]           # the same key as its forward partner
        if key_b.numel() == 0:
            break
        order = torch.argsort(key_b)
        sorted_b = key_b[order]
        pos = torch.searchsorted(sorted_b, key_f).clamp(max=sorted_b.numel() - 1)
        matched = sorted_b[pos] == key_f
        u = forward.nonzero().view(-1)[matched]
        v = back.nonzero().view(-1)[order[pos[matched]]]
        pair_gain = gain[u] + gain[v]
        take = torch.argsort(pair_gain, descending=True, stable=True)[: int((pair_gain > 0).sum())]
        if take.numel() == 0:
            break
        # the best pairs first; a batch whose swaps interfere is halved until it helps
        while True:
            size = max(1, math.ceil(take.numel() * share))
            uu, vv = u[take[:size]], v[take[:size]]
            trial = assign.clone()
            trial[uu], trial[vv] = assign[vv], assign[uu]
            after = cut(trial)
            if after < current or size == 1:
                break
            share /= 2
        if after >= current:
            break
        assign, current = trial, after
        share = min(1.0, share * 2)
    return assign


def graph_balance(assignment: Tensor, num_shards: int) -> float:
    r"""GUIDE's balance score :math:`\sum_k \big| |S_k| - N/K \big| / 2N` (0 = perfectly balanced)."""
    n = assignment.numel()
    sizes = torch.bincount(assignment, minlength=num_shards).double()
    return float((sizes - n / num_shards).abs().sum() / (2 * n))


def graph_fairness(assignment: Tensor, colours: Tensor, num_shards: int) -> float:
    r"""GUIDE's fairness gap: mean over shards of :math:`\tfrac12\sum_c |p_{kc} - p_c|`
    (0 = every shard has the global colour mix)."""
    c = int(colours.max()) + 1
    joint = torch.bincount(assignment * c + colours, minlength=num_shards * c).view(num_shards, c).double()
    p_k = joint / joint.sum(1, keepdim=True).clamp(min=1)
    p = joint.sum(0) / joint.sum()
    return float(0.5 * (p_k - p).abs().sum(1).mean())
