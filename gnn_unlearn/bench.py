"""The benchmark grid behind ``gnn-unlearn benchmark`` and ``benchmarks/grid.py``."""
from __future__ import annotations

import itertools
import json
import math
import os
import shlex
import sys
import time
from typing import Any, Callable, Sequence

from torch_geometric.transforms import NormalizeFeatures

from gnn_unlearn.data.samplers import REGIONS
from gnn_unlearn.experiment import (aggregate, aggregate_rows, code_version, hardware, parse_methods, prepare_link,
                                    run_edge_request)
from gnn_unlearn.methods import HeldOutReference, get
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.metrics.attacks import build_attacks
from gnn_unlearn.metrics.forget_sets import GATED_ENCODERS
from gnn_unlearn.metrics.link import DF_PROTOCOLS
from gnn_unlearn.metrics.report import LINK_COLUMNS, check_retrain_seeds
from gnn_unlearn.models.encoders import ENCODERS
from gnn_unlearn.options import check_distinct, check_output_folder, deleted_set_positions, load_datasets
from gnn_unlearn.training import TrainConfig
from gnn_unlearn.utils import resolve_device

TABLE_COLUMNS = ("dt_auroc", "df_auroc", "df_auc_gnndelete", "mi_ratio", "mia_df_member", "mia_auc",
                 "seconds", "speedup")


def user_command(argv: Sequence[str] | None = None) -> str:
    """The command as a user types it: the program's name, not the path it ran from."""
    argv = list(sys.argv if argv is None else argv)
    prog = os.path.basename(argv[0]) if argv else "gnn-unlearn"
    if prog in ("__main__.py", "-m", "-c") or argv and argv[0].replace(os.sep, "/").endswith("gnn_unlearn/cli.py"):
        prog = "gnn-unlearn"                         # python -m gnn_unlearn.cli
    elif prog.endswith(".py"):
        rel = os.path.relpath(os.path.abspath(argv[0]))
        prog = "python " + (rel if not rel.startswith("..") else prog)
    return " ".join([prog, *map(shlex.quote, argv[1:])])


def _cell(row: dict, key: str) -> str:
    if key not in row:
        return "-"
    fmt = "{:.1f}x ± {:.1f}" if key == "speedup" else "{:.2f} ± {:.2f}" if key == "seconds" else "{:.3f} ± {:.3f}"
    return fmt.format(row[key], row.get(key + "_std", 0.0))


def grid_markdown(blocks: list[dict]) -> str:
    extra: dict[str, str] = {}
    for b in blocks:
        extra.update(b.get("attack_columns") or {})
    names = {**{k: LINK_COLUMNS[k] for k in TABLE_COLUMNS if k not in ("seconds", "speedup")}, **extra,
             "seconds": LINK_COLUMNS["seconds"], "speedup": LINK_COLUMNS["speedup"]}
    keys = list(names)
    head = "| dataset | GNN | Df | where (region) | model | " + " | ".join(names.values()) + " |"
    lines = [head, "|---" * (5 + len(keys)) + "|"]
    for b in blocks:
        for row in b["rows"]:
            lines.append(f"| {b['dataset']} | {b['encoder']} | {b['df_size']:g} | "
                         f"{b['where']} ({b.get('region', 'library')}) | "
                         f"{row['model']} (n={row['n']}) | " + " | ".join(_cell(row, k) for k in keys) + " |")
    return "\n".join(lines)


