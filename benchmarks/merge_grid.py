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

from gnn_unlearn.bench import (GRID_BLOCK_FIELDS, keep_models, merge_blocks, read_grid_run, run_code, user_command,
                               write_grid)
from gnn_unlearn.options import check_distinct, check_output_folder, check_results_name

#: a grid block's fields and the seeds a merge joins
BLOCK_FIELDS = {**GRID_BLOCK_FIELDS, "seeds": (list, "a list of seeds")}


def pooling_problem(block: dict) -> str | None:
    """What a merge needs beyond a grid block (:func:`~gnn_unlearn.bench.read_grid_run`): every
    column with a standard deviation (``<col>_std``) with its mean, minimum and maximum, from
    which the pooled ones are computed."""
    for r in block["rows"]:
        spread = [k.removesuffix("_std") for k in r if k.endswith("_std")]
        bare = [k for k in spread if not all(k + s in r for s in ("", "_min", "_max"))]
        if bare:
            more = f" (and {len(bare) - 1} more columns)" if len(bare) > 1 else ""
            return (f"has a standard deviation of {bare[0]!r}{more} without its mean, minimum and maximum in "
                    f"row {r['model']!r}; a run written before runs recorded them cannot be pooled exactly")
    return None


def read_run(path: str) -> dict:
    """The grid run in ``path``, checked by :func:`~gnn_unlearn.bench.read_grid_run` and
    :func:`pooling_problem`."""
    return read_grid_run(path, pooling_problem, BLOCK_FIELDS)


def check_args(a: argparse.Namespace) -> list[dict]:
    """Refuses, with what was wrong (``ValueError``), before anything is merged or written:
    fewer than two runs, a run that :func:`read_run` refuses, a ``--name`` that is empty or a
    path (the folder is ``--output``), an ``--output`` that is a file, and ``--models`` that
    names no method or a method twice. Returns the runs, loaded."""
    if len(a.runs) < 2:
        raise ValueError("give at least two runs to merge")
    check_results_name(a.name, folders=False)
    check_output_folder(a.output)
    if a.models is not None:
        models = [m.strip() for m in a.models.split(",") if m.strip()]
        if not models:
            raise ValueError("--models names no method")
        check_distinct("--models", models)
    return [read_run(path) for path in a.runs]


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
    try:
        loaded = check_args(a)
        runs = [run["blocks"] for run in loaded]
        if a.models is not None:
            models = [m.strip() for m in a.models.split(",") if m.strip()]
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
