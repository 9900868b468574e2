"""Time and peak memory against graph size, for training, every method and evaluation.

Synthetic planted-partition graphs (``gnn_unlearn.data.synthetic_graph``, average degree 11 as
in ogbl-collab, 128 sparse binary features) from 10 k to ogbl-collab's 1.3 M undirected edges
(235 k nodes). Per size: GNNDelete's link split, a 2-layer GCN trained for a fixed number of
epochs (so the time per epoch is what grows), a request of 0.5 % random training edges, then
retrain (same fixed epochs), gradient ascent, GNNDelete and D2DGN (each with its own stopping,
capped at ``--method-epochs``), and the evaluation (Dt/Df AUROC, no MIA: the attacks' cost is
independent of the graph once features are computed). Memory: the increase of the process's
peak RSS during the step (CPU) or peak CUDA memory; since freed memory is reused, a step's
figure is a lower bound once a larger step ran before it in the same process.

    python benchmarks/scale.py --nodes 2000,8000,30000,100000,235000 --name scale_cpu

``--task node``: the same graphs as node classification (planted classes, stratified split),
a request of 0.5 % of the training nodes, and the node methods (gradient ascent, D2DGN,
Cognac). ``--fanouts 10,10``: training, retraining and the methods run on
neighbour-sampled mini-batches of ``--batch-size`` (the path for graphs too large for full
batch); a method without a mini-batch path would run full batch, marked ``(full)``.
``--task rec``: user-item graphs (half users, half items, 11 interactions per user), LightGCN
trained for ``--epochs`` BPR steps, a request of 0.5 % of the training interactions, reverse
BPR and UnlearnRec (its influence encoder's pre-training, ``--method-epochs`` steps, is a row
of its own), and Recall/NDCG@20 of every model as the evaluation.
Run each mode in its own process: peak RSS is per process.

ogbn-products' size on one CPU thread (2.45 M nodes, 62 M directed edges, 100 features, 47
classes): training capped at ``--max-steps`` mini-batch steps (a bounded run, not a converged
model), one request of 0.01 % of the training edges, GNNDelete (its neighbourhood term on
4,096 sampled region pairs per epoch, so that its one mini-batch stays batch-sized) and gradient
ascent on mini-batches, no retraining (``--no-retrain``), load and split timed apart
(``--split-phases``); the tables give each step's peak RSS too:

    OMP_NUM_THREADS=1 python benchmarks/scale.py --nodes 2449029 --avg-degree 25.3 \
        --features 100 --classes 47 --fanouts 5,5 --batch-size 4096 --epochs 1 --max-steps 20 \
        --method-epochs 5 --request 0.0001 --region-pairs 4096 --no-retrain \
        --methods gnndelete,gradient_ascent --split-phases --name scale_products_cpu
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from gnn_unlearn import TrainConfig, link_split, methods, node_split, train, unlearn
from gnn_unlearn.data import sample_edges, sample_interactions, sample_nodes, synthetic_graph
from gnn_unlearn.loader import Embedder, fit_minibatch
from gnn_unlearn.models import make_model
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.metrics.rec import topk_metrics
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.methods.unlearnrec import pretrain_influence_encoder
from gnn_unlearn.options import check_output_folder, check_results_name, table_methods, whole_numbers
from gnn_unlearn.utils import CostMeter, resolve_device, seeded

METHODS = {"link": ("gradient_ascent", "gnndelete", "d2dgn"),
           "node": ("gradient_ascent", "d2dgn", "cognac"),
           "rec": ("reverse_bpr", "unlearnrec")}
EDGES = {"link": "training edges", "node": "edges", "rec": "training interactions"}


def measure(fn, device):
    """``(fn(), seconds, memory, peak)``: memory is the step's peak extra RSS (CPU) or peak
    CUDA memory; ``peak`` the process's peak RSS during the step (CPU) or peak CUDA memory."""
    gc.collect()
    with CostMeter(device) as meter:
        out = fn()
    mem = meter.peak_memory_bytes if device.type == "cuda" else meter.extra_memory_bytes
    return out, meter.seconds, mem, meter.peak_memory_bytes


