"""Aggregation kernels: which sparse path to propagate with, measured.

One GCN-normalised aggregation :math:`\\tilde A H` over a real graph (gowalla: 70,839 nodes,
1.44 M directed edges) or a synthetic one, forward and forward+backward, for every path
available: torch CSR products (int64 and int32 indices), CSR with the symmetric backward used
by LightGCN, gather + ``index_add_``, PyG's ``scatter`` (which uses torch-scatter when it is
installed) and torch-scatter directly. Also the achieved memory bandwidth of the fastest
forward (bytes a CSR product must move: indices, values, gathered rows, written rows) against
the machine's measured copy bandwidth. Then pair scoring for the dot decoder: gathered rows
against :class:`~gnn_unlearn.ops.scoring.PairDot` (sampled sparse product).

    python benchmarks/kernels.py --dataset gowalla --dims 64,128 --name kernels_cpu
    python benchmarks/kernels.py --dataset gowalla --dims 64,128 --device cuda   # -> kernels_cuda

On CUDA the copy bandwidth is a device-to-device copy of 512 MiB (HBM read + write), so the
``% of copy bw`` column says how close each product gets to the memory system's practical peak.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
from torch_geometric.data import Data

from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.models.encoders import compact_csr
from gnn_unlearn.models.lightgcn import SymmetricPropagation, normalized_adjacency
from gnn_unlearn.ops.scoring import PairDot
from gnn_unlearn.options import check_output_folder, load_graph, whole_numbers
from gnn_unlearn.utils import resolve_device


def check_args(args: argparse.Namespace) -> tuple[torch.device, Data]:
    """Refuses every bad option before anything is timed (``ValueError`` naming the flag):
    ``--repeat`` below 1, ``--dims`` entries that are not distinct whole numbers >= 1, a device
    this machine lacks, an ``--output`` that is a file, a dataset that cannot be loaded. Returns
    the device and the graph, loaded."""
    if args.repeat < 1:
        raise ValueError(f"--repeat must be >= 1, got {args.repeat}")
    whole_numbers("--dims", args.dims, "64,128")
    try:
        device = resolve_device(args.device)
    except ValueError as e:
        raise ValueError(f"--device: {e}") from None
    check_output_folder(args.output)
    return device, load_graph(args.dataset)


def timed(fn, repeat: int, sync) -> float:
    fn()
    sync()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync()
    return (time.perf_counter() - t) / repeat


def copy_bandwidth(device, sync, mib: int = 512) -> float:
    """GB/s of a large tensor copy (read + write)."""
    a = torch.empty(mib * 2 ** 18, device=device)
    b = torch.empty_like(a)
    secs = timed(lambda: b.copy_(a), 20 if a.is_cuda else 5, sync)
    return 2 * a.numel() * 4 / secs / 1e9


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="gowalla", help="a dataset name or synthetic:N")
    p.add_argument("--dims", default="64,128")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default=None, help="results file stem (default kernels_<device type>)")
    args = p.parse_args(argv)
    command = "python benchmarks/kernels.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        device, data = check_args(args)
    except ValueError as e:
        p.error(str(e))
    args.name = args.name or f"kernels_{device.type}"
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else hardware()
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    n, ei = data.num_nodes, data.edge_index.to(device)
    adj64 = normalized_adjacency(ei, n)
    adj64 = torch.sparse_csr_tensor(adj64.crow_indices().long(), adj64.col_indices().long(),
                                    adj64.values(), adj64.shape)
    adj32 = compact_csr(adj64)
    coo = adj64.to_sparse_coo().coalesce()
    row, col = coo.indices()
    w = coo.values()
    try:
        import torch_scatter
    except ImportError:
        torch_scatter = None
    from torch_geometric.utils import scatter as pyg_scatter
    rows, nnz = [], int(adj64._nnz())
    for d in (int(v) for v in args.dims.split(",")):
        h = torch.randn(n, d, device=device, requires_grad=True)
        paths = {
            "csr int64 (adj @ h)": lambda: adj64 @ h,
            "csr int32 (adj @ h)": lambda: adj32 @ h,
            "csr int32, symmetric backward": lambda: SymmetricPropagation.apply(adj32, h),
            "gather + index_add_": lambda: torch.zeros(n, d, device=device).index_add_(0, row, h[col] * w.unsqueeze(1)),
            "PyG scatter (sum)": lambda: pyg_scatter(h[col] * w.unsqueeze(1), row, 0, n, reduce="sum"),
        }
        if torch_scatter is not None:
            paths["torch_scatter.scatter_add"] = lambda: torch_scatter.scatter_add(h[col] * w.unsqueeze(1), row, 0, dim_size=n)
        for name, fn in paths.items():
            fwd = timed(lambda: fn(), args.repeat, sync)
            both = timed(lambda: fn().sum().backward(), args.repeat, sync)
            rows.append(dict(dim=d, path=name, forward_ms=fwd * 1e3, forward_backward_ms=both * 1e3))
            print(rows[-1], flush=True)
    # pair scoring (the dot decoder): every directed edge plus as many random pairs, as in a
    # training step; gathered rows vs the sampled sparse product (PairDot)
    g = torch.Generator().manual_seed(0)
    pairs = torch.cat([ei, torch.randint(n, (2, ei.size(1)), generator=g).to(device)], 1)
    pair_rows = []
    for d in (int(v) for v in args.dims.split(",")):
        z = torch.randn(n, d, device=device, requires_grad=True)
        scorers = {"gather z[a] * z[b]": lambda: (z[pairs[0]] * z[pairs[1]]).sum(-1),
                   "PairDot (SDDMM + 2 CSR products)": lambda: PairDot.apply(z, pairs[0], pairs[1])}
        for name, fn in scorers.items():
            fwd = timed(lambda: fn(), args.repeat, sync)
            both = timed(lambda: fn().sum().backward(), args.repeat, sync)
            pair_rows.append(dict(dim=d, path=name, pairs=int(pairs.size(1)), forward_ms=fwd * 1e3,
                                  forward_backward_ms=both * 1e3))
            print(pair_rows[-1], flush=True)
    bw = copy_bandwidth(device, sync)
    lines = [f"# Aggregation kernels\n\nCommand: `{command}`  \nHardware: {hardware()}  \n"
             f"Device: {device} ({device_name})  \n"
             f"Graph: {args.dataset}, {n:,} nodes, {nnz:,} non-zeros (normalised adjacency).  \n"
             f"torch-scatter installed: {torch_scatter is not None}.  \n"
             f"Measured copy bandwidth: {bw:.1f} GB/s.\n",
             "| dim | path | forward ms | forward+backward ms | forward GB/s (CSR bytes) | % of copy bw |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        moved = nnz * (4 + 4) + (n + 1) * 4 + nnz * r["dim"] * 4 + n * r["dim"] * 4
        gbs = moved / (r["forward_ms"] / 1e3) / 1e9
        r.update(forward_gbs=gbs, copy_gbs=bw)
        lines.append(f"| {r['dim']} | {r['path']} | {r['forward_ms']:.1f} | {r['forward_backward_ms']:.1f} | "
                     f"{gbs:.1f} | {100 * gbs / bw:.0f} % |")
    lines.append("\nBytes per forward (lower bound for a CSR product): int32 column index + fp32 value per "
                 "non-zero, the row pointer, one gathered fp32 row of `dim` per non-zero and one written "
                 "row per node; the same figure is used for every path so the GB/s column compares "
                 "times. Gathered rows that stay in cache are not DRAM traffic, so on graphs whose "
                 "features fit in the last-level cache the figure can exceed the copy bandwidth.")
    lines += [f"\n## Pair scoring\n\n{pairs.size(1):,} pairs (every directed edge and as many "
              "random pairs), dot-product scores.\n",
              "| dim | path | forward ms | forward+backward ms |", "|---|---|---|---|"]
    lines += [f"| {r['dim']} | {r['path']} | {r['forward_ms']:.1f} | {r['forward_backward_ms']:.1f} |"
              for r in pair_rows]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{args.name}.md", "\n".join(lines) + "\n")
    atomic_write_text(out / f"{args.name}.json",
                      json.dumps(dict(command=command, hardware=hardware(), device=str(device),
                                      device_name=device_name, copy_gbs=bw, graph=args.dataset,
                                      nodes=n, nnz=nnz, rows=rows, pair_rows=pair_rows), indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
