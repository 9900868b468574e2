"""Certified removal (CGU, CEU, ScaleGUN) on Cora/CiteSeer and ScaleGUN on a 235 k-node graph.

Part ``small`` (Cora, CiteSeer; node classification on the public Planetoid split): a
:class:`~gnn_unlearn.models.CertifiedLinear` (SGC features, K = 2, one-vs-rest logistic
regression with objective perturbation, OpenGU's lambda 1e-2, sigma 1e-2, epsilon 1, delta 1e-4)
trained to the exact minimiser; then, per request kind, a sequence of requests at OpenGU's
ratios served in order, each resolved on the previous retained graph:

* node: 12.5 % of the training nodes (OpenGU's 270 of 2166 on Cora),
* edge: 10 % of the undirected edges (OpenGU's ``unlearn_ratio`` 0.1),
* feature: 12.5 % of the training nodes' feature rows,

cut into ``--batches`` consecutive requests (one Newton step each). Reported per method: test
accuracy / macro-F1 after the sequence, the same for the exact reference (training from scratch
on the final retained graph with the model's last noise seed), unlearning seconds (all requests),
the seconds of one training from scratch, automatic retrainings, the largest bound over the
sequence against the largest measured gradient residual (the certificate must hold: bound >=
measured after every request) and the budget left at the end.

Part ``scale``: ScaleGUN on ``synthetic_graph(235000, avg_degree=11)`` (node split 60/20/20),
a request of 0.1 % of the edges: seconds and peak extra memory of the local update against
recomputing :math:`P^K X` and refitting the exact minimiser from scratch (and against CGU, which
re-propagates the whole graph), ``--rounds`` alternating repetitions.

    OMP_NUM_THREADS=1 python benchmarks/certified.py --part small --seeds 0,1,2,3,4
    OMP_NUM_THREADS=1 python benchmarks/certified.py --part scale --rounds 3 --rmax 0,1e-4

``--noise-std`` sets sigma of the scale part: on 141 k training nodes the regulariser
lambda n = 1410 makes sigma = 5 cost no accuracy, and its larger budget is what lets an
approximate push (``rmax > 0``, fewer rows touched) stay certified.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from gnn_unlearn import DeletionRequest, load_dataset, node_split, unlearn
from gnn_unlearn.data import sample_edges, synthetic_graph
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.metrics.node import accuracy, macro_f1
from gnn_unlearn.models import train_certified
from gnn_unlearn.models.certified import CertifiedLinear, certificate_budget
from gnn_unlearn.ops.logistic import gradient, newton_fit, ovr_targets
from gnn_unlearn.ops.propagation import Adjacency, normalize_rows, propagate
from gnn_unlearn.options import check_output_folder, load_datasets, whole_numbers
from gnn_unlearn.utils import CostMeter

RATIOS = {"node": 0.125, "edge": 0.10, "feature": 0.125}
METHODS = {"node": ("cgu", "scalegun"), "edge": ("cgu", "ceu", "scalegun"),
           "feature": ("cgu", "scalegun")}


def scores(model, data) -> dict[str, float]:
    out = model(data.x, data.edge_index)
    pred, y = out[data.test_mask].argmax(-1), data.y[data.test_mask]
    return {"acc": accuracy(pred, y), "f1": macro_f1(pred, y)}


def measured_residual(model, data) -> float:
    z = model.propagated(data.x, data.edge_index)[data.train_mask]
    y = ovr_targets(data.y[data.train_mask], model.num_classes)
    return float((gradient(model.weight, z, y, model.lam * z.size(0)) + model.noise).norm(dim=0).max())


def request_batches(data, kind: str, batches: int, seed: int) -> list[DeletionRequest]:
    g = torch.Generator().manual_seed(seed)
    if kind == "edge":
        pairs = data.edge_index[:, data.edge_index[0] < data.edge_index[1]]
        k = int(RATIOS[kind] * pairs.size(1))
        chosen = pairs[:, torch.randperm(pairs.size(1), generator=g)[:k]]
        return [DeletionRequest.edges(p) for p in torch.tensor_split(chosen, batches, dim=1)]
    train = data.train_mask.nonzero().view(-1)
    k = max(batches, int(RATIOS[kind] * train.numel()))
    chosen = train[torch.randperm(train.numel(), generator=g)[:k]]
    make = DeletionRequest.nodes if kind == "node" else DeletionRequest.features
    return [make(part) for part in torch.tensor_split(chosen, batches)]


def run_small(name: str, seed: int, batches: int, root: str | None, log) -> list[dict]:
    data = load_dataset(name, root=root)
    hp = dict(num_hops=2, lam=1e-2, noise_std=1e-2, epsilon=1.0, delta=1e-4)
    models = {"cgu": train_certified(data, seed=seed, **hp),
              "ceu": None, "scalegun": train_certified(data, seed=seed, rmax=0.0, **hp)}
    models["ceu"] = models["cgu"]
    rows = []
    for kind in ("node", "edge", "feature"):
        requests = request_batches(data, kind, batches, seed)
        for method in METHODS[kind]:
            model, current = models[method], data
            seconds, retrains, worst_bound, worst_measured, ok = 0.0, 0, 0.0, 0.0, True
            for request in requests:
                task = request.resolve(current, num_hops=model.num_hops)
                result = unlearn(model, task, method)
                model, current = result.model, task.retained_data
                seconds += result.seconds
                retrains += int(result.history["retrained"])
                measured = measured_residual(model, current)
                bound = result.history["worst_bound"]
                ok &= measured <= bound * (1 + 1e-9) + 1e-12
                worst_bound, worst_measured = max(worst_bound, bound), max(worst_measured, measured)
            with CostMeter(torch.device("cpu")) as meter:
                exact = train_certified(current, seed=model.certificate.noise_seed, **hp)
            row = dict(dataset=name, seed=seed, kind=kind, method=method, requests=len(requests),
                       deleted=RATIOS[kind], **{f"unlearn_{k}": v for k, v in scores(model, current).items()},
                       **{f"retrain_{k}": v for k, v in scores(exact, current).items()},
                       unlearn_seconds=seconds, retrain_seconds=meter.seconds, retrains=retrains,
                       worst_bound=worst_bound, worst_measured=worst_measured, bound_holds=ok,
                       budget=model.certificate.budget, budget_left=model.certificate.budget_left,
                       original_acc=scores(models[method], data)["acc"])
            log(f"{name} seed {seed} {kind} {method}: acc {row['unlearn_acc']:.3f} (retrain "
                f"{row['retrain_acc']:.3f}) {seconds:.2f}s retrains {retrains} bound ok {ok}")
            rows.append(row)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["kind"], r["method"]), []).append(r)
    out = []
    for (ds, kind, method), rs in groups.items():
        agg = dict(dataset=ds, kind=kind, method=method, n=len(rs), requests=rs[0]["requests"],
                   bound_holds=all(r["bound_holds"] for r in rs))
        for k in ("original_acc", "unlearn_acc", "unlearn_f1", "retrain_acc", "retrain_f1",
                  "unlearn_seconds", "retrain_seconds", "retrains", "worst_bound",
                  "worst_measured", "budget_left"):
            vals = [float(r[k]) for r in rs]
            agg[k] = statistics.mean(vals)
            agg[k + "_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        out.append(agg)
    return out


def small_markdown(summary: list[dict], command: str, seeds: list[int], batches: int) -> str:
    pm = lambda r, k, f="{:.3f}": (f + " ± " + f).format(r[k], r[k + "_std"])
    lines = [
        "# Certified removal on Cora / CiteSeer (CGU, CEU, ScaleGUN)\n",
        f"Command: `{command}`  \nHardware: {hardware()}; one thread (OMP_NUM_THREADS=1) on a "
        "machine shared with other jobs (load average well above the core count), so seconds "
        "carry noise.  \n"
        f"Seeds: {len(seeds)} ({', '.join(map(str, seeds))}; noise b and request sampling). Model: "
        "CertifiedLinear, K = 2, lambda 1e-2, sigma 1e-2, epsilon 1, delta 1e-4 (budget "
        "sigma*eps/c(delta) = 2.28e-3 per class); public Planetoid split. Deleted: 12.5 % of the "
        "training nodes (node, feature) or 10 % of the edges, served as "
        f"{batches} consecutive requests (one Newton step each, each resolved on the previous "
        "retained graph). Retrain: exact training from scratch on the final retained graph with "
        "the model's last noise seed. Seconds: unlearning = all requests together; retrain = one "
        "training from scratch. 'bound >= measured': the certificate's bound held against the "
        "measured gradient residual (exact features) after every request of every seed.\n",
        "| dataset | request | method | original acc | unlearned acc | unlearned F1 | retrain acc "
        "| retrain F1 | unlearn s | retrain s | auto retrains | worst bound | worst measured "
        "| bound >= measured | budget left |",
        "|---" * 15 + "|"]
    for r in summary:
        lines.append(
            f"| {r['dataset']} | {r['kind']} ({r['requests']}) | {r['method']} (n={r['n']}) | "
            f"{pm(r, 'original_acc')} | {pm(r, 'unlearn_acc')} | {pm(r, 'unlearn_f1')} | "
            f"{pm(r, 'retrain_acc')} | {pm(r, 'retrain_f1')} | {pm(r, 'unlearn_seconds', '{:.2f}')} | "
            f"{pm(r, 'retrain_seconds', '{:.2f}')} | {r['retrains']:.1f} | {r['worst_bound']:.2e} | "
            f"{r['worst_measured']:.2e} | {'yes' if r['bound_holds'] else 'NO'} | "
            f"{r['budget_left']:.2e} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
def scratch(data, model) -> tuple[float, float]:
    """Recompute P^K X on the retained graph and fit the exact minimiser: (seconds, accuracy)."""
    cpu0 = time.process_time()
    with CostMeter(torch.device("cpu")) as meter:
        adj = Adjacency.from_edge_index(data.edge_index, data.num_nodes)
        z = propagate(adj, normalize_rows(data.x.double()), model.num_hops, model.alpha)
        zt = z[data.train_mask]
        yt = ovr_targets(data.y[data.train_mask], model.num_classes)
        w, gnorm, _ = newton_fit(zt, yt, model.lam * zt.size(0), model.noise, model.tol,
                                 solver=model.solver)
    cpu = time.process_time() - cpu0
    pred = (z[data.test_mask] @ w).argmax(-1)
    return meter.seconds, cpu, accuracy(pred, data.y[data.test_mask]), meter.peak_memory_bytes


def run_scale(data, task, rounds: int, num_hops: int, rmaxes: list[float], noise_std: float,
              log) -> list[dict]:
    """``task``: the request on ``data`` (the graph and request :func:`check_args` built)."""
    retained = task.retained_data
    rows = []
    for rmax in rmaxes:
        gc.collect()
        with CostMeter(torch.device("cpu")) as meter:
            model = train_certified(data, num_hops=num_hops, rmax=rmax, solver="pcg",
                                    noise_std=noise_std)
        log(f"trained rmax={rmax}: {meter.seconds:.1f}s")
        for r in range(rounds):
            gc.collect()
            res = unlearn(model, task, "scalegun")
            h = res.history
            acc = accuracy(res.model(retained.x, retained.edge_index)[retained.test_mask].argmax(-1),
                           retained.y[retained.test_mask])
            rows.append(dict(step="scalegun", rmax=rmax, round=r, seconds=res.seconds,
                             cpu_seconds=h["cpu_seconds"],
                             seconds_features=h["seconds_features"],
                             seconds_newton=h["seconds_newton"], peak=res.peak_memory_bytes,
                             rows_changed=h["rows_changed"],
                             edges_removed=h["edges_removed"], retrained=h["retrained"],
                             budget_left=h["budget_left"],
                             bound_if_updated=max(h["bound_if_updated"]),
                             approximation=max(h["certificate"]["approximation"]), acc=acc,
                             train_seconds=meter.seconds))
            log(f"scalegun rmax={rmax} round {r}: {res.seconds:.2f}s (features "
                f"{h['seconds_features']:.2f}, newton {h['seconds_newton']:.2f}) retrained "
                f"{h['retrained']}")
            del res
            gc.collect()
            if rmax == rmaxes[0]:
                sec, cpu, acc, peak = scratch(retained, model)
                rows.append(dict(step="scratch", rmax=None, round=r, seconds=sec, cpu_seconds=cpu,
                                 peak=peak, acc=acc))
                log(f"scratch round {r}: {sec:.2f}s")
        if rmax == rmaxes[0]:
            exact = train_certified(data, num_hops=num_hops, solver="pcg", noise_std=noise_std)
            gc.collect()
            res = unlearn(exact, task, "cgu")
            rows.append(dict(step="cgu", rmax=None, round=0, seconds=res.seconds,
                             cpu_seconds=res.history["cpu_seconds"], peak=res.peak_memory_bytes,
                             seconds_features=res.history["seconds_features"],
                             seconds_newton=res.history["seconds_newton"]))
            log(f"cgu: {res.seconds:.2f}s")
            del exact, res
        del model
    return rows


def scale_markdown(rows: list[dict], command: str, nodes: int, num_hops: int,
                   fraction: float, noise_std: float, load: tuple[list[float], list[float]]) -> str:
    scratch_rows = [r for r in rows if r["step"] == "scratch"]
    wall = statistics.median(r["seconds"] for r in scratch_rows)
    cpu = statistics.median(r["cpu_seconds"] for r in scratch_rows)
    summary = []
    for rmax in dict.fromkeys(r["rmax"] for r in rows if r["step"] == "scalegun"):
        mine = [r for r in rows if r["step"] == "scalegun" and r["rmax"] == rmax]
        summary.append(
            f"| {rmax:g} | {statistics.median(r['seconds'] for r in mine):.2f} | "
            f"{statistics.median(r['cpu_seconds'] for r in mine):.2f} | {wall:.2f} | {cpu:.2f} | "
            f"{100 * statistics.median(r['seconds'] for r in mine) / wall:.1f} % | "
            f"{100 * statistics.median(r['cpu_seconds'] for r in mine) / cpu:.1f} % | "
            f"{max(r['peak'] for r in mine) / 2 ** 30:.2f} | {any(r['retrained'] for r in mine)} |")
    lines = [f"# ScaleGUN on a {nodes:,}-node synthetic graph: a {100 * fraction:g} % edge "
             "request\n",
             f"Command: `{command}`  \nHardware: {hardware()}; one thread on a machine shared "
             f"with other jobs (1/5/15-minute load averages {'/'.join(f'{v:.1f}' for v in load[0])} "
             f"before and {'/'.join(f'{v:.1f}' for v in load[1])} after this run, on "
             f"{os.cpu_count()} cores: wall seconds carry noise of a factor 2-3; CPU seconds of "
             "the process are steadier; steps alternate to share the noise).  \n"
             f"Graph: synthetic_graph({nodes}, avg_degree=11), node split 60/20/20; model: "
             f"CertifiedLinear K = {num_hops}, solver pcg, sigma {noise_std:g}, epsilon 1, delta 1e-4 "
             f"(budget {certificate_budget(noise_std, 1.0, 1e-4):.3g}). "
             "Scratch = recompute P^K X on the retained graph + fit the exact minimiser (Newton, "
             "PCG). 'bound if updated': the certificate's bound had the Newton update been "
             "released (train residual + sum of beta + approximation term); above the budget the "
             "model was retrained instead (the row's seconds include that retraining). "
             "Peak: the process' peak RSS (the unlearn call's model copy, made by `unlearn` "
             "before timing, included). 'vs scratch': against the median scratch time (wall / "
             "CPU).\n",
             "| step | rmax | round | wall s | CPU s | features s | Newton s | rows changed "
             "| peak GiB | bound if updated | retrained | approx. term | budget left | test acc "
             "| vs scratch (wall / CPU) |",
             "|---" * 15 + "|"]
    lines[-2:-2] = ["Medians per threshold (scratch: median of its rounds):\n",
                    "| rmax | scalegun wall s | scalegun CPU s | scratch wall s | scratch CPU s "
                    "| vs scratch (wall) | vs scratch (CPU) | peak GiB | any retrained |",
                    "|---" * 9 + "|", *summary, "", "Every request:\n"]
    for r in rows:
        f = lambda k, fmt: fmt.format(r[k]) if r.get(k) is not None else "-"
        lines.append(f"| {r['step']} | {f('rmax', '{:g}')} | {r['round']} | {r['seconds']:.2f} | "
                     f"{r['cpu_seconds']:.2f} | "
                     f"{f('seconds_features', '{:.2f}')} | {f('seconds_newton', '{:.2f}')} | "
                     f"{f('rows_changed', '{:,}')} | {r['peak'] / 2 ** 30:.2f} | "
                     f"{f('bound_if_updated', '{:.2e}')} | "
                     f"{f('retrained', '{}')} | {f('approximation', '{:.2e}')} | "
                     f"{f('budget_left', '{:.2e}')} | {f('acc', '{:.3f}')} | "
                     f"{100 * r['seconds'] / wall:.0f} % / {100 * r['cpu_seconds'] / cpu:.0f} % |")
    return "\n".join(lines) + "\n"


SMALL_ONLY = ("datasets", "seeds", "batches", "root")
SCALE_ONLY = ("nodes", "num_hops", "rmax", "rounds", "fraction", "noise_std")


def check_args(args, parser: argparse.ArgumentParser):
    """Refuses every bad option before any training, with what was wrong (``ValueError``).

    Refused: an option of the other part (``--rmax`` with ``--part small``, ``--seeds`` with
    ``--part scale``, ...: it would be ignored); ``--output`` naming a file. Part small:
    ``--seeds`` not distinct non-negative ints; ``--batches`` < 1 or larger than a request of a
    dataset (so that every request deletes something and the deleted shares are the stated
    ones); ``--datasets`` repeated, unknown, missing files or without labels and a public node
    split (``train_mask``, ``test_mask``). Part scale:
    ``--rounds`` < 1, ``--rmax`` not distinct numbers; ``--num-hops``, ``--rmax`` or
    ``--noise-std`` that :class:`~gnn_unlearn.models.CertifiedLinear` refuses; ``--nodes`` that
    :func:`~gnn_unlearn.data.synthetic_graph` refuses and a ``--fraction`` of its edges that
    :func:`~gnn_unlearn.data.sample_edges` refuses.

    Returns the part's own argument: the seeds (small), or the rmax thresholds with the graph
    and its resolved request (scale), so that nothing is built twice.
    """
    other = SCALE_ONLY if args.part == "small" else SMALL_ONLY
    for key in other:
        if getattr(args, key) != parser.get_default(key):
            raise ValueError(f"--{key.replace('_', '-')} applies to --part "
                             f"{'scale' if args.part == 'small' else 'small'} only; leave it out with "
                             f"--part {args.part}")
    check_output_folder(args.output)
    if args.part == "small":
        seeds = whole_numbers("--seeds", args.seeds, "0,1,2", minimum=0)
        if args.batches < 1:
            raise ValueError(f"--batches must be >= 1, got {args.batches}")
        for name, data in load_datasets(args.datasets.split(","), root=args.root).items():
            if any(getattr(data, k, None) is None for k in ("y", "train_mask", "test_mask")):
                raise ValueError(f"--datasets: {name!r} has no node labels and public node split "
                                 "(train_mask, test_mask); this part needs one, e.g. Cora, CiteSeer")
            sizes = {"node": int(data.train_mask.sum()),
                     "edge": int((data.edge_index[0] < data.edge_index[1]).sum())}
            sizes["feature"] = sizes["node"]
            for kind, ratio in RATIOS.items():
                k = int(ratio * sizes[kind])
                if args.batches > k:
                    what = "training nodes" if kind != "edge" else "edges"
                    raise ValueError(f"--batches {args.batches}: {name}'s {kind} request holds {k} {what} "
                                     f"({100 * ratio:g} % of {sizes[kind]}), which cannot make "
                                     f"{args.batches} requests; give --batches <= {k}")
        return seeds
    if args.rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {args.rounds}")
    try:
        rmaxes = [float(v) for v in args.rmax.split(",")]
    except ValueError:
        raise ValueError(f"--rmax takes comma-separated numbers >= 0, e.g. 0,1e-4, got {args.rmax!r}") from None
    if len(set(rmaxes)) < len(rmaxes):
        raise ValueError(f"--rmax takes distinct thresholds, got {args.rmax!r}")
    for rmax in rmaxes:
        try:      # the model's own checks of num_hops, rmax and noise_std (sizes do not matter here)
            CertifiedLinear(1, 2, num_hops=args.num_hops, rmax=rmax, noise_std=args.noise_std, solver="pcg")
        except ValueError as e:
            raise ValueError(f"--num-hops, --rmax, --noise-std: {e}") from None
    try:      # the scale part's graph (node split 60/20/20) and request, handed on to run_scale
        data = node_split(synthetic_graph(args.nodes, avg_degree=11.0, seed=0), seed=0)
    except ValueError as e:
        raise ValueError(f"--nodes {args.nodes}: {e}") from None
    try:
        task = sample_edges(data, args.fraction, seed=0).resolve(data, num_hops=args.num_hops)
    except ValueError as e:
        raise ValueError(f"--fraction {args.fraction}: {e}") from None
    return rmaxes, data, task


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("small", "scale"), default="small")
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--batches", type=int, default=10, help="requests per sequence")
    p.add_argument("--nodes", type=int, default=235000)
    p.add_argument("--num-hops", type=int, default=2)
    p.add_argument("--rmax", default="0", help="comma-separated push thresholds (scale part)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--fraction", type=float, default=0.001, help="deleted share of the edges")
    p.add_argument("--noise-std", type=float, default=1e-2, help="sigma of the scale part")
    p.add_argument("--root", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default=None)
    args = p.parse_args(argv)
    try:
        checked = check_args(args, p)
    except ValueError as e:
        p.error(str(e))
    command = ("OMP_NUM_THREADS=1 python benchmarks/certified.py "
               + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])))
    log = lambda s: print(s, file=sys.stderr, flush=True)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if args.part == "small":
        seeds = checked
        rows = []
        for name in args.datasets.split(","):
            for seed in seeds:
                rows += run_small(name, seed, args.batches, args.root, log)
        summary = summarise(rows)
        md = small_markdown(summary, command, seeds, args.batches)
        stem = args.name or "certified_small"
        payload = dict(command=command, hardware=hardware(), summary=summary, rows=rows)
    else:
        rmaxes, data, task = checked
        load_before = list(os.getloadavg())
        rows = run_scale(data, task, args.rounds, args.num_hops, rmaxes, args.noise_std, log)
        load = (load_before, list(os.getloadavg()))
        md = scale_markdown(rows, command, args.nodes, args.num_hops, args.fraction,
                            args.noise_std, load)
        stem = args.name or "certified_scale"
        payload = dict(command=command, hardware=hardware(), load_average=load, rows=rows)
    atomic_write_text(out / f"{stem}.md", md)
    atomic_write_text(out / f"{stem}.json", json.dumps(payload, indent=1))
    print(md)


if __name__ == "__main__":
    main()
