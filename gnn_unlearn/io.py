"""Checkpoints (atomic write, safe load), the graph state they carry, and the deletion ledger.

A checkpoint holds one model of a :data:`FAMILIES` family (field ``family``): a GNN (its
``config`` built by :func:`~gnn_unlearn.models.build_model`), a sharded model (``config``: the
shard architecture; ``sharded``: :meth:`ShardedModel.checkpoint_spec`) or a certified linear
model (``config`` with its ``certified`` hyperparameters, or GST's ``scattering`` ones for a
:class:`~gnn_unlearn.models.ScatteringLinear`; ``certified``: the certificate and push state,
:meth:`CertifiedLinear.export_state`). Every field is checked on load, and a
damaged one is named.
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import torch
from torch import nn
from torch_geometric.data import Data

from gnn_unlearn.ledger import DeletionLedger, LedgerError  # noqa: F401  (re-exported)
from gnn_unlearn.models.certified import CertifiedLinear
from gnn_unlearn.models.predictors import build_model
from gnn_unlearn.models.sharded import ShardedModel
from gnn_unlearn.ops.graph import edge_keys, symmetrize
from gnn_unlearn.requests import DeletionRequest

FORMAT = "gnn_unlearn.checkpoint/1"
#: Model families a checkpoint holds: one GNN (``build_model``), a sharded model (GraphEraser /
#: GUIDE, :class:`~gnn_unlearn.models.ShardedModel`) or a certified linear model (CGU / CEU /
#: ScaleGUN / GST, :class:`~gnn_unlearn.models.CertifiedLinear` and its scattering subclass).
FAMILIES = ("gnn", "sharded", "certified")
SPLIT_KEYS = ("train_pos_edge_index", "val_pos_edge_index", "val_neg_edge_index",
              "test_pos_edge_index", "test_neg_edge_index", "train_mask", "val_mask", "test_mask")


def atomic_write_bytes(path: str, write) -> None:
    """Calls ``write(file)`` on a temporary file beside ``path``, then renames it into place.

    A crash midway leaves the previous file intact, never a truncated one. The file gets the
    permissions an ordinary ``open(path, "w")`` would give (an existing file keeps its mode),
    not the private mode of the temporary file.
    """
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    if os.path.exists(path):
        mode = os.stat(path).st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def graph_signature(data: Data) -> dict[str, Any]:
    x = getattr(data, "x", None)
    return {"num_nodes": int(data.num_nodes), "num_features": None if x is None else int(x.size(1)),
            "name": getattr(data, "name", None)}


def split_of(data: Data) -> dict[str, torch.Tensor]:
    """The split tensors of ``data`` (so a run can be reproduced exactly)."""
    return {k: data[k].cpu() for k in SPLIT_KEYS if getattr(data, k, None) is not None}


def graph_state(data: Data, deleted_features: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Everything that tells ``data`` apart from the dataset it was loaded from: its split
    tensors, ``edge_index`` when it has no link split (a node task's retained graph lost edges
    that no split records), and ``deleted_features``, the ``[N, F]`` mask of feature entries
    zeroed by earlier deletions. :func:`apply_split` rebuilds ``data`` from the dataset and this.
    """
    state = split_of(data)
    if "train_pos_edge_index" not in state:
        state["edge_index"] = data.edge_index.cpu()
    if deleted_features is not None and bool(deleted_features.any()):
        state["deleted_features"] = deleted_features.cpu()
    return state


