"""Corrective unlearning table (Cognac's setting): manipulated training graph, part identified.

For each dataset and seed: a stratified 60/20/20 node split; the **oracle** is trained on the
clean graph; each manipulation (label flip between the two most frequent training classes, or
edge injection between them) gives the **poisoned original**; for each identified fraction the
request is resolved and every method starts from the poisoned model. Validation labels are
clean (as in the paper), test accuracy is reported on the two manipulated classes and on the
others. Methods that cannot serve a request (e.g. gradient ascent on an edge request for a
node classifier) are reported as such, not dropped.

    python benchmarks/corrective.py --datasets Cora,CiteSeer --seeds 3 --name cognac
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
from torch_geometric.data import Data

from gnn_unlearn import TrainConfig, node_split, train, unlearn
from gnn_unlearn.bench import check_method_params
from gnn_unlearn.data import Manipulation, edge_injection, label_flip
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.methods import get
from gnn_unlearn.options import check_distinct, load_datasets, shares, table_methods

#: ``--manipulations`` entries and the option that sizes each.
MANIPULATIONS = {"label_flip": "--flip-rate", "edge_injection": "--inject-edges"}


def class_accuracies(model, data, classes) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(-1)
    y, test = data.y.view(-1), data.test_mask
    manipulated = test & ((y == classes[0]) | (y == classes[1]))
    other = test & ~manipulated
    acc = lambda m: float((pred[m] == y[m]).float().mean())
    return acc(manipulated), acc(other)


def manipulate(clean: Data, kind: str, args: argparse.Namespace, seed: int) -> Manipulation:
    """The poisoned graph of one ``--manipulations`` entry (one of :data:`MANIPULATIONS`)."""
    if kind == "label_flip":
        return label_flip(clean, rate=args.flip_rate, seed=seed)
    return edge_injection(clean, size=args.inject_edges, seed=seed)


def seed_option(method: str, seed: int) -> dict:
    """``seed=seed`` for a method that takes a seed; nothing for a deterministic one (e.g. utu)."""
    return {"seed": seed} if "seed" in get(method).get_params() else {}


def check_args(args: argparse.Namespace) -> dict[str, Data]:
    """Refuses every bad option before any training, with what was wrong (``ValueError``), and
    returns the datasets by name, loaded: each must be a labelled graph on which every
    manipulation (sized by ``--flip-rate`` / ``--inject-edges``) and every identified fraction
    of every seed can be drawn. Methods must serve node models, without ``retrain`` or ``+ref``;
    ``--method-params`` must be JSON the methods accept, for methods that run, without ``seed``;
    no list may repeat an entry."""
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if args.train_epochs < 0:
        raise ValueError(f"--train-epochs must be >= 0 (0: early stopping on validation), got {args.train_epochs}")
    methods = table_methods(args.methods.split(","), "node")
    try:
        params = json.loads(args.method_params)
    except json.JSONDecodeError as e:
        raise ValueError(f"--method-params is not JSON ({e}): {args.method_params!r}") from None
    try:
        params = check_method_params(params, ["retrain", *methods])
    except (ValueError, TypeError) as e:        # TypeError: a value of the wrong type
        raise ValueError(f"--method-params: {e}") from None
    for method, values in params.items():
        if "seed" in values:
            raise ValueError(f"--method-params: {method} sets 'seed'; every run takes its seed from --seeds")
    kinds = args.manipulations.split(",")
    for kind in kinds:
        if kind not in MANIPULATIONS:
            raise ValueError(f"--manipulations entry {kind!r}: choose from {', '.join(MANIPULATIONS)}")
    check_distinct("--manipulations", kinds)
    fractions = shares("--fractions", args.fractions, "of the manipulated set", "0.05,0.25,1.0", include_one=True)
    datasets = load_datasets(args.datasets.split(","), root=args.root)
    for name, base in datasets.items():
        for seed in range(args.seeds):
            try:
                clean = node_split(base, train_ratio=0.6, val_ratio=0.2, use_public=False, seed=seed)
            except ValueError as e:
                raise ValueError(f"--datasets: {name!r}: {e}; this table needs a labelled graph such as "
                                 "Cora or CiteSeer") from None
            for kind in kinds:
                try:
                    man = manipulate(clean, kind, args, seed)
                except ValueError as e:
                    raise ValueError(f"{MANIPULATIONS[kind]} ({kind} on {name}, seed {seed}): {e}") from None
                for frac in fractions:
                    try:
                        man.identify(frac, seed=seed)
                    except ValueError as e:
                        raise ValueError(f"--fractions: {e}") from None
    return datasets


def run(args: argparse.Namespace, datasets: dict[str, Data]) -> list[dict]:
    rows = []
    if args.train_epochs:   # fixed epochs: the poisoned model fits its training labels
        cfg = lambda s: TrainConfig(epochs=args.train_epochs, eval_every=args.train_epochs,
                                    patience=10 ** 6, weight_decay=5e-4, seed=s)
    else:                   # early stopping on the (clean) validation labels
        cfg = lambda s: TrainConfig(weight_decay=5e-4, seed=s)
    for name, base in datasets.items():
        for seed in range(args.seeds):
            clean = node_split(base, train_ratio=0.6, val_ratio=0.2, use_public=False, seed=seed)
            t = time.perf_counter()
            oracle, _ = train(clean, "node", cfg(seed))
            oracle_s = time.perf_counter() - t
            for kind in args.manipulations.split(","):
                man = manipulate(clean, kind, args, seed)
                poisoned, _ = train(man.data, "node", cfg(seed))
                common = dict(dataset=name, seed=seed, manipulation=kind, classes=list(man.classes),
                              manipulated=man.size)
                for model_name, model, secs in (("oracle", oracle, oracle_s), ("poisoned", poisoned, None)):
                    m, o = class_accuracies(model, clean, man.classes)
                    rows.append(dict(common, fraction=None, method=model_name, acc_manipulated=m,
                                     acc_other=o, seconds=secs))
                for frac in (float(f) for f in args.fractions.split(",")):
                    task = man.identify(frac, seed=seed).resolve(man.data)
                    for method in ["retrain"] + args.methods.split(","):
                        row = dict(common, fraction=frac, method=method)
                        try:
                            result = unlearn(poisoned, task, method, **seed_option(method, seed),
                                             **json.loads(args.method_params).get(method, {}))
                        except ValueError as err:
                            rows.append(dict(row, error=str(err).split(";")[0]))
                            continue
                        m, o = class_accuracies(result.model, clean, man.classes)
                        rows.append(dict(row, acc_manipulated=m, acc_other=o, seconds=result.seconds))
                    print(f"{name} seed {seed} {kind} {frac}: " + ", ".join(
                        f"{r['method']} {r.get('acc_manipulated', float('nan')):.3f}" for r in rows
                        if r.get("fraction") == frac and r["seed"] == seed and r["dataset"] == name
                        and r["manipulation"] == kind), flush=True)
    return rows


def _cell(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def table(rows: list[dict]) -> str:
    out = []
    keys = sorted({(r["dataset"], r["manipulation"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for dataset, kind in keys:
        sub = [r for r in rows if r["dataset"] == dataset and r["manipulation"] == kind]
        fracs = sorted({r["fraction"] for r in sub if r["fraction"] is not None})
        size = sub[0]["manipulated"]
        out += [f"### {dataset}, {kind.replace('_', ' ')} ({size} manipulated, classes "
                f"{sub[0]['classes']}), {len({r['seed'] for r in sub})} seeds", "",
                "| identified | method | acc manipulated classes | acc other classes | seconds |",
                "|---|---|---|---|---|"]
        methods = list(dict.fromkeys(r["method"] for r in sub))
        for frac in [None] + fracs:
            for method in methods:
                cell = [r for r in sub if r["fraction"] == frac and r["method"] == method]
                if not cell:
                    continue
                ok = [r for r in cell if "error" not in r]
                label = "–" if frac is None else f"{frac:.0%}"
                if not ok:
                    out.append(f"| {label} | {method} | n/a: {cell[0]['error']} | | |")
                    continue
                secs = [r["seconds"] for r in ok if r["seconds"] is not None]
                out.append(f"| {label} | {method} | {_cell([r['acc_manipulated'] for r in ok])} | "
                           f"{_cell([r['acc_other'] for r in ok])} | "
                           f"{statistics.mean(secs):.2f} |" if secs else
                           f"| {label} | {method} | {_cell([r['acc_manipulated'] for r in ok])} | "
                           f"{_cell([r['acc_other'] for r in ok])} | – |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--manipulations", default="label_flip,edge_injection")
    p.add_argument("--fractions", default="0.05,0.25,1.0")
    p.add_argument("--methods", default="gradient_ascent,d2dgn,cognac")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--flip-rate", type=float, default=0.1)
    p.add_argument("--inject-edges", type=int, default=1000)
    p.add_argument("--train-epochs", type=int, default=0,
                   help="train originals, oracle and retrain for this many epochs without early "
                        "stopping (0: early stopping on validation, the library default)")
    p.add_argument("--method-params", default="{}",
                   help='JSON: method -> hyperparameters, e.g. \'{"cognac": {"steps": 3}}\'')
    p.add_argument("--root", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="cognac")
    args = p.parse_args(argv)
    command = "python benchmarks/corrective.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        datasets = check_args(args)
    except ValueError as e:
        p.error(str(e))
    t = time.perf_counter()
    rows = run(args, datasets)
    body = (f"# Corrective unlearning (GCN, node classification)\n\nCommand: `{command}`  \n"
            f"Hardware: {hardware()}  \nTotal wall time: {time.perf_counter() - t:.0f} s  \n"
            f"Originals, oracle and retrain: "
            f"{f'{args.train_epochs} epochs, no early stopping' if args.train_epochs else 'early stopping on clean validation'}; "
            f"method parameters {args.method_params}.  \n"
            f"Split 60/20/20 stratified per seed; label flip rate {args.flip_rate} of the training "
            f"nodes (half each way); edge injection {args.inject_edges} edges. Mean ± std over "
            f"seeds; seconds = the unlearning call (oracle: training on clean data).\n\n"
            + table(rows))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{args.name}.md", body)
    atomic_write_text(out / f"{args.name}.json", json.dumps(dict(command=command, rows=rows), indent=1))
    print(body)


if __name__ == "__main__":
    main()
