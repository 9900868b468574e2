"""Node unlearning in OpenGU's protocol: GCN on Cora / CiteSeer, 10 % of the nodes deleted.

Protocol (OpenGU, ``../shared/opengu``): row-normalised features; a random 80/0/20 split of
all nodes (here stratified by class: ``node_split(train_ratio=0.8, val_ratio=0)``);
``int(0.1 * num_nodes)`` training nodes deleted (Cora 270, CiteSeer 332) with all their edges;
GCN with 2 layers and 64 hidden units (here: two GCN layers of 64 and a linear head, as the
library's node classifier is built), 100 epochs of full-batch Adam at lr 0.005 (weight decay
5e-4), no model selection (OpenGU has no validation set: validation runs once, at the last
epoch, on the training nodes, so nothing is selected). Projector needs a linear GNN: its rows
start from a ``LinearGNN`` (features X, AX, A^2X, weights from zero) trained 100 epochs with
SGC's learning rate 0.2 (weight decay 5e-5), next to that model's own retraining and UtU (the same weights on the retained graph), so that the
projection's own effect shows.

Columns: test micro-F1 (= accuracy, OpenGU's "F1") and macro-F1 on the test nodes (the graph
after unlearning = the retained graph); ``dist`` = mean L1 distance between the model's and the
retrained model's class distributions on the deleted nodes (0 = behaves like retraining);
``post-diff AUC`` = OpenGU's "MIA" (AUC of ||p_original - p_model|| separating deleted nodes
from as many test nodes; softmax outputs); seconds and peak memory of the unlearning call
(CPU: peak resident set of the process); speed-up = retrain seconds / method seconds. Then one
column group per attack of ``--attacks`` (the library's attack registry,
:mod:`gnn_unlearn.metrics.attacks`; default LiRA and relearning), prepared once per seed with the
original and the retrained model and scored on every row, as ``evaluate(..., attacks=...)`` does:
each row's value should be near the retrain row's.

    python benchmarks/opengu_node.py --datasets Cora,CiteSeer --seeds 3 --name opengu_node
    python benchmarks/opengu_node.py --datasets Cora --seeds 1 --no-linear --methods utu,gif --name opengu_node_attacks_check
    python benchmarks/opengu_node.py --synthetic 235000 --seeds 1 --name opengu_node_synthetic_235k
    python benchmarks/opengu_node.py --datasets Cora,CiteSeer --seeds 3 --no-linear --methods utu,gif,gradient_ascent,d2dgn,megu,sgu,gukd --name opengu_node_megu
"""
from __future__ import annotations

import argparse
import copy
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from gnn_unlearn import TrainConfig, load_dataset, node_split, train, unlearn
from gnn_unlearn.data import sample_nodes, synthetic_graph
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.metrics.attacks import available_attacks, build_attacks
from gnn_unlearn.metrics.node import accuracy, macro_f1

#: OpenGU's numbers on Cora (one run, seed 2024), quoted from ../shared/opengu/results.md
#: (measured on this machine type, 1 thread): test F1 after unlearning and unlearning seconds.
OPENGU_CORA = {"retrain": (0.8635, 1.82), "gif": (0.8635, 1.65), "megu": (0.8579, 0.91),
               "gnndelete": (0.8063, 1.59), "d2dgn": (0.9004, 1.85)}

GCN_METHODS = {
    "utu": {},
    "gif": {},
    "gif (lissa)": {"_method": "gif", "solver": "lissa"},
    "idea": {},
    "idea (eps=1)": {"_method": "idea", "epsilon": 1.0},
    "gradient_ascent": {},
    "d2dgn": {},
    "megu": {},
    "sgu": {},
    "gukd": {},
}


def normalise_rows(data):
    out = copy.copy(data)
    s = data.x.sum(1, keepdim=True).clamp_min(1e-12)
    out.x = data.x / s
    return out


def opengu_split(data, seed: int):
    out = node_split(data, train_ratio=0.8, val_ratio=0.0, seed=seed, use_public=False)
    out.val_mask = out.train_mask.clone()      # read once, at the last epoch: no selection
    return out


def probabilities(model, graph) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(graph.x, graph.edge_index).softmax(-1)


def score(model, graph, task, p_original, p_retrain, seconds, result=None) -> dict:
    data = task.data
    y = data.y.view(-1)
    p = probabilities(model, graph)
    pred = p.argmax(-1)
    test, deleted = data.test_mask, task.deleted_nodes
    row = {"test_f1_micro": accuracy(pred[test], y[test]), "test_f1_macro": macro_f1(pred[test], y[test]),
           "deleted_acc": accuracy(pred[deleted], y[deleted]),
           "dist": float((p[deleted] - p_retrain[deleted]).abs().sum(-1).mean()),
           "seconds": seconds}
    k = min(int(deleted.sum()), int(test.sum()))
    diff = (p - p_original).norm(dim=-1)
    members, others = diff[deleted][:k], diff[test][:k]
    labels = np.r_[np.ones(k), np.zeros(k)]
    row["post_diff_auc"] = float(roc_auc_score(labels, torch.cat([members, others]).numpy()))
    if result is not None:
        row["peak_mb"] = result.peak_memory_bytes / 2 ** 20
        row["extra_mb"] = result.extra_memory_bytes / 2 ** 20
        row.update({f"h_{k}": v for k, v in result.history.items()
                    if k in ("hessian_products", "residual", "stop", "noise_std", "bound", "epochs",
                             "stop_reason", "steps", "removed_share")})
    return row