def apply_split(data: Data, split: dict[str, torch.Tensor]) -> Data:
    """A copy of ``data`` carrying a saved split or :func:`graph_state` (``edge_index`` rebuilt
    from the training edges, or taken as saved; ``deleted_features`` zeroed in ``x``)."""
    import copy

    if not isinstance(split, dict):
        raise ValueError(f"a saved split is a dict of tensors, got {type(split).__name__}")
    unknown = set(split) - set(SPLIT_KEYS) - {"edge_index", "deleted_features"}
    bad = [k for k, v in split.items() if not isinstance(v, torch.Tensor)]
    if unknown or bad:
        raise ValueError(f"saved split has unknown fields {sorted(unknown)} or non-tensor fields "
                         f"{sorted(bad)}; the checkpoint is damaged or not from gnn_unlearn")
    out = copy.copy(data)
    device = data.edge_index.device
    for k, v in split.items():
        if k != "deleted_features":
            out[k] = v.to(device)
    if "train_pos_edge_index" in split:
        out.edge_index = symmetrize(out.train_pos_edge_index)
    mask = split.get("deleted_features")
    if mask is not None:
        x = getattr(data, "x", None)
        if x is None or mask.dtype != torch.bool or tuple(mask.shape) != tuple(x.shape):
            raise ValueError(f"saved deleted_features mask of shape {tuple(mask.shape)} does not fit "
                             f"the graph's features {None if x is None else tuple(x.shape)}")
        out.x = x.masked_fill(mask.to(x.device), 0.0)
    return out


def deleted_features_of(payload: dict[str, Any], key: str = "retained") -> torch.Tensor | None:
    """The cumulative deleted-feature mask a checkpoint's graph state carries, if any."""
    state = payload.get(key) or {}
    return state.get("deleted_features") if isinstance(state, dict) else None


def save_checkpoint(path: str, model: nn.Module, data: Data | None = None,
                    request: DeletionRequest | None = None, extra: dict[str, Any] | None = None,
                    split: dict[str, torch.Tensor] | None = None,
                    retained: dict[str, torch.Tensor] | None = None) -> None:
    """Saves model weights + config (+ the graph's signature, split and request) atomically.

    ``split`` overrides the split saved for ``data`` (e.g. a :func:`graph_state`);
    ``retained`` is the :func:`graph_state` of an unlearned model's retained graph: the
    graph the next request in a sequence resolves on.
    """
    config = getattr(model, "config", None)
    if not config:
        raise ValueError("only models with a config (built by gnn_unlearn.models) can be checkpointed")
    family = model_family(model)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "family": family,
        "config": dict(config),
        "train_config": dict(getattr(model, "train_config", None) or {}),
        "data_signature": getattr(model, "data_signature", None),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "graph": graph_signature(data) if data is not None else None,
        "split": split if split is not None else (split_of(data) if data is not None else None),
        "retained": retained,
        "request": request.to_dict() if request is not None else None,
        "extra": extra or {},
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if family == "sharded":
        payload["sharded"] = model.checkpoint_spec()
    elif family == "certified":
        payload["certified"] = model.export_state()
    atomic_write_bytes(path, lambda f: torch.save(payload, f))


def model_family(model: nn.Module) -> str:
    """Which of :data:`FAMILIES` ``model`` belongs to."""
    if isinstance(model, ShardedModel):
        return "sharded"
    if isinstance(model, CertifiedLinear):
        return "certified"
    return "gnn"


def save_payload(path: str, payload: dict[str, Any]) -> None:
    """Atomically saves a dict of tensors and plain values (loadable with ``weights_only``)."""
    atomic_write_bytes(path, lambda f: torch.save(payload, f))


