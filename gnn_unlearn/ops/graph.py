"""Vectorised helpers on ``edge_index`` tensors (no Python loops over nodes or edges)."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data


def edge_keys(edge_index: Tensor, num_nodes: int, undirected: bool = True) -> Tensor:
    r"""Encodes each pair :math:`(u, v)` as one ``int64`` key.

    For undirected graphs the key is :math:`\min(u,v) \cdot N + \max(u,v)`, so both
    directions of an edge share a key. ``num_nodes ** 2`` must fit in ``int64``
    (true for up to ~3 billion nodes).
    """
    row, col = edge_index[0].long(), edge_index[1].long()
    if undirected:
        row, col = torch.minimum(row, col), torch.maximum(row, col)
    return row * num_nodes + col


def undirected_pairs(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Returns each undirected edge once as ``(u, v)`` with ``u < v``, sorted.

    Self-loops are dropped; duplicate and reverse edges collapse into one pair.
    """
    keys = edge_keys(edge_index, num_nodes)
    keys = keys[edge_index[0] != edge_index[1]]
    keys = torch.unique(keys)
    return torch.stack([keys // num_nodes, keys % num_nodes])


def symmetrize(pairs: Tensor) -> Tensor:
    """Message-passing ``edge_index`` with both directions of each pair."""
    return torch.cat([pairs, pairs.flip(0)], dim=1)


def lookup_edges(query: Tensor, reference: Tensor, num_nodes: int,
                 undirected: bool = True) -> tuple[Tensor, Tensor]:
    """Finds the column of each ``query`` pair in ``reference``.

    Returns ``(index, found)``: ``index[i]`` is the position of ``query[:, i]`` in
    ``reference`` (only meaningful where ``found[i]``). Sort + binary search:
    :math:`O((|Q| + |R|) \\log |R|)` time and :math:`O(|R|)` memory.
    """
    ref_keys = edge_keys(reference, num_nodes, undirected)
    sorted_keys, order = torch.sort(ref_keys)
    q_keys = edge_keys(query, num_nodes, undirected)
    pos = torch.searchsorted(sorted_keys, q_keys).clamp_(max=max(len(sorted_keys) - 1, 0))
    if len(sorted_keys) == 0:
        return torch.zeros_like(q_keys), torch.zeros_like(q_keys, dtype=torch.bool)
    found = sorted_keys[pos] == q_keys
    return order[pos], found


def hop_distance(edge_index: Tensor, seeds: Tensor, num_hops: int, num_nodes: int) -> Tensor:
    r"""Hop distance of every node from a seed set, up to ``num_hops``.

    Edges are followed in both directions. Nodes further than ``num_hops`` (or
    unreachable) get ``num_hops + 1``. One vectorised frontier expansion per hop
    (:math:`O(k |E|)`), which gives every :math:`l`-hop region
    (``dist <= l``) at once, unlike :func:`torch_geometric.utils.k_hop_subgraph`
    that returns a single radius.

    Args:
        edge_index: ``[2, E]`` edges.
        seeds: boolean mask ``[N]`` or index tensor of seed nodes.
        num_hops: the radius.
        num_nodes: ``N``.
    """
    device = edge_index.device
    if seeds.dtype != torch.bool:
        mask = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        mask[seeds] = True
        seeds = mask
    src, dst = edge_index[0], edge_index[1]
    dist = torch.full((num_nodes,), num_hops + 1, dtype=torch.long, device=device)
    dist[seeds] = 0
    reached = seeds.clone()
    frontier = seeds
    for hop in range(1, num_hops + 1):
        nxt = torch.zeros_like(reached)
        # both directions, one at a time (no [2E] copies of the edges: 1.8 GB at 56 M edges)
        nxt[dst[frontier[src]]] = True
        nxt[src[frontier[dst]]] = True
        nxt &= ~reached
        if not bool(nxt.any()):
            break
        dist[nxt] = hop
        reached |= nxt
        frontier = nxt
    return dist


def is_bipartite(data: Data) -> bool:
    """True for user-item graphs (they carry ``num_users`` and ``num_items``)."""
    return getattr(data, "num_users", None) is not None


def training_edges(data: Data) -> Tensor:
    """The undirected training edges, each pair once (``[2, T]``, ``u < v``).

    ``data.train_pos_edge_index`` when the graph has a link split, otherwise every
    edge of ``data.edge_index`` (a node-classification graph trains on all of them).
    """
    if getattr(data, "train_pos_edge_index", None) is not None:
        return data.train_pos_edge_index
    return undirected_pairs(data.edge_index, data.num_nodes)


def _count(n: int) -> str:
    return f"{n:,}"


def check_graph_layout(data: Data, strict: bool = True) -> None:
    """Refuses a graph whose undirected layout would make a deletion silently partial.

    The library keeps every undirected training edge once (``train_pos_edge_index``, or
    the pairs of ``edge_index`` when there is no link split) and passes messages over
    both directions (``edge_index``). A deletion removes a pair in both directions from
    message passing, supervision, negatives and the retained graph. Three layouts break
    that and are refused here with what to do:

    * ``train_pos_edge_index`` holding both directions of a pair (PyG's ``to_undirected``
      convention): a request would mark one direction and leave the other in training;
    * ``edge_index`` that is not symmetric (one direction of some pair only);
    * ``edge_index`` passing messages over pairs that are not training edges (validation
      or test edges leaking into message passing), or missing training pairs.

    :func:`gnn_unlearn.data.prepare_data` converts such graphs (and PyG / OGB splits).
    With ``strict=False`` (training a model, e.g. a shard graph with GUIDE's virtual
    neighbours) message passing may hold pairs that are not training edges, or miss some,
    as long as none of them is a validation or test edge.
    Cost: a few sorts of ``E`` keys, :math:`O(E \\log E)`.
    """
    n = data.num_nodes
    ei = data.edge_index
    fix = ("convert it with gnn_unlearn.data.prepare_data(...), which takes PyG RandomLinkSplit "
           "output, OGB split dicts and splits in either direction convention")
    train = getattr(data, "train_pos_edge_index", None)
    if train is not None:
        keys = edge_keys(train, n)
        uniq = torch.unique(keys)
        if uniq.numel() != keys.numel():
            directed = torch.unique(edge_keys(train, n, undirected=False))
            both = directed.numel() - uniq.numel()
            repeats = keys.numel() - directed.numel()
            what = []
            if both:
                what.append(f"both directions of {_count(both)} of its {_count(uniq.numel())} "
                            "undirected pairs")
            if repeats:
                what.append(f"{_count(repeats)} repeated pairs")
            raise ValueError(
                f"data.train_pos_edge_index holds {' and '.join(what)}; the library keeps each "
                "undirected training edge once so that a deletion removes it in both directions "
                f"(otherwise one direction would stay in training): {fix}")
    # message passing: symmetric, and (with a link split) exactly the training pairs
    directed = edge_keys(ei, n, undirected=False)
    reverse = edge_keys(ei.flip(0), n, undirected=False)
    sorted_keys = torch.sort(directed)[0]
    if sorted_keys.numel():
        pos = torch.searchsorted(sorted_keys, reverse).clamp_(max=sorted_keys.numel() - 1)
        one_way = int((sorted_keys[pos] != reverse).sum())
        if one_way:
            raise ValueError(
                f"data.edge_index is not symmetric: {_count(one_way)} of its {_count(ei.size(1))} "
                "edges have no reverse edge, so messages would flow one way only and a deleted "
                "pair could not be removed in both directions; add the reverse edges "
                "(torch_geometric.transforms.ToUndirected()) or " + fix)
    if train is not None:
        mp = torch.unique(edge_keys(ei, n))
        mp = mp[mp // n != mp % n]  # self-loops are the model's business, not an edge
        tr = uniq                   # the training keys, sorted and (checked above) distinct
        extra = int((~torch.isin(mp, tr)).sum())
        missing = int((~torch.isin(tr, mp)).sum())
        if not strict:      # only a val/test edge in message passing is refused (a leak)
            missing = 0
            held = [getattr(data, f"{k}_pos_edge_index", None) for k in ("val", "test")]
            held = [h for h in held if h is not None and h.numel()]
            if not held or not bool(torch.isin(mp, edge_keys(torch.cat(held, 1), n)).any()):
                extra = 0
        if extra or missing:
            detail = []
            if extra:
                leak = []
                for split in ("val", "test"):
                    ref = getattr(data, f"{split}_pos_edge_index", None)
                    if ref is not None and ref.numel():
                        k = int(torch.isin(mp, edge_keys(ref, n)).sum())
                        if k:
                            leak.append(f"{_count(k)} are {split} edges")
                detail.append(f"{_count(extra)} message-passing pairs are not training edges"
                              + (f" ({', '.join(leak)}: a leak)" if leak else ""))
            if missing:
                detail.append(f"{_count(missing)} training edges are missing from edge_index")
            raise ValueError(
                f"data.edge_index must hold exactly the training edges in both directions, but "
                f"{' and '.join(detail)}; set data.edge_index = "
                "gnn_unlearn.ops.symmetrize(data.train_pos_edge_index) or " + fix)


def check_node_features(data: Data) -> None:
    """Refuses NaN / infinite node features before any training or unlearning step."""
    x = getattr(data, "x", None)
    if x is None or not isinstance(x, Tensor) or not x.is_floating_point():
        return
    values = x.values() if x.is_sparse else x
    bad = ~torch.isfinite(values)
    if bool(bad.any()):
        rows = int(bad.reshape(values.size(0), -1).any(1).sum()) if not x.is_sparse else int(bad.sum())
        raise ValueError(f"data.x holds {int(bad.sum()):,} NaN or infinite entries (in {rows:,} "
                         "rows); clean or impute the features first (e.g. torch.nan_to_num)")


def graph_digest(data: Data) -> str:
    """A short digest of what a model trains on: node count, feature shape, the training
    pairs (as sorted undirected keys) and the node split masks.

    Recorded on every trained or unlearned model (``model.data_signature``) and in its
    checkpoint, so that a request resolved on another graph or another split of the same
    dataset is refused instead of silently unlearning the wrong edges.
    """
    import hashlib
    h = hashlib.sha256()
    x = getattr(data, "x", None)
    h.update(repr((int(data.num_nodes), None if x is None else tuple(x.shape))).encode())
    keys = torch.sort(edge_keys(training_edges(data), data.num_nodes))[0]
    h.update(keys.cpu().numpy().tobytes())
    for key in ("train_mask", "val_mask", "test_mask"):
        mask = getattr(data, key, None)
        if mask is not None:
            h.update(key.encode() + mask.cpu().numpy().tobytes())
    return h.hexdigest()[:16]

