"""Worst-case forget sets by bi-level search, beside the proxy sets they start from.

    python benchmarks/worst_case_search.py --datasets Cora --methods gnndelete,gnndelete+ref,d2dgn,d2dgn+ref \\
        --sizes 0.025 --starts worst:confidence --seeds 2 --name worst_case_search

For every (dataset, seed): the original link predictor (``prepare_link``: the grid's split and
training) and, when a ``+ref`` method is asked for, its held-out reference (fit once). For every
size, start and method, :func:`gnn_unlearn.forget_search.search_forget_set` searches the forget
set on which the method's deletion identification (or library Df AUROC, ``--objective``) lands
farthest from retraining, starting from the proxy set ``start``. Reported per search: the
signed gap (method minus retraining) of the start set and of the found set, against the
search's retrains (biased upwards for the found set: it was selected on them) and against
``--confirm-seeds`` fresh retrains (compare these), and whether the confirmed gap of the found
set still meets issue 15's tolerance (0.05 for deletion identification, 0.03 for the library
Df AUROC). A model named ``retrain#k`` is one more retrain (seed: the original's + 7919 k)
searched in a method's place: what the search finds between exact retrains, the floor to read
the methods' gaps against.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

from gnn_unlearn.bench import check_method_params, user_command
from gnn_unlearn.experiment import REFERENCE_SUFFIX, hardware, parse_methods, prepare_link
from gnn_unlearn.forget_search import OBJECTIVES, search_forget_set
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.methods import HeldOutReference
from gnn_unlearn.metrics.forget_sets import CRITERIA, GATED_ENCODERS
from gnn_unlearn.models.encoders import ENCODERS
from gnn_unlearn.options import check_distinct, check_output_folder, check_results_name, load_datasets, shares

TOLERANCE = {"identification": 0.05, "library": 0.03}


def log(s: str) -> None:
    print(s, file=sys.stderr, flush=True)


NOISE_FLOOR = re.compile(r"retrain#([1-9][0-9]*)")
#: the seed offset of the noise-floor retrain ``retrain#k``: original seed + k * this
NOISE_SEED_STEP = 7919


def parse_rows(methods: list[str]) -> list[tuple[str, bool]]:
    """``(base method, with reference)`` per name; ``retrain#k`` (one independent retrain
    searched in the method's place: the search's noise floor) is ``("retrain", False)``."""
    plain = [m for m in methods if not NOISE_FLOOR.fullmatch(m)]
    if any(m.partition("+")[0] == "retrain" for m in plain):
        raise ValueError("a retrain is searched as the noise floor: name it retrain#k (k >= 1; its seed is the "
                         f"original's + {NOISE_SEED_STEP} k)")
    parsed = iter(parse_methods(plain)) if plain else iter(())
    return [("retrain", False) if NOISE_FLOOR.fullmatch(m) else next(parsed) for m in methods]


def run(a) -> list[dict]:
    rows = []
    methods = a.methods.split(",")
    parsed = parse_rows(methods)
    for dataset in a.datasets.split(","):
        for seed in range(a.seeds):
            data, model, info = prepare_link(dataset, a.encoder, seed, mirror=a.mirror, log=log)
            reference = (HeldOutReference.fit(model, data, seed=seed, folds=a.reference_folds)
                         if any(with_ref for _, with_ref in parsed) else None)
            for size in (float(s) for s in a.sizes.split(",")):
                for start in a.starts.split(","):
                    for name, (base, with_ref) in zip(methods, parsed):
                        options = {**a.method_params.get(base, {}), **({"reference": reference} if with_ref else {})}
                        floor = NOISE_FLOOR.fullmatch(name)
                        if floor:
                            options = {"seed": int(model.train_config["seed"]) + NOISE_SEED_STEP * int(floor[1])}
                        r = search_forget_set(data, model, base, size, objective=a.objective, start=start,
                                              rounds=a.rounds, proposals=a.proposals,
                                              retrain_seeds=a.retrain_seeds, confirm_seeds=a.confirm_seeds,
                                              seed=seed, method_options=options)
                        row = dict(dataset=dataset, encoder=a.encoder, seed=seed, size=size, start=start,
                                   model=name, **{k: v for k, v in r.summary().items() if k != "size"},
                                   deleted_edges=r.size, history=r.history,
                                   meets_target=abs(r.confirm_gap) <= TOLERANCE[a.objective]
                                   if r.confirm_gap is not None else None)
                        log(f"{dataset} s{seed} {size:g} {start} {name}: start {r.start_gap:+.3f} -> "
                            f"{r.gap:+.3f}; fresh retrains: start {r.confirm_start_gap:+.3f}, found "
                            f"{r.confirm_gap:+.3f} ({r.seconds:.0f} s)")
                        rows.append(row)
    return rows


def markdown(rows: list[dict], a, command: str) -> str:
    tol = TOLERANCE[a.objective]
    lines = ["# Worst-case forget sets: bi-level search against the proxy start", "",
             f"Command: `{command}`  ", f"Hardware: {hardware()}", "",
             __doc__.split("\n\n", 2)[2].strip(), "",
             f"Objective: {a.objective} (signed gap = method - retraining); {a.rounds} rounds x "
             f"{a.proposals} proposals, {a.retrain_seeds} retrains per candidate set, "
             f"{a.confirm_seeds} fresh retrains for the confirmation; tolerance {tol}; held-out reference "
             f"of the +ref methods: {a.reference_folds} folds"
             + (f"; method parameters {json.dumps(a.method_params)}" if a.method_params else "") + ".", "",
             "| dataset | GNN | seed | Df | start | model | gap start (search retrains) | gap found (search "
             "retrains) | gap start (fresh retrains) | gap found (fresh retrains) | rounds accepted | "
             f"found within {tol} | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['encoder']} | {r['seed']} | {r['size']:g} | {r['start']} | "
                     f"{r['model']} | {r['start_gap']:+.3f} | {r['gap']:+.3f} | {r['confirm_start_gap']:+.3f} | "
                     f"{r['confirm_gap']:+.3f} | {r['accepted_rounds']} / {a.rounds} | "
                     f"{'yes' if r['meets_target'] else '**no**'} | {r['seconds']:.0f} |")
    lines += ["", "Per method (found set, fresh retrains): mean |gap| and sets within the tolerance:", ""]
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        mean_abs = sum(abs(r["confirm_gap"]) for r in mine) / len(mine)
        start_abs = sum(abs(r["confirm_start_gap"]) for r in mine) / len(mine)
        ok = sum(bool(r["meets_target"]) for r in mine)
        lines.append(f"- {name}: |gap| start {start_abs:.3f} -> found {mean_abs:.3f}; within {tol}: "
                     f"{ok} / {len(mine)}")
    return "\n".join(lines) + "\n"


def check_args(a: argparse.Namespace) -> None:
    """Refuses every bad option before any training, with what was wrong (``ValueError``):
    ``--methods`` unknown, repeated, not serving link models, or ``retrain`` not named as the
    noise floor ``retrain#k`` (:func:`parse_rows`); ``--method-params`` that is not JSON the
    methods accept; ``--seeds``, ``--proposals``, ``--retrain-seeds``, ``--confirm-seeds`` below
    1, ``--rounds`` below 0, ``--reference-folds`` below 2; ``--sizes`` that are not distinct
    fractions in (0, 1); ``--starts`` that are not distinct ``random`` / ``worst:<criterion>``
    (``worst:influence`` only with an encoder whose messages it gates); an ``--output`` that is a
    file, a ``--name`` that is empty or a path, a ``--mirror`` that is no folder; ``--datasets`` unknown, repeated or without their
    files (each loaded once here). Sets ``a.method_params`` to the checked parameters."""
    methods = a.methods.split(",")
    check_distinct("--methods", methods)
    try:
        parsed = parse_rows(methods)
    except ValueError as e:
        raise ValueError(f"--methods: {e}") from None
    try:
        params = json.loads(a.method_params) if a.method_params else None
    except json.JSONDecodeError as e:
        raise ValueError(f"--method-params is not JSON ({e}): {a.method_params!r}") from None
    try:
        a.method_params = check_method_params(params, [base for base, _ in parsed if base != "retrain"])
    except (ValueError, TypeError) as e:            # TypeError: a value of the wrong type
        raise ValueError(f"--method-params: {e}") from None
    for flag, value, least in (("--seeds", a.seeds, 1), ("--rounds", a.rounds, 0), ("--proposals", a.proposals, 1),
                               ("--retrain-seeds", a.retrain_seeds, 1), ("--confirm-seeds", a.confirm_seeds, 1),
                               ("--reference-folds", a.reference_folds, 2)):
        if value < least:
            raise ValueError(f"{flag} must be >= {least}, got {value}")
    shares("--sizes", a.sizes, "of the training edges", "0.025")
    starts = a.starts.split(",")
    for start in starts:
        base, _, criterion = start.partition(":")
        if not (start == "random" or (base == "worst" and criterion in CRITERIA)):
            raise ValueError(f"--starts entry {start!r}: the search starts from random or worst:<criterion> "
                             f"({', '.join(sorted(CRITERIA))})")
        if criterion == "influence" and a.encoder not in GATED_ENCODERS:
            raise ValueError(f"--starts worst:influence gates the messages of {', '.join(GATED_ENCODERS)} "
                             f"encoders only; run --encoder {a.encoder} from another start")
    check_distinct("--starts", starts)
    check_output_folder(a.output)
    check_results_name(a.name, folders=False)
    load_datasets(a.datasets.split(","), mirror=a.mirror)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="Cora")
    p.add_argument("--encoder", default="gcn", choices=ENCODERS)
    p.add_argument("--methods", default=f"gnndelete,gnndelete{REFERENCE_SUFFIX},d2dgn,d2dgn{REFERENCE_SUFFIX}")
    p.add_argument("--sizes", default="0.025")
    p.add_argument("--starts", default="worst:confidence")
    p.add_argument("--objective", default="identification", choices=OBJECTIVES)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--proposals", type=int, default=2)
    p.add_argument("--retrain-seeds", type=int, default=2)
    p.add_argument("--confirm-seeds", type=int, default=3)
    p.add_argument("--reference-folds", type=int, default=2,
                   help="folds of the held-out reference of the +ref methods (each model trains without one)")
    p.add_argument("--method-params", default=None,
                   help='hyperparameters per method as JSON, e.g. \'{"gnndelete": {"settle": 6}}\' (m and m+ref rows)')
    p.add_argument("--mirror", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="worst_case_search")
    a = p.parse_args(argv)
    try:                                              # every argument refused before any work
        check_args(a)
    except ValueError as e:
        p.error(str(e))
    command = user_command()
    t0 = time.perf_counter()
    rows = run(a)
    os.makedirs(a.output, exist_ok=True)
    atomic_write_text(os.path.join(a.output, f"{a.name}.md"), markdown(rows, a, command)
                      + f"\nTotal wall time: {time.perf_counter() - t0:.0f} s.\n")
    atomic_write_text(os.path.join(a.output, f"{a.name}.json"), json.dumps(
        {"command": command, "hardware": hardware(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
