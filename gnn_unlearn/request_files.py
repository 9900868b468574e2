"""Deletion requests given in the user's own IDs: from files (CSV, JSON lines, Parquet) or Python.

A request file is a table with one row per thing to forget. Its header names the kind:

============== ====================== ==============================================
kind           columns                one row deletes
============== ====================== ==============================================
interactions   ``user,item``          one user-item interaction (training)
users          ``user``               every training interaction of the user
items          ``item``               every training interaction of the item
edges          ``source,target``      one training edge (either direction)
nodes          ``node``               a node and all its edges
features       ``node[,column]``      a node's features (all, or the given column)
============== ====================== ==============================================

IDs are mapped to the graph's indices through an ID map per entity (``user``, ``item``,
``node``): a CSV file with the header ``original_id,index`` or a ``{original_id: index}``
mapping. Without a map the IDs are the indices themselves, as in the LightGCN-format
datasets (gowalla, lastfm, ml-1m), whose files number users ``0..U-1`` and items
``0..I-1`` (item ``i`` is node ``U + i``). Unknown IDs, duplicate rows, pairs that are not
training interactions or edges, empty files and wrong headers are refused by name before
anything is computed. Mapping is vectorised (sorted keys + ``np.searchsorted``).

>>> request = read_request("forget.csv", data)                 # user,item
>>> request = request_from_ids(data, "users", {"user": ["alice", "bob"]}, id_map={"user": "users.csv"})
"""
from __future__ import annotations

import csv
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from gnn_unlearn.ops.graph import is_bipartite, lookup_edges, training_edges
from gnn_unlearn.requests import DeletionRequest

# kind -> (required columns, optional columns)
REQUEST_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "interactions": (("user", "item"), ()),
    "users": (("user",), ()),
    "items": (("item",), ()),
    "edges": (("source", "target"), ()),
    "nodes": (("node",), ()),
    "features": (("node",), ("column",)),
}
REQUEST_KINDS = tuple(REQUEST_COLUMNS)
# column -> entity whose ID map applies (None: a plain integer, e.g. a feature column)
_ENTITY = {"user": "user", "item": "item", "source": "node", "target": "node", "node": "node",
           "column": None}
ENTITIES = ("user", "item", "node")
_SHOW = 5


def _examples(values: Sequence[Any]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:_SHOW])
    return shown + (" ..." if len(values) > _SHOW else "")


