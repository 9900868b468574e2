"""Data-parallel scaling: training time with 1, 2, ... DistributedDataParallel processes.

Each run is ``torchrun --standalone --nproc_per_node P`` over this script (``--worker``),
with ``T`` threads per process (``--runs PxT,...``): the library's
:func:`~gnn_unlearn.loader.fit_minibatch` (``--fanouts``) or full-batch
:func:`~gnn_unlearn.training.fit` on a synthetic graph (``gnn_unlearn.data.synthetic_graph``),
for a fixed number of epochs (no early stop), from the same seeded weights. Per run: the
training time per epoch (the fit minus its one validation pass, which every rank runs on the
full graph), the CPU time per epoch summed over the ranks (user + system, validation
excluded: on a shared, loaded machine the wall-clock ratio also measures how many time slices
the processes got, the CPU time is the work done), the steps per rank and epoch, the loss of
the last epoch, rank 0's peak memory, the machine's load average at the end, and whether
the replicas ended bitwise identical (an ``all_gather`` of the weights). Speed-up = epoch time of the first run / this run's.

    python benchmarks/ddp.py --nodes 30000 --task link --fanouts 10,10 --runs 1x1,1x2,2x1 --name ddp_cpu

On GPUs (nccl, one GPU per process), e.g. an ogbn-products-sized graph (2.45 M nodes,
61.9 M directed edges, 100 features, 47 classes; 3-layer GraphSAGE, fanouts 15,10,5 as PyG's
products example):

    python benchmarks/ddp.py --device cuda --nodes 2449029 --avg-degree 25.3 --features 100 \\
        --classes 47 --train-ratio 0.08 --val-ratio 0.02 --task node --encoder sage \\
        --fanouts 15,10,5 --batch-size 1024 --epochs 1 --runs 1x8,2x8 --name ddp_products_cuda

(``benchmarks/gpu.sh`` stage g runs this with one process per GPU of the machine.)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch_geometric.data import Data

from gnn_unlearn.data import link_split, node_split, synthetic_graph
from gnn_unlearn.distributed import init_from_env
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.options import check_output_folder, check_results_name
from gnn_unlearn.loader import check_batch_size, fit_minibatch, positive_fanouts
from gnn_unlearn.models import make_model
from gnn_unlearn.training import TrainConfig, fit, validation_score
from gnn_unlearn.utils import resolve_device, seeded


def parse_runs(text: str) -> list[tuple[int, int]]:
    """``"1x1,2x1"`` -> ``[(1, 1), (2, 1)]`` (processes x threads per process)."""
    try:
        runs = [tuple(int(v) for v in r.split("x")) for r in text.split(",")]
    except ValueError:
        raise ValueError(f"--runs takes PxT,... (processes x threads), got {text!r}") from None
    if any(len(r) != 2 or min(r) < 1 for r in runs):
        raise ValueError(f"--runs takes PxT,... with positive P and T, got {text!r}")
    return runs


def check_args(args, parser: argparse.ArgumentParser) -> list[tuple[int, int]]:
    """Refuses, in the launcher and before any worker is spawned, every option a worker would
    fail on or ignore (``ValueError``, naming the option), and returns the runs (:func:`parse_runs`).

    Refused: an empty ``--name``, ``--output`` naming a file; ``--runs`` not PxT,...;
    a ``--device`` that is not cpu / cuda[:N] / auto, CUDA where there is none, more processes
    than GPUs (nccl: one GPU per process); ``--nodes``, ``--features`` < 1, ``--avg-degree`` <= 0,
    ``--classes`` < 1 (node task: < 2) or above ``--nodes``; ``--train-ratio`` / ``--val-ratio``
    with the link task, or that :func:`~gnn_unlearn.data.node_split` refuses; ``--fanouts`` not
    positive ints; ``--layers`` given with ``--fanouts`` or ``--batch-size`` without them (ignored
    there); an ``--encoder`` or ``--layers`` the library cannot build, ``--epochs`` < 1.
    """
    check_results_name(args.name)
    check_output_folder(args.output)
    runs = parse_runs(args.runs)
    # not resolve_device: it would start CUDA in the launcher, which then holds GPU memory beside the workers
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    try:
        device = torch.device(("cuda" if gpus else "cpu") if args.device == "auto" else args.device)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device takes cpu, cuda, cuda:N or auto, got {args.device!r}")
    if device.type == "cuda":
        index = device.index or 0
        if gpus == 0:
            raise ValueError(f"--device {args.device}: CUDA is not available here; use --device cpu (gloo)")
        if index >= gpus or max(p for p, _ in runs) > gpus:
            raise ValueError(f"--device {args.device} --runs {args.runs}: this machine has {gpus} GPU(s) and "
                             "nccl runs one process per GPU; give at most that many processes")
    for flag, value in (("--nodes", args.nodes), ("--features", args.features), ("--classes", args.classes)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if not 0 < args.avg_degree < float("inf"):
        raise ValueError(f"--avg-degree must be a positive number, got {args.avg_degree}")
    if args.classes > args.nodes:
        raise ValueError(f"--classes {args.classes} exceeds --nodes {args.nodes}")
    if args.task == "node" and args.classes < 2:
        raise ValueError(f"--classes must be >= 2 for the node task, got {args.classes}")
    ratios = {k: v for k, v in (("train_ratio", args.train_ratio), ("val_ratio", args.val_ratio)) if v is not None}
    if ratios and args.task != "node":
        raise ValueError("--train-ratio / --val-ratio set the node split; leave them out with --task link")
    try:                   # node_split's own check of the ratios, on a one-node stand-in
        node_split(Data(y=torch.zeros(1, dtype=torch.long)), seed=0, **ratios)
    except ValueError as e:
        raise ValueError(f"--train-ratio / --val-ratio: {e}") from None
    if args.fanouts is not None:
        try:
            fanouts = positive_fanouts([int(f) for f in args.fanouts.split(",")])
        except ValueError:
            raise ValueError(f"--fanouts takes positive ints, one per layer, e.g. 10,10, got {args.fanouts!r}") from None
        if args.layers != parser.get_default("layers"):
            raise ValueError("--layers is for full batch; with --fanouts the model has one layer per fanout")
        try:
            check_batch_size(args.batch_size)
        except ValueError as e:
            raise ValueError(f"--batch-size: {e}") from None
    elif args.batch_size != parser.get_default("batch_size"):
        raise ValueError("--batch-size is for mini-batches; give --fanouts too, or leave it out (full batch)")
    stand_in = Data(x=torch.zeros(1, args.features), y=torch.tensor([args.classes - 1]))
    try:                   # the library's own checks of the encoder and its depth
        make_model(stand_in, args.task, encoder=args.encoder,
                   num_layers=len(fanouts) if args.fanouts is not None else args.layers)
    except ValueError as e:
        raise ValueError(f"--encoder / --layers: {e}") from None
    try:
        TrainConfig(epochs=args.epochs, eval_every=args.epochs, patience=10 ** 6)
    except ValueError as e:
        raise ValueError(f"--epochs: {e}") from None
    return runs


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker(args) -> None:
    """One rank of one run; rank 0 writes the row to ``args.row_file``."""
    replica, device = init_from_env(args.device)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    raw = synthetic_graph(args.nodes, num_classes=args.classes, avg_degree=args.avg_degree,
                          num_features=args.features, seed=0)
    if args.task == "link":
        data = link_split(raw, seed=0)
    else:
        ratios = {k: v for k, v in (("train_ratio", args.train_ratio), ("val_ratio", args.val_ratio))
                  if v is not None}
        data = node_split(raw, seed=0, **ratios)
    load_seconds = time.perf_counter() - t0
    fanouts = [int(f) for f in args.fanouts.split(",")] if args.fanouts else None
    with seeded(0):
        model = make_model(data, args.task, encoder=args.encoder,
                           num_layers=len(fanouts) if fanouts else args.layers)
    cfg = TrainConfig(epochs=args.epochs, eval_every=args.epochs, patience=10 ** 6, seed=0)
    if replica.active:
        dist.barrier()
    sync(dev)
    t0, c0 = time.perf_counter(), time.process_time()
    if fanouts:
        model, hist = fit_minibatch(model, data, cfg, fanouts, args.batch_size, dev)
    else:
        model, hist = fit(model, data, cfg, dev)
    sync(dev)
    fit_seconds, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    validation_score(model, data)
    sync(dev)
    val_seconds, val_cpu = time.perf_counter() - t0, time.process_time() - c0
    cpu = torch.tensor([max(fit_cpu - val_cpu, 0.0) / args.epochs], dtype=torch.float64)
    if replica.active and dist.get_backend() == "gloo":
        dist.all_reduce(cpu)                   # summed over the ranks
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    identical = True
    if replica.active:
        copies = [torch.empty_like(flat) for _ in range(replica.world_size)]
        dist.all_gather(copies, flat)
        identical = all(torch.equal(c, flat) for c in copies)
    if replica.rank != 0:
        return
    if fanouts:
        units = int(data.train_mask.sum()) if args.task == "node" else data.train_pos_edge_index.size(1)
        steps = -(-(-(-units // replica.world_size)) // args.batch_size)
    else:
        steps = 1
    memory = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
              else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    row = dict(processes=replica.world_size, threads=torch.get_num_threads(),
               backend=dist.get_backend() if replica.active else "-", device=str(dev),
               load_seconds=load_seconds, fit_seconds=fit_seconds, val_seconds=val_seconds,
               epoch_seconds=max(fit_seconds - val_seconds, 0.0) / args.epochs,
               epoch_cpu_seconds=float(cpu) if dev.type == "cpu" else None,
               steps_per_rank=steps, last_loss=hist.loss[-1], val=hist.best_val,
               replicas_identical=identical, peak_memory_mb=memory / 2 ** 20,
               nodes=data.num_nodes, edges=int(data.edge_index.size(1)),
               load_average=os.getloadavg()[0])
    Path(args.row_file).write_text(json.dumps(row))


def launch(args, processes: int, threads: int, row_file: str) -> dict:
    """One run: ``torchrun`` over this script's worker mode."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={processes}", os.path.abspath(__file__), "--worker",
           "--row-file", row_file, *args.passthrough]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                      env.get("PYTHONPATH")]))
    print(f"== {processes} process(es) x {threads} thread(s)", flush=True)
    subprocess.run(cmd, env=env, check=True)
    return json.loads(Path(row_file).read_text())


