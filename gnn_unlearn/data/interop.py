"""``prepare_data``: the one way in for graphs and splits made outside the library.

Users arrive with what PyG and OGB made, or with their own split:

* a PyG ``Data`` with only ``edge_index`` (the library splits it: :func:`link_split` /
  :func:`node_split`);
* the ``(train_data, val_data, test_data)`` triple of
  :class:`torch_geometric.transforms.RandomLinkSplit` (``edge_label_index`` /
  ``edge_label`` per split, or ``pos_/neg_edge_label_index`` with ``split_labels=True``);
* an OGB link split dict (``dataset.get_edge_split()``: ``{"train": {"edge": [E, 2]},
  "valid": {"edge", "edge_neg"}, "test": {...}}``) beside the graph;
* a ``Data`` with ``train_pos_edge_index`` / ``val_pos_edge_index`` / ``test_pos_edge_index``
  (and optionally ``*_neg_edge_index``) in either direction convention: each undirected
  pair once, or both directions of each pair (PyG's ``to_undirected``, the GNNDelete code).

All become the library's layout, in which a deletion removes a pair in both directions
everywhere: every undirected training pair once in ``train_pos_edge_index`` (``u < v``,
sorted), ``edge_index`` = those pairs in both directions, validation / test positives once
each, and negatives that touch no positive pair. A layout that cannot be read one way only
(some pairs in both directions, others in one) is refused unless ``undirected=True`` says
to merge directions. What was converted is recorded in ``data.split_info``.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from gnn_unlearn.data.splits import link_split, node_split
from gnn_unlearn.ops.graph import check_graph_layout, edge_keys, is_bipartite, symmetrize
from gnn_unlearn.ops.negative import sample_non_edges

SPLITS = ("train", "val", "test")


def _count(n: int) -> str:
    return f"{n:,}"


def _as_pairs(value: Any, what: str, num_nodes: int) -> Tensor:
    """A ``[2, k]`` long tensor of node ids in range (``[k, 2]`` as OGB stores them is accepted)."""
    t = torch.as_tensor(value)
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"{what} must hold integer node ids, got dtype {t.dtype}")
    if t.dim() != 2 or 2 not in t.shape:
        raise ValueError(f"{what} must have shape [2, k] (or [k, 2] as OGB stores it), got {tuple(t.shape)}")
    if t.size(0) != 2:
        t = t.t()
    t = t.long().contiguous()
    bad = int(((t < 0) | (t >= num_nodes)).any(0).sum())
    if bad:
        raise ValueError(f"{bad} pairs of {what} refer to nodes outside 0..{num_nodes - 1}")
    return t


def canonical_pairs(pairs: Tensor, num_nodes: int, what: str,
                    undirected: bool | None = None) -> tuple[Tensor, dict[str, Any]]:
    """Each undirected pair once (``u < v``, sorted), after reading the direction convention.

    Returns the pairs and what was found: ``convention`` (``"one direction"``,
    ``"both directions"`` or ``"merged"``), repeated pairs and self-loops dropped.

    Raises:
        ValueError: when some pairs come in both directions and others in one only and
            ``undirected`` is not ``True`` (a directed graph with a few reciprocal edges
            and an undirected graph with a few missing reverses look the same).
    """
    loops = pairs[0] == pairs[1]
    directed = torch.unique(edge_keys(pairs[:, ~loops], num_nodes, undirected=False))
    repeats = int((~loops).sum()) - directed.numel()
    und = torch.unique(edge_keys(pairs[:, ~loops], num_nodes))
    both = directed.numel() - und.numel()          # pairs present in both directions
    one = und.numel() - both
    if both and one:
        if undirected is not True:
            raise ValueError(
                f"{what} holds {_count(both)} pairs in both directions and {_count(one)} in one "
                "direction only, so its convention is ambiguous; the library treats edges as "
                "undirected: pass undirected=True to merge the two directions of each pair "
                "(a deletion then removes both)")
        convention = "merged"
    else:
        convention = "both directions" if both else "one direction"
    info = {"convention": convention, "pairs": int(und.numel())}
    if repeats:
        info["repeated_pairs_merged"] = repeats
    if int(loops.sum()):
        info["self_loops_dropped"] = int(loops.sum())
    return torch.stack([und // num_nodes, und % num_nodes]), info


def _check_disjoint(parts: Mapping[str, Tensor], num_nodes: int) -> None:
    keys = {k: torch.unique(edge_keys(v, num_nodes)) for k, v in parts.items() if v is not None}
    names = list(keys)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = int(torch.isin(keys[a], keys[b]).sum())
            if both:
                raise ValueError(
                    f"{_count(both)} pairs are both {a} and {b} edges (counting either direction); "
                    "a split must keep each undirected pair in one part only, or the model is "
                    "scored on what it trained on (with RandomLinkSplit pass is_undirected=True)")


def _finish(data: Data, train: Tensor, pos: dict[str, Tensor], neg: dict[str, Tensor | None],
            info: dict[str, Any], seed: int) -> Data:
    """Validated library layout from canonical positives and (possibly missing) negatives."""
    n = data.num_nodes
    if train.size(1) == 0:
        raise ValueError("the split has no training edges")
    for split in ("val", "test"):
        if pos[split].size(1) == 0:
            raise ValueError(f"the split has no {split} positive edges; the library selects models on "
                             "validation edges and scores on test edges")
    _check_disjoint({"train": train, "val": pos["val"], "test": pos["test"]}, n)
    all_pos = torch.cat([train, pos["val"], pos["test"]], 1)
    pos_keys = torch.unique(edge_keys(all_pos, n))
    g = torch.Generator().manual_seed(seed)
    out = copy.copy(data)
    ranges = {}
    if is_bipartite(data):
        nu = int(data.num_users)
        ranges = dict(source_range=(0, nu), target_range=(nu, n))
    for split in ("val", "test"):
        given = neg.get(split)
        if given is None or given.size(1) == 0:
            given = sample_non_edges(all_pos, n, pos[split].size(1), generator=g, **ranges)
            info[f"{split}_negatives"] = f"sampled ({given.size(1)}, seed {seed})"
        else:
            clash = int(torch.isin(edge_keys(given, n), pos_keys).sum())
            if clash:
                raise ValueError(f"{_count(clash)} {split} negatives are positive edges of the graph "
                                 "(in some split, either direction); negatives must be non-edges")
            info[f"{split}_negatives"] = f"given ({given.size(1)})"
        out[f"{split}_neg_edge_index"] = given
        out[f"{split}_pos_edge_index"] = pos[split]
    out.train_pos_edge_index = train
    out.edge_index = symmetrize(train)
    for key in ("edge_label", "edge_label_index", "pos_edge_label", "pos_edge_label_index",
                "neg_edge_label", "neg_edge_label_index", "edge_attr", "edge_weight"):
        if key in out:
            del out[key]
    out.split_info = info
    check_graph_layout(out)
    return out


def _labelled(store: Data, what: str) -> tuple[Tensor, Tensor | None]:
    """(positives, negatives) of one RandomLinkSplit output."""
    if getattr(store, "pos_edge_label_index", None) is not None:      # split_labels=True
        return store.pos_edge_label_index, getattr(store, "neg_edge_label_index", None)
    index, label = getattr(store, "edge_label_index", None), getattr(store, "edge_label", None)
    if index is None or label is None:
        raise ValueError(f"{what} has no edge_label_index / edge_label: is it RandomLinkSplit output?")
    label = label.view(-1)
    values = torch.unique(label).tolist()
    if not set(values) <= {0, 1}:
        raise ValueError(f"{what}.edge_label holds {values[:5]}; only 1 (edge) / 0 (non-edge) labels "
                         "are understood (RandomLinkSplit on a graph without its own edge_label)")
    return index[:, label == 1], index[:, label == 0]


def _from_random_link_split(parts: Sequence[Data], undirected: bool | None, seed: int) -> Data:
    train_d, val_d, test_d = parts
    n = train_d.num_nodes
    if val_d.num_nodes != n or test_d.num_nodes != n:
        raise ValueError("the three RandomLinkSplit parts have different numbers of nodes")
    info: dict[str, Any] = {"source": "RandomLinkSplit"}
    labelled = {s: _labelled(d, f"{s}_data") for s, d in zip(SPLITS, parts)}
    pos, neg = {}, {}
    for split in SPLITS:
        p, q = labelled[split]
        pos[split], info[f"{split}_positives"] = canonical_pairs(
            _as_pairs(p, f"{split}_data positives", n), n, f"{split}_data positives", undirected)
        neg[split] = None if q is None or q.numel() == 0 else canonical_pairs(
            _as_pairs(q, f"{split}_data negatives", n), n, f"{split}_data negatives", True)[0]
    # message passing must be exactly the training supervision edges (disjoint_train_ratio=0)
    mp, info["message_passing"] = canonical_pairs(_as_pairs(train_d.edge_index, "train_data.edge_index", n),
                                                  n, "train_data.edge_index", undirected)
    a, b = torch.unique(edge_keys(mp, n)), torch.unique(edge_keys(pos["train"], n))
    if a.numel() != b.numel() or not bool((a == b).all()):
        raise ValueError(
            "train_data.edge_index (message passing) and the training positives differ: "
            f"{_count(int((~torch.isin(a, b)).sum()))} message-passing pairs are not supervised and "
            f"{_count(int((~torch.isin(b, a)).sum()))} supervised pairs pass no messages. The library "
            "unlearns edges that are both; make the split with RandomLinkSplit(disjoint_train_ratio=0.0)")
    if neg["train"] is not None:
        info["train_negatives"] = "ignored (the library samples fresh negatives every epoch)"
    data = copy.copy(train_d)
    return _finish(data, pos["train"], pos, neg, info, seed)


def _from_ogb_split(data: Data, split: Mapping[str, Any], undirected: bool | None, seed: int) -> Data:
    n = data.num_nodes
    names = {"train": "train", "val": "valid", "test": "test"}
    missing = [v for v in names.values() if v not in split]
    if missing:
        raise ValueError(f"the split dict has no {missing}; expected OGB's get_edge_split() layout "
                         "{'train': {'edge': ...}, 'valid': {'edge', 'edge_neg'}, 'test': {...}}")
    if any("edge" not in split[v] for v in names.values()):
        if "source_node" in split["train"]:
            raise ValueError("this OGB split ranks each source against its own negative targets "
                             "(ogbl-citation2 style: source_node / target_node / target_node_neg); "
                             "the library's link protocol needs pair lists: build one with "
                             "edge=torch.stack([source_node, target_node], 1)")
        raise ValueError("each part of the split dict needs an 'edge' entry ([E, 2] node pairs)")
    info: dict[str, Any] = {"source": "OGB split dict"}
    pos, neg = {}, {}
    for ours, theirs in names.items():
        pos[ours], info[f"{ours}_positives"] = canonical_pairs(
            _as_pairs(split[theirs]["edge"], f"split[{theirs!r}]['edge']", n), n,
            f"split[{theirs!r}]['edge']", True if ours == "train" and undirected is None else undirected)
        e_neg = split[theirs].get("edge_neg")
        neg[ours] = None if e_neg is None else canonical_pairs(
            _as_pairs(e_neg, f"split[{theirs!r}]['edge_neg']", n), n, "negatives", True)[0]
    if "edge_neg" in split["train"]:
        info["train_negatives"] = "ignored (the library samples fresh negatives every epoch)"
    out = copy.copy(data)
    return _finish(out, pos["train"], pos, neg, info, seed)


def _from_user_split(data: Data, undirected: bool | None, seed: int) -> Data:
    n = data.num_nodes
    info: dict[str, Any] = {"source": "user split (train/val/test_pos_edge_index)"}
    pos, neg = {}, {}
    for split in SPLITS:
        t = getattr(data, f"{split}_pos_edge_index", None)
        if t is None:
            raise ValueError(f"the graph has train_pos_edge_index but no {split}_pos_edge_index; pass "
                             "all three positive sets (or none, and let the library split edge_index)")
        pos[split], info[f"{split}_positives"] = canonical_pairs(
            _as_pairs(t, f"{split}_pos_edge_index", n), n, f"{split}_pos_edge_index", undirected)
        q = getattr(data, f"{split}_neg_edge_index", None)
        neg[split] = None if q is None or q.numel() == 0 else canonical_pairs(
            _as_pairs(q, f"{split}_neg_edge_index", n), n, f"{split}_neg_edge_index", True)[0]
    ei = getattr(data, "edge_index", None)
    if ei is not None and ei.numel():
        mp, info["message_passing"] = canonical_pairs(_as_pairs(ei, "edge_index", n), n, "edge_index",
                                                      True)
        a, b = torch.unique(edge_keys(mp, n)), torch.unique(edge_keys(pos["train"], n))
        extra = a[~torch.isin(a, b)]
        if extra.numel():
            held = torch.cat([pos["val"], pos["test"]], 1)
            leak = int(torch.isin(extra, edge_keys(held, n)).sum())
            raise ValueError(
                f"edge_index passes messages over {_count(extra.numel())} pairs that are not training "
                f"edges ({_count(leak)} of them validation/test edges); the library passes messages over "
                "the training edges only: drop edge_index (it is rebuilt from train_pos_edge_index) or "
                "remove those pairs")
    return _finish(copy.copy(data), pos["train"], pos, neg, info, seed)


def prepare_data(source: Data | Sequence[Data], task: str = "link",
                 split: Mapping[str, Any] | None = None, undirected: bool | None = None,
                 seed: int = 0, val_ratio: float = 0.05, test_ratio: float = 0.05) -> Data:
    """Turns a graph (and split) as the user holds it into the library's layout, validated.

    Args:
        source: a PyG ``Data``; or the ``(train, val, test)`` triple of
            ``RandomLinkSplit``.
        task: ``"link"`` (link prediction / edge unlearning), ``"node"`` (node
            classification) or ``"rec"`` (a user-item graph with ``num_users``).
        split: an OGB link split dict (``dataset.get_edge_split()``) for ``source``.
        undirected: ``None`` accepts only layouts whose direction convention is clear;
            ``True`` merges the two directions of every pair where they are mixed.
        seed: seeds the library's own split (when ``source`` has none) and any negatives
            the given split lacks.
        val_ratio / test_ratio: for the library's own link split.

    Returns:
        A new ``Data`` (the input is not modified) that :meth:`DeletionRequest.resolve`,
        :func:`train` and every method accept; ``split_info`` says what was converted.

    >>> train_d, val_d, test_d = RandomLinkSplit(is_undirected=True)(data)
    >>> data = prepare_data((train_d, val_d, test_d))
    >>> data = prepare_data(ogb_data, split=dataset.get_edge_split())
    """
    if task not in ("link", "node", "rec"):
        raise ValueError(f"task must be 'link', 'node' or 'rec', got {task!r}")
    if undirected is False:
        raise ValueError("directed link prediction is not supported: the library unlearns undirected "
                         "edges (a deleted pair leaves in both directions); leave undirected=None")
    if isinstance(source, (tuple, list)):
        if task != "link" or split is not None:
            raise ValueError("a (train, val, test) triple is RandomLinkSplit output: use task='link' "
                             "and no split dict")
        if len(source) != 3 or not all(isinstance(d, Data) for d in source):
            raise TypeError("expected RandomLinkSplit's (train_data, val_data, test_data): three Data "
                            f"objects, got {len(source)} items of {sorted({type(d).__name__ for d in source})}")
        return _from_random_link_split(source, undirected, seed)
    if not isinstance(source, Data):
        raise TypeError(f"source must be a torch_geometric.data.Data or a RandomLinkSplit triple, "
                        f"got {type(source).__name__} (HeteroData is not supported)")
    if getattr(source, "num_nodes", None) is None:
        raise ValueError("the graph has no num_nodes (set data.num_nodes)")
    if split is not None:
        if task != "link":
            raise ValueError("an OGB edge split dict makes a link-prediction task: use task='link'")
        if not isinstance(split, Mapping):
            raise TypeError(f"split must be OGB's get_edge_split() dict, got {type(split).__name__}")
        return _from_ogb_split(source, split, undirected, seed)
    if getattr(source, "edge_label_index", None) is not None:
        raise ValueError("this Data carries edge_label_index (one RandomLinkSplit part); pass the whole "
                         "(train_data, val_data, test_data) triple")
    if task == "rec":
        if not is_bipartite(source):
            raise ValueError("task='rec' needs a user-item graph with data.num_users and data.num_items "
                             "(users 0..U-1, items U..U+I-1)")
        if getattr(source, "train_pos_edge_index", None) is None:
            raise ValueError("task='rec' needs the interactions already split: train_pos_edge_index, "
                             "val_pos_edge_index and test_pos_edge_index as (user, num_users + item) pairs "
                             "(see gnn_unlearn.data.bipartite.bipartite_data)")
        return _from_user_split(source, undirected, seed)
    if task == "link" and getattr(source, "train_pos_edge_index", None) is not None:
        return _from_user_split(source, undirected, seed)
    ei = getattr(source, "edge_index", None)
    if ei is None:
        raise ValueError("the graph has no edge_index")
    n = source.num_nodes
    pairs, info = canonical_pairs(_as_pairs(ei, "edge_index", n), n, "edge_index", undirected)
    out = copy.copy(source)
    out.edge_index = symmetrize(pairs)
    if task == "link":
        out = link_split(out, val_ratio=val_ratio, test_ratio=test_ratio, seed=seed)
        info["source"] = f"edge_index, split by link_split (seed {seed})"
    else:
        out = node_split(out, seed=seed)
        info["source"] = "edge_index" + (", public node split kept" if getattr(source, "train_mask", None)
                                         is not None else f", split by node_split (seed {seed})")
    out.split_info = info
    check_graph_layout(out)
    return out
