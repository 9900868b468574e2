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
"""
from __future__ import annotations

import argparse
import gc
import json
import shlex
import sys
import time
from pathlib import Path

from gnn_unlearn import TrainConfig, link_split, methods, node_split, train, unlearn
from gnn_unlearn.data import sample_edges, sample_interactions, sample_nodes, synthetic_graph
from gnn_unlearn.loader import fit_minibatch
from gnn_unlearn.models import make_model
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.metrics.rec import topk_metrics
from gnn_unlearn.metrics.report import evaluate
from gnn_unlearn.methods.unlearnrec import pretrain_influence_encoder
from gnn_unlearn.utils import CostMeter, resolve_device

METHODS = {"link": ("gradient_ascent", "gnndelete", "d2dgn"),
           "node": ("gradient_ascent", "d2dgn", "cognac"),
           "rec": ("reverse_bpr", "unlearnrec")}
EDGES = {"link": "training edges", "node": "edges", "rec": "training interactions"}


def measure(fn, device):
    gc.collect()
    with CostMeter(device) as meter:
        out = fn()
    mem = meter.peak_memory_bytes if device.type == "cuda" else meter.extra_memory_bytes
    return out, meter.seconds, mem


def load_split(n: int, task: str):
    """The synthetic graph of ``n`` nodes, split for ``task`` (rec: ``n / 2`` users and items,
    11 interactions per user)."""
    if task == "rec":
        return synthetic_graph(n, avg_degree=11.0, bipartite=True, seed=0)
    split = link_split if task == "link" else node_split
    return split(synthetic_graph(n, avg_degree=11.0, seed=0), seed=0)


def run_size(n: int, args, device) -> list[dict]:
    rows = []
    data, secs, mem = measure(lambda: load_split(n, args.task), device)
    units = int(data.train_mask.sum()) if args.task == "node" else data.train_pos_edge_index.size(1)
    base = dict(nodes=n, train_edges=int(data.edge_index.size(1) // 2) if args.task == "node"
                else int(data.train_pos_edge_index.size(1)))
    rows.append(dict(base, step="load+split", seconds=secs, memory=mem))
    cfg = TrainConfig(epochs=args.epochs, patience=10 ** 6, eval_every=args.epochs, seed=0)
    fanouts = [int(f) for f in args.fanouts.split(",")] if args.fanouts else None
    if fanouts:
        def fit():
            model = make_model(data, args.task)
            return fit_minibatch(model, data, cfg, fanouts, args.batch_size, device, args.sampler)
    else:
        def fit():
            return train(data, args.task, cfg, device=device)
    (model, _), secs, mem = measure(fit, device)
    rows.append(dict(base, step="train", seconds=secs, memory=mem, epochs=args.epochs))
    if args.task == "link":
        request = sample_edges(data, 0.005, where="random", seed=0)
    elif args.task == "rec":
        request = sample_interactions(data, 0.005, seed=0)
    else:
        request = sample_nodes(data, max(int(0.005 * units), 1), seed=0)
    task = request.resolve(data, num_hops=2)
    if device.type == "cuda":
        task = task.to(device)
    results = []
    for method in ("retrain",) + tuple(args.methods.split(",")):
        kw = {"epochs": args.epochs} if method == "retrain" else {"epochs": args.method_epochs}
        if method == "cognac":
            kw = {}                                   # its own fixed schedule (steps x iterations)
        if method == "unlearnrec":                    # its per-model pre-training is a step too
            (encoder, _), secs, mem = measure(lambda: pretrain_influence_encoder(
                model, data, 0.005, args.method_epochs, seed=0), device)
            rows.append(dict(base, step="unlearnrec pre-training", seconds=secs, memory=mem,
                             epochs=args.method_epochs))
            kw = {"encoder": encoder}
        step = method
        if fanouts and method in methods.minibatch_methods():
            kw.update(fanouts=fanouts, batch_size=args.batch_size, sampler=args.sampler)
        elif fanouts:
            step = f"{method} (full)"
        result, secs, mem = measure(lambda: unlearn(model, task, method, device=device, **kw), device)
        rows.append(dict(base, step=step, seconds=secs, memory=mem,
                         epochs=result.history.get("epochs", result.history.get("epochs_run"))))
        results.append(result)
    if args.task == "rec":                            # Recall/NDCG@20 of every model (chunked)
        def score():
            return [topk_metrics(r.model, task.retained_data) for r in results]
    else:
        def score():
            return evaluate(results[1:], task, retrained=results[0], mia=False)
    _, secs, mem = measure(score, device)
    rows.append(dict(base, step="evaluate", seconds=secs, memory=mem))
    for r in rows[1:]:
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
    return rows


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
    steps = list(dict.fromkeys(r["step"] for r in rows if r["step"] != "load+split"))
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
    p.add_argument("--device", default="cpu")
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="scale_cpu")
    p.add_argument("--replot", action="store_true", help="only redraw the PNG from <name>.json")
    args = p.parse_args(argv)
    args.methods = args.methods or ",".join(METHODS[args.task])
    if args.replot:
        out = Path(args.output)
        if not plot(json.loads((out / f"{args.name}.json").read_text())["rows"], out / f"{args.name}.png"):
            raise SystemExit("--replot needs matplotlib")
        return
    device = resolve_device(args.device)
    command = "python benchmarks/scale.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    rows, t = [], time.perf_counter()
    for n in (int(v) for v in args.nodes.split(",")):
        rows += run_size(n, args, device)
        write(rows, args, device, command, time.perf_counter() - t)   # partial results as it goes


def write(rows: list[dict], args, device, command: str, seconds: float) -> None:
    """``<output>/<name>.{md,json,png}`` from the rows so far."""
    steps = list(dict.fromkeys(r["step"] for r in rows))
    sizes = sorted({(r["nodes"], r["train_edges"]) for r in rows})
    lines = [f"# Scale: time and peak extra memory vs graph size\n\nCommand: `{command}`  \n"
             f"Hardware: {hardware()}; device {device}  \nTotal wall time: {seconds:.0f} s  \n"
             f"Task: {args.task}; "
             + (f"neighbour-sampled mini-batches, fanouts {args.fanouts}, batch {args.batch_size}, "
                  f"sampler {args.sampler}; "
                if args.fanouts else "full batch; ")
             + f"training and retraining: {args.epochs} epochs; methods: own stopping, at most "
             f"{args.method_epochs} epochs (epochs run in brackets). Cells: seconds / MiB "
             + ("(peak CUDA memory allocated during the step, torch.cuda.max_memory_allocated).\n"
                if device.type == "cuda" else "(peak extra RSS).\n"),
             f"| nodes | {EDGES[args.task]} | " + " | ".join(steps) + " |",
             "|---|---|" + "---|" * len(steps)]
    for n, e in sizes:
        cells = []
        for s in steps:
            r = next(r for r in rows if r["nodes"] == n and r["step"] == s)
            ep = f" [{r['epochs']}]" if r.get("epochs") is not None and s not in ("train", "retrain") else ""
            cells.append(f"{r['seconds']:.2f} s / {r['memory'] / 2 ** 20:.0f}{ep}")
        lines.append(f"| {n:,} | {e:,} | " + " | ".join(cells) + " |")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if plot(rows, out / f"{args.name}.png", EDGES[args.task]):
        lines.append(f"\n![time and memory vs size]({args.name}.png)\n")
    else:
        lines.append("\n(no plot: matplotlib is not installed; `--replot` draws it from the JSON)\n")
    atomic_write_text(out / f"{args.name}.md", "\n".join(lines))
    atomic_write_text(out / f"{args.name}.json", json.dumps(dict(command=command, rows=rows), indent=1))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
