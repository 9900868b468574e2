"""Recommendation unlearning table: LightGCN, interaction requests, retrain vs reverse BPR vs
UnlearnRec.

Per dataset: train LightGCN (BPR, seeded), pre-train UnlearnRec's influence encoder once on
simulated 1 % requests (its time is reported apart: it is paid once per model, not per
request), then for each request (1 % / 5 % of training interactions, all interactions of 100
users) run every method from the same original and evaluate with
:func:`gnn_unlearn.evaluate` (``--retrain-seeds K``: K more retrains and the
retrain-spread test of :mod:`gnn_unlearn.metrics.spread` for every row).

    python benchmarks/recommendation.py --datasets lastfm,gowalla --name unlearnrec

A method named ``<method>+ref`` runs with a held-out reference
(:class:`gnn_unlearn.methods.HeldOutReference` fit once per original on folds of the
interactions): the removed pairs' targets in the order of the models that never saw them.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path


from gnn_unlearn import TrainConfig, load_dataset, train, unlearn
from gnn_unlearn.data import is_bipartite, sample_interactions, sample_users
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.methods import HeldOutReference
from gnn_unlearn.methods.unlearnrec import pretrain_influence_encoder
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.metrics.report import check_retrain_seeds
from gnn_unlearn.options import table_methods

COLUMNS = ["recall@20", "ndcg@20", "rank_pct", "hit@20", "deleted_id_auc", "mia_member", "mia_auc", "mi_ratio",
           "shadow_auc"]
SPREAD = ["df_shift", "df_shift_p", "df_distance", "df_distance_p", "n_outside"]


def parse_request(spec: str) -> tuple[str, float | int]:
    """A ``--requests`` entry: ``usersN`` (all interactions of N sampled users, N >= 1) or a share
    of the training interactions in (0, 1)."""
    if spec.startswith("users"):
        count = spec.removeprefix("users")
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--requests entry {spec!r}: usersN needs a whole number of users N >= 1, e.g. users100")
        return "users", int(count)
    try:
        share = float(spec)
    except ValueError:
        share = math.nan
    if not 0 < share < 1:
        raise ValueError(f"--requests entry {spec!r}: give a share of the training interactions in (0, 1), "
                         "e.g. 0.01, or usersN, e.g. users100")
    return "interactions", share


def request_for(data, spec: str, seed: int):
    kind, size = parse_request(spec)
    return (sample_users if kind == "users" else sample_interactions)(data, size, seed=seed)


def check_args(args) -> dict:
    """Refuses every bad option before any training, with what was wrong (``ValueError``), and
    returns the datasets by name, loaded: each must be a user-item graph on which every request
    of every seed can be drawn."""
    for flag, value in (("--seeds", args.seeds), ("--pretrain-steps", args.pretrain_steps)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    try:
        TrainConfig(epochs=args.steps, lr=args.lr, batch_size=args.batch_size, eval_every=args.eval_every,
                    patience=args.patience)
    except ValueError as e:
        raise ValueError(f"--steps, --lr, --batch-size, --eval-every, --patience: {e}") from None
    try:
        check_retrain_seeds(args.retrain_seeds)
    except ValueError as e:
        raise ValueError(f"--retrain-seeds: {e}") from None
    if args.reference_folds < 2:
        raise ValueError(f"--reference-folds must be >= 2, got {args.reference_folds}")
    table_methods(args.methods.split(","), "rec", reference=True)
    specs = args.requests.split(",")
    for spec in specs:
        parse_request(spec)
    datasets = {}
    for name in args.datasets.split(","):
        try:
            data = load_dataset(name, root=args.root)     # refuses an unknown name before reading files
        except ValueError as e:
            raise ValueError(f"--datasets: {e}") from None
        if not is_bipartite(data):
            raise ValueError(f"--datasets: {name!r} is not a user-item graph; this table needs interaction "
                             "data such as lastfm, gowalla or ml-1m")
        for seed in range(args.seeds):
            for spec in specs:
                request_for(data, spec, seed)          # a request larger than the data is refused here
        datasets[name] = data
    return datasets


def run(args, datasets: dict) -> tuple[list[dict], list[dict]]:
    rows, setup = [], []
    for name, data in datasets.items():
        for seed in range(args.seeds):
            cfg = TrainConfig(epochs=args.steps, lr=args.lr, batch_size=args.batch_size,
                              eval_every=args.eval_every, patience=args.patience, seed=seed)
            t = time.perf_counter()
            model, hist = train(data, "rec", cfg)
            train_s = time.perf_counter() - t
            encoder, info = pretrain_influence_encoder(model, data, 0.01, args.pretrain_steps,
                                                       batch_size=args.batch_size, seed=seed)
            reference = (HeldOutReference.fit(model, data, seed=seed, folds=args.reference_folds)
                         if any(m.endswith("+ref") for m in args.methods.split(",")) else None)
            setup.append(dict(dataset=name, seed=seed, train_seconds=train_s,
                              reference_seconds=None if reference is None else reference.seconds,
                              reference_folds=None if reference is None else reference.folds,
                              train_steps=hist.epochs_run, best_step=hist.best_epoch,
                              pretrain_seconds=info["seconds"], pretrain_steps=args.pretrain_steps,
                              users=int(data.num_users), items=int(data.num_items),
                              interactions=int(data.train_pos_edge_index.size(1))))
            print(setup[-1], flush=True)
            for spec in args.requests.split(","):
                task = request_for(data, spec, seed).resolve(data)
                common = dict(dataset=name, seed=seed, request=spec, removed=int(task.df_edge_index.size(1)))
                results, labels = [], ["retrain"] + args.methods.split(",")
                for label in labels:
                    method = label.removesuffix("+ref")
                    kw = {"unlearnrec": dict(encoder=encoder, batch_size=args.batch_size),
                          "reverse_bpr": dict(batch_size=args.batch_size)}.get(method, {})
                    if label.endswith("+ref"):
                        kw["reference"] = reference
                    results.append(unlearn(model, task, method, **kw))
                report = evaluate(results, task, seed=seed, retrain_seeds=args.retrain_seeds, labels=labels)
                stops = {label: r.history.get("stop_reason") for label, r in zip(labels, results)}
                for row in report.rows:
                    seconds = row["seconds"]
                    rows.append(dict(common, method=row["model"], stop=stops.get(row["model"]),
                                     **{k: v for k, v in row.items() if k not in ("model", "seconds")},
                                     **{"seconds": None if math.isnan(seconds) else seconds}))
                    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    return rows, setup


def _mean(values) -> str:
    vals = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return f"{sum(vals) / len(vals):.4f}" if vals else "-"


def table(rows: list[dict], setup: list[dict]) -> str:
    import statistics
    out = []
    for s in setup:
        out.append(f"- {s['dataset']} seed {s['seed']}: {s['users']} users, {s['items']} items, "
                   f"{s['interactions']} training interactions; original trained in "
                   f"{s['train_seconds']:.0f} s ({s['train_steps']} steps, best {s['best_step']}); "
                   f"influence encoder pre-trained once in {s['pretrain_seconds']:.0f} s "
                   f"({s['pretrain_steps']} steps)"
                   + ("" if s.get("reference_seconds") is None else
                      f"; held-out reference ({s.get('reference_folds', 2)} LightGCNs, each without one fold of "
                      f"the interactions, rows `+ref`) fit once in "
                      f"{s['reference_seconds']:.0f} s, left out of the rows' seconds"))
    out.append("")
    for name in dict.fromkeys(r["dataset"] for r in rows):
        for spec in dict.fromkeys(r["request"] for r in rows if r["dataset"] == name):
            sub = [r for r in rows if r["dataset"] == name and r["request"] == spec]
            label = f"all interactions of {spec[5:]} users" if spec.startswith("users") else f"{float(spec):.0%} of interactions"
            cols = COLUMNS + [c for c in SPREAD if c in sub[0]]
            out += [f"### {name}: {label} ({sub[0]['removed']} removed), {len({r['seed'] for r in sub})} seed(s)", "",
                    "| method | " + " | ".join(cols) + " | seconds | speed-up |",
                    "|---|" + "---|" * (len(cols) + 2)]
            retrain = [r["seconds"] for r in sub if r["method"] == "retrain"]
            for method in dict.fromkeys(r["method"] for r in sub):
                cell = [r for r in sub if r["method"] == method]
                vals = [_mean(r.get(c) for r in cell) for c in cols]
                secs = [r["seconds"] for r in cell if r["seconds"] is not None]
                if secs:
                    s = statistics.mean(secs)
                    speed = f"{statistics.mean(retrain) / s:.1f}x" if method != "retrain" else "1x"
                    out.append(f"| {method} | " + " | ".join(vals) + f" | {s:.2f} | {speed} |")
                else:
                    out.append(f"| {method} | " + " | ".join(vals) + " | – | – |")
            out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="lastfm")
    p.add_argument("--requests", default="0.01,0.05,users100")
    p.add_argument("--methods", default="reverse_bpr,unlearnrec")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--steps", type=int, default=300, help="BPR steps of (re)training")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=8192)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--patience", type=int, default=100)
    p.add_argument("--pretrain-steps", type=int, default=200)
    p.add_argument("--retrain-seeds", type=int, default=1,
                   help="K >= 3: K more retrains (seeds s+1..s+K) and the retrain-spread test per method")
    p.add_argument("--reference-folds", type=int, default=2,
                   help="folds of the held-out reference of '<method>+ref' rows")
    p.add_argument("--root", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="unlearnrec")
    args = p.parse_args(argv)
    command = "python benchmarks/recommendation.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        datasets = check_args(args)
    except ValueError as e:
        p.error(str(e))
    t = time.perf_counter()
    rows, setup = run(args, datasets)
    body = (f"# Recommendation unlearning (LightGCN)\n\nCommand: `{command}`  \nHardware: {hardware()}  \n"
            f"Total wall time: {time.perf_counter() - t:.0f} s  \nColumns: test Recall@20 / NDCG@20 "
            "(training items masked); rank_pct / hit@20 of the removed interactions among items that "
            "are not retained training items of their user (0 = top); mia_member = share of removed "
            "interactions a loss attack trained on that model calls members (mia_auc = the attack's "
            "held-out AUC); mi_ratio = GNNDelete's shadow attack, mean P(present) on the removed "
            "interactions for the model over the original's (shadow_auc = that attack's held-out AUC); "
            "deleted_id_auc = deletion identification: retained training interactions vs removed ones by "
            "score (0.5: removed ones look retained; target: retrain's value); with --retrain-seeds K: "
            "df_shift = mean z-score of the removed interactions' scores against K retrains (> 0: still "
            "scored as trained; < 0: over-forgotten), df_shift_p / df_distance_p its two-sided and the "
            "per-item distance's p-value, n_outside = measures outside the retrains' [min, max] (rows "
            "retrain#i: the extra retrains, tested leave-one-out); seconds = the unlearning call (retrain: training from scratch); "
            "speed-up = retrain seconds / method seconds. UnlearnRec's seconds exclude its one-off "
            "pre-training (listed below).\n\n" + table(rows, setup))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{args.name}.md", body)
    atomic_write_text(out / f"{args.name}.json", json.dumps(dict(command=command, rows=rows, setup=setup), indent=1))
    print(body)


if __name__ == "__main__":
    main()