def run_block(data, seed: int, config: TrainConfig, model_options: dict, methods: dict,
              deleted: int, log, attacks: list[str] = (), attack_params: dict | None = None) -> list[dict]:
    """Original model, retrain and ``methods`` on one split / request / seed, each row with the
    columns of the ``attacks`` (prepared once with the original and the retrained model)."""
    chosen = build_attacks(list(attacks), "node", attack_params, seed)
    t = time.perf_counter()
    original, _ = train(data, "node", config, **model_options)
    log(f"  trained original in {time.perf_counter() - t:.1f}s")
    task = sample_nodes(data, deleted, seed=seed, among=data.train_mask).resolve(data, num_hops=2)
    kept = task.retained_data
    retrained = unlearn(original, task, "retrain")
    p_orig = probabilities(original, data)
    p_rt = probabilities(retrained.model, kept)
    t = time.perf_counter()
    for attack in chosen:
        attack.prepare(task, original, retrained.model)
    if chosen:
        log(f"  prepared {', '.join(a.name for a in chosen)} in {time.perf_counter() - t:.1f}s")

    def attacked(model, graph, on_original: bool) -> dict:
        out = {}
        for attack in chosen:
            out.update({k: float(v) for k, v in attack.score(model, graph, on_original).items()})
        return out

    rows = [dict(model="original", **score(original, data, task, p_orig, p_rt, float("nan")),
                 **attacked(original, data, True)),
            dict(model="retrain", **score(retrained.model, kept, task, p_orig, p_rt, retrained.seconds, retrained),
                 **attacked(retrained.model, kept, False))]
    for name, params in methods.items():
        params = dict(params)
        method = params.pop("_method", name)
        result = unlearn(original, task, method, **params)
        rows.append(dict(model=name, **score(result.model, kept, task, p_orig, p_rt, result.seconds, result),
                         **attacked(result.model, kept, False)))
        log(f"  {name}: {result.seconds:.2f}s F1 {rows[-1]['test_f1_micro']:.4f} dist {rows[-1]['dist']:.3f}")
    for r in rows:
        r["speedup"] = retrained.seconds / r["seconds"] if r["seconds"] == r["seconds"] else float("nan")
        r["seed"] = seed
    return rows


def aggregate(rows: list[dict]) -> list[dict]:
    out = []
    for name in dict.fromkeys(r["model"] for r in rows):
        group = [r for r in rows if r["model"] == name]
        agg = {"model": name, "n": len(group)}
        for k, v in group[0].items():
            if isinstance(v, float):
                vals = [g[k] for g in group if g[k] == g[k]]
                agg[k] = statistics.fmean(vals) if vals else float("nan")
                agg[k + "_std"] = statistics.pstdev(vals) if len(vals) > 1 else 0.0
            elif isinstance(v, (int, str)) and k.startswith("h_"):
                agg[k] = [g.get(k) for g in group]
        out.append(agg)
    return out


COLUMNS = {"test_f1_micro": "test F1 (micro)", "test_f1_macro": "test F1 (macro)",
           "dist": "dist. to retrain (deleted)", "deleted_acc": "deleted acc",
           "post_diff_auc": "post-diff AUC", "seconds": "seconds", "peak_mb": "peak MB",
           "speedup": "speed-up"}


def cell(row: dict, k: str) -> str:
    v = row.get(k, float("nan"))
    if not isinstance(v, float) or v != v:
        return "-"
    s = row.get(k + "_std", 0.0)
    if k == "speedup":
        return f"{v:.1f}x" if v < 1000 else "> 1000x"
    if k == "peak_mb":
        return f"{v:.0f}"
    if k == "seconds":
        return f"{v:.2f} ± {s:.2f}"
    return f"{v:.4f} ± {s:.4f}"


