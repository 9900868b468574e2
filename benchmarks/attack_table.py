"""Issue 15's table: every request block of several attack runs, one row per model, each
method's measures set beside the spread of the block's retrained models.

    python benchmarks/attack_table.py benchmarks/results/fidelity_attacks_cora_gin_025.json ... \\
        --models gnndelete+ref,d2dgn+ref > benchmarks/results/fidelity_attacks_ref_table.md

Reads the JSON files written by ``gnn-unlearn benchmark --attacks ... --retrain-seeds K``
(K >= 3). A block (dataset, GNN, Df size, position) holds the seed means of the original, the
retrain sharing the original's seed ("retrain"), K retrains of other seeds ("retrain#k") and
the methods. Nothing is typed in; every number is read from the files.

*Inside the retrain spread* is asked per measure: is the model's seed mean inside
:math:`[\\min, \\max]` of the seed means of the block's retrained models (the pool)? For a
measure defined against "retrain" itself (CKA vs retrain) the pool is the retrain#k only;
otherwise it is every retrained model. The relearning and probe gaps are a model's value minus
the same-seed retrain's, relearned or probed the same way, per seed (so "retrain" itself is at
0): inside their range is inside the range of the relearned (probed) values themselves.

A draw exchangeable with n pooled models lands inside their range with probability
(n - 1) / (n + 1) (with K = 4: 4 / 6 against five models). The *noise floor* measures it: each
retrained model checked against the pool of the others (one model fewer, so a slightly harsher
yardstick). A method indistinguishable from retraining is inside about as often as the floor;
the original model, which still holds the deleted set, shows what the attack can see. A method
starts from the original, so on a measure the deletion barely moves (Dt) it inherits the
original's place: read its verdict beside the original's.
"""
from __future__ import annotations

import argparse
import math
import sys

from gnn_unlearn.bench import block_key, is_retrain, read_grid_run, rendered_header, run_code
from gnn_unlearn.options import check_distinct

#: measure -> header; the measures read for "inside the retrain spread"
MEASURES = {
    "dt_auroc": "Dt AUROC",
    "df_auroc": "Df AUROC (library)",
    "df_auc_gnndelete": "Df AUC (GNNDelete)",
    "lira_tpr_1": "LiRA TPR@1%FPR",
    "relearn_id_gap": "relearn id gap",
    "probe_auc_gap": "probe AUC gap",
    "cka_retrain": "CKA vs retrain",
    "df_shift": "Df shift (mean z)",
}
#: measures defined against the same-seed retrain: their pool leaves it out
RELATIVE = frozenset({"cka_retrain"})
#: the shown columns: key -> header (the p-value shown, not tallied)
SHOWN = {
    "dt_auroc": "Dt AUROC", "df_auroc": "Df AUROC (library)", "df_auc_gnndelete": "Df AUC (GNNDelete)",
    "lira_tpr_1": "LiRA TPR@1%FPR", "relearn_id_gap": "relearn id gap", "probe_auc_gap": "probe AUC gap",
    "cka_retrain": "CKA vs retrain", "df_shift": "Df shift (z)", "df_shift_p": "Df shift p",
}


def _value(row: dict, key: str) -> float | None:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and not math.isnan(v) else None


def pool_values(rows: dict[str, dict], key: str, leave_out: str | None = None) -> list[float]:
    """The seed means of ``key`` over the block's retrained models (for a relative measure the
    retrain#k only), without ``leave_out``."""
    names = [n for n in rows if is_retrain(n) and n != leave_out
             and not (key in RELATIVE and n == "retrain")]
    return [v for v in (_value(rows[n], key) for n in names) if v is not None]


def inside(value: float | None, pool: list[float]) -> bool | None:
    """Whether ``value`` lies in ``[min(pool), max(pool)]``; ``None`` if either is missing or
    the pool has fewer than two models."""
    if value is None or len(pool) < 2:
        return None
    return min(pool) - 1e-12 <= value <= max(pool) + 1e-12


def verdicts(rows: dict[str, dict], name: str) -> dict[str, bool]:
    """Per measure, whether model ``name`` is inside the retrain spread of its block (a
    retrained model: inside the spread of the others)."""
    leave_out = name if is_retrain(name) else None
    out = {}
    for key in MEASURES:
        if key in RELATIVE and name == "retrain":
            continue
        ok = inside(_value(rows[name], key), pool_values(rows, key, leave_out))
        if ok is not None:
            out[key] = ok
    return out


def spread_problem(block: dict) -> str | None:
    """What this table needs beyond a grid block (:func:`~gnn_unlearn.bench.read_grid_run`):
    at least 2 retrain#k rows, the spread every attack is read against."""
    if sum(r["model"].startswith("retrain#") for r in block["rows"]) < 2:
        return "has fewer than 2 retrain#k rows; run with --retrain-seeds K (K >= 3)"
    return None


def load_blocks(paths: list[str]) -> tuple[list[dict], list[str], set[str], set[str]]:
    """Every block of the files (each read by :func:`~gnn_unlearn.bench.read_grid_run`), with the commands, hardware
    and code that made them; refuses a block found twice (merge seeds of one configuration
    first with merge_grid.py)."""
    blocks, commands, hardware, codes, seen = [], [], set(), set(), {}
    for path in paths:
        run = read_grid_run(path, spread_problem)
        for b in run["blocks"]:
            key = block_key(b)
            if key in seen:
                raise ValueError(f"block {key[:4]} is in both {seen[key]} and {path}; join runs of one "
                                 f"configuration with benchmarks/merge_grid.py and give one file")
            seen[key] = path
            blocks.append({**b, "source": path})
        commands.append(run["command"])
        hardware.add(run.get("hardware", "?"))
        codes.add(run_code(run))
    return blocks, commands, hardware, codes


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _cell(rows: dict[str, dict], name: str, key: str, v: dict[str, bool]) -> str:
    text = _fmt(_value(rows[name], key))
    return f"**{text}**" if v.get(key) is False else text


