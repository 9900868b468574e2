"""Test AUROC (Dt) of the original link predictor per encoder and seed: does an encoder's
training recipe give a good model on every seed?

    python benchmarks/gin_recipe.py --datasets Cora,CiteSeer --encoders gcn,gin --seeds 5

Writes ``<output>/<name>.{md,json}``: one row per (dataset, encoder, seed) with the test
AUROC, the best validation AUROC, the epoch it was reached and the epochs run, and per
dataset each encoder's gap to the first encoder's mean (the reference, GCN by default).
Model selection reads validation edges only; the test AUROC is reported, never used.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch_geometric.data import Data

from gnn_unlearn.bench import user_command
from gnn_unlearn.data import link_split
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.metrics.link import link_auc
from gnn_unlearn.models.predictors import make_model
from gnn_unlearn.options import check_distinct, load_datasets
from gnn_unlearn.training import TrainConfig, train
from gnn_unlearn.utils import resolve_device, seeded


def commit() -> str:
    """The git commit of the ``gnn_unlearn`` package that runs (``unknown`` outside a checkout)."""
    import gnn_unlearn
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(gnn_unlearn.__file__)),
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def check_args(a: argparse.Namespace) -> dict[str, Data]:
    """Refuses every bad option before any training, with what was wrong (``ValueError``), and
    returns the datasets by name, loaded. Refused: ``--seeds`` < 1, a ``--device`` that is not
    there, an encoder the library cannot build as a link predictor, a dataset it cannot load,
    and an encoder or dataset listed twice (its rows would count twice in the summary)."""
    if a.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {a.seeds}")
    try:
        resolve_device(a.device)
    except ValueError as e:
        raise ValueError(f"--device: {e}") from None
    encoders = a.encoders.split(",")
    check_distinct("--encoders", encoders)
    datasets = load_datasets(a.datasets.split(","), mirror=a.mirror)
    graph = next(iter(datasets.values()))
    for enc in encoders:
        try:
            with seeded(0):                         # built untrained and dropped: no RNG side effect
                make_model(graph, "link", encoder=enc)
        except ValueError as e:
            raise ValueError(f"--encoders: {e}") from None
    return datasets


def run(datasets: dict[str, Data], encoders, seeds, device="cpu") -> list[dict]:
    rows = []
    for ds, graph in datasets.items():
        for seed in seeds:
            data = link_split(graph, seed=seed)
            for enc in encoders:
                t0 = time.perf_counter()
                model, hist = train(data, "link", TrainConfig(seed=seed), device=device, encoder=enc)
                dt = link_auc(model, data, data.test_pos_edge_index, data.test_neg_edge_index)["auroc"]
                rows.append(dict(dataset=ds, encoder=enc, seed=seed, dt_auroc=dt, best_val=hist.best_val,
                                 best_epoch=hist.best_epoch, epochs=hist.epochs_run,
                                 seconds=time.perf_counter() - t0))
                print(f"{ds} {enc} seed {seed}: Dt {dt:.3f} (val {hist.best_val:.3f} at epoch "
                      f"{hist.best_epoch}/{hist.epochs_run})", file=sys.stderr)
    return rows


def summary(rows: list[dict], encoders: list[str]) -> list[dict]:
    out = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        ref = statistics.fmean(r["dt_auroc"] for r in rows if r["dataset"] == ds and r["encoder"] == encoders[0])
        for enc in encoders:
            vals = [r["dt_auroc"] for r in rows if r["dataset"] == ds and r["encoder"] == enc]
            out.append(dict(dataset=ds, encoder=enc, mean=statistics.fmean(vals),
                            std=statistics.stdev(vals) if len(vals) > 1 else 0.0, min=min(vals),
                            reference_mean=ref, worst_gap=ref - min(vals),
                            seeds_within_2_points=sum(ref - v <= 0.02 for v in vals), n=len(vals)))
    return out


def markdown(rows, summ, command, reference, note="") -> str:
    lines = [f"Command: `{command}`", "", f"Library commit {commit()}; hardware: {hardware()}", "",
             *([note, ""] if note else []),
             "| dataset | encoder | seed | Dt AUROC | best val AUROC | best epoch / epochs run | seconds |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['encoder']} | {r['seed']} | {r['dt_auroc']:.3f} | {r['best_val']:.3f} | "
              f"{r['best_epoch']} / {r['epochs']} | {r['seconds']:.1f} |" for r in rows]
    lines += ["", f"| dataset | encoder | Dt mean ± std | min | {reference} mean | worst seed's gap | "
              "seeds within 2 points |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {s['dataset']} | {s['encoder']} | {s['mean']:.3f} ± {s['std']:.3f} | {s['min']:.3f} | "
              f"{s['reference_mean']:.3f} | {s['worst_gap']:+.3f} | {s['seeds_within_2_points']}/{s['n']} |"
              for s in summ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--encoders", default="gcn,gin", help="the first one is the reference")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (split, initial weights, training)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--mirror", default=None, help="raw dataset files (default $GNN_UNLEARN_MIRROR)")
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="gin_recipe_runs")
    p.add_argument("--note", default="", help="a line for the results (e.g. which code ran)")
    a = p.parse_args(argv)
    try:
        datasets = check_args(a)
    except ValueError as e:
        p.error(str(e))
    encoders = a.encoders.split(",")
    command = user_command([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    rows = run(datasets, encoders, range(a.seeds), a.device)
    summ = summary(rows, encoders)
    os.makedirs(a.output, exist_ok=True)
    atomic_write_text(os.path.join(a.output, f"{a.name}.md"), markdown(rows, summ, command, encoders[0], a.note))
    atomic_write_text(os.path.join(a.output, f"{a.name}.json"), json.dumps(
        {"command": command, "commit": commit(), "note": a.note, "hardware": hardware(), "threads": torch.get_num_threads(),
         "rows": rows, "summary": summ}, indent=2))


if __name__ == "__main__":
    main()
