"""End-to-end runs (load -> split -> train -> delete -> unlearn -> evaluate), shared by the
CLI demo and the benchmark grid."""
from __future__ import annotations

import math
import platform
import statistics
import time
from typing import Any, Iterable, Sequence

import torch

from gnn_unlearn.data import link_split, load_dataset, sample_edges
from gnn_unlearn.methods import unlearn
from gnn_unlearn.metrics.report import Report, evaluate
from gnn_unlearn.training import TrainConfig, train
from gnn_unlearn.utils import resolve_device


def hardware() -> str:
    """A one-line description of where a run happened (printed with every benchmark)."""
    cpu = platform.processor() or platform.machine()
    desc = f"{platform.system()} {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    if torch.cuda.is_available():
        desc += f", {torch.cuda.get_device_name(0)}"
    return desc


def run_link_experiment(dataset: str = "synthetic", encoder: str = "gcn", df_size: float | int = 0.025,
                        where: str = "in", methods: Sequence[str] = ("gradient_ascent",),
                        seed: int = 0, device: str | None = "cpu", root: str | None = None,
                        mirror: str | None = None, train_config: TrainConfig | None = None,
                        dataset_options: dict[str, Any] | None = None, mia: bool = True,
                        method_options: dict[str, dict[str, Any]] | None = None,
                        log=print) -> Report:
    """GNNDelete's edge-unlearning protocol on one dataset, one seed.

    The split, the deleted set, the original model, the retrained model and every method
    share ``seed``. The report's ``meta["steps"]`` holds the wall time of each step.
    """
    dev = resolve_device(device)
    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    data = load_dataset(dataset, root=root, mirror=mirror, **(dataset_options or {}))
    data = link_split(data, seed=seed)
    steps["load+split"] = time.perf_counter() - t0
    log(f"[{dataset}] {data.num_nodes} nodes, {data.train_pos_edge_index.size(1)} training edges")
    config = train_config or TrainConfig(seed=seed)
    t0 = time.perf_counter()
    model, hist = train(data, "link", config, device=dev, encoder=encoder)
    steps["train original"] = time.perf_counter() - t0
    log(f"trained {encoder} in {steps['train original']:.1f}s "
        f"({hist.epochs_run} epochs, best val AUROC {hist.best_val:.3f})")
    t0 = time.perf_counter()
    task = sample_edges(data, df_size, where=where, seed=seed).resolve(data, num_hops=model.encoder.num_layers)
    steps["resolve request"] = time.perf_counter() - t0
    log(f"request: {task.summary()}")
    retrained = unlearn(model, task, "retrain", device=dev)
    steps["retrain"] = retrained.seconds
    log(f"retrain: {retrained.seconds:.1f}s")
    results = []
    for name in methods:
        r = unlearn(model, task, name, device=dev, **(method_options or {}).get(name, {}))
        steps[name] = r.seconds
        log(f"{name}: {r.seconds:.2f}s")
        results.append(r)
    t0 = time.perf_counter()
    report = evaluate(results or [retrained], task, retrained=retrained, mia=mia, seed=seed)
    steps["evaluate"] = time.perf_counter() - t0
    report.meta.update(dataset=dataset, encoder=encoder, df_size=df_size, where=where,
                       steps=steps, hardware=hardware(),
                       original_train={"epochs": hist.epochs_run, "best_val_auroc": hist.best_val})
    return report


def aggregate(reports: Iterable[Report]) -> list[dict[str, Any]]:
    """Mean and standard deviation of every numeric column, per model, over reports (seeds)."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for rep in reports:
        for row in rep.rows:
            by_model.setdefault(row["model"], []).append(row)
    out = []
    for name, rows in by_model.items():
        agg: dict[str, Any] = {"model": name, "n": len(rows)}
        for key in rows[0]:
            vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))
                    and not (isinstance(r[key], float) and math.isnan(r[key]))]
            if key == "model" or not vals:
                continue
            agg[key] = statistics.fmean(vals)
            agg[key + "_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        out.append(agg)
    return out