def load_checkpoint_payload(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Reads a file written by :func:`save_payload` / :func:`save_checkpoint` safely
    (``weights_only=True``: no code runs), with a clear error for anything else."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # unpickling errors have many types
        raise ValueError(f"{path!r} is not a readable gnn_unlearn checkpoint "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e
    if not isinstance(payload, dict):
        raise ValueError(f"{path!r} is not a gnn_unlearn checkpoint")
    return payload


def load_checkpoint(path: str, data: Data | None = None,
                    map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Loads a checkpoint safely (``weights_only=True``) and rebuilds the model.

    If ``data`` is given, a checkpoint made for another graph (node count, feature size)
    is refused. Returns ``(model, payload)``; ``payload["split"]`` and
    ``payload["request"]`` hold what was saved with it. Sharded and certified models come back
    bit-identical (same predictions; a certified model with its certificate, so a sequence of
    requests continues where it stopped).
    """
    payload = load_checkpoint_payload(path, map_location)
    if payload.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a gnn_unlearn checkpoint (expected format {FORMAT!r})")
    for key, kind in (("config", dict), ("state_dict", dict)):
        if not isinstance(payload.get(key), kind):
            raise ValueError(f"checkpoint {path!r} has no valid {key!r} field; it was not written by "
                             "gnn_unlearn.io.save_checkpoint or is damaged")
    if data is not None and payload.get("graph"):
        sig, now = payload["graph"], graph_signature(data)
        for key in ("num_nodes", "num_features"):
            if sig[key] != now[key]:
                raise ValueError(f"checkpoint {path!r} was made for a graph with {key}={sig[key]}, "
                                 f"but this graph has {key}={now[key]}; load it with the graph it "
                                 f"was trained on ({sig.get('name')})")
    family = payload.get("family", "gnn")       # checkpoints from before families: one GNN
    if family not in FAMILIES:
        raise ValueError(f"checkpoint {path!r} holds a model of unknown family {family!r}; "
                         f"this version reads {FAMILIES}")
    try:
        if family == "sharded":
            model = ShardedModel.from_checkpoint(payload["config"], payload.get("sharded"))
        else:
            model = build_model(payload["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"checkpoint {path!r} has an unusable {family} model config "
                         f"({type(e).__name__}: {e})") from e
    if model_family(model) != family:
        raise ValueError(f"checkpoint {path!r} says it holds a {family} model but its config builds "
                         f"a {model_family(model)} one; it is damaged")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as e:
        raise ValueError(f"checkpoint {path!r}: weights do not fit its own config ({e})") from e
    if family == "certified":
        try:
            model.import_state(payload.get("certified"))
        except ValueError as e:
            raise ValueError(f"checkpoint {path!r} has an unusable certified state ({e})") from e
    model.train_config = payload.get("train_config") or None
    if payload.get("data_signature") is not None:
        model.data_signature = payload["data_signature"]
    model.eval()
    return model, payload


def load_graph_file(path: str) -> Data:
    """Reads a user's graph saved with ``torch.save(data)`` or ``torch.save(data.to_dict())``.

    Loaded with ``weights_only=True`` (no code in the file runs): only PyG ``Data`` objects and
    dicts of tensors and plain values are accepted. Pass the result through
    :func:`gnn_unlearn.data.prepare_data` before use.
    """
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no graph file at {path!r}")
    try:
        with torch.serialization.safe_globals([Data, DataEdgeAttr, DataTensorAttr, GlobalStorage]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors have many types
        raise ValueError(f"{path!r} is not a graph saved with torch.save(data) or torch.save(data.to_dict()) "
                         f"({type(e).__name__}); it is read with weights_only=True, so only PyG Data "
                         "objects and dicts of tensors load") from e
    if isinstance(obj, dict):
        try:
            obj = Data.from_dict(obj)
        except Exception as e:
            raise ValueError(f"{path!r} holds a dict that is not a Data.to_dict() ({e})") from e
    if not isinstance(obj, Data):
        raise ValueError(f"{path!r} holds a {type(obj).__name__}, not a torch_geometric Data")
    return obj


def graph_content_sha256(data: Data) -> str:
    """SHA-256 of what a graph file holds, independent of how it was saved: node count, user/item
    counts, features, labels and the undirected edge set (either direction of a pair counts once).

    Recorded by ``gnn-unlearn train --graph`` so that a later command given another file under
    the same checkpoint is refused (the split digest alone would not see changed features).
    """
    import hashlib
    h = hashlib.sha256()
    n = int(data.num_nodes)
    h.update(repr((n, getattr(data, "num_users", None), getattr(data, "num_items", None))).encode())
    for key in ("x", "y"):
        t = getattr(data, key, None)
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous()
            h.update(f"{key}{tuple(t.shape)}{t.dtype}".encode() + t.numpy().tobytes())
    ei = getattr(data, "edge_index", None)
    if isinstance(ei, torch.Tensor) and ei.dim() == 2 and ei.size(0) == 2:
        ei = ei.detach().cpu().long()
        keys = torch.unique(edge_keys(ei, n))
        h.update(b"edges" + keys.numpy().tobytes())
    return h.hexdigest()


def load_request(payload: dict[str, Any]) -> DeletionRequest | None:
    req = payload.get("request")
    return None if req is None else DeletionRequest.from_dict(req)
