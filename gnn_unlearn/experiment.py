"""End-to-end runs (load -> split -> train -> delete -> unlearn -> evaluate), shared by the
CLI demo and the benchmark grid."""
from __future__ import annotations

import functools
import inspect
import math
import os
import platform
import statistics
import subprocess
import time
from typing import Any, Iterable, Sequence

import torch

from gnn_unlearn.data import link_split, load_dataset
from gnn_unlearn.methods import HeldOutReference, available, get, unlearn
from gnn_unlearn.metrics.forget_sets import forget_request
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.metrics.report import Report
from gnn_unlearn.training import TrainConfig, train
from gnn_unlearn.utils import resolve_device


def hardware() -> str:
    """A one-line description of where a run happened (printed with every benchmark)."""
    cpu = platform.processor() or platform.machine()
    desc = f"{platform.system()} {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    if torch.cuda.is_available():
        desc += f", {torch.cuda.get_device_name(0)}"
    return desc


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The code this process runs (:func:`describe_code` of the imported package), found once
    per process: the package was loaded at import, so later edits to its files do not change
    what runs."""
    import gnn_unlearn
    return describe_code(os.path.dirname(os.path.abspath(gnn_unlearn.__file__)))


def describe_code(package_dir: str) -> str:
    """``"gnn_unlearn <version>"``, and where ``package_dir`` is a git checkout, `` @ <commit>``
    (``+changes`` when its tracked files differ from that commit), e.g. ``"gnn_unlearn 0.1.0 @
    ca52a8f"``. A package inside another repository (a virtual environment in the user's
    project) is not taken for a checkout: the commit is named only when git tracks the
    package's own files."""
    import gnn_unlearn
    out = f"gnn_unlearn {gnn_unlearn.__version__}"

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", package_dir, *args], capture_output=True, text=True, timeout=20)
    try:
        if git("ls-files", "--error-unmatch", "__init__.py").returncode != 0:
            return out
        commit = git("rev-parse", "--short=7", "HEAD")
        if commit.returncode != 0:
            return out
        changes = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):        # no git on this machine
        return out
    dirty = "+changes" if changes.returncode != 0 or changes.stdout.strip() else ""
    return f"{out} @ {commit.stdout.strip()}{dirty}"


def prepare_link(dataset: str = "synthetic", encoder: str = "gcn", seed: int = 0,
                 device: str | None = "cpu", root: str | None = None, mirror: str | None = None,
                 train_config: TrainConfig | None = None, dataset_options: dict[str, Any] | None = None,
                 log=print) -> tuple[Any, Any, dict[str, Any]]:
    """Loads, splits (seeded) and trains the original link model: ``(data, model, info)``."""
    dev = resolve_device(device)
    t0 = time.perf_counter()
    data = load_dataset(dataset, root=root, mirror=mirror, **(dataset_options or {}))
    data = link_split(data, seed=seed)
    info: dict[str, Any] = {"load+split": time.perf_counter() - t0}
    log(f"[{dataset}] {data.num_nodes} nodes, {data.train_pos_edge_index.size(1)} training edges")
    t0 = time.perf_counter()
    model, hist = train(data, "link", train_config or TrainConfig(seed=seed), device=dev, encoder=encoder)
    info["train original"] = time.perf_counter() - t0
    info["original_train"] = {"epochs": hist.epochs_run, "best_val_auroc": hist.best_val}
    log(f"trained {encoder} in {info['train original']:.1f}s "
        f"({hist.epochs_run} epochs, best val AUROC {hist.best_val:.3f})")
    return data, model, info


#: A method name with this suffix runs with the original's held-out reference
#: (:class:`~gnn_unlearn.methods.reference.HeldOutReference`), e.g. ``"gnndelete+ref"``.
REFERENCE_SUFFIX = "+ref"


def parse_methods(methods: Sequence[str], task: str = "link") -> list[tuple[str, bool]]:
    """``(registered name, with reference)`` per entry; refuses unknown names, methods that do
    not serve ``task`` and ``+ref`` on a method without a ``reference`` option, before any work."""
    out = []
    for entry in methods:
        base = entry[: -len(REFERENCE_SUFFIX)] if entry.endswith(REFERENCE_SUFFIX) else entry
        if base not in available():
            raise ValueError(f"unknown method {base!r}; available: {', '.join(available())}")
        cls = type(get(base))
        if task not in cls.tasks:
            raise ValueError(f"method {base!r} does not serve {task} models")
        with_ref = base != entry
        if with_ref and "reference" not in inspect.signature(cls.__init__).parameters:
            raise ValueError(f"{entry!r}: method {base!r} takes no held-out reference "
                             f"({REFERENCE_SUFFIX} applies to {', '.join(reference_methods())})")
        out.append((base, with_ref))
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must be distinct, got {list(methods)}")
    return out


def reference_methods() -> list[str]:
    """Registered methods with a ``reference`` option."""
    return [m for m in available() if "reference" in inspect.signature(type(get(m)).__init__).parameters]


