"""Exact unlearning by sharding (GraphEraser, GUIDE) on node classification.

For each dataset and seed: a stratified 60/20/20 node split (seeded); a single unsharded GCN
and, per method, a 10-shard GCN model trained with the method's recipe
(``train_sharded(data, method=...)``). For each request (a fraction of training nodes,
training edges, or training nodes' feature rows, sampled with the seed) the request is
unlearned at once (one batch) and the sharded model is fully retrained on the retained graph
(partition recomputed, every shard retrained: ``unlearn(model, task, "retrain")``). With
``--verify-seeds``, the unlearned model is compared bit for bit with ``train_sharded`` run on
the retained graph with the same assignment and seeds. With ``--per-request P``, the first
``P`` nodes of the node request are also unlearned one request at a time (each on the graph
left by the previous one), which is how GraphEraser reports its unlearning time.

    OMP_NUM_THREADS=1 python benchmarks/sharded.py --datasets Cora,CiteSeer --seeds 3 --name sharded
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from gnn_unlearn import (DeletionRequest, TrainConfig, evaluate, link_split, load_dataset, node_split, train,
                         unlearn)
from gnn_unlearn.data import sample_edges, sample_nodes, synthetic_graph
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.metrics.link import link_auc
from gnn_unlearn.metrics.node import accuracy, macro_f1
from gnn_unlearn.models import make_model
from gnn_unlearn.options import check_distinct, check_output_folder, check_results_name, load_datasets
from gnn_unlearn.sharding import (PRESETS, check_partition_options, check_sharded_inputs, partition_nodes,
                                  train_sharded)


METRICS = {"node": ("acc", "f1"), "link": ("auroc", "aupr")}
REPORT_KEYS = {"node": ("test_acc", "test_f1"), "link": ("dt_auroc", "dt_aupr")}
LABELS = {"node": ("acc", "F1"), "link": ("AUROC", "AUPR")}
KINDS = ("node", "edge", "feature")
#: what every row of a run's JSON holds (what --render needs)
ROW_KEYS = ("dataset", "method", "request", "size", "shards", "touched", "unlearn_s", "retrain_s", "speedup")


def score(model, data, exclude=None) -> tuple[float, float]:
    """Node models: test accuracy and macro F1 (test nodes not in ``exclude``); link models:
    AUROC and AUPR of test edges against test non-edges."""
    if model.task == "link":
        r = link_auc(model, data, data.test_pos_edge_index, data.test_neg_edge_index)
        return r["auroc"], r["aupr"]
    model.eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(-1)
    test = data.test_mask if exclude is None else data.test_mask & ~exclude
    y = data.y.view(-1)
    return accuracy(pred[test], y[test]), macro_f1(pred[test], y[test])


@torch.no_grad()
def outputs(model, data) -> torch.Tensor:
    """Node models: log-probabilities of every node; link models: logits of the test pairs."""
    model.eval()
    if model.task == "link":
        pairs = torch.cat([data.test_pos_edge_index, data.test_neg_edge_index], 1)
        return model.decode(model.encode(data.x, data.edge_index), pairs)
    return model(data.x, data.edge_index)


def make_request(data, kind: str, size: float, seed: int) -> DeletionRequest:
    # node classification: a fraction of the training nodes; link prediction: of all nodes
    among = data.train_mask if getattr(data, "train_pos_edge_index", None) is None else None
    if kind == "node":
        return sample_nodes(data, size, seed=seed, among=among)
    if kind == "edge":
        return sample_edges(data, size, where="random", seed=seed)
    if kind == "feature":
        ids = sample_nodes(data, size, seed=seed, among=among).parts[0].payload["ids"]
        return DeletionRequest.features(ids)
    raise ValueError(f"unknown request kind {kind!r}")


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def run(args) -> list[dict]:
    rows = []
    requests = [(r.split(":")[0], float(r.split(":")[1])) for r in args.requests.split(",")]
    task_kind = args.task
    m1, m2 = METRICS[task_kind]
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name in args.datasets.split(","):
            base = load_dataset(name, root=args.root)
            data = (node_split(base, 0.6, 0.2, seed=seed, use_public=False) if task_kind == "node"
                    else link_split(base, seed=seed))
            cfg = TrainConfig(epochs=args.epochs, eval_every=5, patience=args.patience,
                              weight_decay=5e-4 if task_kind == "node" else 0.0, seed=seed)
            t0 = time.perf_counter()
            single, _ = train(data, task_kind, cfg, encoder=args.encoder)
            single_s = time.perf_counter() - t0
            single_acc, single_f1 = score(single, data)
            for method in args.methods.split(","):
                t0 = time.perf_counter()
                model = train_sharded(data, task_kind, num_shards=args.shards, method=method, seed=seed,
                                      config=cfg, encoder=args.encoder, repair=args.repair,
                                      partition_options=args.partition_options)
                train_s = time.perf_counter() - t0
                acc, f1 = score(model, data)
                log(f"{name} seed {seed} {method}: single {single_acc:.3f} ({single_s:.1f}s), "
                    f"sharded {acc:.3f} ({train_s:.1f}s)")
                node_retrain_s = None
                for kind, size in requests:
                    task = make_request(data, kind, size, seed).resolve(data, num_hops=2)
                    result = unlearn(model, task, method)
                    retrained = unlearn(model, task, "retrain")
                    single_re = unlearn(single, task, "retrain")
                    rep = evaluate(result, task, retrained=retrained, mia=task_kind == "node", seed=seed)
                    row = dict(dataset=name, task=task_kind, seed=seed, method=method, request=kind, size=size,
                               request_summary=task.summary(), shards=args.shards,
                               **{f"single_{m1}": single_acc, f"single_{m2}": single_f1},
                               single_train_s=single_s, single_retrain_s=single_re.seconds,
                               **{f"single_after_{m1}": score(single_re.model, task.retained_data,
                                                              task.deleted_nodes)[0]},
                               sharded_train_s=train_s, touched=result.history["num_touched"],
                               partition=result.history["partition"])
                    k1, k2 = REPORT_KEYS[task_kind]
                    for label, key in (("original", "orig"), ("retrain", "retrain"), (method, "unlearn")):
                        r = rep.row(label)
                        row.update({f"{key}_{m1}": r[k1], f"{key}_{m2}": r[k2],
                                    f"{key}_mia": r["mia_df_member"]})
                    row["unlearn_s"], row["retrain_s"] = result.seconds, retrained.seconds
                    row["speedup"] = retrained.seconds / result.seconds
                    if seed < args.first_seed + args.verify_seeds:
                        ref = train_sharded(task.retained_data, task_kind, num_shards=args.shards, method=method,
                                            partition=model.assignment, seed=seed, config=cfg,
                                            encoder=args.encoder, repair=args.repair)
                        row["bit_exact"] = same_weights(result.model, ref) and torch.equal(
                            outputs(result.model, task.retained_data), outputs(ref, task.retained_data))
                    if kind == "node":
                        node_retrain_s = retrained.seconds
                    rows.append(row)
                    log(f"  {kind} {size:g}: touched {row['touched']}/{args.shards}, unlearn "
                        f"{row['unlearn_s']:.1f}s vs retrain {row['retrain_s']:.1f}s, {m1} {row[f'unlearn_{m1}']:.3f}"
                        + (f", bit-exact {row['bit_exact']}" if "bit_exact" in row else ""))
                    write(rows, args)
                if args.per_request and node_retrain_s is not None:
                    ids = make_request(data, "node", requests[0][1] if requests[0][0] == "node" else 0.01,
                                       seed).parts[0].payload["ids"][: args.per_request]
                    current, graph, secs, touched, paired = model, data, [], [], []
                    for v in ids.tolist():
                        task = DeletionRequest.nodes([v]).resolve(graph, num_hops=2)
                        res = unlearn(current, task, method)
                        secs.append(res.seconds)
                        touched.append(res.history["num_touched"])
                        if args.paired:     # a full retrain on the same graph, right after: paired timing
                            paired.append(unlearn(current, task, "retrain").seconds)
                        current, graph = res.model, task.retained_data
                    ratios = [r / u for r, u in zip(paired, secs)]
                    row = dict(dataset=name, task=task_kind, seed=seed, method=method,
                               request="node, one at a time", size=len(secs), shards=args.shards,
                               unlearn_s=statistics.fmean(secs), touched=statistics.fmean(touched),
                               retrain_s=node_retrain_s, speedup=node_retrain_s / statistics.fmean(secs))
                    if ratios:      # total: the stream's full retrains over its unlearning, in seconds
                        row.update(paired_speedups=ratios, paired_speedup_median=statistics.median(ratios),
                                   paired_retrain_s=paired, unlearn_s_each=secs, touched_each=touched,
                                   paired_speedup_total=sum(paired) / sum(secs))
                    rows.append(row)
                    log(f"  one node at a time: {statistics.fmean(secs):.2f}s per request "
                        f"(retrain {node_retrain_s:.1f}s)")
                    write(rows, args)
    return rows


def json_object(text: str) -> dict:
    """An option's JSON object, or a usage error saying what was wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e}), e.g. '{{\"refine_rounds\": 0}}'") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, e.g. '{{\"refine_rounds\": 0}}', got {text!r}")
    return value


def log(s: str) -> None:
    print(s, file=sys.stderr, flush=True)


def mean_std(vals) -> str:
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = statistics.fmean(vals)
    s = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{m:.3f} ± {s:.3f}" if abs(m) < 10 else f"{m:.1f} ± {s:.1f}"


def bound(row: dict) -> float | None:
    """K / shards touched (mean touched for a run of single requests)."""
    return row["shards"] / row["touched"] if row.get("touched") else None


def markdown(rows: list[dict], args) -> str:
    m1, m2 = METRICS[args.task]
    l1, l2 = LABELS[args.task]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["method"], r["request"], r["size"]), []).append(r)
    batch = [(k, v) for k, v in groups.items() if "one at a time" not in k[2]]
    single = [(k, v) for k, v in groups.items() if "one at a time" in k[2]]
    cols = [(f"single model {l1}", f"single_{m1}"), (f"single model {l2}", f"single_{m2}"),
            (f"sharded {l1}", f"orig_{m1}"), (f"sharded {l2}", f"orig_{m2}"),
            (f"unlearned {l1}", f"unlearn_{m1}"), (f"unlearned {l2}", f"unlearn_{m2}"),
            (f"full retrain {l1}", f"retrain_{m1}"), (f"full retrain {l2}", f"retrain_{m2}"),
            ("shards touched", "touched"), ("unlearn s", "unlearn_s"), ("full retrain s", "retrain_s"),
            ("speed-up", "speedup"), ("single-model retrain s", "single_retrain_s")]
    lines = ["| dataset | method | request | seeds | " + " | ".join(c for c, _ in cols)
             + " | bound K / touched | bit-exact |", "|---" * (len(cols) + 6) + "|"]
    for (ds, method, kind, size), rs in batch:
        exact = [r["bit_exact"] for r in rs if "bit_exact" in r]
        ex = f"{sum(exact)}/{len(exact)}" if exact else "-"
        lines.append(f"| {ds} | {method} | {kind} {size:g} | {len(rs)} | "
                     + " | ".join(mean_std([r.get(k) for r in rs]) for _, k in cols)
                     + f" | {mean_std([bound(r) for r in rs])} | {ex} |")
    lines += ["", "bound K / touched: the most that retraining only the touched shards can gain over retraining "
              "all K, were every shard equally costly and nothing else timed (any exact sharded method; a "
              "batch of m random nodes touches K(1 - (1 - 1/K)^m) shards in expectation, more with GUIDE's "
              "repair, which also touches the shards of the nodes' neighbours)."]
    if single:
        lines += ["", "One request at a time (single-node requests, each on the graph the previous one left):", "",
                  "| dataset | method | requests per seed | seeds | shards touched | unlearn s per request | "
                  "full retrain s (batch row) | speed-up | paired speed-up (median per seed) | "
                  "paired speed-up (total per seed) | bound K / touched |",
                  "|---" * 11 + "|"]
        for (ds, method, kind, size), rs in single:
            lines.append(f"| {ds} | {method} | {size} | {len(rs)} | {mean_std([r['touched'] for r in rs])} | "
                         f"{mean_std([r['unlearn_s'] for r in rs])} | {mean_std([r['retrain_s'] for r in rs])} | "
                         f"{mean_std([r['speedup'] for r in rs])} | "
                         f"{mean_std([r.get('paired_speedup_median') for r in rs])} | "
                         f"{mean_std([r.get('paired_speedup_total') for r in rs])} | "
                         f"{mean_std([bound(r) for r in rs])} |")
        lines += ["", "speed-up = full retrain s of the batch row / mean s per request; paired: each single "
                  "request's seconds against a full sharded retrain on the same graph timed right after it "
                  "(robust to the load drifting during the run), median over the requests of a seed; total: "
                  "the seed's paired full retrains over its unlearning requests, summed seconds (the stream's "
                  "own speed-up: requests that touch many shards weigh by their cost, which the median does "
                  "not)."]
    return "\n".join(lines)


