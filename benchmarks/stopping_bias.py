"""Where the stopping targets put the deleted edges, against where retraining and the methods do.

The link methods with a held-out reference stop when the two statistics of
``ForgetCriterion(target="matched")`` reach their targets within a tolerance:
:math:`e_1 = \\mathrm{AUC}_w(D_f, V^+) - \\bar q` (deleted vs unseen validation edges) and
:math:`e_2 = \\mathrm{AUC}(D_f, P) - \\mathrm{AUC}(Q^{-1}(q), P)` (deleted vs the method's own
non-edges), each in null standard deviations of its statistic (positive: under-forgotten). The
same excesses, measured on other models with one criterion per request, split a method's
distance to retraining into two parts:

* retrained models (K seeds): how far the targets sit from where retraining leaves the deleted
  set (the targets' bias; their spread is retraining's own chance);
* each method: where it stopped (at most the tolerance above the targets when it stopped
  because the deleted set looks unseen; more where its loss converged short of them or the
  validation guard stopped it).

    OMP_NUM_THREADS=1 python benchmarks/stopping_bias.py --datasets Cora --sizes 0.005,0.025 \\
        --wheres in,out,random --seeds 3

No test edge and no evaluation number is read: the criterion is built as the methods build theirs
(validation edges, reference levels, a non-edge sample drawn with the request's seed), one per
request, and every model of the request is measured with it.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

import torch

from gnn_unlearn import TrainConfig, unlearn
from gnn_unlearn.bench import check_grid, check_method_params, is_retrain
from gnn_unlearn.experiment import hardware, parse_methods, prepare_link
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.methods import HeldOutReference
from gnn_unlearn.methods.reference import reference_levels
from gnn_unlearn.methods.stopping import STOP_TOLERANCE, Monitor
from gnn_unlearn.metrics.forget_sets import forget_request
from gnn_unlearn.options import check_results_name, shares


def excesses(monitor: Monitor, model: torch.nn.Module) -> tuple[float, float]:
    """``model``'s two excesses over the criterion's targets, in null SDs (eval mode, on the
    request's retained graph)."""
    was = model.training
    model.eval()
    data = monitor.data
    with torch.no_grad():
        z = model.encode(data.x, data.edge_index)
        (e1, e2), (s1, s2) = monitor.criterion.excesses(model, z)
    model.train(was)
    return e1 / s1, e2 / s2


def measure(dataset: str, encoder: str, sizes: list[float], wheres: list[str], seed: int,
            methods: list[str], retrains: int, folds: int, params: dict, log=print,
            epochs: int = 500) -> list[dict]:
    """Rows (dataset, encoder, size, where, seed, model, z_unseen, z_non, stop reason, seconds);
    ``epochs``: the original's training epochs (the retrains and references follow its recipe)."""
    data, model, _ = prepare_link(dataset, encoder, seed, train_config=TrainConfig(seed=seed, epochs=epochs),
                                  log=log)
    reference = HeldOutReference.fit(model, data, seed=seed, folds=folds)
    rows = []
    for size in sizes:
        for where in wheres:
            task = forget_request(data, model, size, where, seed=seed).resolve(
                data, num_hops=model.encoder.num_layers)
            monitor = Monitor(model, task, torch.Generator().manual_seed(seed), levels=reference_levels(reference, task))
            runs = [("original", model, None)]
            for k in range(retrains):
                r = unlearn(model, task, "retrain", seed=seed + k)
                runs.append(("retrain" if k == 0 else "retrain#k", r.model, r))
            for name, (base, _) in zip(methods, parse_methods(methods)):
                r = unlearn(model, task, base, reference=reference, **params.get(base, {}))
                runs.append((name, r.model, r))
            for name, m, result in runs:
                z1, z2 = excesses(monitor, m)
                rows.append(dict(dataset=dataset, encoder=encoder, size=size, where=where, seed=seed,
                                 model=name, z_unseen=z1, z_non=z2,
                                 stop_reason=None if result is None else result.history.get("stop_reason"),
                                 seconds=None if result is None else result.seconds))
            log(f"{dataset} {encoder} {size:g} {where} seed {seed}: " + ", ".join(
                f"{r['model']} {r['z_unseen']:+.2f}/{r['z_non']:+.2f}" for r in rows[-len(runs):]))
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per (dataset, encoder, size, where, model): the mean excesses over seeds and models."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["encoder"], r["size"], r["where"], r["model"]), []).append(r)
    out = []
    for key, rs in groups.items():
        reasons = sorted({r["stop_reason"] for r in rs if r["stop_reason"]})
        out.append(dict(zip(("dataset", "encoder", "size", "where", "model"), key),
                        n=len(rs), z_unseen=statistics.mean(r["z_unseen"] for r in rs),
                        z_non=statistics.mean(r["z_non"] for r in rs), stop_reasons=reasons))
    return out


def overall(rows: list[dict]) -> list[tuple[str, int, float, float, float, float]]:
    """Per model kind over every block and seed: (model, n, mean z_unseen, mean z_non, mean
    |z_unseen|, mean |z_non|)."""
    kinds: dict[str, list[dict]] = {}
    for r in rows:
        kinds.setdefault(r["model"], []).append(r)
    return [(k, len(rs), statistics.mean(r["z_unseen"] for r in rs), statistics.mean(r["z_non"] for r in rs),
             statistics.mean(abs(r["z_unseen"]) for r in rs), statistics.mean(abs(r["z_non"]) for r in rs))
            for k, rs in kinds.items()]


def decomposition(rows: list[dict]) -> list[tuple[str, int, float, float, float]]:
    r"""Per non-retrained model: (model, requests, mean distance to the request's retrains, mean
    target error, mean spread of the retrains). Per request, with :math:`\bar z` the retrains'
    mean excess: distance :math:`\max_i |z_i - \bar z_i|` over the two statistics (it does not
    depend on the targets), target error :math:`\max_i |\bar z_i|`, spread the larger of the
    two statistics' standard deviations over the retrains."""
    requests: dict[tuple, dict[str, list[dict]]] = {}
    for r in rows:
        key = (r["dataset"], r["encoder"], r["size"], r["where"], r["seed"])
        requests.setdefault(key, {}).setdefault(r["model"], []).append(r)
    keys = ("z_unseen", "z_non")
    out: dict[str, list[tuple[float, float, float]]] = {}
    for models in requests.values():
        pool = [r for name, rs in models.items() if is_retrain(name) for r in rs]
        if not pool:
            continue
        centre = [statistics.mean(r[k] for r in pool) for k in keys]
        spread = max(statistics.pstdev([r[k] for r in pool]) for k in keys)
        for name, rs in models.items():
            if not is_retrain(name):
                dist = max(abs(rs[0][k] - c) for k, c in zip(keys, centre))
                out.setdefault(name, []).append((dist, max(abs(c) for c in centre), spread))
    return [(name, len(v), *(statistics.mean(x[i] for x in v) for i in range(3))) for name, v in out.items()]


def markdown(rows: list[dict], command: str, machine: str) -> str:
    lines = ["# Stopping targets against retraining: the two excesses in null SDs", "",
             f"Command: `{command}`  ", f"Hardware: {machine}", "",
             __doc__.split("\n\n")[1].strip(), "",
             f"The methods' stopping tolerance: {STOP_TOLERANCE} null SD. 'retrain' shares the original's "
             "seed; 'retrain#k' pools the other seeds.", "",
             "Over every block and seed:", "",
             "| model | n | mean z unseen | mean z non-edges | mean abs z unseen | mean abs z non-edges |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {n} | {a:+.2f} | {b:+.2f} | {c:.2f} | {d:.2f} |" for k, n, a, b, c, d in overall(rows)]
    lines += ["", "Distance to retraining, per request (null SDs; see `decomposition`): a model's distance to "
              "the mean of the request's retrains (the larger over the two statistics), against the targets' "
              "error (how far that mean lies from the targets) and the retrains' own spread:", "",
              "| model | requests | distance to the retrains | target error | retrains' spread |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {n} | {d:.2f} | {e:.2f} | {sp:.2f} |" for name, n, d, e, sp in decomposition(rows)]
    lines += ["", "Per block (mean over seeds):", "",
              "| dataset | GNN | Df | where | model | n | z unseen | z non-edges | stop reasons |",
              "|---|---|---|---|---|---|---|---|---|"]
    for s in summary(rows):
        lines.append(f"| {s['dataset']} | {s['encoder']} | {s['size']:g} | {s['where']} | {s['model']} | {s['n']} | "
                     f"{s['z_unseen']:+.2f} | {s['z_non']:+.2f} | {', '.join(s['stop_reasons']) or '-'} |")
    return "\n".join(lines) + "\n"


def check_args(a: argparse.Namespace) -> tuple[list[str], list[float], list[str], list[str]]:
    """Refuses every bad option before any training, with what was wrong (``ValueError``):
    ``--methods`` unknown, repeated, not serving link models or without ``+ref``;
    ``--method-params`` that is not JSON the methods accept; ``--seeds``, ``--retrains``,
    ``--epochs`` below 1 and ``--reference-folds`` below 2; a ``--name`` that is empty or a path;
    and what :func:`~gnn_unlearn.bench.check_grid` refuses of the grid's own options: unknown
    or repeated ``--encoders``, ``--sizes`` outside (0, 1) or repeated, unknown or repeated
    ``--wheres`` (``worst:influence`` only with encoders whose messages it gates), an
    ``--output`` that is a file, ``--datasets`` unknown, repeated or without their files (each
    loaded once there). Sets ``a.method_params`` to the checked parameters and returns the
    datasets, sizes, positions and methods."""
    methods = a.methods.split(",")
    if any(not m.endswith("+ref") for m in methods):
        raise ValueError(f"--methods must all run with the reference (end in +ref), got {methods}")
    try:
        bases = [base for base, _ in parse_methods(methods)]
    except ValueError as e:
        raise ValueError(f"--methods: {e}") from None
    try:
        params = json.loads(a.method_params)
    except json.JSONDecodeError as e:
        raise ValueError(f"--method-params is not JSON ({e}): {a.method_params!r}") from None
    try:
        a.method_params = check_method_params(params, bases)
    except (ValueError, TypeError) as e:            # TypeError: a value of the wrong type
        raise ValueError(f"--method-params: {e}") from None
    for flag, value, least in (("--seeds", a.seeds, 1), ("--retrains", a.retrains, 1), ("--epochs", a.epochs, 1),
                               ("--reference-folds", a.reference_folds, 2)):
        if value < least:
            raise ValueError(f"{flag} must be >= {least}, got {value}")
    check_results_name(a.name, folders=False)
    sizes = shares("--sizes", a.sizes, "of the training edges", "0.025")
    datasets, wheres = a.datasets.split(","), a.wheres.split(",")
    try:
        check_grid(datasets, a.encoders.split(","), sizes, wheres, list(range(a.seeds)), "cpu", a.output,
                   a.epochs, "library")
    except ValueError as e:         # check_grid names each option (encoders, sizes, ...) without the dashes
        raise ValueError(f"--{e}") from None
    return datasets, sizes, wheres, methods


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="Cora")
    p.add_argument("--encoders", default="gcn")
    p.add_argument("--sizes", default="0.025")
    p.add_argument("--wheres", default="in,out,random")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--methods", default="d2dgn+ref,gnndelete+ref",
                   help="methods with the reference (names ending in +ref)")
    p.add_argument("--retrains", type=int, default=3, help="retrained models per request (seeds s..s+K-1)")
    p.add_argument("--epochs", type=int, default=500,
                   help="training epochs of the original (retrains and references follow its recipe)")
    p.add_argument("--reference-folds", type=int, default=2)
    p.add_argument("--method-params", default="{}",
                   help="hyperparameters per method as JSON, e.g. '{\"d2dgn\": {\"stop_tolerance\": 0}}'")
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="stopping_bias")
    p.add_argument("--render", default=None, metavar="JSON",
                   help="only rewrite the Markdown of a results file this script wrote (no measuring)")
    a = p.parse_args(argv)
    if a.render:
        try:
            with open(a.render) as f:
                saved = json.load(f)
            if not saved["rows"]:
                raise ValueError("it holds no rows")
            text = markdown(saved["rows"], saved["command"], saved["hardware"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            p.error(f"--render {a.render}: not a results file of this script ({e})")
        atomic_write_text(Path(a.render).with_suffix(".md"), text)
        print(f"wrote {Path(a.render).with_suffix('.md')}")
        return
    try:
        datasets, sizes, wheres, methods = check_args(a)
    except ValueError as e:
        p.error(str(e))
    rows = []
    for dataset in datasets:
        for encoder in a.encoders.split(","):
            for seed in range(a.seeds):
                rows += measure(dataset, encoder, sizes, wheres, seed, methods, a.retrains,
                                a.reference_folds, a.method_params, epochs=a.epochs)
    command = "OMP_NUM_THREADS=1 python benchmarks/stopping_bias.py " + " ".join(
        shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{a.name}.md", markdown(rows, command, hardware()))
    atomic_write_text(out / f"{a.name}.json", json.dumps({"command": command, "hardware": hardware(),
                                                          "rows": rows}, indent=1))
    print(f"wrote {out / a.name}.md and .json")


if __name__ == "__main__":
    main()
