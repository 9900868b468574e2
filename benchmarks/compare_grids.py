"""Two runs of one grid (same seeds and requests, e.g. different ``--method-params``) side by
side: each method's distance to the same-seed retrain on both Df measures, per block and in
the mean over blocks.

    python benchmarks/compare_grids.py benchmarks/results/fidelity_settle0.json \\
        benchmarks/results/fidelity_settle6.json > benchmarks/results/fidelity_settle_compare.md

GD = deletion identification (GNNDelete's Df AUC: deleted vs retained training edges), lib =
the library Df AUROC (deleted edges vs non-edges), Dt gap in AUROC points; means over the
seeds of each block, retrain's seed range in brackets. The runs must hold the same blocks,
seeds and same-seed retrains (checked), so that only the methods differ.
"""
from __future__ import annotations

import os
import sys

from gnn_unlearn.bench import block_key, check_same_requests, is_retrain, read_grid_run

#: what the table reads of every block, of every method row and of the same-seed retrain row
MEASURES = ("dt_auroc", "df_auroc", "df_auc_gnndelete")
RETRAIN_MEASURES = MEASURES + ("df_auc_gnndelete_min", "df_auc_gnndelete_max")


def measures_problem(block: dict) -> str | None:
    """What a comparison needs beyond a grid block (:func:`~gnn_unlearn.bench.read_grid_run`):
    the seeds, every method's measures, and the same-seed retrain's with its range."""
    if not isinstance(block.get("seeds"), list):
        return "has no 'seeds' (a list of seeds): not a block of gnn-unlearn benchmark"
    for r in block["rows"]:
        keys = RETRAIN_MEASURES if r["model"] == "retrain" else () if (
            r["model"] == "original" or is_retrain(r["model"])) else MEASURES
        missing = [k for k in keys if k not in r]
        if missing:
            return (f"has no {missing[0]!r} in row {r['model']!r} (a run without GNNDelete's Df measure or "
                    "its retrain range cannot be compared)")
    return None


def load_run(path: str) -> dict:
    """The grid run in ``path``, checked by :func:`~gnn_unlearn.bench.read_grid_run` and
    :func:`measures_problem`; a block given twice in it is refused."""
    run = read_grid_run(path, measures_problem)
    keys = [block_key(b) for b in run["blocks"]]
    twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
    if twice is not None:
        raise ValueError(f"{path}: block {twice[:4]} is in the file twice")
    return run


def compare(first: dict, second: dict) -> str:
    a = {block_key(b): b for b in first["blocks"]}
    b = {block_key(x): x for x in second["blocks"]}
    if set(a) != set(b):
        raise ValueError(f"the runs hold different blocks: {sorted(set(a) ^ set(b), key=str)}")
    lines = ["| dataset | GNN | Df | where | method | retrain GD [min, max] | GD first | GD second | retrain lib | "
             "lib first | lib second | Dt gap first | Dt gap second |", "|---" * 13 + "|"]
    totals: dict[str, list[tuple[float, ...]]] = {}
    for key, block in a.items():
        other = b[key]
        check_same_requests(block, other)
        mine = {r["model"]: r for r in block["rows"]}
        theirs = {r["model"]: r for r in other["rows"]}
        rt = mine["retrain"]
        for name, x in mine.items():
            if name == "original" or name.startswith("retrain") or name not in theirs:
                continue
            y = theirs[name]
            totals.setdefault(name, []).append(tuple(abs(r[k] - rt[k]) for r in (x, y)
                                                     for k in ("df_auc_gnndelete", "df_auroc")))
            lines.append(f"| {block['dataset']} | {block['encoder']} | {block['df_size']:g} | {block['where']} | "
                         f"{name} | {rt['df_auc_gnndelete']:.3f} "
                         f"[{rt['df_auc_gnndelete_min']:.3f}, {rt['df_auc_gnndelete_max']:.3f}] | "
                         f"{x['df_auc_gnndelete']:.3f} | {y['df_auc_gnndelete']:.3f} | {rt['df_auroc']:.3f} | "
                         f"{x['df_auroc']:.3f} | {y['df_auroc']:.3f} | {100 * (x['dt_auroc'] - rt['dt_auroc']):+.1f} | "
                         f"{100 * (y['dt_auroc'] - rt['dt_auroc']):+.1f} |")
    if not totals:
        raise ValueError("the runs share no method rows to compare (only the original and the retrains)")
    lines.append("")
    for name, v in totals.items():
        n = len(v)
        mean = [sum(t[i] for t in v) / n for i in range(4)]
        lines.append(f"- {name}: mean |GD - retrain| {mean[0]:.3f} (first) -> {mean[2]:.3f} (second); mean "
                     f"|lib - retrain| {mean[1]:.3f} -> {mean[3]:.3f} ({n} blocks)")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit("usage: python benchmarks/compare_grids.py FIRST.json SECOND.json")
    if os.path.realpath(argv[0]) == os.path.realpath(argv[1]):
        sys.exit(f"compare_grids: FIRST and SECOND are the same file ({argv[0]}); give two runs of one grid")
    try:                                    # refuse unreadable runs and runs of different grids before printing
        runs = [load_run(path) for path in argv]
        table = compare(*runs)
    except ValueError as e:
        sys.exit(f"compare_grids: {e}")
    except KeyError as e:
        sys.exit(f"compare_grids: a block of the runs has no {e} (not a gnn-unlearn benchmark run?)")
    print("# Two runs of one grid side by side\n")
    print("Rendered by `python benchmarks/compare_grids.py " + " ".join(argv) + "` from:\n")
    for r in runs:
        print(f"- `{r['command']}`")
    print("\n" + __doc__.split("\n\n", 2)[2].strip() + "\n")
    print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
