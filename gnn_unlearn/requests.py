"""Deletion requests and the one place where a request becomes masks.

>>> request = DeletionRequest.edges(torch.tensor([[0, 5], [1, 9]])) | DeletionRequest.nodes([42])
>>> task = request.resolve(data, num_hops=2)
>>> task.df_mask.sum(), task.retained_data

Every method reads the masks of an :class:`UnlearningTask`; none recomputes them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from gnn_unlearn.ops.graph import (check_graph_layout, check_node_features, edge_keys, hop_distance,
                                   is_bipartite, lookup_edges, symmetrize, training_edges)

KINDS = ("edge", "node", "class", "feature", "interaction")
# fields of each kind in a saved request: name -> (required, holds node ids)
_FIELDS = {"edge": {"edge_index": (True, True)}, "node": {"ids": (True, True)},
           "class": {"c": (True, False)}, "feature": {"ids": (True, True), "columns": (False, True)},
           "interaction": {"users": (False, True), "items": (False, True)}}


def _as_index(value: Any, what: str, device: torch.device | None = None) -> Tensor:
    """Validates an integer index tensor/list; returns a 1-d or 2-d ``long`` tensor."""
    if isinstance(value, Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"{what} must be integer ids (a list or an integer tensor), "
                            f"got {type(value).__name__}") from e
        if t.numel() == 0:
            t = t.long()  # an empty list has no dtype to check; resolve() reports it as empty
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"{what} must hold integer node ids, got dtype {t.dtype}; "
                        "convert with .long() (a boolean mask: use mask.nonzero().view(-1))")
    return t.long() if t.dtype != torch.long else t


def _examples(t: Tensor, k: int = 5) -> str:
    items = t[:, :k].t().tolist() if t.dim() == 2 else t[:k].tolist()
    more = " ..." if (t.size(-1) > k) else ""
    return ", ".join(map(str, items)) + more


@dataclass(frozen=True)
class _Part:
    kind: str
    payload: dict[str, Tensor | int | None]
    # payload keys given as Python lists (or loaded from a file): they follow the graph to its
    # device on resolve(); a tensor the user placed on another device is refused instead
    movable: frozenset[str] = frozenset()


def _movable(**given: Any) -> frozenset[str]:
    return frozenset(k for k, v in given.items() if v is not None and not isinstance(v, Tensor))


class DeletionRequest:
    """What to delete, independent of any graph until :meth:`resolve`.

    Build with the class methods and combine with ``|``:

    * :meth:`edges` - training edges ``[2, k]`` (either direction of an undirected edge),
    * :meth:`nodes` - nodes and all their edges,
    * :meth:`node_class` - every node of a class,
    * :meth:`features` - node features (whole rows or given columns),
    * :meth:`interactions` / :meth:`users` / :meth:`items` - user-item interactions.
    """

    def __init__(self, parts: Sequence[_Part]):
        self.parts = tuple(parts)

    # constructors -----------------------------------------------------------------
    @classmethod
    def edges(cls, edge_index: Tensor | Sequence) -> "DeletionRequest":
        """Delete training edges given as ``[2, k]`` (``k`` pairs)."""
        return cls([_Part("edge", {"edge_index": _as_index(edge_index, "edge_index")},
                          _movable(edge_index=edge_index))])

    @classmethod
    def nodes(cls, ids: Tensor | Sequence[int]) -> "DeletionRequest":
        """Delete nodes: all their edges leave the graph and they leave the training set."""
        return cls([_Part("node", {"ids": _as_index(ids, "node ids")}, _movable(ids=ids))])

    @classmethod
    def node_class(cls, c: int) -> "DeletionRequest":
        """Delete every node whose label is ``c`` (class removal)."""
        if isinstance(c, Tensor):
            if c.numel() != 1:
                raise TypeError("node_class takes one class id; combine requests with |")
            c = c.item()
        if isinstance(c, bool) or not isinstance(c, int):
            raise TypeError(f"class id must be an int, got {type(c).__name__}")
        return cls([_Part("class", {"c": c})])

    @classmethod
    def features(cls, ids: Tensor | Sequence[int],
                 columns: Tensor | Sequence[int] | None = None) -> "DeletionRequest":
        """Delete node features of ``ids`` (all columns, or only ``columns``); they are zeroed."""
        cols = None if columns is None else _as_index(columns, "feature columns")
        return cls([_Part("feature", {"ids": _as_index(ids, "node ids"), "columns": cols},
                          _movable(ids=ids, columns=columns))])

    @classmethod
    def interactions(cls, users: Tensor | Sequence[int],
                     items: Tensor | Sequence[int]) -> "DeletionRequest":
        """Delete user-item interactions ``(users[i], items[i])`` (item ids local, ``0..I-1``)."""
        u, i = _as_index(users, "users"), _as_index(items, "items")
        if u.shape != i.shape or u.dim() != 1:
            raise ValueError(f"users and items must be 1-d and of equal length, got shapes "
                             f"{tuple(u.shape)} and {tuple(i.shape)}")
        return cls([_Part("interaction", {"users": u, "items": i}, _movable(users=users, items=items))])

    @classmethod
    def users(cls, ids: Tensor | Sequence[int]) -> "DeletionRequest":
        """Delete every training interaction of the given users (a user's whole history)."""
        return cls([_Part("interaction", {"users": _as_index(ids, "users"), "items": None}, _movable(users=ids))])

    @classmethod
    def items(cls, ids: Tensor | Sequence[int]) -> "DeletionRequest":
        """Delete every training interaction of the given items (e.g. an expired licence)."""
        return cls([_Part("interaction", {"users": None, "items": _as_index(ids, "items")}, _movable(items=ids))])

    # composition --------------------------------------------------------------------
    def __or__(self, other: "DeletionRequest") -> "DeletionRequest":
        if not isinstance(other, DeletionRequest):
            return NotImplemented
        return DeletionRequest(self.parts + other.parts)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(p.kind for p in self.parts)

    def __repr__(self) -> str:
        def size(p: _Part) -> str:
            return ", ".join(f"{k}={v.size(-1) if isinstance(v, Tensor) else v}"
                             for k, v in p.payload.items() if v is not None)
        return "DeletionRequest(" + " | ".join(f"{p.kind}({size(p)})" for p in self.parts) + ")"

    def to_dict(self) -> dict:
        """Plain tensors/ints, for checkpoints (``torch.save`` with ``weights_only`` loading)."""
        return {"parts": [{"kind": p.kind, **p.payload} for p in self.parts]}

    @classmethod
    def from_dict(cls, d: dict) -> "DeletionRequest":
        """Rebuilds a request saved by :meth:`to_dict`, checking every field (a saved request
        from elsewhere is untrusted input: wrong fields are named, not met as a KeyError)."""
        if not isinstance(d, dict) or not isinstance(d.get("parts"), (list, tuple)) or not d["parts"]:
            raise ValueError("a saved request is a dict with a non-empty list 'parts' "
                             "(as DeletionRequest.to_dict() writes it)")
        parts = []
        for i, p in enumerate(d["parts"]):
            if not isinstance(p, dict):
                raise ValueError(f"saved request part {i + 1} is a {type(p).__name__}, not a dict")
            p = dict(p)
            kind = p.pop("kind", None)
            if kind not in _FIELDS:
                raise ValueError(f"saved request part {i + 1} has kind {kind!r}; known kinds: {list(KINDS)}")
            expected = _FIELDS[kind]
            if set(p) != set(expected):
                raise ValueError(f"saved {kind} request part {i + 1} has fields {sorted(p)}; expected "
                                 f"{sorted(expected)}")
            payload: dict[str, Tensor | int | None] = {}
            for name, (required, tensor) in expected.items():
                v = p[name]
                if v is None:
                    if required:
                        raise ValueError(f"saved {kind} request part {i + 1}: field {name!r} is missing")
                elif tensor:
                    v = _as_index(v, f"saved {kind} request field {name!r}")
                elif isinstance(v, bool) or not isinstance(v, int):
                    raise ValueError(f"saved {kind} request part {i + 1}: field {name!r} must be an int")
                payload[name] = v
            if kind == "interaction" and payload["users"] is None and payload["items"] is None:
                raise ValueError(f"saved interaction request part {i + 1} names neither users nor items")
            parts.append(_Part(kind, payload, frozenset(k for k, v in payload.items() if isinstance(v, Tensor))))
        return cls(parts)

    # resolution -----------------------------------------------------------------------
    def resolve(self, data: Data, num_hops: int = 2) -> "UnlearningTask":
        """Turns the request into an :class:`UnlearningTask` on ``data``.

        Args:
            data: the graph the model was trained on (with a link split, a node split
                or a user-item split). Not modified.
            num_hops: radius of the affected region, normally the number of
                message-passing layers of the model.

        Raises:
            ValueError / TypeError naming what is wrong: unknown ids, edges that are not
            training edges, duplicates, an empty request, deleting everything, an unknown
            class, a tensor on another device.
        """
        return _Resolver(data, num_hops).resolve(self)


class _Resolver:
    """Validates each part of a request against ``data`` and unions the masks."""

    def __init__(self, data: Data, num_hops: int):
        if not isinstance(data, Data):
            raise TypeError(f"resolve() needs a torch_geometric.data.Data, got {type(data).__name__}")
        if isinstance(num_hops, bool) or not isinstance(num_hops, int) or num_hops < 0:
            raise ValueError(f"num_hops must be a non-negative int, got {num_hops!r}")
        ei = getattr(data, "edge_index", None)
        if ei is None or ei.dim() != 2 or ei.size(0) != 2 or ei.dtype != torch.long:
            raise ValueError("data.edge_index must be a long tensor of shape [2, E]")
        if num_hops > max(data.num_nodes, 1):
            raise ValueError(f"num_hops={num_hops} exceeds the number of nodes ({data.num_nodes}); no path is "
                             "that long: pass the model's number of message-passing layers")
        check_graph_layout(data)
        check_node_features(data)
        self.data = data
        self.num_hops = num_hops
        self.n = data.num_nodes
        self.device = ei.device
        self.train = training_edges(data)
        self.t = self.train.size(1)

    def _check_device(self, t: Tensor, what: str) -> None:
        if t.device != self.device:
            raise ValueError(f"{what} is on {t.device} but the graph is on {self.device}; "
                             f"move it with .to({str(self.device)!r})")

    def _check_ids(self, ids: Tensor, what: str, upper: int, unit: str = "node") -> None:
        self._check_device(ids, what)
        if ids.dim() != 1:
            raise ValueError(f"{what} must be 1-d, got shape {tuple(ids.shape)}")
        if ids.numel() == 0:
            raise ValueError(f"empty request: no {what} given")
        bad = ids[(ids < 0) | (ids >= upper)]
        if bad.numel():
            raise ValueError(f"{bad.numel()} {what} are not valid {unit} ids (valid: 0..{upper - 1}), "
                             f"e.g. {_examples(bad)}")
        uniq, counts = torch.unique(ids, return_counts=True)
        if bool((counts > 1).any()):
            dup = uniq[counts > 1]
            raise ValueError(f"{dup.numel()} {what} appear more than once, e.g. {_examples(dup)}; "
                             "pass each id once")

    def _edge_mask(self, pairs: Tensor, what: str) -> Tensor:
        """Boolean mask over training edges for the given pairs; validates membership."""
        self._check_device(pairs, what)
        if pairs.dim() != 2 or pairs.size(0) != 2:
            hint = " (looks like [k, 2]: transpose it with .t())" if pairs.dim() == 2 and pairs.size(1) == 2 else ""
            raise ValueError(f"{what} must have shape [2, k], got {tuple(pairs.shape)}{hint}")
        if pairs.size(1) == 0:
            raise ValueError(f"empty request: {what} holds no edges")
        bad = pairs[:, ((pairs < 0) | (pairs >= self.n)).any(0)]
        if bad.size(1):
            raise ValueError(f"{bad.size(1)} {what} refer to unknown nodes (valid ids: 0..{self.n - 1}), "
                             f"e.g. {_examples(bad)}")
        keys = edge_keys(pairs, self.n)
        uniq, counts = torch.unique(keys, return_counts=True)
        if bool((counts > 1).any()):
            dup = uniq[counts > 1]
            raise ValueError(f"{dup.numel()} {what} are given more than once (an undirected edge "
                             f"and its reverse count as the same edge), e.g. "
                             f"{_examples(torch.stack([dup // self.n, dup % self.n]))}")
        index, found = lookup_edges(pairs, self.train, self.n)
        if not bool(found.all()):
            missing = pairs[:, ~found]
            where = []
            for split in ("val", "test"):
                ref = getattr(self.data, f"{split}_pos_edge_index", None)
                if ref is not None and ref.numel():
                    k = int(lookup_edges(missing, ref, self.n)[1].sum())
                    if k:
                        where.append(f"{k} are {split} edges")
            detail = f" ({', '.join(where)}; only training edges can be unlearned)" if where else ""
            raise ValueError(f"{missing.size(1)} of {pairs.size(1)} {what} are not training edges of "
                             f"this graph{detail}, e.g. {_examples(missing)}")
        mask = torch.zeros(self.t, dtype=torch.bool, device=self.device)
        mask[index] = True
        return mask

    def resolve(self, request: DeletionRequest) -> "UnlearningTask":
        if not isinstance(request, DeletionRequest):
            raise TypeError(f"expected a DeletionRequest, got {type(request).__name__}")
        if not request.parts:
            raise ValueError("empty request: nothing to delete")
        data, n = self.data, self.n
        df = torch.zeros(self.t, dtype=torch.bool, device=self.device)
        deleted_nodes = torch.zeros(n, dtype=torch.bool, device=self.device)
        seeds = torch.zeros(n, dtype=torch.bool, device=self.device)
        feature_mask: Tensor | None = None
        for i, part in enumerate(request.parts):
            p = {k: v.to(self.device) if k in part.movable else v for k, v in part.payload.items()}
            if part.kind in ("edge", "interaction"):
                mask = (self._edge_mask(p["edge_index"], "requested edges") if part.kind == "edge"
                        else self._interaction_mask(p["users"], p["items"]))
                self._refuse_overlap(df & mask, i, "edges/interactions", self.train)
                df |= mask
            elif part.kind in ("node", "class"):
                if part.kind == "node":
                    ids = p["ids"]
                    self._check_ids(ids, "node ids", n)
                    nodes = torch.zeros(n, dtype=torch.bool, device=self.device)
                    nodes[ids] = True
                else:
                    nodes = self._class_nodes(p["c"])
                self._refuse_overlap(deleted_nodes & nodes, i, "nodes")
                deleted_nodes |= nodes
            elif part.kind == "feature":
                part_mask = self._feature_mask(p["ids"], p["columns"], None)   # validated, fresh
                if feature_mask is None:
                    feature_mask = part_mask
                else:
                    self._refuse_overlap((feature_mask & part_mask).any(1), i,
                                         "nodes' feature entries (same node and column)")
                    feature_mask = feature_mask | part_mask
            else:  # pragma: no cover - guarded by from_dict
                raise ValueError(f"unknown request kind {part.kind!r}")
        if bool(deleted_nodes.all()):
            raise ValueError("the request deletes every node of the graph; nothing would remain")
        # a deleted node takes all its training edges with it
        df |= deleted_nodes[self.train[0]] | deleted_nodes[self.train[1]]
        if self.t and bool(df.all()):
            raise ValueError(f"the request deletes all {self.t} training edges; nothing would remain "
                             "to train on")
        seeds |= deleted_nodes
        seeds[self.train[0, df]] = True
        seeds[self.train[1, df]] = True
        if feature_mask is not None:
            seeds |= feature_mask.any(1)
        dist = hop_distance(data.edge_index, seeds, self.num_hops, n)
        return UnlearningTask(data=data, request=request, num_hops=self.num_hops, df_mask=df,
                              deleted_nodes=deleted_nodes, feature_mask=feature_mask,
                              hop_distance=dist)

    @staticmethod
    def _refuse_overlap(overlap: Tensor, index: int, what: str, pairs: Tensor | None = None) -> None:
        """Parts of a combined request (``a | b``) must not name the same element twice."""
        k = int(overlap.sum())
        if k:
            example = (_examples(pairs[:, overlap]) if pairs is not None
                       else _examples(overlap.nonzero().view(-1)))
            raise ValueError(f"part {index + 1} of the combined request names {k} {what} that an earlier "
                             f"part already deletes (counting either direction), e.g. {example}; "
                             "name each once")

    def _class_nodes(self, c: int) -> Tensor:
        y = getattr(self.data, "y", None)
        if y is None:
            raise ValueError("node_class needs node labels, but the graph has no data.y")
        y = y.view(-1) if y.dim() > 1 and y.size(-1) == 1 else y
        nodes = y == c
        if not bool(nodes.any()):
            classes = torch.unique(y).tolist()
            raise ValueError(f"class {c} does not exist in this graph; its classes are {classes}")
        return nodes

    def _feature_mask(self, ids: Tensor, columns: Tensor | None, acc: Tensor | None) -> Tensor:
        x = getattr(self.data, "x", None)
        if x is None:
            raise ValueError("feature deletion needs node features, but the graph has no data.x")
        self._check_ids(ids, "node ids", self.n)
        f = x.size(1)
        mask = torch.zeros(self.n, f, dtype=torch.bool, device=self.device) if acc is None else acc
        if columns is None:
            mask[ids] = True
        else:
            self._check_ids(columns, "feature columns", f, unit="column")
            mask[ids.unsqueeze(1), columns.unsqueeze(0)] = True
        return mask

    def _interaction_mask(self, users: Tensor | None, items: Tensor | None) -> Tensor:
        if not is_bipartite(self.data):
            raise ValueError("interaction requests need a user-item graph (data.num_users and "
                             "data.num_items); for other graphs use DeletionRequest.edges")
        nu, ni = int(self.data.num_users), int(self.data.num_items)
        if users is not None and items is not None:
            for t, what, upper in ((users, "users", nu), (items, "items", ni)):
                self._check_device(t, what)
                if t.numel() == 0:
                    raise ValueError("empty request: no interactions given")
                bad = t[(t < 0) | (t >= upper)]
                if bad.numel():
                    raise ValueError(f"{bad.numel()} {what} are not valid ids (valid: 0..{upper - 1}), "
                                     f"e.g. {_examples(bad)}")
            return self._edge_mask(torch.stack([users, items + nu]), "requested interactions")
        if users is not None:
            self._check_ids(users, "users", nu, unit="user")
            chosen = torch.zeros(self.n, dtype=torch.bool, device=self.device)
            chosen[users] = True
        else:
            self._check_ids(items, "items", ni, unit="item")
            chosen = torch.zeros(self.n, dtype=torch.bool, device=self.device)
            chosen[items + nu] = True
        mask = chosen[self.train[0]] | chosen[self.train[1]]
        if not bool(mask.any()):
            raise ValueError("the given users/items have no training interactions; nothing to delete")
        return mask


@dataclass
class UnlearningTask:
    r"""A resolved deletion: the original graph and every mask a method needs.

    Attributes:
        data: the original graph (never modified).
        request: the request this task came from.
        num_hops: radius of the affected region.
        df_mask: ``[T]`` bool over :func:`training_edges` - the deleted edges :math:`D_f`
            (requested edges, interactions, and every edge of a deleted node).
        deleted_nodes: ``[N]`` bool - deleted nodes (node and class requests).
        feature_mask: ``[N, F]`` bool of deleted feature entries, or ``None``.
        hop_distance: ``[N]`` hop distance from the deleted elements (endpoints of
            :math:`D_f`, deleted nodes, nodes with deleted features), ``num_hops + 1``
            beyond the region. The :math:`l`-hop affected region is ``hop_distance <= l``.
    """
    data: Data
    request: DeletionRequest
    num_hops: int
    df_mask: Tensor
    deleted_nodes: Tensor
    feature_mask: Tensor | None
    hop_distance: Tensor
    _retained: Data | None = field(default=None, repr=False)

    @property
    def kinds(self) -> frozenset[str]:
        return self.request.kinds

    @property
    def dr_mask(self) -> Tensor:
        """Retained training edges :math:`D_r` (complement of ``df_mask``)."""
        return ~self.df_mask

    @property
    def train_edges(self) -> Tensor:
        return training_edges(self.data)

    @property
    def df_edge_index(self) -> Tensor:
        """Deleted edges, each pair once, ``[2, |D_f|]``."""
        return self.train_edges[:, self.df_mask]

    @property
    def dr_edge_index(self) -> Tensor:
        return self.train_edges[:, ~self.df_mask]

    def affected_nodes(self, hops: int | None = None) -> Tensor:
        """``[N]`` bool: nodes within ``hops`` (default ``num_hops``) of the deleted elements."""
        hops = self.num_hops if hops is None else hops
        if hops > self.num_hops:
            raise ValueError(f"the task was resolved with num_hops={self.num_hops}; "
                             f"resolve again to ask for {hops} hops")
        return self.hop_distance <= hops

    @property
    def affected_edges(self) -> Tensor:
        """``[T]`` bool: retained training edges with both endpoints in the affected region."""
        region = self.affected_nodes()
        e = self.train_edges
        return region[e[0]] & region[e[1]] & ~self.df_mask

    @property
    def retained_data(self) -> Data:
        """The graph as if the deleted elements had never been there (for retraining).

        Same node ids as ``data`` (deleted nodes stay as isolated nodes so every index
        keeps its meaning); deleted edges leave ``edge_index`` and the training edges;
        deleted nodes leave ``train_mask`` and ``val_mask``; deleted features are zero.
        """
        if self._retained is None:
            data = self.data
            out = copy.copy(data)
            kept = self.dr_edge_index
            if getattr(data, "train_pos_edge_index", None) is not None:
                out.train_pos_edge_index = kept
            out.edge_index = symmetrize(kept)
            if bool(self.deleted_nodes.any()):
                # deleted nodes neither train nor select models (validation) any more
                for key in ("train_mask", "val_mask"):
                    if getattr(data, key, None) is not None:
                        out[key] = data[key] & ~self.deleted_nodes
            if self.feature_mask is not None:
                out.x = data.x.masked_fill(self.feature_mask, 0.0)
            self._retained = out
        return self._retained

    @property
    def device(self) -> torch.device:
        return self.df_mask.device

    def to(self, device: torch.device | str) -> "UnlearningTask":
        """This task on ``device`` (a new task; ``self`` is returned if already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        from gnn_unlearn.utils import data_to
        return UnlearningTask(
            data=data_to(self.data, device), request=self.request, num_hops=self.num_hops,
            df_mask=self.df_mask.to(device), deleted_nodes=self.deleted_nodes.to(device),
            feature_mask=None if self.feature_mask is None else self.feature_mask.to(device),
            hop_distance=self.hop_distance.to(device))

    def summary(self) -> dict[str, int]:
        return {
            "kinds": sorted(self.kinds),
            "deleted_edges": int(self.df_mask.sum()),
            "retained_edges": int((~self.df_mask).sum()),
            "deleted_nodes": int(self.deleted_nodes.sum()),
            "deleted_feature_entries": 0 if self.feature_mask is None else int(self.feature_mask.sum()),
            "affected_nodes": int(self.affected_nodes().sum()),
        }
