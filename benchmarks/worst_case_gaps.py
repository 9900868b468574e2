"""Gap to retraining per deleted-set position, from a benchmark-grid JSON: is the worst-case
forget set (``--wheres ...,worst:<criterion>``) really worse for a method than random / in / out?

    gnn-unlearn benchmark --wheres in,out,random,worst:confidence,... --name worst_case_cora_grid
    python benchmarks/worst_case_gaps.py benchmarks/results/worst_case_cora_grid.json

For each method, position and Df measure, the table gives method minus retrain (means over
seeds; the std is of the method's column) and the absolute value of that gap, the distance
to the target of unlearning. Writes ``<stem>_gaps.{md,json}`` beside the input.
"""
from __future__ import annotations

import argparse
import json
import os

from gnn_unlearn.bench import read_grid_run
from gnn_unlearn.io import atomic_write_text

MEASURES = {"df_auroc": "Df AUROC (library)", "df_auc_gnndelete": "Df AUC (GNNDelete protocol)"}


def gaps(grid: dict) -> list[dict]:
    out = []
    for block in grid["blocks"]:
        rows = {r["model"]: r for r in block["rows"]}
        ref = rows["retrain"]
        for name, row in rows.items():
            if name in ("original", "retrain"):
                continue
            entry = {"dataset": block["dataset"], "encoder": block["encoder"], "where": block["where"],
                     "method": name, "n": row["n"]}
            for key in MEASURES:
                if key in row and key in ref:
                    entry[key + "_retrain"] = ref[key]
                    entry[key] = row[key]
                    entry[key + "_gap"] = row[key] - ref[key]
            out.append(entry)
    return out


def load_grid(path: str) -> dict:
    """The grid run in ``path``, checked by :func:`~gnn_unlearn.bench.read_grid_run`;
    ``ValueError`` too when no block holds a method row (nothing to compare)."""
    grid = read_grid_run(path)
    if not any(r["model"] not in ("original", "retrain") for b in grid["blocks"] for r in b["rows"]):
        raise ValueError(f"{path} holds no method rows (only the original and the retrain): nothing to compare")
    return grid


def markdown(entries: list[dict], source: str, command: str) -> str:
    lines = [f"Source: `{source}` (grid command: `{command}`)", "",
             "| method | where | " + " | ".join(f"{v}: retrain / method / gap" for v in MEASURES.values())
             + " |", "|---|---|" + "---|" * len(MEASURES)]
    for e in sorted(entries, key=lambda e: (e["method"], e["where"])):
        cells = [f"{e[k + '_retrain']:.3f} / {e[k]:.3f} / **{e[k + '_gap']:+.3f}**" if k in e else "-"
                 for k in MEASURES]
        lines.append(f"| {e['method']} | {e['where']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grid", help="a JSON written by `gnn-unlearn benchmark`")
    a = p.parse_args(argv)
    try:
        grid = load_grid(a.grid)
    except ValueError as e:
        p.error(str(e))
    entries = gaps(grid)
    stem = os.path.splitext(a.grid)[0] + "_gaps"
    atomic_write_text(stem + ".md", markdown(entries, os.path.relpath(a.grid), grid["command"]))
    atomic_write_text(stem + ".json", json.dumps({"source": os.path.relpath(a.grid), "command": grid["command"],
                                                  "gaps": entries}, indent=2))
    print(markdown(entries, os.path.relpath(a.grid), grid["command"]))


if __name__ == "__main__":
    main()
