"""Internals that scale with use: ledger appends, GUIDE's similarity weights, certified scoring.

* ledger: milliseconds per :meth:`DeletionLedger.record` (fsync included) at the start and after
  ``--entries`` entries: constant when an append checks only the last entry, growing with the
  ledger when it re-verifies the whole chain;
* GUIDE's shard-similarity weights on Cora (``--shards`` random shards), seconds and the weights;
* :class:`~gnn_unlearn.models.CertifiedLinear` scored ``--repeat`` times on Cora's graph (as an
  evaluation does), seconds.

Runs against whichever ``gnn_unlearn`` is importable, so the same script measures two trees:

    PYTHONPATH=. python benchmarks/internals.py --label after
    PYTHONPATH=../main python benchmarks/internals.py --label before
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from torch_geometric.data import Data

from gnn_unlearn.data import load_dataset, node_split
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.options import check_output_folder
from gnn_unlearn.ledger import DeletionLedger
from gnn_unlearn.models import train_certified
from gnn_unlearn.ops.partition import random_partition
from gnn_unlearn.sharding import similarity_weights


def ledger_appends(entries: int, pad: int) -> dict[str, float]:
    task = SimpleNamespace(request={"parts": [{"kind": "node", "ids": [1, 2]}]},
                           summary=lambda: {"kinds": ["node"], "deleted_nodes": 2})
    result = SimpleNamespace(method="retrain", params={}, seconds=0.5, peak_memory_bytes=0)
    with tempfile.TemporaryDirectory() as folder:
        ledger = DeletionLedger(os.path.join(folder, "ledger.jsonl"))

        def per_append(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                ledger.record(task, result, pad="x" * pad)
            return (time.perf_counter() - start) / n * 1e3

        first = per_append(20)
        start = time.perf_counter()
        per_append(entries - 40)
        fill = time.perf_counter() - start
        last = per_append(20)
        assert ledger.verify(check_files=False).ok
    return {"entries": entries, "ms_first_20": first, "ms_last_20": last, "seconds_total_fill": fill}


def check_args(a: argparse.Namespace) -> Data:
    """Refuses every bad option before anything is measured (``ValueError`` naming the flag):
    ``--entries`` of 40 or fewer (20 timed appends at each end and at least one in between),
    ``--pad`` below 0, ``--repeat`` below 1, an ``--output`` that is a file, a ``--mirror`` that
    Cora cannot be loaded from, ``--shards`` that do not split Cora into non-empty shards.
    Returns Cora, loaded."""
    if a.entries <= 40:
        raise ValueError(f"--entries must be > 40 (20 appends are timed at the start, 20 at the end), "
                         f"got {a.entries}")
    if a.pad < 0:
        raise ValueError(f"--pad must be >= 0 bytes, got {a.pad}")
    if a.repeat < 1:
        raise ValueError(f"--repeat must be >= 1, got {a.repeat}")
    check_output_folder(a.output)
    try:
        cora = load_dataset("Cora", mirror=a.mirror)
    except (ValueError, FileNotFoundError) as e:
        raise ValueError(f"--mirror: {e}") from None
    try:
        random_partition(cora.num_nodes, a.shards)
    except ValueError as e:
        raise ValueError(f"--shards: {e}") from None
    return cora


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--label", required=True, help="results files: <output>/internals_<label>.{md,json}")
    p.add_argument("--entries", type=int, default=2000)
    p.add_argument("--pad", type=int, default=500, help="bytes of payload per ledger entry")
    p.add_argument("--shards", type=int, default=10)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--mirror", default=os.environ.get("GNN_UNLEARN_MIRROR", "../shared/datasets"))
    p.add_argument("--output", default=str(Path(__file__).resolve().parent / "results"),
                   help="folder of the results files")
    a = p.parse_args(argv)
    try:
        cora = check_args(a)
    except ValueError as e:
        p.error(str(e))
    out: dict = {"label": a.label, "ledger": ledger_appends(a.entries, a.pad)}
    cora = node_split(cora, seed=0)
    assignment = random_partition(cora.num_nodes, a.shards, torch.Generator().manual_seed(0),
                                  cora.edge_index.device)
    similarity_weights(cora, assignment, a.shards)                       # warm-up
    start = time.perf_counter()
    weights = similarity_weights(cora, assignment, a.shards)
    out["similarity"] = {"shards": a.shards, "seconds": time.perf_counter() - start,
                         "weights": weights.tolist()}
    model = train_certified(cora, seed=0)
    model(cora.x, cora.edge_index)
    start = time.perf_counter()
    for _ in range(a.repeat):
        model(cora.x, cora.edge_index)
    out["certified_forward"] = {"repeat": a.repeat, "seconds": time.perf_counter() - start}
    path = os.environ.get("PYTHONPATH")               # which tree was measured
    command = (f"PYTHONPATH={shlex.quote(path)} " if path else "") + "python " + \
        " ".join(shlex.quote(x) for x in (sys.argv if argv is None else [sys.argv[0], *argv]))
    led, sim, cf = out["ledger"], out["similarity"], out["certified_forward"]
    lines = [f"# Internals ({a.label})\n", f"Command: `{command}`  ", f"Hardware: {hardware()} "
             f"(shared machine, load average {os.getloadavg()[0]:.1f})\n",
             "| measure | value |", "|---|---|",
             f"| ledger append, first 20 (ms each) | {led['ms_first_20']:.2f} |",
             f"| ledger append, after {led['entries'] - 20} entries (ms each) | {led['ms_last_20']:.2f} |",
             f"| filling the ledger to {led['entries']} entries (s) | {led['seconds_total_fill']:.1f} |",
             f"| GUIDE similarity weights, Cora, {sim['shards']} shards (s) | {sim['seconds']:.3f} |",
             f"| CertifiedLinear on Cora, {cf['repeat']} calls (s) | {cf['seconds']:.3f} |"]
    folder = Path(a.output)
    atomic_write_text(str(folder / f"internals_{a.label}.md"), "\n".join(lines) + "\n")
    atomic_write_text(str(folder / f"internals_{a.label}.json"),
                      json.dumps({**out, "command": command, "hardware": hardware()}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