def check_grid(datasets: Sequence[str], encoders: Sequence[str], sizes: Sequence[float],
               wheres: Sequence[str], seeds: Sequence[int], device: str, output: str, epochs: int,
               region: str, root: str | None = None, mirror: str | None = None) -> None:
    """Refuses, before any training, the grid options :func:`run_grid` would otherwise find
    only after training earlier blocks, or never: unknown or repeated encoders, positions
    (and ``worst:influence`` with an encoder whose messages it cannot gate) and datasets
    (each is loaded once here, so missing files are found now), sizes outside (0, 1) or
    repeated (a repeated size or position pools its block's seeds twice), seeds that are not
    distinct non-negative ints, an unknown region, a bad ``epochs`` or ``device``, and an
    ``output`` that is a file."""
    for encoder in encoders:
        if encoder not in ENCODERS:
            raise ValueError(f"encoders: unknown encoder {encoder!r}; choose from {', '.join(ENCODERS)}")
    check_distinct("encoders", encoders, encoders)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not 0 < size < 1:
            raise ValueError(f"sizes: {size!r} is not a fraction of the training edges in (0, 1), e.g. 0.025")
    check_distinct("sizes", [f"{s:g}" for s in sizes], list(sizes))
    positions = deleted_set_positions(wheres, "wheres")
    ungated = [e for e in encoders if e not in GATED_ENCODERS]
    if ("worst", "influence") in positions and ungated:
        raise ValueError(f"wheres: worst:influence gates the messages of {', '.join(GATED_ENCODERS)} encoders "
                         f"only; run {', '.join(ungated)} with another position or criterion")
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative ints, at least one, got {list(seeds)!r}")
    check_distinct("seeds", list(seeds), list(seeds))
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {', '.join(REGIONS)}")
    try:
        TrainConfig(epochs=epochs)
    except ValueError as e:
        raise ValueError(f"epochs: {e}") from None
    resolve_device(device)
    check_output_folder(output, "output")
    load_datasets(datasets, "datasets", root, mirror)       # refuses unknown, repeated or missing datasets


def run_grid(datasets: Sequence[str], encoders: Sequence[str], methods: Sequence[str],
             sizes: Sequence[float], wheres: Sequence[str], seeds: Sequence[int],
             device: str = "cpu", output: str = "benchmarks/results", root: str | None = None,
             mirror: str | None = None, epochs: int = 500, name: str = "grid",
             region: str = "library", normalize_features: bool = False,
             attacks: Sequence[str] = (), attack_params: dict | None = None,
             retrain_seeds: int = 1, reference_folds: int = 2,
             method_params: dict[str, dict[str, Any]] | None = None, mia: bool = True) -> list[dict]:
    """Runs every combination, writes ``<output>/<name>.{md,json}`` (mean ± std over seeds)
    after every block.

    The original model of a (dataset, encoder, seed) is trained once and shared by every
    deleted-set size and position, as in GNNDelete's protocol; so is its held-out reference
    (``reference_folds`` folds) when a method is named ``<method>+ref``. ``method_params``:
    hyperparameters per registered method name (both ``m`` and ``m+ref`` rows take them),
    recorded in every block. ``mia=False`` skips the two membership-inference attacks (their
    columns stay empty, and every block records ``"mia": false``).
    """
    if not isinstance(mia, bool):
        raise ValueError(f"mia must be True or False, got {mia!r}")
    check_grid(datasets, encoders, sizes, wheres, seeds, device, output, epochs, region, root, mirror)
    build_attacks(attacks, "link", attack_params)          # refuse bad attack options before any work
    parsed = parse_methods(methods)                         # and unknown methods
    with_reference = any(ref for _, ref in parsed)
    method_params = check_method_params(method_params, [base for base, _ in parsed])
    check_retrain_seeds(retrain_seeds)
    if isinstance(reference_folds, bool) or not isinstance(reference_folds, int) or reference_folds < 2:
        raise ValueError(f"reference_folds must be an int >= 2, got {reference_folds!r}")
    command = user_command()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    code = code_version()
    log = lambda s: print("  " + s, file=sys.stderr)
    reports: dict[tuple, list] = {}
    blocks: list[dict] = []
    for ds, enc in itertools.product(datasets, encoders):
        for seed in seeds:
            options = {"transform": NormalizeFeatures()} if normalize_features else None
            data, model, info = prepare_link(ds, enc, seed, device, root, mirror,
                                             TrainConfig(seed=seed, epochs=epochs), options, log=log)
            reference, one_off = None, {}
            if with_reference:          # once per original model, shared by all its requests
                reference = HeldOutReference.fit(model, data, seed=seed, device=device, folds=reference_folds)
                one_off = {"fit reference (one-off)": reference.seconds}
                log(f"held-out reference fit in {reference.seconds:.1f}s")
            for size, where in itertools.product(sizes, wheres):
                rep = run_edge_request(data, model, size, where, methods, seed, device, log=log,
                                       region=region, attacks=attacks, attack_params=attack_params,
                                       retrain_seeds=retrain_seeds, reference=reference,
                                       method_options=method_params, mia=mia)
                rep.meta["steps"] = {"train original": info["train original"], **one_off, **rep.meta["steps"]}
                reports.setdefault((ds, enc, size, where), []).append(rep)
                print(f"{ds} {enc} {size:g} {where} seed {seed}: "
                      + ", ".join(f"{r['model']} Dt {r['dt_auroc']:.3f} Df {r['df_auroc']:.3f}" for r in rep.rows),
                      file=sys.stderr)
                # written after every block, so that a stopped run keeps what it finished
                blocks = _grid_blocks(reports, region, normalize_features, with_reference,
                                      reference_folds, method_params, mia)
                write_grid(blocks, output, name, command, started, code=code)
    return blocks


