"""Joins grid runs of one configuration over disjoint seeds into one results file.

    python benchmarks/merge_grid.py benchmarks/results/A.json more_seeds.json --name A

Each run is what ``gnn-unlearn benchmark`` wrote (``--first-seed`` runs more seeds of an
earlier run; with ``--partial`` a run may hold only some blocks, e.g. one position's missing
seed); per model and column the mean, standard deviation, minimum and maximum are
pooled exactly (:func:`gnn_unlearn.bench.merge_blocks`). The merged files name every source
command.
"""
from __future__ import annotations

import argparse
import time

from gnn_unlearn.bench import load_grid_run, merge_blocks, user_command, write_grid


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="JSON files written by gnn-unlearn benchmark")
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", required=True)
    p.add_argument("--partial", action="store_true",
                   help="let a run hold only some of the blocks (each block pools the runs that hold it)")
    a = p.parse_args(argv)
    if len(a.runs) < 2:
        p.error("give at least two runs to merge")
    try:
        loaded = [load_grid_run(path) for path in a.runs]
    except (OSError, ValueError) as e:
        p.error(str(e))
    blocks = merge_blocks([run["blocks"] for run in loaded], partial=a.partial)
    machines = [run.get("hardware", "?") for run in loaded]
    machine = (machines[0] if len(set(machines)) == 1 else
               " / ".join(f"{m} (run {i})" for i, m in enumerate(machines, 1)))
    write_grid(blocks, a.output, a.name, user_command(), time.strftime("%Y-%m-%d %H:%M:%S") + " (merged)",
               sources=[run["command"] for run in loaded], machine=machine)


if __name__ == "__main__":
    main()
