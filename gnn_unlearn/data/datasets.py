"""``load_dataset``: real datasets through PyG's and OGB's own loaders, offline through a mirror.

A *mirror* is a folder of raw files laid out as the loaders expect them
(``<mirror>/Cora/raw/ind.cora.x``, ``<mirror>/gowalla/train.txt``, ...). Its files are
copied into the cache (``root``) before the loader runs, so nothing is downloaded and
the mirror itself is never written to (PyG writes ``processed/`` next to ``raw/``).
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch_geometric.data import Data

from gnn_unlearn.data.bipartite import bipartite_data
from gnn_unlearn.ops.graph import symmetrize, undirected_pairs

MIRROR_ENV = "GNN_UNLEARN_MIRROR"
CACHE_ENV = "GNN_UNLEARN_CACHE"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset's raw files live and how to load them."""
    name: str
    folder: str                       # folder name under root and under the mirror
    raw_files: tuple[str, ...]        # relative to ``folder``
    loader: Callable[[str, "DatasetSpec"], Data]
    extra: str | None = None          # pip extra that provides the loader
    info: dict = field(default_factory=dict)


def _planetoid(root: str, spec: DatasetSpec) -> Data:
    from torch_geometric.datasets import Planetoid
    return Planetoid(root, spec.name)[0]


def _coauthor(root: str, spec: DatasetSpec) -> Data:
    from torch_geometric.datasets import Coauthor
    return Coauthor(root, spec.name)[0]


def _citation_full(root: str, spec: DatasetSpec) -> Data:
    from torch_geometric.datasets import CitationFull
    return CitationFull(root, spec.name)[0]


def _ogb_link(root: str, spec: DatasetSpec) -> Data:
    from ogb.linkproppred import PygLinkPropPredDataset
    data = PygLinkPropPredDataset(spec.name, root=root)[0]
    return Data(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes)


def _ogb_node(root: str, spec: DatasetSpec) -> Data:
    from ogb.nodeproppred import PygNodePropPredDataset
    dataset = PygNodePropPredDataset(spec.name, root=root)
    data = dataset[0]
    split = dataset.get_idx_split()
    # ogbn-arxiv is a directed citation graph; the library (and OGB's GCN baselines) use it
    # undirected, so that a retained graph rebuilt from undirected pairs is the same graph
    edge_index = symmetrize(undirected_pairs(data.edge_index, data.num_nodes))
    out = Data(x=data.x, edge_index=edge_index, y=data.y.view(-1), num_nodes=data.num_nodes)
    for key, idx in (("train", split["train"]), ("val", split["valid"]), ("test", split["test"])):
        mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        mask[idx] = True
        out[f"{key}_mask"] = mask
    return out