def markdown(blocks: list[dict]) -> str:
    lines = []
    for b in blocks:
        columns = {**COLUMNS, **b.get("attack_columns", {})}
        lines += [f"### {b['dataset']} - {b['backbone']} ({b['deleted']} deleted training nodes, "
                  f"seeds {b['seeds']})", "",
                  "| model | " + " | ".join(columns.values()) + " | OpenGU F1 / s (quoted) |",
                  "|---" * (len(columns) + 2) + "|"]
        for r in b["rows"]:
            quote = OPENGU_CORA.get(r["model"]) if b["dataset"] == "Cora" and b["backbone"] == "GCN" else None
            q = f"{quote[0]:.4f} / {quote[1]:.2f}" if quote else ""
            lines.append(f"| {r['model']} | " + " | ".join(cell(r, k) for k in columns) + f" | {q} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--synthetic", type=int, default=None,
                   help="instead: synthetic_graph(N, avg_degree=11) with utu/gif/idea/projector")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--no-linear", action="store_true", help="skip the Projector block")
    p.add_argument("--methods", default=None, help="comma-separated subset of the GCN methods")
    p.add_argument("--attacks", default="lira,relearn",
                   help="comma-separated attacks scored on every row (empty: none); available for node "
                        "models: " + ", ".join(available_attacks("node")))
    p.add_argument("--attack-params", default=None,
                   help='attack options as JSON keyed by attack name, e.g. \'{"lira": {"shadows": 4}}\'')
    p.add_argument("--mirror", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="opengu_node")
    args = p.parse_args(argv)
    attacks = [a for a in args.attacks.split(",") if a]
    try:
        attack_params = json.loads(args.attack_params) if args.attack_params else None
    except json.JSONDecodeError as e:
        p.error(f"--attack-params must be JSON, e.g. '{{\"lira\": {{\"shadows\": 4}}}}': {e}")
    try:
        built = build_attacks(attacks, "node", attack_params)       # checked before any work
    except (TypeError, ValueError) as e:
        p.error(str(e))
    args.attack_columns = {k: v for a in built for k, v in a.columns.items()}
    args.attack_notes = {a.name: a.note for a in built if a.note}
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0]] + list(argv or sys.argv[1:]))
    log = lambda s: print(s, file=sys.stderr, flush=True)
    methods = GCN_METHODS
    if args.methods:
        methods = {k: GCN_METHODS.get(k, {}) for k in args.methods.split(",")}
    if args.synthetic:
        methods = {k: v for k, v in GCN_METHODS.items() if k in ("utu", "gif", "idea")}
    started, t0 = time.strftime("%Y-%m-%d %H:%M:%S"), time.perf_counter()
    names = [f"synthetic:{args.synthetic}"] if args.synthetic else args.datasets.split(",")
    blocks = []
    for name in names:
        if args.synthetic:
            base = synthetic_graph(args.synthetic, avg_degree=11.0, seed=0)
        else:
            base = normalise_rows(load_dataset(name, mirror=args.mirror))
        deleted = int(0.1 * base.num_nodes) if not args.synthetic else 270
        gcn_rows, linear_rows = [], []
        for seed in range(args.seeds):
            data = opengu_split(base, seed)
            config = TrainConfig(epochs=args.epochs, lr=0.005, weight_decay=5e-4, eval_every=args.epochs,
                                 patience=args.epochs, seed=seed)
            log(f"{name} seed {seed}: GCN")
            gcn_rows += run_block(data, seed, config, dict(hidden_channels=64, out_channels=64, dropout=0.5),
                                  methods, deleted, log, attacks, attack_params)
            if not args.no_linear:
                log(f"{name} seed {seed}: linear GNN")
                linear_config = TrainConfig(epochs=args.epochs, lr=0.2, weight_decay=5e-5,
                                            eval_every=args.epochs, patience=args.epochs, seed=seed)
                linear_rows += run_block(data, seed, linear_config, dict(encoder="linear", num_layers=2),
                                         {"utu": {}, "projector": {}}, deleted, log, attacks, attack_params)
            blocks = [b for b in blocks if b["dataset"] != name]
            blocks.append({"dataset": name, "backbone": "GCN", "deleted": deleted,
                           "seeds": sorted({r["seed"] for r in gcn_rows}), "rows": aggregate(gcn_rows),
                           "runs": gcn_rows, "attack_columns": args.attack_columns})
            if linear_rows:
                blocks.append({"dataset": name, "backbone": "linear GNN (X, AX, A^2X)", "deleted": deleted,
                               "seeds": sorted({r["seed"] for r in linear_rows}),
                               "rows": aggregate(linear_rows), "runs": linear_rows,
                               "attack_columns": args.attack_columns})
            write(blocks, args, command, started, t0)


def write(blocks, args, command, started, t0) -> None:
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    body = (f"# Node unlearning in OpenGU's protocol\n\nCommand: `{command}` (with "
            f"`OMP_NUM_THREADS=1 GNN_UNLEARN_MIRROR=../shared/datasets`)  \nStarted {started}; "
            f"hardware: {hardware()}  \nTotal wall time: {time.perf_counter() - t0:.0f} s  \n"
            "The 2-core machine was shared with other jobs while this ran: seconds are one-thread "
            "figures under load; speed-ups compare methods within the same run.\n\n"
            + markdown(blocks) + "\n" + (__doc__.split("\n\n", 1)[1].split("    python")[0]) +
            "OpenGU column: quoted from ../shared/opengu/results.md (OpenGU's code, Cora, one run, "
            "seed 2024, one thread on this machine type; its GIF time excludes the gradient "
            "computation, its D2DGN F1 is the best test F1 over its epochs).\n"
            + "".join(f"\n{name}: {note}\n" for name, note in args.attack_notes.items()))
    atomic_write_text(out / f"{args.name}.md", body)
    atomic_write_text(out / f"{args.name}.json", json.dumps(
        dict(command=command, hardware=hardware(), blocks=blocks, attack_notes=args.attack_notes),
        indent=1, default=str))


if __name__ == "__main__":
    main()
