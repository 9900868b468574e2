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

from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.loader import NeighborSampler, build_sampler, sample_subgraph
from gnn_unlearn.options import check_distinct, check_output_folder, load_graph, whole_numbers


def check_args(args: argparse.Namespace) -> Data:
    """Refuses every bad option before anything is sampled (``ValueError`` naming the flag):
    ``--repeat`` below 1, ``--fanouts`` lists that are not distinct lists of whole numbers >= 1,
    ``--batch-sizes`` that are not distinct whole numbers from 1 to the graph's node count, an
    ``--output`` that is a file, a dataset that cannot be loaded. Returns the graph, loaded."""
    if args.repeat < 1:
        raise ValueError(f"--repeat must be >= 1, got {args.repeat}")
    specs = args.fanouts.split(";")
    fanouts = [tuple(whole_numbers("--fanouts", spec, "5,5;10,10 (lists separated by ';')", distinct=False))
               for spec in specs]
    check_distinct("--fanouts", specs, fanouts)
    batches = whole_numbers("--batch-sizes", args.batch_sizes, "512,4096")
    check_output_folder(args.output)
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