def read_lightgcn_file(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads a LightGCN-format file (``user item item ...`` per line) into (users, items).

    Vectorised: one ``-1`` sentinel per line end, then cumulative sums find the user
    of every token; no Python loop over lines.
    """
    with open(path) as f:
        text = f.read()
    tokens = np.array(text.replace("\n", " -1 ").split(), dtype=np.int64)
    if tokens.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if tokens[-1] != -1:
        tokens = np.append(tokens, -1)
    is_end = tokens == -1
    starts = np.flatnonzero(np.concatenate([[True], is_end[:-1]]))  # first token of each line
    line = np.cumsum(np.concatenate([[0], is_end[:-1]]))           # line id of every token
    is_item = ~is_end
    is_item[starts] = False
    line_start_token = tokens[starts]
    users = line_start_token[line[is_item]]
    items = tokens[is_item]
    keep = users >= 0  # blank lines start with the sentinel
    return users[keep], items[keep]


def _lightgcn(root: str, spec: DatasetSpec) -> Data:
    folder = osp.join(root, spec.folder)
    parts = {k: read_lightgcn_file(osp.join(folder, f"{f}.txt"))
             for k, f in (("train", "train"), ("val", "valid"), ("test", "test"))}
    num_users = int(max(u.max() for u, _ in parts.values() if u.size)) + 1
    num_items = int(max(i.max() for _, i in parts.values() if i.size)) + 1
    return bipartite_data(parts, num_users, num_items)


_PLANETOID_FILES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
_LIGHTGCN_FILES = ("train.txt", "valid.txt", "test.txt")

SPECS: dict[str, DatasetSpec] = {
    s.name.lower(): s for s in [
        *[DatasetSpec(n, n, tuple(f"raw/ind.{n.lower()}.{f}" for f in _PLANETOID_FILES), _planetoid)
          for n in ("Cora", "CiteSeer", "PubMed")],
        DatasetSpec("CS", "CS", ("raw/ms_academic_cs.npz",), _coauthor),
        DatasetSpec("Physics", "Physics", ("raw/ms_academic_phy.npz",), _coauthor),
        DatasetSpec("DBLP", "dblp", ("raw/dblp.npz",), _citation_full),
        DatasetSpec("ogbl-collab", "ogbl_collab", ("raw/edge.csv.gz",), _ogb_link, extra="ogb"),
        DatasetSpec("ogbn-arxiv", "ogbn_arxiv", ("raw/edge.csv.gz",), _ogb_node, extra="ogb"),
        *[DatasetSpec(n, n, _LIGHTGCN_FILES, _lightgcn) for n in ("gowalla", "lastfm", "ml-1m")],
    ]
}


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return ["synthetic", *(s.name for s in SPECS.values())]


def default_root() -> str:
    """The dataset cache: ``$GNN_UNLEARN_CACHE`` or ``~/.cache/gnn_unlearn/datasets``."""
    return os.environ.get(CACHE_ENV) or osp.join(osp.expanduser("~"), ".cache", "gnn_unlearn",
                                                 "datasets")


def _copy_from_mirror(mirror: str, spec: DatasetSpec, root: str) -> None:
    src = osp.join(mirror, spec.folder)
    if not osp.isdir(src):
        return
    for dirpath, _, files in os.walk(src):
        rel = osp.relpath(dirpath, src)
        dst_dir = osp.normpath(osp.join(root, spec.folder, rel))
        os.makedirs(dst_dir, exist_ok=True)
        for name in files:
            dst = osp.join(dst_dir, name)
            if osp.exists(dst):
                continue
            # copy to a temporary name first, then rename: an interrupted copy never
            # leaves a truncated file that the loader would trust.
            fd, tmp = tempfile.mkstemp(dir=dst_dir, prefix=f".{name}.")
            os.close(fd)
            shutil.copyfile(osp.join(dirpath, name), tmp)  # copyfile: not the mirror's read-only mode
            os.replace(tmp, dst)


@contextlib.contextmanager
def _cache_lock(root: str, spec: DatasetSpec):
    """Holds an exclusive lock on ``<root>/<folder>/.lock`` (POSIX ``flock``; released when the
    process ends, even by a crash). PyG and OGB write ``processed/`` with a plain save, so a
    second process loading the same dataset while the first is processing it read a half-written
    file (seen with 14 grid jobs starting at once: "PytorchStreamReader failed reading zip
    archive"). Where ``fcntl`` does not exist (Windows) or the cache is read-only it does
    not lock."""
    try:
        import fcntl
    except ImportError:                         # pragma: no cover - not POSIX
        yield
        return
    folder = osp.join(root, spec.folder)
    try:
        os.makedirs(folder, exist_ok=True)
        handle = open(osp.join(folder, ".lock"), "a")
    except OSError:                             # a read-only cache: nothing will be written there
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _missing(spec: DatasetSpec, root: str) -> list[str]:
    return [f for f in spec.raw_files if not osp.exists(osp.join(root, spec.folder, f))]


def load_dataset(name: str, root: str | None = None, mirror: str | None = None,
                 download: bool = True, transform: Callable[[Data], Data] | None = None,
                 **kwargs) -> Data:
    """Loads a graph as a PyG :class:`~torch_geometric.data.Data`.

    Args:
        name: one of :func:`available_datasets` (case-insensitive): ``"synthetic"``
            (no files needed; ``kwargs`` go to :func:`synthetic_graph`), ``Cora``,
            ``CiteSeer``, ``PubMed``, ``CS``, ``Physics``, ``DBLP``, ``ogbl-collab``,
            ``ogbn-arxiv`` (extra ``ogb``), and user-item graphs ``gowalla``,
            ``lastfm``, ``ml-1m`` (LightGCN text format).
        root: cache folder (default :func:`default_root`).
        mirror: folder of raw files to copy from instead of downloading
            (default ``$GNN_UNLEARN_MIRROR``).
        download: let the loader download missing files. With ``False`` (or when
            the download fails) a :class:`FileNotFoundError` lists the missing files.
        transform: a PyG transform (e.g. ``T.NormalizeFeatures()``, which the GNNDelete
            protocol uses) applied to the loaded graph, as PyG datasets apply theirs.

    Returns:
        ``Data`` with ``x``, ``edge_index`` (undirected) and, where the dataset has
        them, ``y`` and the public ``train/val/test_mask``. User-item graphs carry
        ``num_users``, ``num_items`` and the file split as ``*_pos_edge_index``.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {type(name).__name__}")
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be callable (a PyG transform), got {type(transform).__name__}")
    if name.lower() == "synthetic":
        from gnn_unlearn.data.synthetic import synthetic_graph
        return _transformed(synthetic_graph(**kwargs), transform)
    if kwargs:
        raise TypeError(f"unexpected options for {name!r}: {sorted(kwargs)} "
                        "(only 'synthetic' takes generator options)")
    spec = SPECS.get(name.lower())
    if spec is None:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(available_datasets())}")
    if spec.extra == "ogb":
        try:
            import ogb  # noqa: F401
        except ImportError as e:
            raise ImportError(f"{spec.name} needs the 'ogb' extra: pip install 'gnn_unlearn[ogb]'") from e
    root = osp.abspath(osp.expanduser(root or default_root()))
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if mirror:
        mirror = osp.abspath(osp.expanduser(mirror))
        if not osp.isdir(mirror):
            raise FileNotFoundError(f"mirror folder {mirror!r} does not exist; pass an existing "
                                    f"folder as mirror=... or fix {MIRROR_ENV}")
    with _cache_lock(root, spec):               # one process at a time fills and processes the cache
        data = _load_into(spec, root, mirror, download)
    data.name = spec.name
    return _transformed(data, transform)


def _load_into(spec: DatasetSpec, root: str, mirror: str | None, download: bool) -> Data:
    """Copies the mirror's raw files into ``root`` and runs the loader (which downloads what is
    still missing when ``download``)."""
    if mirror:
        _copy_from_mirror(mirror, spec, root)
    missing = _missing(spec, root)
    hint = (f"put the raw files of {spec.name} under {osp.join(root, spec.folder)} "
            f"or in a mirror folder <mirror>/{spec.folder}/ and pass mirror=... or set {MIRROR_ENV}")
    if missing and (not download or spec.loader is _lightgcn):
        raise FileNotFoundError(f"{spec.name}: missing raw files {missing}; {hint}")
    try:
        return spec.loader(root, spec)
    except (OSError, RuntimeError) as e:  # network failures surface as URLError/OSError
        if missing:
            raise FileNotFoundError(
                f"{spec.name}: missing raw files {missing} and the download failed "
                f"({type(e).__name__}: {e}); {hint}") from e
        raise


def _transformed(data: Data, transform: Callable[[Data], Data] | None) -> Data:
    if transform is None:
        return data
    out = transform(data)
    if not isinstance(out, Data):
        raise TypeError(f"transform returned {type(out).__name__}, not a torch_geometric.data.Data")
    return out
