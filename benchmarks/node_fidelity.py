"""Node-deletion fidelity: node classifiers unlearn deleted training nodes, scored by the attacks.

    python benchmarks/node_fidelity.py --datasets Cora,CiteSeer --seeds 3 \\
        --methods gradient_ascent,d2dgn,gif,utu --attacks lira,relearn,probe --retrain-seeds 4 \\
        --name node_fidelity

For each dataset and seed: a stratified 60/20/20 node split, a 2-layer GCN node classifier
trained to early stop on validation, ``--size`` of the training nodes deleted (with their
edges), every method run, then :func:`gnn_unlearn.evaluate` with the node variants of
the attacks and the K-retrain spread test. ``--request class`` deletes every node of one class
instead (class removal; seed ``s`` removes class ``s mod C``). Rows are mean ± std over seeds; the target of every
column is retrain's value.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from torch_geometric.data import Data

from gnn_unlearn.bench import user_command
from gnn_unlearn.data.samplers import sample_nodes
from gnn_unlearn.data.splits import node_split
from gnn_unlearn.experiment import aggregate, hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.methods import get, unlearn
from gnn_unlearn.models.predictors import make_model
from gnn_unlearn.options import load_datasets, table_methods
from gnn_unlearn.requests import DeletionRequest
from gnn_unlearn.metrics.attacks import build_attacks
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.metrics.report import NODE_COLUMNS, check_retrain_seeds
from gnn_unlearn.training import TrainConfig, train
from gnn_unlearn.utils import seeded

KEYS = ("test_acc", "deleted_acc", "deleted_id_auc", "mia_df_member")
CLASS_KEYS = ("test_acc", "deleted_acc", "deleted_id_auc", "deleted_class_pred", "mia_df_member")
REQUESTS = ("nodes", "class")


def request_for(data, kind: str, size: float, seed: int) -> DeletionRequest:
    """``nodes``: ``size`` of the training nodes; ``class``: every node of class ``seed mod C``."""
    if kind == "class":
        return DeletionRequest.node_class(seed % int(data.y.max() + 1))
    return sample_nodes(data, size, seed=seed, among=data.train_mask)


def names(option: str) -> list[str]:
    """The entries of a comma-separated option (empty ones dropped: ``--attacks ""`` runs none)."""
    return [x for x in option.split(",") if x]


def check_args(a: argparse.Namespace) -> dict[str, Data]:
    """Refuses every bad option before any training, with what was wrong (``ValueError``), and
    returns the datasets by name, loaded: each must be a labelled graph, distinct, on which the
    request of every seed can be drawn (``--size`` a share of the training nodes in (0, 1)) and
    every method can serve it on this table's GCN (no ``retrain``, no ``+ref``). ``--seeds`` >= 1;
    ``--retrain-seeds`` and ``--attacks`` as :func:`gnn_unlearn.evaluate` takes them."""
    if a.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {a.seeds}")
    try:
        check_retrain_seeds(a.retrain_seeds)
    except ValueError as e:
        raise ValueError(f"--retrain-seeds: {e}") from None
    methods = table_methods(names(a.methods), "node")
    try:
        build_attacks(names(a.attacks), "node")
    except (ValueError, TypeError) as e:
        raise ValueError(f"--attacks: {e}") from None
    datasets = load_datasets(names(a.datasets), mirror=a.mirror)
    for name, data0 in datasets.items():
        for seed in range(a.seeds):
            try:
                data = node_split(data0, seed=seed, use_public=False)
            except ValueError as e:
                raise ValueError(f"--datasets: {name!r}: {e}; this table needs a labelled graph such as "
                                 "Cora or CiteSeer") from None
            try:
                request = request_for(data, a.request, a.size, seed)
            except ValueError as e:
                raise ValueError(f"--size: {e}") from None
        task = request.resolve(data, num_hops=2)   # the last seed's: every seed's request is of one kind
        with seeded(seed):                          # an untrained GCN: what each method must serve
            model = make_model(data, "node", encoder="gcn")
        for method in methods:
            try:
                get(method).check(model, task)
            except ValueError as e:
                raise ValueError(f"--methods: {e}") from None
    return datasets


def run(datasets: dict[str, Data], seeds, methods, attacks, retrain_seeds, size, request="nodes"):
    blocks = []
    for ds, data0 in datasets.items():
        reports = []
        for seed in seeds:
            data = node_split(data0, seed=seed, use_public=False)
            model, _ = train(data, "node", TrainConfig(seed=seed), encoder="gcn")
            task = request_for(data, request, size, seed).resolve(data, num_hops=2)
            retrained = unlearn(model, task, "retrain")
            results = [unlearn(model, task, m) for m in methods]
            rep = evaluate(results, task, retrained=retrained, seed=seed, attacks=attacks,
                           retrain_seeds=retrain_seeds)
            reports.append(rep)
            print(f"{ds} seed {seed}: " + ", ".join(f"{r['model']} acc {r['test_acc']:.3f}" for r in rep.rows),
                  file=sys.stderr)
        what = ("every node of class seed mod C (seeds " + ", ".join(
            f"{sd}: class {sd % int(data0.y.max() + 1)}" for sd in seeds) + ")" if request == "class"
                else f"{size:g} of the training nodes")
        blocks.append({"dataset": ds, "size": size, "request": request, "deleted": what,
                       "seeds": list(seeds), "rows": aggregate(reports),
                       "attack_columns": reports[0].attack_columns,
                       "attack_notes": reports[0].meta.get("attack_notes", {})})
    return blocks


def markdown(blocks, command) -> str:
    keys = CLASS_KEYS if blocks[0]["request"] == "class" else KEYS
    cols = {**{k: NODE_COLUMNS[k] for k in keys}, **blocks[0]["attack_columns"],
            "seconds": "seconds", "speedup": "speed-up"}
    lines = ["# Node-deletion fidelity", "", f"Command: `{command}`", "",
             f"Hardware: {hardware()}", ""]
    for b in blocks:
        lines += [f"### {b['dataset']}: {b['deleted']} deleted, seeds {b['seeds']}", "",
                  "| model | " + " | ".join(cols.values()) + " |", "|---" * (len(cols) + 1) + "|"]
        for r in b["rows"]:
            cells = [f"{r[k]:.3f} ± {r[k + '_std']:.3f}" if isinstance(r.get(k), float) else "-" for k in cols]
            lines.append(f"| {r['model']} (n={r['n']}) | " + " | ".join(cells) + " |")
        lines.append("")
    notes = blocks[0]["attack_notes"]
    lines += ["Columns as in `gnn_unlearn.metrics.report.NODE_COLUMNS`; attacks:", ""]
    lines += [f"- {k}: {v}" for k, v in notes.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--methods", default="gradient_ascent,d2dgn,gif,utu")
    p.add_argument("--attacks", default="lira,relearn,probe")
    p.add_argument("--retrain-seeds", type=int, default=4)
    p.add_argument("--size", type=float, default=0.05, help="fraction of the training nodes deleted")
    p.add_argument("--request", default="nodes", choices=REQUESTS,
                   help="nodes: --size of the training nodes; class: every node of class (seed mod C)")
    p.add_argument("--mirror", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="node_fidelity")
    a = p.parse_args(argv)
    try:
        datasets = check_args(a)
    except ValueError as e:
        p.error(str(e))
    command = user_command()
    t0 = time.perf_counter()
    blocks = run(datasets, list(range(a.seeds)), names(a.methods), names(a.attacks), a.retrain_seeds, a.size,
                 a.request)
    os.makedirs(a.output, exist_ok=True)
    atomic_write_text(os.path.join(a.output, f"{a.name}.md"),
                      markdown(blocks, command) + f"\nTotal wall time: {time.perf_counter() - t0:.0f} s\n")
    atomic_write_text(os.path.join(a.output, f"{a.name}.json"),
                      json.dumps({"command": command, "hardware": hardware(), "blocks": blocks}, indent=2))


if __name__ == "__main__":
    main()
