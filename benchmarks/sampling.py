"""Neighbour sampling: this library's torch sampler against PyG's, measured.

Times one mini-batch's sampling (seeds -> computation subgraph) on a graph for each sampler
available: :class:`gnn_unlearn.loader.NeighborSampler` (plain torch, always; without
replacement as PyG, and with) and PyG's ``NeighborSampler`` (pyg-lib or torch-sparse, when
one is installed; without replacement), for several fanouts
and seed-batch sizes. Reports milliseconds per batch (median of ``--repeat`` batches, each
with fresh random seeds) and the subgraph's nodes and edges, so the two are compared at equal
work. The graph: a dataset name or ``synthetic:N`` (planted partition, average degree 11, as
``benchmarks/scale.py``).

    python benchmarks/sampling.py --dataset synthetic:235000 --name sampling_cpu
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
import torch_geometric.typing as pyg_typing
from torch_geometric.data import Data

from gnn_unlearn.data import load_dataset, synthetic_graph
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.loader import NeighborSampler, build_sampler, sample_subgraph


def whole_numbers(text: str, flag: str, example: str) -> list[int]:
    """The comma-separated whole numbers >= 1 of ``text``; ``ValueError`` naming ``flag`` and the
    entry otherwise."""
    out = []
    for entry in text.split(","):
        try:
            value = int(entry)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"{flag} entry {entry!r}: give whole numbers >= 1, comma-separated, e.g. {example}")
        out.append(value)
    return out


def load_graph(name: str) -> Data:
    """The ``--dataset`` graph: a dataset name or ``synthetic:N``; ``ValueError`` saying what was
    wrong (an unknown name, missing files, a bad N)."""
    if name.startswith("synthetic:"):
        count = name.split(":", 1)[1]
        if not count.isdecimal() or int(count) < 1:
            raise ValueError(f"--dataset {name!r}: synthetic:N needs a whole number of nodes N >= 1, "
                             "e.g. synthetic:235000")
        try:
            return synthetic_graph(int(count), avg_degree=11.0, seed=0)
        except ValueError as e:
            raise ValueError(f"--dataset {name!r}: {e}") from None
    try:
        return load_dataset(name)             # refuses an unknown name before reading files
    except (ValueError, FileNotFoundError, ImportError) as e:
        raise ValueError(f"--dataset: {e}") from None


def check_args(args: argparse.Namespace) -> Data:
    """Refuses every bad option before anything is sampled (``ValueError`` naming the flag):
    ``--repeat`` below 1, ``--fanouts`` lists that are not distinct lists of whole numbers >= 1,
    ``--batch-sizes`` that are not distinct whole numbers from 1 to the graph's node count, an
    ``--output`` that is a file, a dataset that cannot be loaded. Returns the graph, loaded."""
    if args.repeat < 1:
        raise ValueError(f"--repeat must be >= 1, got {args.repeat}")
    fanouts = [tuple(whole_numbers(spec, "--fanouts", "5,5;10,10 (lists separated by ';')"))
               for spec in args.fanouts.split(";")]
    if len(set(fanouts)) < len(fanouts):
        raise ValueError(f"--fanouts must be distinct, got {args.fanouts!r}")
    batches = whole_numbers(args.batch_sizes, "--batch-sizes", "512,4096")
    if len(set(batches)) < len(batches):
        raise ValueError(f"--batch-sizes must be distinct, got {args.batch_sizes!r}")
    if Path(args.output).exists() and not Path(args.output).is_dir():
        raise ValueError(f"--output {args.output!r} is a file; give a folder for the results")
    data = load_graph(args.dataset)
    if max(batches) > data.num_nodes:
        raise ValueError(f"--batch-sizes: {max(batches)} seeds per batch, but {args.dataset} has "
                         f"{data.num_nodes} nodes; give at most {data.num_nodes}")
    return data


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="synthetic:235000")
    p.add_argument("--fanouts", default="5,5;10,10;15,10,5", help="';'-separated fanout lists")
    p.add_argument("--batch-sizes", default="512,4096")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="sampling_cpu")
    args = p.parse_args(argv)
    command = "python benchmarks/sampling.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        data = check_args(args)
    except ValueError as e:
        p.error(str(e))
    kinds = ["torch", "torch, replace"] + (["pyg"] if pyg_typing.WITH_PYG_LIB or
                                           pyg_typing.WITH_TORCH_SPARSE else [])
    backend = "pyg-lib" if pyg_typing.WITH_PYG_LIB else "torch-sparse" if "pyg" in kinds else "none"
    g = torch.Generator().manual_seed(0)
    rows = []
    for spec in args.fanouts.split(";"):
        fanouts = [int(f) for f in spec.split(",")]
        for kind in kinds:
            t = time.perf_counter()
            sampler = (NeighborSampler(data.edge_index, data.num_nodes, fanouts, replace=True)
                       if kind == "torch, replace" else build_sampler(data, fanouts, kind))
            build = time.perf_counter() - t
            for batch in (int(b) for b in args.batch_sizes.split(",")):
                times, nodes, edges = [], [], []
                for _ in range(args.repeat):
                    seeds = torch.randperm(data.num_nodes, generator=g)[:batch]
                    t = time.perf_counter()
                    n_id, ei = sample_subgraph(sampler, seeds, g)
                    times.append(time.perf_counter() - t)
                    nodes.append(n_id.numel())
                    edges.append(ei.size(1))
                rows.append(dict(sampler=kind, fanouts=fanouts, batch=batch,
                                 build_s=round(build, 3),
                                 ms=round(1e3 * statistics.median(times), 2),
                                 nodes=int(statistics.mean(nodes)), edges=int(statistics.mean(edges))))
                print(rows[-1], flush=True)
    lines = [f"# Neighbour sampling\n\nCommand: `{command}`  \nHardware: {hardware()}  \n"
             f"Graph: {args.dataset} ({data.num_nodes:,} nodes, {data.edge_index.size(1):,} "
             f"directed edges); torch threads: {torch.get_num_threads()}; PyG's sampler backend: "
             f"{backend}. Median of {args.repeat} batches of random seeds.\n",
             "| fanouts | seeds | sampler | ms / batch | nodes | edges | sampler build (s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {','.join(map(str, r['fanouts']))} | {r['batch']:,} | {r['sampler']} | "
                     f"{r['ms']:,} | {r['nodes']:,} | {r['edges']:,} | {r['build_s']} |")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{args.name}.md", "\n".join(lines) + "\n")
    atomic_write_text(out / f"{args.name}.json",
                      json.dumps(dict(command=command, hardware=hardware(), backend=backend,
                                      rows=rows), indent=1))


if __name__ == "__main__":
    main()