def load_graph(n: int, task: str, args=None):
    """The synthetic graph of ``n`` nodes (rec: ``n / 2`` users and items, 11 interactions per
    user); ``args`` sets its average degree, features and classes (default: 11, 128, 5)."""
    degree = getattr(args, "avg_degree", 11.0)
    if task == "rec":
        return synthetic_graph(n, avg_degree=degree, bipartite=True, seed=0)
    return synthetic_graph(n, avg_degree=degree, num_features=getattr(args, "features", 128),
                           num_classes=getattr(args, "classes", 5), seed=0)


def split_graph(graph, task: str):
    """``graph`` split for ``task`` (rec graphs come split)."""
    if task == "rec":
        return graph
    return (link_split if task == "link" else node_split)(graph, seed=0)


def load_split(n: int, task: str, args=None):
    """The synthetic graph of ``n`` nodes, split for ``task``."""
    return split_graph(load_graph(n, task, args), task)


def run_size(n: int, args, device) -> list[dict]:
    rows = []
    if args.split_phases:            # load and split as rows of their own
        graph, secs, mem, peak = measure(lambda: load_graph(n, args.task, args), device)
        rows.append(dict(nodes=n, step="load", seconds=secs, memory=mem, peak=peak,
                         directed_edges=int(graph.edge_index.size(1))))
        data, secs, mem, peak = measure(lambda: split_graph(graph, args.task), device)
        del graph
        rows.append(dict(nodes=n, step="split", seconds=secs, memory=mem, peak=peak))
    else:
        data, secs, mem, peak = measure(lambda: load_split(n, args.task, args), device)
        rows.append(dict(nodes=n, step="load+split", seconds=secs, memory=mem, peak=peak))
    base = dict(nodes=n, train_edges=int(data.edge_index.size(1) // 2) if args.task == "node"
                else int(data.train_pos_edge_index.size(1)))
    rows = [dict(base, **r) for r in rows]
    for r in rows:
        show(r)
    units = int(data.train_mask.sum()) if args.task == "node" else base["train_edges"]
    cfg = TrainConfig(epochs=args.epochs, patience=10 ** 6, eval_every=args.epochs, seed=0)
    fanouts = [int(f) for f in args.fanouts.split(",")] if args.fanouts else None
    if fanouts:
        def fit():
            model = make_model(data, args.task)
            return fit_minibatch(model, data, cfg, fanouts, args.batch_size, device, args.sampler,
                                 max_steps=args.max_steps)
    else:
        def fit():
            return train(data, args.task, cfg, device=device)
    (model, hist), secs, mem, peak = measure(fit, device)
    rows.append(dict(base, step="train", seconds=secs, memory=mem, peak=peak, epochs=args.epochs,
                     steps=hist.steps or None, loss=hist.loss[-1] if hist.loss else None))
    show(rows[-1])
    request = make_request(data, args.task, args.request, units)
    task, secs, mem, peak = measure(lambda: request.resolve(data, num_hops=2), device)
    rows.append(dict(base, step="request", seconds=secs, memory=mem, peak=peak,
                     deleted=int(task.df_mask.sum()) if args.task != "node"
                     else int(task.deleted_nodes.sum())))
    show(rows[-1])
    if device.type == "cuda":
        task = task.to(device)
    results = []
    names = (("retrain",) if args.retrain else ()) + tuple(args.methods.split(","))
    for method in names:
        kw = method_options(method, args, fanouts)
        if method == "unlearnrec":                    # its per-model pre-training is a step too
            (encoder, _), secs, mem, peak = measure(lambda: pretrain_influence_encoder(
                model, data, 0.005, args.method_epochs, seed=0), device)
            rows.append(dict(base, step="unlearnrec pre-training", seconds=secs, memory=mem,
                             peak=peak, epochs=args.method_epochs))
            show(rows[-1])
            kw["encoder"] = encoder
        step = f"{method} (full)" if fanouts and method not in methods.minibatch_methods() else method
        result, secs, mem, peak = measure(lambda: unlearn(model, task, method, device=device, **kw),
                                          device)
        rows.append(dict(base, step=step, seconds=secs, memory=mem, peak=peak,
                         epochs=result.history.get("epochs", result.history.get("epochs_run")),
                         stop_reason=result.history.get("stop_reason")))
        show(rows[-1])
        results.append(result)
    if args.task == "rec":                            # Recall/NDCG@20 of every model (chunked)
        def score():
            return [topk_metrics(r.model, task.retained_data) for r in results]
    elif args.retrain:
        def score():
            return evaluate(results[1:], task, retrained=results[0], mia=False)
    else:                                             # no retrained reference: original only
        def score():
            return evaluate(results, task, against=("original",), mia=False)
    report, secs, mem, peak = measure(score, device)
    rows.append(dict(base, step="evaluate", seconds=secs, memory=mem, peak=peak))
    if args.task != "rec":
        rows[-1]["report"] = report.to_markdown() if hasattr(report, "to_markdown") else str(report)
    show(rows[-1])
    return rows


def show(row: dict) -> None:
    """Prints one row (without the evaluation table) as it is measured."""
    print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
           if k != "report"}, flush=True)


