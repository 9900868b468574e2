"""Joins grid runs of one configuration over disjoint seeds into one results file.

    python benchmarks/merge_grid.py benchmarks/results/A.json more_seeds.json --name A

Each run is what ``gnn-unlearn benchmark`` wrote (``--first-seed`` runs more seeds of an
earlier run; with ``--partial`` a run may hold only some blocks, e.g. one position's missing
seed; ``--models a,b`` keeps those methods, so a run of more methods joins one of fewer); per
model and column the mean, standard deviation, minimum and maximum are pooled exactly
(:func:`gnn_unlearn.bench.merge_blocks`). Runs whose originals of one seed differ (their test
AUROC and AUPR, which no request changes) are refused. The merged files name every source command, and the
machine and code of each run where they differ.
"""
from __future__ import annotations

import argparse
import time

from gnn_unlearn.bench import keep_models, load_grid_run, merge_blocks, run_code, user_command, write_grid


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="JSON files written by gnn-unlearn benchmark")
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", required=True)
    p.add_argument("--partial", action="store_true",
                   help="let a run hold only some of the blocks (each block pools the runs that hold it)")
    p.add_argument("--models", default=None,
                   help="comma-separated methods to keep (with the original and the retrains), so a run "
                        "of more methods joins one of fewer")
    a = p.parse_args(argv)
    if len(a.runs) < 2:
        p.error("give at least two runs to merge")
    try:
        loaded = [load_grid_run(path) for path in a.runs]
    except (OSError, ValueError) as e:
        p.error(str(e))
    runs = [run["blocks"] for run in loaded]
    try:
        if a.models is not None:
            models = [m.strip() for m in a.models.split(",") if m.strip()]
            if not models:
                p.error("--models names no method")
            runs = [[keep_models(b, models) for b in blocks] for blocks in runs]
        blocks = merge_blocks(runs, partial=a.partial)
    except ValueError as e:
        p.error(str(e))
    write_grid(blocks, a.output, a.name, user_command(), time.strftime("%Y-%m-%d %H:%M:%S") + " (merged)",
               sources=[run["command"] for run in loaded],
               machine=per_run([run.get("hardware", "?") for run in loaded]),
               code=per_run([run_code(run) for run in loaded]))


def per_run(values: list[str]) -> str:
    """One value where every run shares it, else each with its run's number."""
    return values[0] if len(set(values)) == 1 else " / ".join(f"{v} (run {i})" for i, v in enumerate(values, 1))


if __name__ == "__main__":
    main()