def _grid_blocks(reports: dict[tuple, list], region: str, normalize_features: bool, with_reference: bool,
                 reference_folds: int, method_params: dict, mia: bool) -> list[dict]:
    """The grid's blocks so far: per (dataset, encoder, Df size, position), its seeds' reports
    aggregated (mean ± std per model and column), each seed's own rows (``seed_rows``, in the
    order of ``seeds``; NaN written as ``null``) and what each seed logged."""
    return [{"dataset": k[0], "encoder": k[1], "df_size": k[2], "where": k[3], "region": region,
             "features": "row-normalised" if normalize_features else "as loaded",
             "seeds": [r.meta["seed"] for r in v], "rows": aggregate(v),
             "seed_rows": [r.to_dict()["rows"] for r in v],
             "attack_columns": {**v[0].attack_columns, **_numeric(v[0].spread_columns)},
             "attack_notes": {**v[0].meta.get("attack_notes", {}), **_spread_note(v[0])},
             "steps": [r.meta["steps"] for r in v],
             **({"reference_folds": reference_folds} if with_reference else {}),
             **({"method_params": method_params} if method_params else {}),
             **({} if mia else {"mia": False}),
             "stop_reasons": [r.meta["stop_reasons"] for r in v],
             "stop_excess": [r.meta["stop_excess"] for r in v]}
             for k, v in reports.items()]