# tables ---------------------------------------------------------------------------------
def read_table(path: str) -> dict[str, np.ndarray]:
    """Reads a request or ID-map file into ``{column: array of str}`` (values stripped).

    ``.csv`` (comma-separated, with a header), ``.jsonl`` / ``.ndjson`` (one JSON object
    per line, same keys on every line), ``.parquet`` (needs ``pyarrow``).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no request file at {path!r}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        return _read_csv(path)
    if ext in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if ext == ".parquet":
        return _read_parquet(path)
    raise ValueError(f"{path!r}: unknown file type {ext!r}; use .csv, .jsonl/.ndjson or .parquet")


def _read_csv(path: str) -> dict[str, np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:     # -sig: spreadsheets write a BOM
            rows = list(filter(None, csv.reader(f)))     # drops empty lines, at C speed
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path!r} is not a readable CSV file ({e})") from e
    if not rows:
        raise ValueError(f"{path!r} is empty: a request file needs a header line and at least one row")
    header = [h.strip().lower() for h in rows[0]]
    widths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    bad = np.nonzero(widths != len(header))[0]
    if bad.size:
        raise ValueError(f"{path!r}: {bad.size} rows do not have the {len(header)} fields of the header "
                         f"{','.join(header)}, e.g. rows {_examples((bad + 1).tolist())} (counting the header as 1)")
    table = np.char.strip(np.asarray(rows[1:], dtype=str).reshape(len(rows) - 1, len(header)))
    return _columns(path, header, table)


def _read_jsonl(path: str) -> dict[str, np.ndarray]:
    records = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path!r} line {number} is not valid JSON ({e})") from e
            if not isinstance(rec, dict):
                raise ValueError(f"{path!r} line {number} is not a JSON object")
            records.append(rec)
    if not records:
        raise ValueError(f"{path!r} is empty: a request file needs at least one row")
    header = list(records[0])
    keys = set(header)
    odd = [i + 1 for i, r in enumerate(records) if set(r) != keys]
    if odd:
        raise ValueError(f"{path!r}: rows {_examples(odd)} have other keys than the first row {sorted(keys)}")
    values = [[r[k] for k in header] for r in records]
    typed = [i + 1 for i, r in enumerate(values) if any(isinstance(v, bool) or not isinstance(v, (int, str))
                                                         for v in r)]
    if typed:
        raise ValueError(f"{path!r}: IDs must be JSON integers or strings; rows {_examples(typed)} hold "
                         "something else (floats, booleans, null, lists)")
    table = np.char.strip(np.asarray(values, dtype=str).reshape(len(values), len(header)))
    return _columns(path, [h.strip().lower() for h in header], table)


def _read_parquet(path: str) -> dict[str, np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError(f"reading the Parquet file {path!r} needs pyarrow (pip install pyarrow); "
                          "or give the request as CSV or JSON lines") from e
    t = pq.read_table(path)
    if t.num_rows == 0:
        raise ValueError(f"{path!r} is empty: a request file needs at least one row")
    header = [c.strip().lower() for c in t.column_names]
    table = np.char.strip(np.stack([np.asarray(t.column(c).to_pylist(), dtype=str)
                                    for c in t.column_names], axis=1))
    return _columns(path, header, table)


def _columns(path: str, header: list[str], table: np.ndarray) -> dict[str, np.ndarray]:
    if len(set(header)) != len(header) or "" in header:
        raise ValueError(f"{path!r}: the header {','.join(header)} has empty or repeated column names")
    if table.shape[0] == 0:
        raise ValueError(f"{path!r} has a header but no rows: nothing to delete")
    return {h: table[:, j] for j, h in enumerate(header)}


# ID maps --------------------------------------------------------------------------------
class IdMap:
    """One entity's map from original IDs (as text) to graph indices; sorted for lookups."""

    def __init__(self, original: np.ndarray, index: np.ndarray, entity: str, source: str):
        order = np.argsort(original, kind="stable")
        self.keys, self.index = original[order], index[order]
        self.entity, self.source = entity, source
        dup = self.keys[1:][self.keys[1:] == self.keys[:-1]]
        if dup.size:
            raise ValueError(f"{source}: original IDs {_examples(np.unique(dup).tolist())} appear more than "
                             "once; each original ID maps to one index")
        uniq, counts = np.unique(index, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"{source}: indices {_examples(uniq[counts > 1].tolist())} are given to more "
                             "than one original ID; a map must be one-to-one")

    @classmethod
    def load(cls, spec: str | os.PathLike | Mapping[Any, int], entity: str) -> "IdMap":
        """From a CSV/JSON-lines/Parquet file with columns ``original_id,index`` or a mapping."""
        if isinstance(spec, Mapping):
            source = f"the {entity} ID map"
            original = np.asarray([str(k).strip() for k in spec.keys()], dtype=str)
            raw = np.asarray(list(spec.values()), dtype=object)
            index = _parse_ints(raw.astype(str), f"{source} (indices)", original)
        else:
            source = f"{entity} ID map {os.fspath(spec)!r}"
            table = read_table(spec)
            if set(table) != {"original_id", "index"}:
                raise ValueError(f"{source} has columns {sorted(table)}; an ID map has the header "
                                 "original_id,index")
            original = table["original_id"]
            index = _parse_ints(table["index"], f"{source} (column index)", original)
        if original.size == 0:
            raise ValueError(f"{source} is empty")
        return cls(original, index, entity, source)

    def lookup(self, ids: np.ndarray, what: str) -> np.ndarray:
        pos = np.searchsorted(self.keys, ids)
        pos_ok = np.minimum(pos, self.keys.size - 1)
        found = (pos < self.keys.size) & (self.keys[pos_ok] == ids)
        if not found.all():
            unknown = np.unique(ids[~found])
            raise ValueError(f"{unknown.size} {what} are not in {self.source}, e.g. "
                             f"{_examples(unknown.tolist())}")
        return self.index[pos_ok]


def _parse_ints(values: np.ndarray, what: str, names: np.ndarray | None = None) -> np.ndarray:
    """Text to int64, vectorised; non-integers are named."""
    text = np.char.strip(values.astype(str))
    body = np.char.lstrip(text, "-")
    ok = np.char.isdigit(body) & (np.char.str_len(text) - np.char.str_len(body) <= 1)
    if not ok.all():
        bad = np.unique(text[~ok])
        raise ValueError(f"{bad.size} values in {what} are not integer IDs, e.g. {_examples(bad.tolist())}"
                         + ("" if names is None else "; with an ID map, the map's index column must be integers"))
    try:
        return text.astype(np.int64)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"{what} holds integers too large for int64") from e


def _id_maps(id_map: Mapping[str, Any] | None) -> dict[str, IdMap]:
    if id_map is None:
        return {}
    if not isinstance(id_map, Mapping):
        raise TypeError("id_map must be a mapping {entity: CSV path or {original_id: index}} with "
                        f"entities from {list(ENTITIES)}, got {type(id_map).__name__}")
    unknown = set(id_map) - set(ENTITIES)
    if unknown:
        raise ValueError(f"id_map has unknown entities {sorted(unknown)}; use {list(ENTITIES)}")
    return {e: spec if isinstance(spec, IdMap) else IdMap.load(spec, e) for e, spec in id_map.items()}