def write(rows: list[dict], args, command: str | None = None, where: str | None = None) -> None:
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    command = command or "OMP_NUM_THREADS=1 python benchmarks/sharded.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    where = where or hardware()
    if args.task == "node":
        setting = ("node classification", "Stratified 60/20/20 node split per seed; GCN (2 layers, 128/64, "
                   "dropout 0.5) for the single model and for every shard; Adam lr 0.01, weight decay 5e-4",
                   "validation nodes", "Accuracy / macro F1 on the test nodes that were not deleted")
    else:
        setting = ("link prediction", "90/5/5 link split per seed (GNNDelete's); GCN encoder (2 layers, 128/64, "
                   "dropout 0.5) + dot decoder for the single model and for every shard (in-shard training edges, "
                   "fresh negatives each epoch); Adam lr 0.01",
                   "validation edges against validation non-edges (each shard: its in-shard validation edges and "
                   "as many seeded in-shard non-edges)", "AUROC / AUPR of test edges against test non-edges")
    md = (f"# Exact unlearning by sharding (GraphEraser, GUIDE), {setting[0]}\n\n"
          "Command: " + " and ".join(f"`{c}`" for c in command.split(" && ")) + f"\n\nHardware: {where}. "
          f"{args.note}\n\n"
          f"{setting[1]}, up to {args.epochs} epochs, early stopping "
          f"(patience {args.patience}) on {setting[2]}. {args.shards} shards. "
          "graph_eraser: balanced LPA partition, learned aggregation weights; guide: fair spectral partition "
          "(training labels as colours; a link split has no labels: one colour), refined by same-colour swaps "
          "unless --partition-options says otherwise, "
          f"{'MixUp' if args.repair is None else args.repair} repair, pyramid-match similarity weights.\n\n"
          "Requests: node = nodes deleted with their edges (node classification: a fraction of the training "
          "nodes; link prediction: of all nodes); edge = a fraction of the training edges; feature = the "
          "feature rows of such nodes zeroed. "
          f"{setting[3]}, after unlearning on the retained graph. 'sharded' = the sharded model before "
          "the deletion; 'full retrain' = partition recomputed and every shard retrained on the retained "
          "graph; 'unlearn s' = the unlearning call (touched shards retrained from fresh initialisation + "
          "aggregation weights recomputed); speed-up = full retrain s / unlearn s. Bit-exact: the unlearned "
          "model equals train_sharded on the retained graph with the same assignment and seeds, parameter "
          "by parameter (torch.equal) and in its outputs. Mean ± std over seeds.\n\n"
          + markdown(rows, args) + "\n")
    atomic_write_text(str(out / f"{args.name}.md"), md)
    atomic_write_text(str(out / f"{args.name}.json"),
                      json.dumps({"command": command, "hardware": where, "note": args.note, "rows": rows},
                                 indent=2, default=str))