def check_method_params(params: Any, bases: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``params`` (method name -> hyperparameters) checked against the grid's methods and each
    method's own rules (by building it), before any work; ``{}`` for ``None``."""
    if params is None:
        return {}
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise ValueError('method parameters must map a method name to its hyperparameters, e.g. '
                         '{"gnndelete": {"settle": 6}}')
    unknown = sorted(set(params) - set(bases))
    if unknown:
        raise ValueError(f"method parameters for {unknown}, which this run does not run (its methods: "
                         f"{sorted(set(bases))}; name the method without +ref)")
    for base, values in params.items():
        if "reference" in values:
            raise ValueError(f"{base}: pass the held-out reference with the +ref row name, not as a parameter")
        get(base, **values)
    return {k: dict(v) for k, v in params.items()}


def _numeric(columns: dict[str, str]) -> dict[str, str]:
    """The columns that average over seeds (the list of measures outside the spread does not)."""
    return {k: v for k, v in columns.items() if k != "outside_spread"}


def _spread_note(report) -> dict[str, str]:
    spread = report.meta.get("retrain_spread")
    if not spread:
        return {}
    return {"retrain spread": f"{len(spread['seeds'])} retrains per run with seeds other than the original's "
                              "(rows retrain#1, retrain#2, ...; the retrain row, which shares the original's "
                              "seed, is tested like a method). " + spread["note"]}


def _folds(blocks: list[dict]) -> str:
    folds = sorted({b.get("reference_folds", 2) for b in blocks})
    return " / ".join(f"{k} folds" + (": two models, each on one half" if k == 2 else "") for k in folds)


def _reference_note(blocks: list[dict]) -> str:
    """The one-off cost of the held-out references (``+ref`` rows), which their seconds omit."""
    fits = [st["fit reference (one-off)"] for b in blocks for st in b["steps"] if "fit reference (one-off)" in st]
    if not fits:
        return ""
    return (f"Rows `<method>+ref` ran with a held-out reference (`HeldOutReference`: two models trained "
            f"once per original on complementary halves of the training edges). Its fit took "
            f"{min(fits):.1f}-{max(fits):.1f} s per original model, once for all of that model's requests; "
            "the seconds and speed-ups of the rows are per request and leave it out.\n\n")


def _protocols() -> dict[str, str]:
    return {**{f"df:{k}": v for k, v in DF_PROTOCOLS.items()}, **{f"region:{k}": v for k, v in REGIONS.items()}}


def _protocol_notes() -> str:
    return ("Protocols (each column is measured one way only):\n\n"
            + "".join(f"- {key}: {text}\n" for key, text in _protocols().items()))


def _attack_notes(blocks: list[dict]) -> str:
    notes: dict[str, str] = {}
    for b in blocks:
        notes.update(b.get("attack_notes") or {})
    return ("\nAttacks:\n\n" + "".join(f"- {k}: {v}\n" for k, v in notes.items())) if notes else ""


#: the measures a block's same-seed retrain row must agree on for two runs to hold the same requests
REQUEST_FINGERPRINT = ("dt_auroc", "df_auroc", "df_auc_gnndelete")
#: how far those means may differ and still be one request's: a merged run's means are pooled from
#: its parts' means (CiteSeer GCN 2.5 %: 2e-7 apart); retrains of the same seeds trained at
#: another commit were measured 2e-4 to 0.014 apart, another request's further
FINGERPRINT_TOLERANCE = 1e-6


def load_grid_run(path: str) -> dict:
    """A results file written by ``gnn-unlearn benchmark`` (or merged by ``merge_grid.py``);
    ``ValueError`` naming the file if it holds no ``command`` and ``blocks``."""
    with open(path) as f:
        run = json.load(f)
    if not isinstance(run, dict) or not isinstance(run.get("blocks"), list) or "command" not in run:
        raise ValueError(f"{path} is not a results file of gnn-unlearn benchmark (no command and blocks)")
    return run


#: what every block of a grid run holds, with its type and what it is
GRID_BLOCK_FIELDS = {"dataset": (str, "a name"), "encoder": (str, "a name"), "df_size": ((int, float), "a number"),
                     "where": (str, "a name"), "rows": (list, "a list of rows")}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def grid_block_problem(block: Any, fields: dict[str, tuple] = GRID_BLOCK_FIELDS) -> str | None:
    """What ``block`` lacks of a grid block, or ``None``: the ``fields`` (default
    :data:`GRID_BLOCK_FIELDS`) of their types; rows that each name a distinct model and hold its
    number of seeds ``n`` and numbers only; one same-seed ``retrain`` row."""
    if not isinstance(block, dict):
        return "is not an object"
    for key, (kind, what) in fields.items():
        if isinstance(block.get(key), bool) or not isinstance(block.get(key), kind):
            return f"has no {key!r} ({what}): not a block of gnn-unlearn benchmark"
    for r in block["rows"]:
        if not isinstance(r, dict) or not isinstance(r.get("model"), str):
            return "has a row without a model name"
        if not isinstance(r.get("n"), int) or isinstance(r["n"], bool):
            return f"has no number of seeds 'n' in row {r['model']!r}"
        odd = [k for k, v in r.items() if k != "model" and not _is_number(v)]
        if odd:
            return f"holds values that are not numbers in row {r['model']!r}: {odd}"
    names = [r["model"] for r in block["rows"]]
    if len(set(names)) < len(names):
        return f"has two rows for one model: {names}"
    if "retrain" not in names:
        return "has no 'retrain' row (every measure is read against it)"
    return None


def read_grid_run(path: str, check_block: Callable[[dict], str | None] | None = None,
                  fields: dict[str, tuple] = GRID_BLOCK_FIELDS) -> dict:
    """The grid run in ``path`` (:func:`load_grid_run`), every block checked: ``ValueError``
    naming the file (and the block) when it cannot be read, is not JSON, holds no blocks, or a
    block has a problem (:func:`grid_block_problem`, then what ``check_block`` returns for
    the reader's own needs)."""
    try:
        run = load_grid_run(path)
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not JSON ({e}); give the results files of gnn-unlearn benchmark") from None
    if not run["blocks"]:
        raise ValueError(f"{path} holds no blocks; give a run that finished at least one block")
    for i, b in enumerate(run["blocks"], 1):
        problem = grid_block_problem(b, fields) or (check_block(b) if check_block else None)
        if problem:
            named = isinstance(b, dict) and all(k in b for k in ("dataset", "encoder", "df_size", "where"))
            raise ValueError(f"{path}: block {i}{f' {block_key(b)[:4]}' if named else ''} {problem}")
    return run


def is_retrain(name: str) -> bool:
    """Whether a grid row is a retrained model: the same-seed ``"retrain"`` or a ``"retrain#k"``."""
    return name == "retrain" or name.startswith("retrain#")


def rendered_header(title: str, script: str, argv: Sequence[str], commands: Sequence[str],
                    hardware: set[str], codes: set[str] = frozenset()) -> str:
    """The opening of a table rendered from grid results: its title, the command that rendered
    it, the commands that produced the results, the machines they ran on and the code they ran
    (:func:`run_code` of each run)."""
    lines = [f"# {title}", "", f"Rendered by `python {script} " + " ".join(argv) + "` from:", ""]
    lines += [f"- `{c}`" for c in commands]
    lines += ["", f"Hardware: {'; '.join(sorted(hardware))}"]
    if codes:
        lines += ["", f"Code: {'; '.join(sorted(codes))}"]
    return "\n".join(lines + [""])


#: what :func:`run_code` says of a run written before runs recorded their code
CODE_NOT_RECORDED = "code not recorded (see benchmarks/README.md for the run's commit)"


def run_code(run: dict) -> str:
    """The code a loaded grid run names (:func:`~gnn_unlearn.experiment.code_version`; a merged
    run: each source's), or :data:`CODE_NOT_RECORDED`."""
    return run.get("code") or CODE_NOT_RECORDED


def block_key(block: dict) -> tuple:
    """What identifies a block of a grid run: (dataset, encoder, Df size, position, region,
    features)."""
    return (block["dataset"], block["encoder"], block["df_size"], block["where"], block.get("region"),
            block.get("features"))


def check_same_requests(block: dict, other: dict) -> None:
    """Refuses two blocks (of two runs of one grid) unless they hold the same seeds and their
    same-seed retrains agree: the same originals and requests, so that their method rows can be
    compared or their retrains shared."""
    key = block_key(block)
    if block_key(other) != key:
        raise ValueError(f"blocks {key} and {block_key(other)} are different blocks")
    if block["seeds"] != other["seeds"]:
        raise ValueError(f"block {key}: seeds {block['seeds']} against {other['seeds']}; not the same requests")
    mine = next(r for r in block["rows"] if r["model"] == "retrain")
    theirs = next(r for r in other["rows"] if r["model"] == "retrain")
    # means of a merged run are pooled from its parts' means: equal requests agree to round-off
    if any(abs(mine[k] - theirs[k]) > FINGERPRINT_TOLERANCE for k in REQUEST_FINGERPRINT):
        raise ValueError(f"block {key}: the same-seed retrains differ; not the same requests")


def keep_models(block: dict, models: Sequence[str]) -> dict:
    """A copy of ``block`` with the rows of the original, the retrained models and ``models``
    only (the methods' entries in ``steps``, ``stop_reasons`` and ``stop_excess`` likewise), so
    a run of more methods joins one of fewer. ``ValueError`` naming a method the block lacks."""
    names = [r["model"] for r in block["rows"]]
    not_methods = [m for m in models if m == "original" or is_retrain(m)]
    if not_methods:
        raise ValueError(f"{not_methods} are kept anyway; name the methods to keep")
    missing = [m for m in models if m not in names]
    if missing:
        raise ValueError(f"block {block_key(block)} has no rows for {missing}; it holds {names}")
    methods = {n for n in names if n != "original" and not is_retrain(n)}
    dropped = methods - set(models)
    out = {**block, "rows": [r for r in block["rows"] if r["model"] not in dropped]}
    for key in ("steps", "stop_reasons", "stop_excess"):
        if key in block:
            out[key] = [{k: v for k, v in entry.items() if k not in dropped} for entry in block[key]]
    if "seed_rows" in block:
        out["seed_rows"] = [[r for r in rows if r["model"] not in dropped] for rows in block["seed_rows"]]
    return out


def merge_blocks(runs: Sequence[list[dict]], partial: bool = False) -> list[dict]:
    """The blocks of several grid runs of the same configuration over disjoint seeds, as one run.

    Per model and column the mean, sample standard deviation, minimum and maximum are pooled
    exactly from each run's (n, mean, std, min, max); blocks are matched on (dataset, encoder,
    Df size, position, region, features). Refused, with the reason: a seed in two runs of a
    block, a block missing from a run (unless ``partial``: then each block pools the runs that
    hold it, e.g. a run that measured one position's missing seed), a model missing from a run,
    columns that differ, and blocks whose original model of one seed differs
    (:func:`check_shared_originals`).
    """
    keyed: dict[tuple, list[dict]] = {}
    for run in runs:
        for b in run:
            keyed.setdefault(block_key(b), []).append(b)
    out = []
    for key, parts in keyed.items():
        if len(parts) != len(runs) and not partial:
            raise ValueError(f"block {key} is in {len(parts)} of the {len(runs)} runs; merge runs of one grid "
                             "(or pass partial=True / --partial to pool each block over the runs that hold it)")
        seeds = [s for b in parts for s in b["seeds"]]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"block {key}: seeds {sorted(seeds)} repeat; merge runs over disjoint seeds")
        models = [[r["model"] for r in b["rows"]] for b in parts]
        if any(m != models[0] for m in models):
            raise ValueError(f"block {key}: the runs hold different models {models}")
        rows = []
        for i, name in enumerate(models[0]):
            rows.append(_pool_rows([b["rows"][i] for b in parts], f"block {key}, model {name!r}"))
        merged = {**parts[0], "seeds": seeds, "rows": rows,
                  "steps": [st for b in parts for st in b.get("steps", [])],
                  "stop_reasons": [st for b in parts for st in b.get("stop_reasons", [])]}
        for k in ("stop_excess", "seed_rows"):     # runs before these were recorded have none
            if all(k in b for b in parts):
                merged[k] = [st for b in parts for st in b[k]]
            else:
                merged.pop(k, None)
        out.append(merged)
    check_shared_originals(out)
    return out


