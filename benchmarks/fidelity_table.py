"""Indistinguishability from retraining: checks grid runs against issue 15's targets.

    python benchmarks/fidelity_table.py benchmarks/results/fidelity_cora_citeseer.json \\
        > benchmarks/results/fidelity_table.md

Reads the JSON written by `gnn-unlearn benchmark` (means, standard deviations, minima and
maxima over seeds) and, for every method row, sets it beside the retrained model of the same
block (dataset, GNN, Df size, position):

* Dt: test AUROC, gap to retrain in points; target: within 2 points.
* Df AUROC (library protocol: deleted edges vs sampled non-edges); target: within 0.03 of
  retrain's mean.
* Df AUC (GNNDelete protocol, deletion identification: deleted vs retained training edges);
  target: within 0.05 of retrain's mean or inside retrain's range over the seeds.
* speed-up over retraining (same run); target at 0.5 %: at least 10x.

Attack columns of the run (relearn, probe, LiRA, ...) are printed as they are, beside
retrain's value. Every number is a mean over the seeds of the run (with ``--seeds 2,3``: over
those seeds, from each seed's own rows, which runs keep as ``seed_rows``); nothing is typed in.

Runs with ``--retrain-seeds K`` hold K - 1 more retrained models per request ("retrain#k",
other training seeds; "retrain" shares the original's seed). Two more tallies then read them:

* *noise floor*: each retrain#k checked against the same targets as a method. An independent
  retrain of the same requests misses a target only by the chance of training: the share of
  blocks it passes is what the target's tolerance allows at this number of seeds and Df size.
* *pooled*: the targets against the mean of all K retrained models (the same tolerances; for
  deletion identification the range over all their seeds), a less noisy estimate of where
  retraining lands than the one same-seed retrain.
* *pooled noise floor* (K >= 3): each retrained model against the pool of the other K - 1, the
  same check as a method's against the pool: what an exact retrain of the same requests scores
  on the pooled targets, so a method's misses can be read against it (its pool is one model
  smaller than a method's, so it is a slightly harsher yardstick).
* *distance to the pooled retrains*: per method and measure, the mean over blocks of (method -
  pool) and of its absolute value, beside the same for each retrained model against the pool
  of the others. The signed mean shows a lean the verdicts hide (a method inside every
  tolerance can still sit above retraining in every block: under-forgetting).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from gnn_unlearn.bench import (GRID_BLOCK_FIELDS, block_key, check_same_requests, is_retrain, read_grid_run,
                               rendered_header, run_code, select_seeds)
from gnn_unlearn.options import check_distinct

MEASURES = ("dt_auroc", "df_auroc", "df_auc_gnndelete")
#: the name under which every retrained model, checked against the pool of the others, is reported
FLOOR = "retrain (each against the others)"


def pooled_retrain(rows: dict[str, dict]) -> dict | None:
    """The mean of every retrained model's means (retrain and retrain#k), and for deletion
    identification the min / max over all their seeds; ``None`` without retrain#k rows."""
    pool = [r for name, r in rows.items() if is_retrain(name)]
    if len(pool) < 2:
        return None
    out: dict = {"n_models": len(pool)}
    for k in MEASURES:
        vals = [r[k] for r in pool if isinstance(r.get(k), (int, float))]
        if vals:
            out[k] = sum(vals) / len(vals)
            out[k + "_models_min"], out[k + "_models_max"] = min(vals), max(vals)
    k = "df_auc_gnndelete"
    if all(k + "_min" in r for r in pool):
        out[k + "_min"] = min(r[k + "_min"] for r in pool)
        out[k + "_max"] = max(r[k + "_max"] for r in pool)
    return out


def verdicts(row: dict, ref: dict, size: float) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    if "dt_auroc" in row:
        out["dt"] = abs(row["dt_auroc"] - ref["dt_auroc"]) <= 0.02
    if "df_auroc" in row:
        out["lib"] = abs(row["df_auroc"] - ref["df_auroc"]) <= 0.03
    if "df_auc_gnndelete" in row:
        v, k = row["df_auc_gnndelete"], "df_auc_gnndelete"
        out["gd"] = abs(v - ref[k]) <= 0.05 or ref.get(k + "_min", v) <= v <= ref.get(k + "_max", v)
    out["speed"] = (row.get("speedup", 0) >= 10) if size <= 0.005 else None
    return out