def parse_requests(text: str) -> list[tuple[str, float]]:
    """``--requests``: distinct ``kind:fraction`` entries, kind one of :data:`KINDS`."""
    requests = []
    for entry in text.split(","):
        kind, _, size = entry.partition(":")
        try:
            requests.append((kind, float(size)))
        except ValueError:
            raise ValueError(f"--requests entry {entry!r}: give kind:fraction, e.g. node:0.01") from None
        if kind not in KINDS or ":" in size:
            raise ValueError(f"--requests entry {entry!r}: give kind:fraction with kind one of {KINDS}, "
                             "e.g. node:0.01")
    check_distinct("--requests", text.split(","), requests)
    return requests


def check_render(args) -> list[dict]:
    """``--render``: the runs, read; each file must exist and hold a run of this script (an object
    with ``command``, ``hardware`` and rows with :data:`ROW_KEYS`) of ``--task`` with ``--shards``
    shards, which the rewritten text states."""
    runs = []
    for name in args.render.split(","):
        try:
            loaded = json.loads(Path(name).read_text())
        except OSError as e:
            raise ValueError(f"--render: cannot read {name!r} ({e.strerror}); give the JSON files of "
                             "earlier runs") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"--render: {name!r} is not JSON ({e})") from None
        if (not isinstance(loaded, dict) or not isinstance(loaded.get("command"), str) or "hardware" not in loaded
                or not isinstance(loaded.get("rows"), list) or not loaded["rows"]
                or not all(isinstance(r, dict) and set(ROW_KEYS) <= r.keys() for r in loaded["rows"])):
            raise ValueError(f"--render: {name!r} is not the JSON of a sharded.py run: an object with "
                             f"'command', 'hardware' and 'rows', each row with {', '.join(ROW_KEYS)}")
        for row in loaded["rows"]:
            if row.get("task", "node") != args.task:
                raise ValueError(f"--render: {name!r} holds {row.get('task', 'node')} rows; pass "
                                 f"--task {row.get('task', 'node')}")
            if row["shards"] != args.shards:
                raise ValueError(f"--render: {name!r} holds runs with {row['shards']} shards; pass "
                                 f"--shards {row['shards']}")
        runs.append(loaded)
    return runs