#: columns of the original model's row that no request changes (its test edges are the
#: seed's): equal in every block of one (dataset, encoder, seed) wherever the same original ran
ORIGINAL_FINGERPRINT = ("dt_auroc", "dt_aupr")


def check_shared_originals(blocks: Sequence[dict]) -> None:
    """Refuses blocks whose original models of one (dataset, encoder, region, features, seed)
    disagree on :data:`ORIGINAL_FINGERPRINT`.

    One grid run trains the original of a seed once and shares it with every Df size and
    position, so a disagreement means that blocks joined from several runs hold different
    originals for one seed (other code, another machine, or a training that did not repeat):
    their rows are not one experiment. Only blocks that keep per-seed rows (``seed_rows``) can
    be checked; the others are passed over.
    """
    first: dict[tuple, tuple[tuple, dict]] = {}
    for block in blocks:
        for seed, rows in zip(block["seeds"], block.get("seed_rows") or []):
            original = next((r for r in rows if r["model"] == "original"), None)
            if original is None:
                continue
            key = (block["dataset"], block["encoder"], block.get("region"), block.get("features"), seed)
            values = tuple(original.get(k) for k in ORIGINAL_FINGERPRINT)
            if key not in first:
                first[key] = (values, block)
                continue
            seen, other = first[key]
            if any((a is None) != (b is None) or (a is not None and abs(a - b) > FINGERPRINT_TOLERANCE)
                   for a, b in zip(seen, values)):
                raise ValueError(
                    f"seed {seed} of {block['dataset']} {block['encoder']}: the original model reads "
                    f"{_fingerprint_text(seen)} in block {block_key(other)} and {_fingerprint_text(values)} in "
                    f"block {block_key(block)}; the runs "
                    "trained different originals for one seed (other code, another machine, or a training "
                    "that did not repeat), so their rows are not one experiment: rerun the seed's blocks in one run")