def plot(rows: list[dict], path: Path, xlabel: str = "training edges") -> bool:
    """Log-log: total seconds, seconds per epoch (steps that run epochs) and peak extra memory.
    Returns False (and draws nothing) where matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    steps = list(dict.fromkeys(r["step"] for r in rows
                               if r["step"] not in ("load+split", "load", "split", "request")))
    for step in steps:
        sub = sorted((r for r in rows if r["step"] == step), key=lambda r: r["train_edges"])
        x = [r["train_edges"] for r in sub]
        axes[0].plot(x, [r["seconds"] for r in sub], marker="o", label=step)
        if all(r.get("epochs") for r in sub):
            axes[1].plot(x, [r["seconds"] / r["epochs"] for r in sub], marker="o", label=step)
        axes[2].plot(x, [max(r["memory"] / 2 ** 20, 1.0) for r in sub], marker="o", label=step)
    titles = ("seconds (methods stop on their own rule)", "seconds per epoch", "peak extra memory (MiB, floor 1)")
    for ax, label in zip(axes, titles):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(label, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    return True


def method_options(method: str, args, fanouts: list[int] | None) -> dict:
    """What ``method`` runs with (besides UnlearnRec's pre-trained encoder): retraining
    ``--epochs``, the others at most ``--method-epochs`` (Cognac and UnlearnRec: their own
    schedule); with ``--fanouts``, mini-batches where the method has a mini-batch path."""
    if method in ("cognac", "unlearnrec"):
        kw = {}                                       # their own fixed schedules
    else:
        kw = {"epochs": args.epochs if method == "retrain" else args.method_epochs}
    if fanouts and method in methods.minibatch_methods():
        kw.update(fanouts=fanouts, batch_size=args.batch_size, sampler=args.sampler)
    if method == "gnndelete" and args.region_pairs:
        kw.update(num_region_pairs=args.region_pairs)
    return kw


def make_request(data, task: str, size: float, units: int):
    """The request of ``size`` (a share of the training edges / nodes / interactions)."""
    if task == "link":
        return sample_edges(data, size, where="random", seed=0)
    if task == "rec":
        return sample_interactions(data, size, seed=0)
    return sample_nodes(data, max(int(size * units), 1), seed=0)


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> torch.device:
    """Refuses every bad option before any graph is generated, with what was wrong
    (``ValueError``), and returns the device.

    Refused: an empty ``--name``, an ``--output`` that is a file; ``--nodes`` not distinct whole
    numbers >= 1 (node and link tasks: >= ``--classes``); ``--epochs`` that
    :class:`~gnn_unlearn.TrainConfig` refuses, ``--method-epochs`` < 1; ``--request`` outside
    (0, 1); ``--avg-degree`` not a positive number, ``--features`` or ``--classes`` < 1;
    ``--methods`` unknown, repeated, ``retrain`` (``--no-retrain`` drops its row), ``+ref``,
    or not serving this task's model and request (checked on a 200-node graph of the task);
    ``--fanouts`` not whole numbers >= 1, one per layer of the model (not with ``--task rec``,
    nor on a featureless graph), a ``--sampler`` this machine cannot run; ``--sampler``,
    ``--batch-size`` or ``--max-steps`` without ``--fanouts``; ``--batch-size`` < 1,
    ``--max-steps`` < 1; ``--region-pairs`` < 1 or without gnndelete; a ``--device`` this
    machine lacks."""
    default = parser.get_default
    check_results_name(args.name)
    check_output_folder(args.output)
    sizes = whole_numbers("--nodes", args.nodes, "2000,8000,30000")
    try:
        TrainConfig(epochs=args.epochs, patience=10 ** 6, eval_every=args.epochs, seed=0)
    except ValueError as e:
        raise ValueError(f"--epochs: {e}") from None
    if args.method_epochs < 1:
        raise ValueError(f"--method-epochs must be >= 1, got {args.method_epochs}")
    if not 0 < args.request < 1:
        raise ValueError(f"--request is a share in (0, 1), got {args.request:g}")
    if not (math.isfinite(args.avg_degree) and args.avg_degree > 0):
        raise ValueError(f"--avg-degree must be a positive number, got {args.avg_degree:g}")
    for flag, value in (("--features", args.features), ("--classes", args.classes)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if args.task != "rec":
        for n in sizes:
            if n < args.classes:
                raise ValueError(f"--nodes entry {n}: fewer nodes than --classes ({args.classes})")
    if args.fanouts is None:
        for flag, key in (("--sampler", "sampler"), ("--batch-size", "batch_size"), ("--max-steps", "max_steps")):
            if getattr(args, key) != default(key):
                raise ValueError(f"{flag} applies to neighbour-sampled mini-batches; give --fanouts too")
        fanouts = None
    else:
        if args.task == "rec":
            raise ValueError("--fanouts: mini-batches serve the link and node tasks; leave it out with --task rec")
        fanouts = whole_numbers("--fanouts", args.fanouts, "10,10", distinct=False)
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        if args.max_steps is not None and args.max_steps < 1:
            raise ValueError(f"--max-steps must be >= 1, got {args.max_steps}")
    chosen = table_methods(args.methods.split(","), args.task)
    if args.region_pairs is not None:
        if args.region_pairs < 1:
            raise ValueError(f"--region-pairs must be >= 1, got {args.region_pairs}")
        if "gnndelete" not in chosen:
            raise ValueError("--region-pairs applies to gnndelete; add it to --methods")
    toy = load_split(max(200, 4 * args.classes), args.task, args)     # what every method must serve
    with seeded(0):
        model = make_model(toy, args.task)
    units = int(toy.train_mask.sum()) if args.task == "node" else int(toy.train_pos_edge_index.size(1))
    task = make_request(toy, args.task, args.request, units).resolve(toy, num_hops=2)
    for method in (["retrain"] if args.retrain else []) + chosen:
        try:
            methods.get(method).check(model, task)
        except ValueError as e:
            raise ValueError(f"--methods: {e}") from None
        options = method_options(method, args, fanouts)
        try:
            methods.get(method, **options)
        except (TypeError, ValueError) as e:
            raise ValueError(f"--methods: {e} (this benchmark passes it {options})") from None
    if fanouts is not None:
        try:
            Embedder(toy, fanouts, args.sampler).check(model)
        except ValueError as e:
            raise ValueError(f"--fanouts: {e}") from None
        except ImportError as e:
            raise ValueError(f"--sampler {args.sampler}: {e}") from None
    try:
        return resolve_device(args.device)
    except ValueError as e:
        raise ValueError(f"--device: {e}") from None


def replot_rows(args: argparse.Namespace) -> list[dict]:
    """``--replot``: the rows of ``<output>/<name>.json``, or a ``ValueError`` naming the file
    when it is missing, not JSON or not a result of this benchmark."""
    path = Path(args.output) / f"{args.name}.json"
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"--replot: {path} does not exist; run the benchmark with this --output and "
                         "--name first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"--replot: {path} is not a JSON file ({e})") from None
    rows = payload.get("rows") if isinstance(payload, dict) else None
    keys = ("step", "train_edges", "seconds", "memory")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and all(k in r for k in keys)
                                                          for r in rows):
        raise ValueError(f"--replot: {path} holds no rows of measured steps ({', '.join(keys)}); "
                         "is it a result of benchmarks/scale.py?")
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", default="2000,8000,30000,100000,235000")
    p.add_argument("--task", default="link", choices=("link", "node", "rec"))
    p.add_argument("--methods", default=None, help="comma-separated (default: the task's methods)")
    p.add_argument("--fanouts", default=None, help="e.g. 10,10: neighbour-sampled mini-batches")
    p.add_argument("--sampler", default="torch", choices=["torch", "pyg"],
                   help="with --fanouts: this library's sampler or PyG's (pyg-lib / torch-sparse)")
    p.add_argument("--batch-size", type=int, default=1024, help="seeds / deleted items per mini-batch")
    p.add_argument("--epochs", type=int, default=20, help="fixed epochs of training and retraining")
    p.add_argument("--method-epochs", type=int, default=50, help="cap on the methods' epochs")
    p.add_argument("--max-steps", type=int, default=None,
                   help="with --fanouts: stop training after this many mini-batch steps in all "
                        "(a bounded, not converged, model; printed in the results)")
    p.add_argument("--avg-degree", type=float, default=11.0, help="average degree of the graph")
    p.add_argument("--features", type=int, default=128, help="node features")
    p.add_argument("--classes", type=int, default=5, help="planted classes")
    p.add_argument("--request", type=float, default=0.005,
                   help="deleted share of the training edges (link) / nodes (node) / interactions")
    p.add_argument("--region-pairs", type=int, default=None,
                   help="GNNDelete's num_region_pairs (its neighbourhood term's sampled pairs per "
                        "epoch; default the method's 262,144, which with few deleted edges all "
                        "go into one mini-batch)")
    p.add_argument("--no-retrain", dest="retrain", action="store_false",
                   help="skip retraining (the evaluation then compares with the original only)")
    p.add_argument("--split-phases", action="store_true",
                   help="time loading and splitting as rows of their own")
    p.add_argument("--device", default="cpu")
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="scale_cpu")
    p.add_argument("--replot", action="store_true", help="only redraw the PNG from <name>.json")
    args = p.parse_args(argv)
    if args.methods is None:
        args.methods = ",".join(METHODS[args.task])
    try:
        if args.replot:
            rows = replot_rows(args)
        else:
            device = check_args(args, p)
    except ValueError as e:
        p.error(str(e))
    if args.replot:
        out = Path(args.output)
        if not plot(rows, out / f"{args.name}.png"):
            raise SystemExit("--replot needs matplotlib")
        return
    command = "python benchmarks/scale.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    rows, t = [], time.perf_counter()
    for n in (int(v) for v in args.nodes.split(",")):
        rows += run_size(n, args, device)
        write(rows, args, device, command, time.perf_counter() - t)   # partial results as it goes


def write(rows: list[dict], args, device, command: str, seconds: float) -> None:
    """``<output>/<name>.{md,json,png}`` from the rows so far."""
    steps = list(dict.fromkeys(r["step"] for r in rows))
    sizes = sorted({(r["nodes"], r["train_edges"]) for r in rows})
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    train = (f"training: {args.epochs} epochs"
             + (f", capped at {args.max_steps} mini-batch steps in all (a bounded run, not a "
                f"converged model)" if args.max_steps else "")
             + ("; retraining the same" if args.retrain else "; no retraining"))
    lines = [f"# Scale: time and peak memory vs graph size\n\nCommand: `{command}`  \n"
             f"Hardware: {hardware()}; device {device}; OMP_NUM_THREADS={threads}  \n"
             f"Load: {load_note()}  \n"
             f"Total wall time: {seconds:.0f} s  \n"
             f"Graph: synthetic, average degree {args.avg_degree}, {args.features} features, "
             f"{args.classes} classes  \n"
             f"Task: {args.task}; "
             + (f"neighbour-sampled mini-batches, fanouts {args.fanouts}, batch {args.batch_size}, "
                  f"sampler {args.sampler}; "
                if args.fanouts else "full batch; ")
             + f"{train}; request: {args.request:g} of the {EDGES[args.task]}; "
             + (f"GNNDelete: {args.region_pairs:,} sampled region pairs per epoch; "
                if args.region_pairs else "")
             + "methods: own "
             f"stopping, at most {args.method_epochs} epochs (epochs run in brackets). Cells: "
             "seconds / MiB "
             + ("(peak CUDA memory allocated during the step, torch.cuda.max_memory_allocated).\n"
                if device.type == "cuda" else "(peak extra RSS over the step's start).\n"),
             f"| nodes | {EDGES[args.task]} | " + " | ".join(steps) + " |",
             "|---|---|" + "---|" * len(steps)]
    for n, e in sizes:
        cells = []
        for s in steps:
            r = next(r for r in rows if r["nodes"] == n and r["step"] == s)
            ep = f" [{r['epochs']}]" if r.get("epochs") is not None and s not in ("train", "retrain") else ""
            cells.append(f"{r['seconds']:.2f} s / {r['memory'] / 2 ** 20:.0f}{ep}")
        lines.append(f"| {n:,} | {e:,} | " + " | ".join(cells) + " |")
    if device.type != "cuda":
        lines += ["", "Peak RSS of the process during each step (MiB; the whole process, so it "
                  "includes the graph and everything held from earlier steps):", "",
                  "| nodes | " + " | ".join(steps) + " | max |", "|---|" + "---|" * (len(steps) + 1)]
        for n, _ in sizes:
            peaks = [next(r for r in rows if r["nodes"] == n and r["step"] == s).get("peak", 0)
                     for s in steps]
            lines.append(f"| {n:,} | " + " | ".join(f"{p / 2 ** 20:,.0f}" for p in peaks)
                         + f" | {max(peaks) / 2 ** 20:,.0f} |")
    trained = [r for r in rows if r["step"] == "train" and r.get("steps")]
    if trained:
        lines += ["", "Training steps run (mini-batches): "
                  + ", ".join(f"{r['nodes']:,} nodes: {r['steps']} (last epoch's loss "
                              f"{r['loss']:.4f})" for r in trained)]
    loaded = [r for r in rows if r.get("directed_edges")]
    if loaded:
        lines += ["", "Graph as generated (before the split): " + ", ".join(
            f"{r['nodes']:,} nodes, {r['directed_edges']:,} directed edges" for r in loaded)]
    deleted = [r for r in rows if r["step"] == "request"]
    if deleted:
        lines += ["", "Deleted: " + ", ".join(f"{r['nodes']:,} nodes: {r['deleted']:,}"
                                              for r in deleted)]
    for r in rows:
        if r.get("report"):
            lines += ["", f"Evaluation, {r['nodes']:,} nodes:", "", r["report"]]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if plot(rows, out / f"{args.name}.png", EDGES[args.task]):
        lines.append(f"\n![time and memory vs size]({args.name}.png)\n")
    else:
        lines.append("\n(no plot: matplotlib is not installed; `--replot` draws it from the JSON)\n")
    atomic_write_text(out / f"{args.name}.md", "\n".join(lines))
    atomic_write_text(out / f"{args.name}.json", json.dumps(dict(command=command, rows=rows), indent=1))
    print("\n".join(lines), flush=True)


def load_note() -> str:
    """The machine's load average and CPU count at the time of writing (a shared machine)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return (f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min) on "
            f"{os.cpu_count()} CPUs, shared with other jobs")


if __name__ == "__main__":
    main()