def check_args(args, parser: argparse.ArgumentParser) -> list[dict] | None:
    """Refuses every bad option before any training, with what was wrong (``ValueError``); with
    ``--render``, returns the runs read (:func:`check_render`).

    Refused: an empty ``--name``, ``--output`` naming a file; ``--seeds`` < 1, a
    negative ``--first-seed``, ``--verify-seeds`` or ``--per-request``; ``--paired`` without
    single-node requests; ``--per-request`` given without a node request; ``--shards`` < 1;
    ``--epochs`` / ``--patience`` that :class:`~gnn_unlearn.TrainConfig` refuses; ``--methods``
    repeated or not a sharding method; ``--requests`` entries not distinct ``kind:fraction``;
    ``--partition-options`` that a method's partition does not take; ``--datasets`` repeated,
    unknown, missing files or unfit for the task, an ``--encoder`` the library cannot build,
    more shards than training nodes / edges, and requests that cannot be drawn from a dataset.
    """
    check_results_name(args.name)
    check_output_folder(args.output)
    if args.render:
        return check_render(args)
    for flag, value, least in (("--seeds", args.seeds, 1), ("--first-seed", args.first_seed, 0),
                               ("--verify-seeds", args.verify_seeds, 0), ("--per-request", args.per_request, 0),
                               ("--shards", args.shards, 1)):
        if value < least:
            raise ValueError(f"{flag} must be >= {least}, got {value}")
    try:
        TrainConfig(epochs=args.epochs, eval_every=5, patience=args.patience)
    except ValueError as e:
        raise ValueError(f"--epochs, --patience: {e}") from None
    methods = args.methods.split(",")
    for method in methods:
        if method not in PRESETS:
            raise ValueError(f"--methods: unknown sharding method {method!r}; choose from {', '.join(PRESETS)}")
    check_distinct("--methods", methods)
    requests = parse_requests(args.requests)
    node_request = any(kind == "node" for kind, _ in requests)
    if args.paired and not (args.per_request and node_request):
        raise ValueError("--paired times the one-at-a-time requests: give --per-request >= 1 and a node "
                         "request in --requests")
    if args.per_request != parser.get_default("per_request") and args.per_request and not node_request:
        raise ValueError("--per-request serves nodes of the node request one at a time: add a node "
                         "request to --requests, e.g. node:0.01, or give --per-request 0")
    toy = node_split(synthetic_graph(40, num_classes=2, avg_degree=4.0, num_features=4, features_per_node=2),
                     use_public=False)
    for method in methods:          # the partition's own refusal of the options' names and values
        partition = PRESETS[method]["partition"]
        try:
            check_partition_options(partition, args.partition_options)
            if partition != "bekm":     # values, on a 40-node graph (bekm would train a backbone first)
                partition_nodes(toy, partition, 2, options=args.partition_options)
        except (TypeError, ValueError) as e:
            raise ValueError(f"--partition-options (for {method}'s {partition} partition): {e}") from None
    for name, base in load_datasets(args.datasets.split(","), root=args.root).items():
        try:
            data = (node_split(base, 0.6, 0.2, seed=args.first_seed, use_public=False) if args.task == "node"
                    else link_split(base, seed=args.first_seed))
            for method in methods:
                preset = PRESETS[method]
                repair = preset["repair"] if args.repair is None else (None if args.repair == "none" else args.repair)
                check_sharded_inputs(data, args.task, args.shards, preset["partition"], preset["aggregation"],
                                     repair)
        except (ValueError, FileNotFoundError, ImportError) as e:
            raise ValueError(f"--datasets {name!r} ({args.task} task): {e}") from None
        try:
            make_model(data, args.task, encoder=args.encoder)
        except ValueError as e:
            raise ValueError(f"--encoder: {e}") from None
        for kind, size in requests:
            try:
                make_request(data, kind, size, args.first_seed)
            except ValueError as e:
                raise ValueError(f"--requests {kind}:{size:g} on {name}: {e}") from None
    return None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--task", default="node", choices=("node", "link"))
    p.add_argument("--methods", default="graph_eraser,guide")
    p.add_argument("--requests", default="node:0.01,edge:0.01,feature:0.01",
                   help="kind:fraction, comma-separated (node / feature: fraction of all nodes, sampled "
                        "among training nodes; edge: fraction of training edges)")
    p.add_argument("--shards", type=int, default=10)
    p.add_argument("--repair", default=None, choices=("none", "zero", "mirror", "mixup"),
                   help="GUIDE's subgraph repair (default: the method's: mixup for guide, none for graph_eraser)")
    p.add_argument("--partition-options", default=None, metavar="JSON", type=json_object,
                   help='options of the partition, e.g. \'{"refine_rounds": 0}\' (GUIDE without the '
                        'same-colour swaps)')
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds run from here (to split a run)")
    p.add_argument("--encoder", default="gcn")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--patience", type=int, default=50)
    p.add_argument("--verify-seeds", type=int, default=1, help="check bit-exactness on the first N seeds")
    p.add_argument("--per-request", type=int, default=5,
                   help="also unlearn this many single-node requests one at a time (0: skip)")
    p.add_argument("--paired", action="store_true",
                   help="time a full sharded retrain right after each one-at-a-time request")
    p.add_argument("--root", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="sharded")
    p.add_argument("--note", default="The 2-core machine was shared with other jobs while this ran (one thread).")
    p.add_argument("--render", default=None, metavar="JSON[,JSON...]",
                   help="only rewrite the Markdown (and JSON) of earlier runs from their JSON files, merged "
                        "(with --name, --task ...)")
    args = p.parse_args(argv)
    try:
        runs = check_args(args, p)
    except ValueError as e:
        p.error(str(e))
    if args.render:
        args.note = runs[0].get("note", args.note)
        command = " && ".join(r["command"] if r["command"].startswith("OMP") else "OMP_NUM_THREADS=1 " + r["command"]
                              for r in runs)
        write([row for r in runs for row in r["rows"]], args, command, runs[0]["hardware"])
        return
    write(run(args), args)


if __name__ == "__main__":
    main()