def _pool_cell(rows: dict[str, dict], key: str) -> str:
    pool = pool_values(rows, key) if key in MEASURES else []
    if not pool:
        return "-"
    return f"[{min(pool):.3f}, {max(pool):.3f}]"


def table(blocks: list[dict], models: list[str] | None) -> str:
    """The markdown: the main table (retrains as one range row), then the tallies per position."""
    head = ["dataset", "GNN", "Df", "where", "model", "n", *SHOWN.values(), "inside spread",
            "seconds", "speed-up"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    tally: dict[tuple[str, str], dict[str, list[bool]]] = {}
    for b in blocks:
        rows = {r["model"]: r for r in b["rows"]}
        lead = [b["dataset"], b["encoder"], f"{b['df_size']:g}", b["where"]]
        n_pool = len([n for n in rows if is_retrain(n)])
        lines.append("| " + " | ".join(lead + [f"retrains ({n_pool} models: range)", str(rows["retrain"]["n"])]
                                       + [_pool_cell(rows, k) for k in SHOWN] + ["-", "-", "-"]) + " |")
        where = "worst-case" if b["where"].startswith("worst") else "in / out / random"
        for name in rows:
            if not is_retrain(name) and name != "original" and models and name not in models:
                continue
            v = verdicts(rows, name)
            group = "exact retrain (noise floor)" if is_retrain(name) else name
            for key, ok in v.items():
                tally.setdefault((where, group), {}).setdefault(key, []).append(ok)
            if is_retrain(name):
                continue
            r = rows[name]
            seconds = _value(r, "seconds")
            speed = _value(r, "speedup")
            lines.append("| " + " | ".join(
                lead + [name, str(r["n"])] + [_cell(rows, name, k, v) for k in SHOWN]
                + [f"{sum(v.values())} / {len(v)}", _fmt(seconds, 2), "-" if speed is None else f"{speed:.1f}x"])
                + " |")
    return "\n".join(lines) + "\n\n" + tallies(tally)


def tallies(tally: dict[tuple[str, str], dict[str, list[bool]]]) -> str:
    """Per position group, per model: blocks inside the retrain spread / blocks, per measure."""
    out = []
    for where in sorted({w for w, _ in tally}):
        out += [f"Inside the retrain spread, {where} blocks (model-blocks inside / model-blocks):", "",
                "| model | " + " | ".join(MEASURES.values()) + " |", "|---" * (len(MEASURES) + 1) + "|"]
        groups = sorted((g for w, g in tally if w == where),
                        key=lambda g: (g != "original", g.startswith("exact"), g))
        for g in groups:
            t = tally[(where, g)]
            out.append(f"| {g} | " + " | ".join(f"{sum(t[k])} / {len(t[k])}" if k in t else "-"
                                                for k in MEASURES) + " |")
        out.append("")
    return "\n".join(out)


def check_args(a: argparse.Namespace) -> tuple[list[dict], list[str] | None, list[str], set[str], set[str]]:
    """Refuses, with what was wrong (``ValueError``), before anything is printed: a run that
    :func:`load_blocks` refuses, and ``--models`` with an empty entry, a name twice, the
    original or a retrained model (always shown) or a method in none of the runs. Returns the
    blocks, the methods to show (``None``: all), and the runs' commands, hardware and code."""
    blocks, commands, hardware, codes = load_blocks(a.runs)
    models = None
    if a.models is not None:
        models = a.models.split(",")
        if "" in models:
            raise ValueError(f"--models {a.models!r} has an empty entry; give comma-separated method names, "
                             "e.g. gnndelete+ref,d2dgn+ref (leave it out to show every method)")
        check_distinct("--models", models)
        shown = [m for m in models if m == "original" or is_retrain(m)]
        if shown:
            raise ValueError(f"--models {shown}: the original and the retrained models are always shown; "
                             "name the methods to show")
        present = {r["model"] for b in blocks for r in b["rows"]}
        missing = [m for m in models if m not in present]
        if missing:
            raise ValueError(f"--models {missing} are in none of the runs (their models: {sorted(present)})")
    return blocks, models, commands, hardware, codes


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="JSON files written by gnn-unlearn benchmark with --attacks "
                   "and --retrain-seeds K (K >= 3)")
    p.add_argument("--models", default=None, help="only these method rows (comma-separated; the "
                   "original and the retrains are always read)")
    a = p.parse_args(argv)
    try:
        blocks, models, commands, hardware, codes = check_args(a)
    except ValueError as e:
        p.error(str(e))
    blocks.sort(key=lambda b: (b["dataset"], b["encoder"], b["df_size"], b["where"]))
    text = table(blocks, models)
    print(rendered_header("Fidelity under attack: every block against the spread of its retrained models",
                          "benchmarks/attack_table.py", argv, commands, hardware, codes))
    print(__doc__.split("\n\n", 2)[2].strip() + "\n")
    print("Bold: outside the retrain spread. Seconds and speed-up: the method's, against the same-seed "
          "retrain of the same run (the held-out reference's one-off cost is not in them).\n")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