def mark(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def table(blocks: list[dict]) -> str:
    attack_cols: dict[str, str] = {}
    for b in blocks:
        attack_cols.update(b.get("attack_columns") or {})
    head = ["dataset", "GNN", "Df", "where", "model", "n", "Dt (gap pts)", "Df library (retrain)",
            "Df GNNDelete (retrain [min, max])", *attack_cols.values(), "speed-up",
            "Dt ok", "lib ok", "GNNDelete ok", ">=10x at 0.5 %"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    tally: dict[str, list[bool]] = {}
    floor: dict[str, list[bool]] = {}
    pooled: dict[str, list[bool]] = {}
    pooled_lines: list[str] = []
    misses: list[str] = []
    pooled_floor: dict[str, list[bool]] = {}
    distances: dict[str, dict[str, list[float]]] = {}
    for b in blocks:
        rows = {r["model"]: r for r in b["rows"]}
        ref = rows.get("retrain")
        if ref is None:
            continue
        pool = pooled_retrain(rows)
        for name, v in leave_one_out(rows, b["df_size"]).items():
            for k, ok in v.items():
                pooled_floor.setdefault(f"{FLOOR} {k}", []).append(ok)
        for name, d in pooled_distances(rows).items():
            for k, xs in d.items():
                distances.setdefault(name, {}).setdefault(k, []).extend(xs)
        for name, r in rows.items():
            if name in ("original", "retrain"):
                v = {}
            else:
                v = verdicts(r, ref, b["df_size"])
                into = floor if is_retrain(name) else tally
                key = "retrain#k" if is_retrain(name) else name
                for k, ok in v.items():
                    if ok is not None and not (k == "speed" and is_retrain(name)):
                        into.setdefault(f"{key} {k}", []).append(ok)
                if pool is not None and not is_retrain(name):
                    pv = verdicts(r, pool, b["df_size"])
                    for k in ("dt", "lib", "gd"):
                        if pv.get(k) is not None:
                            pooled.setdefault(f"{name} {k}", []).append(pv[k])
                    pooled_lines.append(pooled_row(b, name, r, pool, pv))
                    if pv.get("lib") is False:
                        misses.append(miss_row(b, name, r, pool))
            gd = r.get("df_auc_gnndelete", float("nan"))
            cells = [*block_cells(b, name), str(r.get("n", "")),
                     f"{r['dt_auroc']:.3f} ({100 * (r['dt_auroc'] - ref['dt_auroc']):+.1f})",
                     f"{r.get('df_auroc', float('nan')):.3f} ({ref.get('df_auroc', float('nan')):.3f})",
                     f"{gd:.3f} ({ref['df_auc_gnndelete']:.3f} [{ref.get('df_auc_gnndelete_min', float('nan')):.3f}, "
                     f"{ref.get('df_auc_gnndelete_max', float('nan')):.3f}])" if "df_auc_gnndelete" in ref else "-"]
            for k in attack_cols:
                cells.append(f"{r[k]:.3f}" if isinstance(r.get(k), (int, float)) else "-")
            cells.append(f"{r['speedup']:.1f}x" if isinstance(r.get("speedup"), (int, float)) else "-")
            cells += [mark(v.get("dt")), mark(v.get("lib")), mark(v.get("gd")), mark(v.get("speed"))]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Targets met (blocks passing / blocks), against the same-seed retrain:")
    lines.append("")
    for key in sorted(tally):
        oks = tally[key]
        lines.append(f"- {key}: {sum(oks)} / {len(oks)}")
    if floor:
        lines += ["", "Noise floor: the independent retrains (retrain#k, every k pooled) against the same "
                  "targets (model-blocks passing / model-blocks):", ""]
        lines += [f"- {key}: {sum(oks)} / {len(oks)}" for key, oks in sorted(floor.items())]
    if pooled:
        head = ["dataset", "GNN", "Df", "where", "model", "Dt (pooled retrain)", "Df library (pooled "
                "retrain [models' min, max])", "Df GNNDelete (pooled retrain [min, max over seeds])",
                "Dt ok", "lib ok", "GNNDelete ok"]
        lines += ["", "Against the pooled retrains (the mean of all retrained models of the block):", "",
                  "| " + " | ".join(head) + " |", "|---" * len(head) + "|", *pooled_lines, "",
                  "Targets met against the pooled retrains (blocks passing / blocks):", ""]
        lines += [f"- {key}: {sum(oks)} / {len(oks)}" for key, oks in sorted(pooled.items())]
    if misses:
        lines += ["", "Why the library-Df misses against the pooled retrains: how each request-run "
                  "stopped, and the mean stop excess (the deleted set's distance above the targets the "
                  "method computed itself; positive: short of them):", "",
                  "| dataset | GNN | Df | where | model | library Df - pool | stop reasons (request-runs) "
                  "| stop excess |", "|---" * 8 + "|", *misses]
    if pooled_floor:
        lines += ["", "Pooled noise floor: every retrained model against the pool of the others "
                  "(model-blocks passing / model-blocks):", ""]
        lines += [f"- {key}: {sum(oks)} / {len(oks)}" for key, oks in sorted(pooled_floor.items())]
    if distances:
        lines += ["", "Distance to the pooled retrains, mean over blocks: signed (model - pool; "
                  f"positive library Df: under-forgotten) and absolute; '{FLOOR}': every retrained "
                  "model against the pool of the others (its signed mean is 0 by construction):", "",
                  "| model | model-blocks | library Df signed | library Df abs | identification signed | "
                  "identification abs | Dt signed (pts) | Dt abs (pts) |", "|---" * 8 + "|"]
        for name in sorted(distances, key=lambda n: (n == FLOOR, n)):
            d = distances[name]
            cells = [name, str(max(len(xs) for xs in d.values()))]
            for k, scale in (("df_auroc", 1), ("df_auc_gnndelete", 1), ("dt_auroc", 100)):
                xs = d.get(k, [])
                cells += ([f"{scale * sum(xs) / len(xs):+.3f}", f"{scale * sum(map(abs, xs)) / len(xs):.3f}"]
                          if xs else ["-", "-"])
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pooled_distances(rows: dict[str, dict]) -> dict[str, dict[str, list[float]]]:
    """Per method, ``[value - the pooled retrains' mean]`` on Dt, library Df and deletion
    identification; under ``FLOOR``, one such difference per retrained model against the pool
    of the others (their signed mean is 0 by construction; the absolute one is the floor).
    Empty with fewer than three retrained models (no pool of the others)."""
    names = [n for n in rows if is_retrain(n)]
    if len(names) < 3:
        return {}
    pool = pooled_retrain({n: rows[n] for n in names})
    out: dict[str, dict[str, list[float]]] = {}
    for name, r in rows.items():
        if name == "original":
            continue
        ref = pooled_retrain({n: rows[n] for n in names if n != name}) if is_retrain(name) else pool
        into = out.setdefault(FLOOR if is_retrain(name) else name, {})
        for k in MEASURES:
            if isinstance(r.get(k), (int, float)) and k in ref:
                into.setdefault(k, []).append(r[k] - ref[k])
    return out


def leave_one_out(rows: dict[str, dict], size: float) -> dict[str, dict[str, bool]]:
    """Per retrained model, its Dt / library Df / deletion-identification verdicts against the
    pool of the other retrained models of the block; empty with fewer than three of them."""
    names = [n for n in rows if is_retrain(n)]
    if len(names) < 3:
        return {}
    out = {}
    for name in names:
        pool = pooled_retrain({n: rows[n] for n in names if n != name})
        v = verdicts(rows[name], pool, size)
        out[name] = {k: v[k] for k in ("dt", "lib", "gd") if v.get(k) is not None}
    return out


def block_cells(b: dict, name: str) -> list[str]:
    """The leading cells of every table row: dataset, GNN, Df size, position, model."""
    return [b["dataset"], b["encoder"], f"{b['df_size']:g}", b["where"], name]


def stop_summary(b: dict, name: str) -> tuple[str, float | None]:
    """How ``name``'s request-runs of block ``b`` stopped ("reason xN, ...", most frequent first)
    and their mean stop excess (``None`` where the run recorded none)."""
    counts = Counter(s[name] for s in b.get("stop_reasons", []) if s.get(name))
    text = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"
    xs = [s[name] for s in b.get("stop_excess", []) if isinstance(s.get(name), (int, float))]
    return text, (sum(xs) / len(xs) if xs else None)


def miss_row(b: dict, name: str, r: dict, pool: dict) -> str:
    reasons, excess = stop_summary(b, name)
    cells = [*block_cells(b, name), f"{r['df_auroc'] - pool['df_auroc']:+.3f}", reasons,
             "-" if excess is None else f"{excess:+.3f}"]
    return "| " + " | ".join(cells) + " |"


def pooled_row(b: dict, name: str, r: dict, pool: dict, v: dict) -> str:
    nan = float("nan")
    k = "df_auc_gnndelete"
    cells = [*block_cells(b, name), f"{r['dt_auroc']:.3f} ({pool['dt_auroc']:.3f})",
             f"{r.get('df_auroc', nan):.3f} ({pool.get('df_auroc', nan):.3f} "
             f"[{pool.get('df_auroc_models_min', nan):.3f}, {pool.get('df_auroc_models_max', nan):.3f}])",
             f"{r.get(k, nan):.3f} ({pool.get(k, nan):.3f} [{pool.get(k + '_min', nan):.3f}, "
             f"{pool.get(k + '_max', nan):.3f}])",
             mark(v.get("dt")), mark(v.get("lib")), mark(v.get("gd"))]
    return "| " + " | ".join(cells) + " |"


def borrow_retrains(blocks: list[dict], donor: list[dict]) -> list[dict]:
    """``blocks`` with the extra retrains (retrain#k) of ``donor``'s matching blocks: runs of the
    same grid and seeds have the same originals, requests and same-seed retrains (checked:
    :func:`~gnn_unlearn.bench.check_same_requests`), so a run without ``--retrain-seeds`` can
    be read against another run's pooled retrains."""
    donors = {}
    for b in donor:
        if block_key(b) in donors:
            raise ValueError(f"block {block_key(b)} is in more than one of the runs the retrains come from")
        donors[block_key(b)] = b
    out = []
    for b in blocks:
        d = donors.get(block_key(b))
        if d is None:
            raise ValueError(f"block {block_key(b)} is not in the run the retrains come from")
        check_same_requests(b, d)
        mine = {r["model"] for r in b["rows"]}
        extra = [r for r in d["rows"] if r["model"].startswith("retrain#") and r["model"] not in mine]
        out.append({**b, "rows": b["rows"] + extra})
    return out


def only_seeds(blocks: list[dict], seeds: list[int]) -> list[dict]:
    """Each block cut to those of ``seeds`` it holds (:func:`~gnn_unlearn.bench.select_seeds`);
    blocks holding none are left out."""
    cut = [select_seeds(b, seeds) for b in blocks]
    return [b for b in cut if b is not None]


#: a grid block's fields and the seeds this table reads one by one
BLOCK_FIELDS = {**GRID_BLOCK_FIELDS, "seeds": (list, "a list of seeds")}


def targets_problem(block: dict) -> str | None:
    """What this table needs beyond a grid block (:func:`~gnn_unlearn.bench.read_grid_run`):
    Dt and library Df AUROC in every row, and deletion identification in the "retrain" row
    wherever another row has it."""
    for r in block["rows"]:
        missing = [k for k in ("dt_auroc", "df_auroc") if k not in r]
        if missing:
            return f"has no {missing} in row {r['model']!r}"
    ref = next(r for r in block["rows"] if r["model"] == "retrain")
    if "df_auc_gnndelete" not in ref and any("df_auc_gnndelete" in r for r in block["rows"]):
        return "has deletion identification (df_auc_gnndelete) in other rows but not in the 'retrain' row"
    return None


def read_run(path: str) -> dict:
    """The grid run in ``path``, checked by :func:`~gnn_unlearn.bench.read_grid_run` and
    :func:`targets_problem`."""
    return read_grid_run(path, targets_problem, BLOCK_FIELDS)


def check_args(a: argparse.Namespace) -> tuple[list[dict], list[str], set[str], set[str]]:
    """Refuses, with what was wrong (``ValueError``), before anything is printed: a run or a run
    of ``--retrains-from`` that :func:`read_run` refuses; a block in two of the runs (its rows
    would be tallied twice); ``--wheres`` and ``--seeds`` with an empty or repeated entry, or an
    entry that no block of the runs holds (``--seeds``: whole numbers >= 0); runs whose
    retrains cannot be borrowed (:func:`borrow_retrains`). Returns the blocks to read, with
    the commands, hardware and code of the runs."""
    seeds = None
    if a.seeds is not None:
        entries = a.seeds.split(",")
        if not all(e.strip().isdecimal() for e in entries):
            raise ValueError(f"--seeds takes comma-separated integers >= 0, e.g. 2 or 2,3; got {a.seeds!r}")
        seeds = [int(e) for e in entries]
        check_distinct("--seeds", seeds)
    wanted = None
    if a.wheres is not None:
        wanted = a.wheres.split(",")
        if "" in wanted:
            raise ValueError(f"--wheres {a.wheres!r} has an empty entry; give comma-separated positions, e.g. in,out")
        check_distinct("--wheres", wanted)
    blocks, commands, hardware, codes, seen = [], [], set(), set(), {}
    for path in a.runs:
        run = read_run(path)
        for b in run["blocks"]:
            key = block_key(b)
            if key in seen:
                raise ValueError(f"block {key[:4]} is in both {seen[key]} and {path}; give each block once (join "
                                 "runs of one configuration with benchmarks/merge_grid.py; read another run's "
                                 "extra retrains with --retrains-from)")
            seen[key] = path
        blocks += run["blocks"]
        commands.append(run["command"])
        hardware.add(run.get("hardware", "?"))
        codes.add(run_code(run))
    if wanted is not None:
        positions = sorted({b["where"] for b in blocks})
        absent = [w for w in wanted if w not in positions]
        if absent:
            raise ValueError(f"--wheres: no block of the runs is at {', '.join(absent)} (their positions: "
                             f"{', '.join(positions)})")
        blocks = [b for b in blocks if b["where"] in wanted]
    if seeds is not None:
        held = sorted({s for b in blocks for s in b["seeds"]})
        absent = [s for s in seeds if s not in held]
        if absent:
            raise ValueError(f"--seeds: no block of the runs holds seeds {absent} (they hold {held})")
        blocks = only_seeds(blocks, seeds)
    if a.retrains_from:
        donors = [read_run(path) for path in a.retrains_from]
        donor_blocks = [b for d in donors for b in d["blocks"]]
        if seeds is not None:
            donor_blocks = only_seeds(donor_blocks, seeds)
        blocks = borrow_retrains(blocks, donor_blocks)
        commands += [d["command"] + " (its extra retrains only)" for d in donors]
    return blocks, commands, hardware, codes


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="JSON files written by gnn-unlearn benchmark")
    p.add_argument("--retrains-from", nargs="+", default=None, help="runs of the same grids and "
                   "seeds with --retrain-seeds K: their extra retrains are read as if these runs had them "
                   "(each block from the run that holds it)")
    p.add_argument("--wheres", default=None, help="only the blocks of these deleted-set positions "
                   "(comma-separated, e.g. in,out)")
    p.add_argument("--seeds", default=None, help="only these seeds (comma-separated, e.g. 2 or 2,3): "
                   "every block, and the runs of --retrains-from, read from the seeds' own rows; "
                   "blocks holding none of them are left out")
    a = p.parse_args(argv)
    try:
        blocks, commands, hardware, codes = check_args(a)
    except ValueError as e:
        p.error(str(e))
    text = table(blocks)
    print(rendered_header("Indistinguishability from retraining (issue 15 targets)",
                          "benchmarks/fidelity_table.py", argv, commands, hardware, codes))
    print(__doc__.split("\n\n", 2)[2].strip() + "\n")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