def _fingerprint_text(values: tuple) -> str:
    return ", ".join(f"{k} {v:.6f}" if v is not None else f"{k} not measured"
                     for k, v in zip(ORIGINAL_FINGERPRINT, values))


def select_seeds(block: dict, seeds: Sequence[int]) -> dict | None:
    """``block`` restricted to those of ``seeds`` it holds: its rows aggregated anew from the
    kept seeds' own rows (``seed_rows``), and ``steps``, ``stop_reasons`` and ``stop_excess``
    cut to them, so one seed (or a few) of a merged run can be read like a run of its own.
    ``None`` where the block holds none of them; ``ValueError`` where it holds some but was
    written before grid runs kept each seed's rows (then only the run's log has them)."""
    wanted = set(seeds)
    keep = [i for i, s in enumerate(block["seeds"]) if s in wanted]
    if not keep:
        return None
    if "seed_rows" not in block or len(block["seed_rows"]) != len(block["seeds"]):
        raise ValueError(f"block {block_key(block)} keeps no per-seed rows (written before grid runs kept "
                         f"them): only its means over seeds {block['seeds']} are known; read one seed from "
                         "the run's log")
    out = {**block, "seeds": [block["seeds"][i] for i in keep],
           "seed_rows": [block["seed_rows"][i] for i in keep]}
    out["rows"] = aggregate_rows(out["seed_rows"])
    for key in ("steps", "stop_reasons", "stop_excess"):
        if key in block and len(block[key]) == len(block["seeds"]):
            out[key] = [block[key][i] for i in keep]
        else:
            out.pop(key, None)
    return out