def run_edge_request(data, model, df_size: float | int = 0.025, where: str = "in",
                     methods: Sequence[str] = ("gradient_ascent",), seed: int = 0,
                     device: str | None = "cpu", mia: bool = True,
                     method_options: dict[str, dict[str, Any]] | None = None, log=print,
                     region: str = "library", attacks: Sequence[str] = (),
                     attack_params: dict[str, dict[str, Any]] | None = None,
                     retrain_seeds: int = 1, reference: HeldOutReference | None = None) -> Report:
    """Samples a deleted set, retrains, runs ``methods`` and evaluates them (one seed).

    A method named ``"<name>+ref"`` runs with ``reference`` (fit once per original model,
    :meth:`HeldOutReference.fit`); its row keeps that name.

    ``where``: ``"in"``, ``"out"``, ``"random"``, ``"worst"`` or ``"worst:<criterion>"``
    (a worst-case forget set ranked on the original ``model``:
    :func:`gnn_unlearn.metrics.forget_sets.forget_request`). ``region`` picks the definition of
    "in"/"out" (:func:`gnn_unlearn.data.samplers.near_test_edges`); the report names it in
    ``meta["region"]`` beside the Df protocols. ``retrain_seeds``: see
    :func:`gnn_unlearn.evaluate` (K retrains, the retrain-spread test)."""
    dev = resolve_device(device)
    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    task = forget_request(data, model, df_size, where, seed=seed, region=region).resolve(
        data, num_hops=model.encoder.num_layers)
    steps["resolve request"] = time.perf_counter() - t0
    log(f"request: {task.summary()}")
    retrained = unlearn(model, task, "retrain", device=dev)
    steps["retrain"] = retrained.seconds
    log(f"retrain: {retrained.seconds:.1f}s")
    results = []
    for name, (base, with_ref) in zip(methods, parse_methods(methods)):
        options = dict((method_options or {}).get(base, {}))
        if with_ref:
            if reference is None:
                raise ValueError(f"{name!r} needs the original's HeldOutReference (reference=)")
            options["reference"] = reference
        r = unlearn(model, task, base, device=dev, **options)
        steps[name] = r.seconds
        excess = r.history.get("stop_excess")
        log(f"{name}: {r.seconds:.2f}s ({r.history.get('stop_reason', '')}"
            + ("" if excess is None else f", excess over the targets {excess:+.4f}") + ")")
        results.append(r)
    t0 = time.perf_counter()
    report = evaluate(results or [retrained], task, retrained=retrained, mia=mia, seed=seed,
                      attacks=attacks, attack_params=attack_params, retrain_seeds=retrain_seeds,
                      labels=list(methods) if results else None)
    steps["evaluate"] = time.perf_counter() - t0
    report.meta.update(df_size=df_size, where=where, region=region, steps=steps, hardware=hardware(),
                       code=code_version(),
                       stop_reasons={name: r.history.get("stop_reason") for name, r in zip(methods, results)},
                       stop_excess={name: r.history.get("stop_excess") for name, r in zip(methods, results)})
    return report


def run_link_experiment(dataset: str = "synthetic", encoder: str = "gcn", df_size: float | int = 0.025,
                        where: str = "in", methods: Sequence[str] = ("gradient_ascent",),
                        seed: int = 0, device: str | None = "cpu", root: str | None = None,
                        mirror: str | None = None, train_config: TrainConfig | None = None,
                        dataset_options: dict[str, Any] | None = None, mia: bool = True,
                        method_options: dict[str, dict[str, Any]] | None = None,
                        log=print, region: str = "library") -> Report:
    """GNNDelete's edge-unlearning protocol on one dataset, one seed.

    The split, the deleted set, the original model, the retrained model and every method
    share ``seed``. The report's ``meta["steps"]`` holds the wall time of each step.
    """
    data, model, info = prepare_link(dataset, encoder, seed, device, root, mirror, train_config,
                                     dataset_options, log)
    report = run_edge_request(data, model, df_size, where, methods, seed, device, mia,
                              method_options, log, region=region)
    report.meta["steps"] = {"load+split": info["load+split"], "train original": info["train original"],
                            **report.meta["steps"]}
    report.meta.update(dataset=dataset, encoder=encoder, original_train=info["original_train"])
    return report


def aggregate(reports: Iterable[Report]) -> list[dict[str, Any]]:
    """Mean, standard deviation, minimum and maximum of every numeric column, per model, over
    reports (seeds)."""
    return aggregate_rows([rep.rows for rep in reports])


def aggregate_rows(rows_per_seed: Iterable[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """:func:`aggregate` on each seed's rows (one dict per model, ``"model"`` naming it); a
    missing, ``None`` or NaN value is left out of its column's statistics."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for rows in rows_per_seed:
        for row in rows:
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
            agg[key + "_min"], agg[key + "_max"] = min(vals), max(vals)
        out.append(agg)
    return out
