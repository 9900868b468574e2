"""What each shard partition keeps of the graph, and what it costs an exact deletion.

For each dataset and seed (the stratified 60/20/20 node split of ``benchmarks/sharded.py``) and
each partition (``partition_nodes`` with K shards): the share of edges cut, GUIDE's balance and
training-label fairness scores, the seconds it took, and the shards a deleted training node
touches: its own shard, plus, under GUIDE's repair, the shard of every neighbour in another
shard (that neighbour holds a virtual neighbour made because of the deleted node's edge). K
divided by that mean bounds the speed-up of any exact shard retraining over retraining all K.

    OMP_NUM_THREADS=1 python benchmarks/partition_quality.py --datasets Cora,CiteSeer --seeds 5
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

from gnn_unlearn import node_split
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.ops.partition import graph_balance, graph_fairness
from gnn_unlearn.options import check_output_folder, check_results_name, load_datasets
from gnn_unlearn.sharding import partition_nodes

#: (label, partition name, partition options)
PARTITIONS = [("random", "random", {}), ("blpa (GraphEraser)", "blpa", {}),
              ("fair, unrefined (GUIDE Fast)", "fair", {"refine_rounds": 0}),
              ("fair + colour shares + same-colour swaps (GUIDE default)", "fair", {})]


def touched_per_node(edge_index: torch.Tensor, assignment: torch.Tensor, nodes: torch.Tensor,
                     num_shards: int) -> float:
    """Mean shards touched by deleting one of ``nodes`` under GUIDE's repair: 1 + the distinct
    other shards among its neighbours (``edge_index`` holds both directions)."""
    src, dst = edge_index
    foreign = assignment[src] != assignment[dst]
    pairs = torch.unique(src[foreign] * num_shards + assignment[dst][foreign])
    other_shards = torch.bincount(pairs // num_shards, minlength=assignment.numel())
    return float(1 + other_shards[nodes].double().mean())


def check_args(a: argparse.Namespace) -> dict[str, Data]:
    """Refuses every bad option before any partition is computed, with what was wrong
    (``ValueError``), and returns the datasets by name, loaded: an empty ``--name``, an
    ``--output`` that is a file, ``--seeds`` < 1, ``--shards`` < 2, ``--datasets`` repeated,
    unknown or with missing files, a graph without node labels (the split and the fairness
    score need them) or with fewer nodes than ``--shards``."""
    check_results_name(a.name)
    check_output_folder(a.output)
    if a.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {a.seeds}")
    if a.shards < 2:
        raise ValueError(f"--shards must be >= 2 (one shard cuts nothing), got {a.shards}")
    datasets = load_datasets(a.datasets.split(","), root=a.root)
    for name, base in datasets.items():
        try:
            node_split(base, 0.6, 0.2, seed=0, use_public=False)
        except ValueError as e:
            raise ValueError(f"--datasets: {name!r}: {e}; this table needs a labelled graph such as Cora "
                             "or CiteSeer") from None
        if a.shards > base.num_nodes:
            raise ValueError(f"--shards {a.shards}: {name} has only {base.num_nodes} nodes; use fewer shards")
    return datasets


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--shards", type=int, default=10)
    p.add_argument("--root", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="partition_quality")
    a = p.parse_args(argv)
    try:
        datasets = check_args(a)
    except ValueError as e:
        p.error(str(e))
    rows = []
    for name, base in datasets.items():
        for seed in range(a.seeds):
            data = node_split(base, 0.6, 0.2, seed=seed, use_public=False)
            ei, train_nodes = data.edge_index, data.train_mask.nonzero().view(-1)
            labels = data.y.view(-1)
            for label, method, options in PARTITIONS:
                t0 = time.perf_counter()
                assign = partition_nodes(data, method, a.shards, seed, options)
                secs = time.perf_counter() - t0
                repaired = touched_per_node(ei, assign, train_nodes, a.shards)
                rows.append(dict(dataset=name, seed=seed, partition=label,
                                 cut=float((assign[ei[0]] != assign[ei[1]]).double().mean()),
                                 balance=graph_balance(assign, a.shards),
                                 fairness=graph_fairness(assign[train_nodes], labels[train_nodes], a.shards),
                                 touched_repair=repaired, seconds=secs))
    command = "OMP_NUM_THREADS=1 python benchmarks/partition_quality.py " + " ".join(
        shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    lines = [f"# Shard partitions: edges cut and shards a deletion touches ({a.shards} shards)", "",
             f"Command: `{command}`  ", f"Hardware: {hardware()}", "",
             "Per dataset and partition, mean ± std over the seeds' node splits (stratified 60/20/20). "
             "cut: share of edges between shards; balance, fairness: GUIDE's scores (0 = perfect; "
             "fairness of the training labels); touched: shards a deleted training node touches under "
             "GUIDE's repair (1 without repair); K / touched: the most an exact shard retraining can "
             "gain over retraining all K shards.", "",
             "| dataset | partition | seeds | cut | balance | fairness | touched (repair) | K / touched | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in a.datasets.split(","):
        for label, _, _ in PARTITIONS:
            rs = [r for r in rows if r["dataset"] == name and r["partition"] == label]

            def ms(key: str, fmt: str = ".3f") -> str:
                vals = [r[key] for r in rs]
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                return f"{statistics.fmean(vals):{fmt}} ± {sd:{fmt}}"
            bound = [a.shards / r["touched_repair"] for r in rs]
            lines.append(f"| {name} | {label} | {len(rs)} | {ms('cut')} | {ms('balance')} | {ms('fairness')} | "
                         f"{ms('touched_repair', '.2f')} | {statistics.fmean(bound):.2f} | {ms('seconds', '.2f')} |")
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(str(out / f"{a.name}.md"), "\n".join(lines) + "\n")
    atomic_write_text(str(out / f"{a.name}.json"),
                      json.dumps({"command": command, "hardware": hardware(), "rows": rows}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