def write(rows: list[dict], args, command: str) -> None:
    base = rows[0]["epoch_seconds"]
    mode = (f"mini-batch, fanouts {args.fanouts}, {args.batch_size} seeds per rank and step"
            if args.fanouts else "full batch (every rank encodes the whole graph)")
    lines = [
        "# Data-parallel scaling (DistributedDataParallel)\n",
        f"Command: `{command}`  ",
        f"Hardware: {hardware()} (in the launcher); device {rows[0]['device']}  ",
        f"Graph: synthetic, {rows[0]['nodes']} nodes, {rows[0]['edges']} directed edges, "
        f"{args.features} features; task {args.task}, {args.encoder}; {mode}; "
        f"{args.epochs} epoch(s), one validation pass at the end.\n",
        "| processes x threads | backend | steps / rank / epoch | epoch (s) | speed-up | "
        "CPU s / epoch, all ranks | validation (s) | load+split (s) | last loss | val | "
        "replicas identical | rank-0 peak memory (MB) | machine load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cpu = "-" if r.get("epoch_cpu_seconds") is None else f"{r['epoch_cpu_seconds']:.2f}"
        lines.append(f"| {r['processes']} x {r['threads']} | {r['backend']} | {r['steps_per_rank']} | "
                     f"{r['epoch_seconds']:.2f} | {base / r['epoch_seconds']:.2f} | {cpu} | "
                     f"{r['val_seconds']:.2f} | {r['load_seconds']:.1f} | {r['last_loss']:.4f} | "
                     f"{r['val']:.4f} | {'yes' if r['replicas_identical'] else 'NO'} | "
                     f"{r['peak_memory_mb']:.0f} | {r['load_average']:.1f} |")
    lines.append("")
    lines.extend(args.note or [])
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{args.name}.md", "\n".join(lines) + "\n")
    atomic_write_text(out / f"{args.name}.json", json.dumps(dict(command=command, rows=rows), indent=1))


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=30000)
    p.add_argument("--avg-degree", type=float, default=8.0)
    p.add_argument("--features", type=int, default=128)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--train-ratio", type=float, default=None, help="node task: node_split's train_ratio")
    p.add_argument("--val-ratio", type=float, default=None, help="node task: node_split's val_ratio")
    p.add_argument("--task", choices=["link", "node"], default="link")
    p.add_argument("--encoder", default="gcn")
    p.add_argument("--layers", type=int, default=2, help="full batch: message-passing layers")
    p.add_argument("--fanouts", default=None, help="e.g. 10,10 (mini-batch); unset: full batch")
    p.add_argument("--batch-size", type=int, default=1024, help="seeds per rank and step")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--runs", default="1x1,2x1", help="processes x threads per process, comma-separated")
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="ddp_cpu")
    p.add_argument("--note", action="append", help="a line for the results file (repeatable)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--row-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return
    try:
        runs = check_args(args, p)
    except ValueError as e:
        p.error(str(e))
    skip = {"--runs", "--output", "--name", "--note"}
    args.passthrough, it = [], iter(argv)
    for a in it:                                  # the graph and training options, for the workers
        key = a.split("=")[0]
        if key in skip:
            if "=" not in a:
                next(it, None)
            continue
        args.passthrough.append(a)
    command = "python benchmarks/ddp.py " + " ".join(shlex.quote(a) for a in argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (procs, threads) in enumerate(runs):
            rows.append(launch(args, procs, threads, f"{tmp}/row{i}.json"))
            write(rows, args, command)            # partial results as it goes
    print(Path(args.output, f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
