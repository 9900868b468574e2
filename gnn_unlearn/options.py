"""Checks of command-line options shared by ``gnn-unlearn`` and the scripts in ``benchmarks/``.

Each refuses a bad value before any work starts with a :class:`ValueError` that names the
option (``flag``), says what was wrong and what to give instead; library messages are kept and
prefixed with the flag, not reworded.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

from torch_geometric.data import Data

from gnn_unlearn.data import load_dataset, synthetic_graph
from gnn_unlearn.experiment import parse_methods
from gnn_unlearn.metrics.forget_sets import parse_where


def check_distinct(flag: str, entries: Sequence, keys: Sequence | None = None) -> None:
    """Refuses two ``entries`` of a list option that mean the same (equal ``keys``; default the
    entries themselves): a table would pool or count one block twice, or run the same work twice."""
    keys = list(entries if keys is None else keys)
    for i, key in enumerate(keys):
        first = keys.index(key)
        if first < i:
            said = (f"{entries[i]!r} is given twice" if entries[first] == entries[i]
                    else f"{entries[first]!r} and {entries[i]!r} are the same")
            raise ValueError(f"{flag}: {said}; give each once")


def check_output_folder(path: str, flag: str = "--output") -> None:
    """Refuses an output folder that is an existing file (the results would fail to write only
    after all the work)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path!r} is a file; give a folder for the results")


def check_results_name(name: str, flag: str = "--name", folders: bool = True) -> None:
    """Refuses an empty results file stem (it would write hidden files ``.md`` / ``.json``) and,
    with ``folders=False``, one that names a folder (``a/b``, ``..``: the folder is ``--output``)."""
    if not name:
        raise ValueError(f"{flag} must not be empty: it names the result files")
    if not folders and (name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name)):
        raise ValueError(f"{flag} {name!r}: give a file name without a folder (the folder is --output)")


def shares(flag: str, text: str, of: str, example: str, include_one: bool = False) -> list[float]:
    """The distinct comma-separated shares of ``text``, each in (0, 1) (``(0, 1]`` with
    ``include_one``); ``of`` says what they are shares of, for the message."""
    values = []
    for entry in text.split(","):
        try:
            value = float(entry)
        except ValueError:
            value = float("nan")
        if not (0 < value < 1 or (include_one and value == 1)):
            raise ValueError(f"{flag} entry {entry!r}: give shares {of} in (0, {'1]' if include_one else '1)'}, "
                             f"comma-separated, e.g. {example}")
        values.append(value)
    check_distinct(flag, text.split(","), values)
    return values


def whole_numbers(flag: str, text: str, example: str, minimum: int = 1, distinct: bool = True) -> list[int]:
    """The comma-separated whole numbers ``>= minimum`` of ``text``, each given once unless
    ``distinct=False`` (e.g. one fanout per layer)."""
    values = []
    for entry in text.split(","):
        try:
            value = int(entry)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise ValueError(f"{flag} entry {entry!r}: give whole numbers >= {minimum}, comma-separated, "
                             f"e.g. {example}")
        values.append(value)
    if distinct:
        check_distinct(flag, values)
    return values


def load_datasets(names: Sequence[str], flag: str = "--datasets", root: str | None = None,
                  mirror: str | None = None, **options: Any) -> dict[str, Data]:
    """The graphs of ``names`` by name, each loaded once with
    :func:`~gnn_unlearn.data.load_dataset`, which refuses an unknown name before reading any
    file and missing files with where to put them; a name given twice (in any case) is refused."""
    check_distinct(flag, list(names), [n.lower() if isinstance(n, str) else n for n in names])
    if mirror is not None and not os.path.isdir(mirror):
        raise ValueError(f"--mirror {mirror!r} is not a folder; give the folder of raw dataset files "
                         "(or leave it out to use $GNN_UNLEARN_MIRROR)")
    graphs = {}
    for name in names:
        try:
            graphs[name] = load_dataset(name, root=root, mirror=mirror, **options)
        except (ValueError, TypeError, FileNotFoundError, ImportError) as e:
            raise ValueError(f"{flag}: {e}") from None
    return graphs


def load_graph(spec: str, flag: str = "--dataset", avg_degree: float = 11.0) -> Data:
    """A dataset name, or ``synthetic:N`` for :func:`~gnn_unlearn.data.synthetic_graph` with
    ``N`` nodes (seed 0), as the scaling benchmarks take it."""
    if spec.startswith("synthetic:"):
        count = spec.split(":", 1)[1]
        if not count.isdecimal() or int(count) < 1:
            raise ValueError(f"{flag} {spec!r}: synthetic:N needs a whole number of nodes N >= 1, "
                             "e.g. synthetic:235000")
        try:
            return synthetic_graph(int(count), avg_degree=avg_degree, seed=0)
        except ValueError as e:
            raise ValueError(f"{flag} {spec!r}: {e}") from None
    return load_datasets([spec], flag)[spec]


def table_methods(names: Sequence[str], task: str, reference: bool = False,
                  flag: str = "--methods") -> list[str]:
    """The methods of a table beside its own retrain row: each must serve ``task``'s model
    (:func:`~gnn_unlearn.experiment.parse_methods`: known, distinct); ``retrain`` is refused (the
    table retrains every request already), and so is a ``+ref`` suffix unless ``reference``."""
    names = list(names)
    if "retrain" in names:
        raise ValueError(f"{flag}: leave out 'retrain'; every request is retrained as a row of its own")
    try:
        parsed = parse_methods(names, task=task)
    except ValueError as e:
        raise ValueError(f"{flag}: {e}") from None
    if not reference and any(with_ref for _, with_ref in parsed):
        raise ValueError(f"{flag}: this table runs no held-out reference; drop the '+ref' suffix")
    return names


def deleted_set_positions(wheres: Sequence[str], flag: str = "--wheres") -> list[tuple]:
    """The parsed positions of ``wheres`` (:func:`~gnn_unlearn.metrics.forget_sets.parse_where`),
    none meaning another's (``worst`` is ``worst:confidence``)."""
    positions = []
    for where in wheres:
        try:
            positions.append(parse_where(where))
        except ValueError as e:
            raise ValueError(f"{flag}: {e}") from None
    check_distinct(flag, list(wheres), positions)
    return positions