# requests -------------------------------------------------------------------------------
def infer_kind(columns: Sequence[str]) -> str:
    """The request kind a header names (``node`` alone means nodes; say ``features`` for rows)."""
    cols = set(columns)
    for kind, (required, optional) in REQUEST_COLUMNS.items():
        if cols == set(required) or cols == set(required) | set(optional):
            return kind
    expected = "; ".join(f"{k}: {','.join(r + tuple(f'[{o}]' for o in opt))}"
                         for k, (r, opt) in REQUEST_COLUMNS.items())
    raise ValueError(f"cannot tell the request kind from the columns {sorted(cols)}; expected one of "
                     f"{expected}")


def request_from_ids(data: Data, kind: str | None, columns: Mapping[str, Sequence[Any] | np.ndarray],
                     id_map: Mapping[str, Any] | None = None, source: str = "the request") -> DeletionRequest:
    """Builds a :class:`DeletionRequest` from IDs given in the user's own terms.

    Args:
        data: the graph the request will be resolved on (its sizes and training edges are
            used to refuse unknown IDs and pairs that are not training edges, by name).
        kind: one of :data:`REQUEST_KINDS`, or ``None`` to infer it from the column names.
        columns: ``{column: IDs}`` as in the table of the module doc, e.g.
            ``{"user": [...], "item": [...]}``.
        id_map: ``{"user" | "item" | "node": CSV path or {original_id: index}}``; an entity
            without a map takes its IDs as the graph's own indices.
        source: how to name the input in errors.
    """
    if not isinstance(data, Data):
        raise TypeError(f"data must be a torch_geometric.data.Data, got {type(data).__name__}")
    if not isinstance(columns, Mapping) or not columns:
        raise ValueError(f"{source}: columns must be a non-empty mapping {{column: IDs}}")
    cols = {str(k).strip().lower(): np.char.strip(np.asarray(
        v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v).astype(str)).reshape(-1)
        for k, v in columns.items()}
    if kind is None:
        kind = infer_kind(list(cols))
    if kind not in REQUEST_COLUMNS:
        raise ValueError(f"unknown request kind {kind!r}; use one of {list(REQUEST_KINDS)}")
    required, optional = REQUEST_COLUMNS[kind]
    missing = [c for c in required if c not in cols]
    extra = [c for c in cols if c not in required + optional]
    if missing or extra:
        raise ValueError(f"{source} has columns {sorted(cols)}, but a {kind} request has the columns "
                         f"{','.join(required + tuple(f'[{o}]' for o in optional))}"
                         + (f" (missing {missing})" if missing else "")
                         + (f" (unexpected {extra})" if extra else ""))
    lengths = {c: v.size for c, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{source}: columns have different lengths {lengths}")
    if next(iter(lengths.values())) == 0:
        raise ValueError(f"{source} holds no rows: nothing to delete")
    bipartite = is_bipartite(data)
    if kind in ("interactions", "users", "items") and not bipartite:
        raise ValueError(f"a {kind} request needs a user-item graph (data.num_users and data.num_items); "
                         "this graph has none: use the kinds edges, nodes or features")
    maps = _id_maps(id_map)
    idx = {c: _to_index(data, c, v, maps, source) for c, v in cols.items() if c != "column"}
    _refuse_duplicate_rows(kind, cols, idx, source)
    if kind == "interactions":
        nu = int(data.num_users)
        _refuse_non_training(data, np.stack([idx["user"], idx["item"] + nu]), cols["user"], cols["item"],
                             "(user, item) pairs", "interactions", source)
        return DeletionRequest.interactions(idx["user"], idx["item"])
    if kind in ("users", "items"):
        column = kind[:-1]
        nodes = idx[column] + (int(data.num_users) if kind == "items" else 0)
        train = training_edges(data).cpu()
        degree = torch.bincount(train.reshape(-1), minlength=data.num_nodes).numpy()
        idle = degree[nodes] == 0
        if idle.any():
            raise ValueError(f"{int(idle.sum())} {column}s in {source} have no training interactions left "
                             f"(already forgotten, or only in validation/test), e.g. "
                             f"{_examples(cols[column][idle].tolist())}")
        return DeletionRequest.users(idx["user"]) if kind == "users" else DeletionRequest.items(idx["item"])
    if kind == "edges":
        _refuse_non_training(data, np.stack([idx["source"], idx["target"]]), cols["source"], cols["target"],
                             "(source, target) pairs", "edges", source)
        return DeletionRequest.edges(np.stack([idx["source"], idx["target"]]))
    if kind == "nodes":
        return DeletionRequest.nodes(idx["node"])
    return _feature_request(data, idx["node"], cols.get("column"), source)


def read_request(path: str | os.PathLike, data: Data, kind: str | None = None,
                 id_map: Mapping[str, Any] | None = None) -> DeletionRequest:
    """Reads a request file (CSV, JSON lines, Parquet) given in the user's IDs; see the module doc.

    The file is only read. Raises ``ValueError`` naming the problem (header, unknown IDs,
    duplicate rows, pairs that are not training edges, an empty file) before any work.
    """
    if kind is not None and kind not in REQUEST_COLUMNS:
        raise ValueError(f"unknown request kind {kind!r}; use one of {list(REQUEST_KINDS)}")
    return request_from_ids(data, kind, read_table(path), id_map=id_map, source=f"request file {os.fspath(path)!r}")


def _to_index(data: Data, column: str, values: np.ndarray, maps: dict[str, IdMap], source: str) -> np.ndarray:
    entity = _ENTITY[column]
    what = f"{column} IDs in {source}"
    if entity in maps:
        index = maps[entity].lookup(values, what)
    else:
        index = _parse_ints(values, what)
    upper = {"user": getattr(data, "num_users", None), "item": getattr(data, "num_items", None),
             "node": data.num_nodes}[entity]
    bad = (index < 0) | (index >= int(upper))
    if bad.any():
        unknown = np.unique(values[bad])
        where = f" (through {maps[entity].source})" if entity in maps else ""
        raise ValueError(f"{unknown.size} {what} are unknown to this graph{where}: it has {upper} "
                         f"{entity}s, numbered 0..{int(upper) - 1}; e.g. {_examples(unknown.tolist())}")
    return index


def _refuse_duplicate_rows(kind: str, cols: dict[str, np.ndarray], idx: dict[str, np.ndarray],
                           source: str) -> None:
    keys = [idx[c] for c in REQUEST_COLUMNS[kind][0]]
    if kind == "edges":    # an undirected edge and its reverse are the same edge
        keys = [np.minimum(*keys), np.maximum(*keys)]
    if kind == "features" and "column" in cols:
        column = cols["column"]
        keys.append(np.where(column == "", -1, _parse_ints(np.where(column == "", "0", column),
                                                           f"column values in {source}")))
    key = np.zeros(keys[0].shape[0], dtype=np.int64)
    for k in keys:                         # one int64 key per row (ids are >= -1 and < 2**31)
        k = np.asarray(k, dtype=np.int64) + 1
        key = key * (int(k.max()) + 1) + k
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    if (counts > 1).any():
        repeated = np.ones(key.shape[0], dtype=bool)
        repeated[first] = False                          # every row after the first of its kind
        dup_rows = np.nonzero(repeated)[0]
        names = [tuple(str(cols[c][r]) for c in cols) for r in dup_rows[:_SHOW].tolist()]
        raise ValueError(f"{source}: {dup_rows.size} row(s) repeat an earlier row"
                         f"{' (an edge and its reverse are one edge)' if kind == 'edges' else ''}, e.g. "
                         f"data rows {_examples((dup_rows + 1).tolist())}: {_examples(names)}; give each once")


def _refuse_non_training(data: Data, pairs: np.ndarray, a: np.ndarray, b: np.ndarray, what: str,
                         unit: str, source: str) -> None:
    train = training_edges(data)
    found = lookup_edges(torch.as_tensor(pairs, device=train.device), train, data.num_nodes)[1].cpu().numpy()
    if not found.all():
        rows = np.nonzero(~found)[0]
        names = list(zip(a[rows].tolist(), b[rows].tolist()))
        raise ValueError(f"{rows.size} of {found.size} {what} in {source} are not training {unit} of this "
                         f"graph (already deleted, never present, or validation/test), e.g. {_examples(names)}")


def _feature_request(data: Data, nodes: np.ndarray, column: np.ndarray | None, source: str) -> DeletionRequest:
    x = getattr(data, "x", None)
    if x is None:
        raise ValueError("a features request needs node features, but the graph has no data.x")
    if column is None:
        return DeletionRequest.features(nodes)
    whole = column == ""
    parts = [DeletionRequest.features(nodes[whole])] if whole.any() else []
    cols = _parse_ints(column[~whole], f"column values in {source}")
    bad = (cols < 0) | (cols >= x.size(1))
    if bad.any():
        raise ValueError(f"{int(bad.sum())} column values in {source} are not feature columns "
                         f"(0..{x.size(1) - 1}), e.g. {_examples(np.unique(cols[bad]).tolist())}")
    rest = nodes[~whole]
    for c in np.unique(cols):           # one part per distinct column (columns x nodes is a product)
        parts.append(DeletionRequest.features(rest[cols == c], [int(c)]))
    request = parts[0]
    for p in parts[1:]:
        request = request | p
    return request