def _pool_rows(rows: list[dict], where: str) -> dict:
    cols = {k for k in rows[0] if k + "_std" in rows[0]}
    for r in rows[1:]:
        if {k for k in r if k + "_std" in r} != cols:
            raise ValueError(f"{where}: the runs measured different columns")
    n = [r["n"] for r in rows]
    total = sum(n)
    out: dict = {"model": rows[0]["model"], "n": total}
    for k in cols:
        mean = sum(ni * r[k] for ni, r in zip(n, rows)) / total
        # sum of squares about the pooled mean, from each run's sample variance and mean
        ss = sum((ni - 1) * r[k + "_std"] ** 2 + ni * (r[k] - mean) ** 2 for ni, r in zip(n, rows))
        out[k] = mean
        out[k + "_std"] = math.sqrt(ss / (total - 1)) if total > 1 else 0.0
        out[k + "_min"] = min(r[k + "_min"] for r in rows)
        out[k + "_max"] = max(r[k + "_max"] for r in rows)
    return out


def write_grid(blocks, output, name, command, started, sources: Sequence[str] = (),
               machine: str | None = None, code: str | None = None) -> None:
    """Writes ``<output>/<name>.md`` and ``.json`` (atomically); ``sources``: the commands of
    merged runs, named in both files; ``machine``: what they ran on (default: this process's
    :func:`hardware`); ``code``: the code they ran (default: this process's
    :func:`~gnn_unlearn.experiment.code_version`)."""
    os.makedirs(output, exist_ok=True)
    machine = machine or hardware()
    code = code or code_version()
    feats = sorted({b.get("features", "as loaded") for b in blocks})
    merged = ("Merged from the runs:\n\n" + "".join(f"- `{c}`\n" for c in sources) + "\n") if sources else ""
    md = (f"# Benchmark grid\n\nCommand: `{command}`\n\n{merged}Started {started}; hardware: {machine}; "
          f"code: {code}; node features: {', '.join(feats)}\n\n"
          + grid_markdown(blocks) + "\n\nMean ± std over seeds. "
          "Seconds: wall time of the unlearning call (retrain: training from scratch on the retained graph).\n\n"
          + _reference_note(blocks) + _protocol_notes() + _attack_notes(blocks))
    atomic_write_text(os.path.join(output, f"{name}.md"), md)
    atomic_write_text(os.path.join(output, f"{name}.json"),
                      json.dumps({"command": command, "hardware": machine, "code": code, "protocols": _protocols(),
                                  **({"sources": list(sources)} if sources else {}), "blocks": blocks},
                                 indent=2))
