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

import json
import sys

from gnn_unlearn.bench import block_key, check_same_requests


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
    runs = []
    for path in argv:
        try:
            with open(path) as f:
                runs.append(json.load(f))
        except (OSError, json.JSONDecodeError) as e:
            sys.exit(f"compare_grids: cannot read {path}: {e}")
    try:                                    # refuse runs of different grids before printing
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
