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

Every block (``--families``; one per model family) has its own original model trained on the
same split and its own retrain (exact retraining of that model on the retained graph), and
every block of a seed deletes the same 270 (CiteSeer 332) training nodes, in one request:

* ``gcn``: the GCN above with utu, gif, idea, gradient_ascent, d2dgn, megu, sgu, gukd and
  cognac (its node requests on node classification);
* ``linear``: Projector on the linear GNN;
* ``certified``: ``train_certified`` (SGC features, K = 2; OpenGU's lambda 1e-2, sigma 1e-2,
  epsilon 1, delta 1e-4: the budget as is, not tuned) served by ``cgu``, and the same model
  with ScaleGUN's push state (``rmax=0``: exact propagation) served by ``scalegun``; each its
  own retrain (same noise seed). Columns: whether the request spent the (epsilon, delta) budget
  and made the method retrain automatically (seeds that retrained / seeds), and the share of
  the budget left afterwards (1 after a retrain: fresh noise, empty ledger);
  With ``--certified-select KIND:SIZE`` (or ``protocol``: the block's own request, ``int(0.1 N)``
  nodes at once) lambda and sigma are chosen per seed by ``select_certified`` instead: the
  validation-best of its grid (hold-out: 20 % of the training nodes, the winner refit on all;
  test nodes never read) among the candidates that serve ``--certified-min-requests`` such
  requests within the budget; ``cgu`` gets the chosen model and ``scalegun`` (rmax=0: exact, the
  same certificate) the same lambda and sigma; the choices are listed under the block (the
  scattering block, when run, selects its own with ``features="scattering"`` and ``gst``);
* ``scattering``: GST's scattering classifier (``train_scattering``, J = 3, order 1, the same
  certificate settings) served by ``gst``, with the same certificate columns;
* ``sharded``: 10-shard GCNs (the GCN recipe per shard) trained with GraphEraser's and
  GUIDE's presets (``train_sharded(..., method=...)``) and unlearned with ``graph_eraser`` /
  ``guide``; each preset's retrain is ``retrain_sharded`` (partition recomputed on the retained
  graph, every shard retrained, aggregator refitted); the single GCN's original and retrain rows
  of the ``gcn`` block are repeated there for the utility comparison (speed-up: "-"; their
  dist is to the single GCN's retrain).

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
    python benchmarks/opengu_node.py --datasets Cora,CiteSeer --seeds 5 --family-seeds certified:3,scattering:3 --name opengu_node_5seeds
    python benchmarks/opengu_node.py --datasets Cora --seeds 1 --no-linear --methods utu,gif --name opengu_node_attacks_check
    python benchmarks/opengu_node.py --synthetic 235000 --seeds 1 --name opengu_node_synthetic_235k
    python benchmarks/opengu_node.py --datasets Cora,CiteSeer --seeds 3 --no-linear --methods utu,gif,gradient_ascent,d2dgn,megu,sgu,gukd --name opengu_node_megu
    python benchmarks/opengu_node.py --datasets Cora,CiteSeer --seeds 5 --families certified --attacks "" --certified-select protocol --name opengu_certified_selected
"""
from __future__ import annotations

import argparse
import copy
import json
import os
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
from gnn_unlearn.methods import select_certified
from gnn_unlearn.methods.certified_select import check_request
from gnn_unlearn.metrics.node import accuracy, macro_f1
from gnn_unlearn.models import train_certified
from gnn_unlearn.models.scattering import train_scattering
from gnn_unlearn.options import check_distinct, check_output_folder, check_results_name
from gnn_unlearn.sharding import PRESETS, check_sharded_inputs, train_sharded

#: OpenGU's numbers on Cora (one run, seed 2024), quoted from ../shared/opengu/results.md
#: (measured on this machine type, 1 thread): test F1 after unlearning and unlearning seconds.
OPENGU_CORA = {"retrain": (0.8635, 1.82), "gif": (0.8635, 1.65), "megu": (0.8579, 0.91),
               "gnndelete": (0.8063, 1.59), "d2dgn": (0.9004, 1.85)}
#: The same file's rows of the other families, keyed by (family, row), with the defect that
#: changes each number (F1 after unlearning, unlearning seconds, note).
OPENGU_CORA_OTHER = {
    ("certified", "scalegun"): (0.7970, 1.53, "its node mode deletes only 50 of the 2140 incident "
                                "edges and no node (F1 before = after); 1.53 s per batch of 10 edges, "
                                "7.96 s for 5; needs the CPU batch_multiply fix"),
    ("certified", "cgu"): (0.7085, 2.9, "SGC under-trained (Adam lr 0.001 x 100); F1 after 101 of 270 "
                           "one-node removals (cut at 300 s); every removal retrained (budget 0.016 "
                           "exceeded); 2.9 s per node, ~13 min for 270"),
    ("sharded", "graph_eraser"): (0.8339, 5.75, "BLPA partition; all 10 shards hit and retrained"),
    ("sharded", "guide"): (0.8149, 7.52, "macro-F1, identical before and after unlearning (all 10 "
                           "shards retrained): the fork's own report names bugs in its bookkeeping"),
}

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
    "cognac": {},
}

#: The blocks, one per model family (``--families``), each with its own original and retrain.
FAMILIES = {"gcn": "GCN", "linear": "linear GNN (X, AX, A^2X)",
            "certified": "certified linear (SGC features, K=2; ScaleGUN's with push rmax=0)",
            "scattering": "certified linear on scattering features (GST)",
            "sharded": "sharded GCN x10 (GraphEraser, GUIDE)"}
#: OpenGU's certified defaults (lambda, sigma, epsilon, delta): the (epsilon, delta) budget as is.
CERTIFIED = dict(num_hops=2, lam=1e-2, noise_std=1e-2, epsilon=1.0, delta=1e-4)
SCATTERING = dict(lam=1e-2, noise_std=1e-2, epsilon=1.0, delta=1e-4)
#: ``--certified-select``: what ``select_certified`` gets besides the request (OpenGU's split has no
#: validation nodes and sets val_mask = train_mask, so a seeded 20 % hold-out of the training
#: nodes is the validation set; when no candidate serves the request, the one serving most is
#: taken and the block says so).
CERTIFIED_SELECT = dict(validation="holdout", holdout=0.2, fallback="requests")
_LIRA_WHY = ("LiRA's shadows are rebuilt with build_model(original.config) and trained with "
             "training.fit (the GNN recipe); this family has its own trainer, so shadows of its "
             "kind cannot be built and shadows of another kind would audit the wrong model")
#: Attacks that cannot audit a family's model, and why (shown as "-" with this note).
NOT_APPLICABLE = {"certified": {"lira": _LIRA_WHY}, "scattering": {"lira": _LIRA_WHY},
                  "sharded": {"lira": _LIRA_WHY}}


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
        if "retrained" in result.history:      # certified removal: the certificate's state
            row["retrained"] = float(bool(result.history["retrained"]))
            row["budget_left"] = float(result.history["budget_left"])
            row["budget_left_share"] = row["budget_left"] / float(result.model.certificate.budget)
    return row


def run_block(data, seed: int, make_original, methods: dict, deleted: int, log,
              attacks: list[str] = (), attack_params: dict | None = None,
              skipped_attacks: dict | None = None) -> tuple[list[dict], object]:
    """Original model (``make_original(data)``), its own retrain and ``methods`` on one split /
    request / seed, each row with the columns of the ``attacks`` (prepared once with the original
    and the retrained model). An attack whose preparation raises on this model family is left
    out of the block (its columns show "-") and its error kept in ``skipped_attacks``.
    Returns the rows and the original model."""
    chosen = build_attacks(list(attacks), "node", attack_params, seed)
    t = time.perf_counter()
    original = make_original(data)
    log(f"  trained original in {time.perf_counter() - t:.1f}s")
    task = sample_nodes(data, deleted, seed=seed, among=data.train_mask).resolve(data, num_hops=2)
    kept = task.retained_data
    retrained = unlearn(original, task, "retrain")
    p_orig = probabilities(original, data)
    p_rt = probabilities(retrained.model, kept)
    t = time.perf_counter()
    prepared = []
    for attack in chosen:
        try:
            attack.prepare(task, original, retrained.model)
            prepared.append(attack)
        except (ValueError, TypeError, RuntimeError, NotImplementedError) as e:
            if skipped_attacks is None:
                raise
            skipped_attacks[attack.name] = f"{type(e).__name__}: {e}"
            log(f"  {attack.name} does not apply here: {e}")
    if prepared:
        log(f"  prepared {', '.join(a.name for a in prepared)} in {time.perf_counter() - t:.1f}s")

    def attacked(model, graph, on_original: bool) -> dict:
        out = {}
        for attack in prepared:
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
        cert = f" retrained {result.history['retrained']}" if "retrained" in result.history else ""
        log(f"  {name}: {result.seconds:.2f}s F1 {rows[-1]['test_f1_micro']:.4f} dist {rows[-1]['dist']:.3f}"
            + cert)
    for r in rows:
        r["speedup"] = retrained.seconds / r["seconds"] if r["seconds"] == r["seconds"] else float("nan")
        r["seed"] = seed
    return rows, original


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


#: The certificate's columns (certified blocks only).
CERTIFICATE_COLUMNS = {"retrained": "auto-retrained (seeds)", "budget_left_share": "budget left (share)"}


def quote(block: dict, model: str) -> str:
    """OpenGU's own number for this row (Cora only), with the defect that changes it."""
    if block["dataset"] != "Cora":
        return ""
    if block.get("family", "gcn") == "gcn" and model in OPENGU_CORA:
        return "{:.4f} / {:.2f}".format(*OPENGU_CORA[model])
    q = OPENGU_CORA_OTHER.get((block.get("family"), model))
    return f"{q[0]:.4f} / {q[1]:.2f} ({q[2]})" if q else ""


def markdown(blocks: list[dict]) -> str:
    lines = []
    for b in blocks:
        skipped = b.get("skipped_attacks", {})
        columns = {**COLUMNS, **{k: v for k, v in b.get("attack_columns", {}).items()
                                 if not any(k.startswith(a) for a in skipped)}}
        certified = any("retrained" in r for r in b["rows"])
        if certified:
            columns.update(CERTIFICATE_COLUMNS)
        most = max(len(c["seeds"]) for c in blocks)
        fewer = " - fewer seeds than the other blocks (--family-seeds)" if len(b["seeds"]) < most else ""
        lines += [f"### {b['dataset']} - {b['backbone']} - OpenGU protocol: random 80/0/20 split, "
                  f"row-normalised features, {b['deleted']} = int(0.1 N) training nodes deleted at once "
                  f"(seeds {b['seeds']}{fewer})", "",
                  "| model | " + " | ".join(columns.values()) + " | OpenGU F1 / s (quoted) |",
                  "|---" * (len(columns) + 2) + "|"]
        for r in b["rows"]:
            values = []
            for k in columns:
                if k == "retrained":
                    values.append(f"{round(r[k] * r['n'])}/{r['n']}" if k in r else "-")
                else:
                    values.append(cell(r, k))
            lines.append(f"| {r['model']} | " + " | ".join(values) + f" | {quote(b, r['model'])} |")
        lines.append("")
        if b.get("selections"):
            lines += [f"Selected (select_certified, request {b['selections'][0]['request']}, "
                      f"{b['selections'][0]['validation']}; the selection's seconds are not in the table):",
                      ""] + selection_lines(b) + [""]
        for name, why in skipped.items():
            lines.append(f"{name}: not run on this block (\"-\"): {why}  ")
        if skipped:
            lines.append("")
    return "\n".join(lines)


def names_of(option: str) -> list[str]:
    """The entries of a comma-separated option (empty ones dropped: ``--attacks ""`` runs none)."""
    return [x for x in option.split(",") if x]


def parse_family_seeds(text: str) -> dict[str, int]:
    """``--family-seeds``: ``family:seeds`` pairs, e.g. ``sharded:3,certified:3``."""
    out = {}
    for pair in names_of(text):
        family, _, count = pair.partition(":")
        if not count.isdecimal():
            raise ValueError(f"--family-seeds entry {pair!r}: give family:seeds pairs, e.g. 'sharded:3'")
        if family in out:
            raise ValueError(f"--family-seeds: {family!r} is given twice; give each once")
        out[family] = int(count)
    return out


def families_of(args: argparse.Namespace) -> list[str]:
    """The blocks run, in ``--families`` order (``--synthetic``: gcn and linear only; ``--no-linear``:
    without linear)."""
    families = names_of(args.families)
    if args.synthetic:
        families = [f for f in families if f in ("gcn", "linear")]
    return [f for f in families if not (args.no_linear and f == "linear")]


def gcn_methods(args: argparse.Namespace) -> dict[str, dict]:
    """The gcn block's rows: ``--methods`` (default all of :data:`GCN_METHODS`; ``--synthetic``:
    utu, gif, idea)."""
    if args.synthetic:
        return {k: v for k, v in GCN_METHODS.items() if k in ("utu", "gif", "idea")}
    if args.methods:
        return {k: GCN_METHODS[k] for k in args.methods.split(",")}
    return GCN_METHODS


def deleted_count(base, args: argparse.Namespace) -> int:
    """The request of every block: ``int(0.1 N)`` training nodes (``--synthetic``: 270)."""
    return 270 if args.synthetic else int(0.1 * base.num_nodes)


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[dict, list]:
    """Refuses every bad option before any training, with what was wrong (``ValueError``), and
    returns the graphs by name (row-normalised; ``--synthetic``: the synthetic graph) and the
    attacks, built.

    Refused: an empty ``--name``, an ``--output`` that is a file; ``--seeds`` < 1, ``--epochs``
    that :class:`~gnn_unlearn.TrainConfig` refuses; ``--families`` unknown, repeated, or none
    left to run (after ``--no-linear``; ``--synthetic`` runs gcn and linear only);
    ``--family-seeds`` not ``family:seeds`` pairs of blocks that run, with 1 to ``--seeds``
    seeds; ``--methods`` empty, repeated, not rows of the gcn block, or given without it or with
    ``--synthetic``; ``--attacks`` / ``--attack-params`` that
    :func:`~gnn_unlearn.metrics.attacks.build_attacks` refuses; ``--certified-select`` not
    ``protocol`` or a request ``KIND:SIZE``; it, ``--certified-min-requests`` or
    ``--count-scaling`` given without a certified or scattering block (the last two: without
    ``--certified-select``); ``--shards`` given without the sharded block, or more than the
    training nodes; ``--synthetic`` < 1, or given with ``--datasets``; a ``--mirror`` that is
    not a folder; ``--datasets`` repeated, unknown, missing files, without node features or
    labels, or too small for the request of some seed (int(0.1 N) training nodes; with
    ``--synthetic``, 270)."""
    default = parser.get_default
    check_results_name(args.name)
    check_output_folder(args.output)
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    try:
        TrainConfig(epochs=args.epochs, lr=0.005, weight_decay=5e-4, eval_every=args.epochs, patience=args.epochs)
    except ValueError as e:
        raise ValueError(f"--epochs: {e}") from None
    if args.synthetic is not None:
        if args.synthetic < 1:
            raise ValueError(f"--synthetic takes a number of nodes >= 1, got {args.synthetic}")
        if args.datasets != default("datasets"):
            raise ValueError("--synthetic replaces --datasets; give one of them")
        if args.methods is not None:
            raise ValueError("--methods does not apply with --synthetic: its gcn block runs utu, gif and idea")
    given = names_of(args.families)
    for family in given:
        if family not in FAMILIES:
            raise ValueError(f"--families entry {family!r}: choose from {', '.join(FAMILIES)}")
    check_distinct("--families", given)
    if args.synthetic and args.families != default("families"):
        other = [f for f in given if f not in ("gcn", "linear")]
        if other:
            raise ValueError(f"--families: --synthetic runs only the gcn and linear blocks; drop {', '.join(other)}")
    families = families_of(args)
    if not families:
        raise ValueError(f"--families {args.families!r}" + (" with --no-linear" if args.no_linear else "")
                         + " leaves no block to run; choose from " + ", ".join(FAMILIES))
    for family, count in parse_family_seeds(args.family_seeds).items():
        if family not in families:
            raise ValueError(f"--family-seeds names {family!r}, which is not a block of this run "
                             f"({', '.join(families)})")
        if not 1 <= count <= args.seeds:
            raise ValueError(f"--family-seeds {family}:{count}: give 1 to --seeds ({args.seeds}) seeds")
    if args.methods is not None:
        methods = args.methods.split(",")
        for method in methods:
            if method not in GCN_METHODS:
                raise ValueError(f"--methods entry {method!r}: choose from {', '.join(GCN_METHODS)}")
        check_distinct("--methods", methods)
        if "gcn" not in families:
            raise ValueError("--methods chooses the gcn block's rows; add gcn to --families")
    try:
        attack_params = json.loads(args.attack_params) if args.attack_params else None
    except json.JSONDecodeError as e:
        raise ValueError(f"--attack-params must be JSON, e.g. '{{\"lira\": {{\"shadows\": 4}}}}': {e}") from None
    try:
        built = build_attacks(names_of(args.attacks), "node", attack_params)
    except (TypeError, ValueError) as e:
        raise ValueError(f"--attacks, --attack-params: {e}") from None
    certified = [f for f in families if f in ("certified", "scattering")]
    if args.certified_select is not None and args.certified_select != "protocol":
        try:
            kind, _, size = args.certified_select.partition(":")
            check_request((kind, float(size) if any(c in size for c in ".eE") else int(size)))
        except ValueError as e:
            raise ValueError(f"--certified-select takes 'protocol' or KIND:SIZE, e.g. node:0.01: {e}") from None
    if args.certified_min_requests < 1:
        raise ValueError(f"--certified-min-requests must be >= 1, got {args.certified_min_requests}")
    selection = {"--certified-min-requests": "certified_min_requests", "--count-scaling": "count_scaling"}
    for flag, key in {"--certified-select": "certified_select", **selection}.items():
        if getattr(args, key) != default(key) and not certified:
            raise ValueError(f"{flag} applies to the certified and scattering blocks; add one to --families")
    for flag, key in selection.items():
        if getattr(args, key) != default(key) and args.certified_select is None:
            raise ValueError(f"{flag} applies to --certified-select; give that too")
    if args.shards != default("shards") and "sharded" not in families:
        raise ValueError("--shards applies to the sharded block; add sharded to --families")
    if args.synthetic:
        try:
            bases = {f"synthetic:{args.synthetic}": synthetic_graph(args.synthetic, avg_degree=11.0, seed=0)}
        except ValueError as e:
            raise ValueError(f"--synthetic {args.synthetic}: {e}") from None
    else:
        if args.mirror is not None and not os.path.isdir(args.mirror):
            raise ValueError(f"--mirror {args.mirror!r} is not a folder; give the folder of raw dataset files")
        names = args.datasets.split(",")
        check_distinct("--datasets", names, [n.lower() for n in names])
        bases = {}
        for name in names:
            try:
                raw = load_dataset(name, mirror=args.mirror)    # refuses an unknown name before reading files
            except (ValueError, FileNotFoundError, ImportError) as e:
                raise ValueError(f"--datasets: {e}") from None
            if getattr(raw, "x", None) is None or getattr(raw, "y", None) is None:
                raise ValueError(f"--datasets: {name!r} has no node features or labels; this table needs a "
                                 "labelled graph such as Cora or CiteSeer")
            bases[name] = normalise_rows(raw)
    for name, base in bases.items():
        flag = "--synthetic" if args.synthetic else f"--datasets {name!r}"
        for seed in range(args.seeds):
            data = opengu_split(base, seed)
            count = deleted_count(base, args)
            try:
                sample_nodes(data, count, seed=seed, among=data.train_mask)
            except ValueError as e:
                raise ValueError(f"{flag}: cannot draw the request of seed {seed} ({count} training nodes): "
                                 f"{e}") from None
        if "sharded" in families:
            for method, preset in PRESETS.items():
                try:
                    check_sharded_inputs(data, "node", args.shards, **preset)
                except ValueError as e:
                    raise ValueError(f"--shards ({method} on {name}): {e}") from None
    return bases, built


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--synthetic", type=int, default=None,
                   help="instead: synthetic_graph(N, avg_degree=11) with utu/gif/idea/projector")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--no-linear", action="store_true", help="skip the Projector block")
    p.add_argument("--families", default="gcn,linear,certified,scattering,sharded",
                   help="the blocks, one per model family: " + ", ".join(FAMILIES))
    p.add_argument("--family-seeds", default="",
                   help="fewer seeds for some blocks, e.g. 'sharded:3' (the first seeds; labelled)")
    p.add_argument("--shards", type=int, default=10, help="shards of the sharded block (OpenGU: 10)")
    p.add_argument("--methods", default=None, help="comma-separated subset of the GCN methods")
    p.add_argument("--attacks", default="lira,relearn",
                   help="comma-separated attacks scored on every row (empty: none); available for node "
                        "models: " + ", ".join(available_attacks("node")))
    p.add_argument("--attack-params", default=None,
                   help='attack options as JSON keyed by attack name, e.g. \'{"lira": {"shadows": 4}}\'')
    p.add_argument("--certified-select", default=None,
                   help="choose the certified block's lambda and sigma with select_certified for this "
                        "expected request: 'protocol' (the block's own int(0.1 N) nodes) or KIND:SIZE, "
                        "e.g. node:0.01")
    p.add_argument("--certified-min-requests", type=int, default=1,
                   help="--certified-select: requests the model must serve without retraining")
    p.add_argument("--count-scaling", default="proportional", choices=["proportional", "strict"],
                   help="--certified-select: how a request given as a node count is simulated on the "
                        "selection's hold-out (select_certified's count_scaling)")
    p.add_argument("--mirror", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="opengu_node")
    args = p.parse_args(argv)
    try:
        bases, built = check_args(args, p)
    except ValueError as e:
        p.error(str(e))
    attacks = names_of(args.attacks)
    attack_params = json.loads(args.attack_params) if args.attack_params else None
    args.family_seeds = parse_family_seeds(args.family_seeds)
    args.attack_columns = {k: v for a in built for k, v in a.columns.items()}
    args.attack_notes = {a.name: a.note for a in built if a.note}
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0]] + list(argv or sys.argv[1:]))
    log = lambda s: print(s, file=sys.stderr, flush=True)
    methods = gcn_methods(args)
    started, t0 = time.strftime("%Y-%m-%d %H:%M:%S"), time.perf_counter()
    families = families_of(args)
    args.skipped_attacks = {}
    selections: dict[tuple[str, str], list[dict]] = {}
    blocks = []
    for name, base in bases.items():
        deleted = deleted_count(base, args)
        rows = {f: [] for f in families}
        for seed in range(args.seeds):
            data = opengu_split(base, seed)
            config = TrainConfig(epochs=args.epochs, lr=0.005, weight_decay=5e-4, eval_every=args.epochs,
                                 patience=args.epochs, seed=seed)
            gcn_options = dict(hidden_channels=64, out_channels=64, dropout=0.5)
            gcn_rows = None
            for family in families:
                if seed >= args.family_seeds.get(family, args.seeds):
                    continue
                log(f"{name} seed {seed}: {FAMILIES[family]}")
                skipped = args.skipped_attacks.setdefault(family, {})
                block_attacks = [a for a in attacks if a not in NOT_APPLICABLE.get(family, {})]
                block_params = ({a: v for a, v in attack_params.items() if a in block_attacks}
                                if attack_params else None)
                for a in attacks:
                    if a in NOT_APPLICABLE.get(family, {}):
                        skipped[a] = NOT_APPLICABLE[family][a]
                if family == "gcn":
                    make = lambda d: train(d, "node", config, **gcn_options)[0]
                    block_methods = methods
                elif family == "linear":
                    linear_config = TrainConfig(epochs=args.epochs, lr=0.2, weight_decay=5e-5,
                                                eval_every=args.epochs, patience=args.epochs, seed=seed)
                    make = lambda d: train(d, "node", linear_config, encoder="linear", num_layers=2)[0]
                    block_methods = {"utu": {}, "projector": {}}
                elif family == "scattering" and args.certified_select:
                    sel = select_certified(data, request=selection_request(args.certified_select, deleted),
                                           min_requests=args.certified_min_requests, seed=seed,
                                           count_scaling=args.count_scaling, features="scattering", epsilon=SCATTERING["epsilon"],
                                           delta=SCATTERING["delta"], **CERTIFIED_SELECT)
                    selections.setdefault((name, family), []).append(selection_summary(sel))
                    log(f"  selected lambda={sel.lam:g} sigma={sel.noise_std:g} in {sel.seconds:.1f}s "
                        f"(constraint met: {sel.constraint_met})")
                    make = lambda d, m=sel.model: m
                    block_methods = {"gst": {}}
                elif family == "scattering":
                    make = lambda d: train_scattering(d, seed=seed, **SCATTERING)
                    block_methods = {"gst": {}}
                else:       # certified / sharded: one model per method, each with its own retrain
                    make = None
                if make is not None:
                    new_rows, _ = run_block(data, seed, make, block_methods, deleted, log, block_attacks,
                                            block_params, skipped)
                    rows[family] += new_rows
                    if family == "gcn":
                        gcn_rows = new_rows
                    continue
                if family == "certified" and args.certified_select:
                    sel = select_certified(data, request=selection_request(args.certified_select, deleted),
                                           min_requests=args.certified_min_requests, seed=seed,
                                           count_scaling=args.count_scaling, **{k: CERTIFIED[k] for k in ("num_hops", "epsilon", "delta")},
                                           **CERTIFIED_SELECT)
                    chosen = dict(CERTIFIED, lam=sel.lam, noise_std=sel.noise_std)
                    selections.setdefault((name, family), []).append(selection_summary(sel))
                    log(f"  selected lambda={sel.lam:g} sigma={sel.noise_std:g} in {sel.seconds:.1f}s "
                        f"(constraint met: {sel.constraint_met})")
                    variants = {"cgu": lambda d, m=sel.model: m,
                                "scalegun": lambda d, c=chosen: train_certified(d, seed=seed, rmax=0.0, **c)}
                elif family == "certified":
                    variants = {"cgu": lambda d: train_certified(d, seed=seed, **CERTIFIED),
                                "scalegun": lambda d: train_certified(d, seed=seed, rmax=0.0, **CERTIFIED)}
                else:
                    variants = {m: (lambda d, m=m: train_sharded(d, "node", num_shards=args.shards, method=m,
                                                                 seed=seed, config=config, **gcn_options))
                                for m in ("graph_eraser", "guide")}
                for variant, make in variants.items():
                    new_rows, _ = run_block(data, seed, make, {variant: {}}, deleted, log, block_attacks,
                                            block_params, skipped)
                    for r in new_rows:
                        if r["model"] in ("original", "retrain"):
                            r["model"] = f"{variant}: {r['model']}"
                    rows[family] += new_rows
                if family == "sharded" and gcn_rows is not None:   # the single GCN, same split and request
                    rows[family] += [dict(r, model=f"single GCN: {r['model']}", speedup=float("nan"))
                                     for r in gcn_rows if r["model"] in ("original", "retrain")]
            blocks = [b for b in blocks if b["dataset"] != name]
            for family in families:
                if rows[family]:
                    backbone = FAMILIES[family]
                    extra = {}
                    if family in ("certified", "scattering") and args.certified_select:
                        backbone += (f"; lambda, sigma selected for {args.certified_min_requests} x "
                                     f"{args.certified_select} request(s)")
                        extra["selections"] = selections.get((name, family), [])
                    blocks.append({"dataset": name, "backbone": backbone, "family": family, **extra,
                                   "deleted": deleted, "seeds": sorted({r["seed"] for r in rows[family]}),
                                   "rows": aggregate(rows[family]), "runs": rows[family],
                                   "attack_columns": args.attack_columns,
                                   "skipped_attacks": dict(args.skipped_attacks.get(family, {}))})
            write(blocks, args, command, started, t0)


def selection_request(spec: str, deleted: int) -> tuple[str, float | int]:
    """``protocol``: the block's own request (``deleted`` nodes); else ``KIND:SIZE``."""
    if spec == "protocol":
        return "node", deleted
    kind, _, size = spec.partition(":")
    return kind, float(size) if any(c in size for c in ".eE") else int(size)


def selection_summary(sel) -> dict:
    """One seed's choice: the chosen candidate and the whole record."""
    chosen = next(c for c in sel.candidates if (c.lam, c.noise_std) == (sel.lam, sel.noise_std))
    return {"lam": sel.lam, "noise_std": sel.noise_std, "val_accuracy": chosen.val_accuracy,
            "served": chosen.requests_served, "refit_served": chosen.final_requests_served,
            "constraint_met": sel.constraint_met, "fallback": sel.fallback, "seconds": sel.seconds,
            "simulated": sum(c.requests_served is not None for c in sel.candidates),
            "validation": sel.validation, "request": list(sel.request), "record": sel.to_dict()}


def selection_lines(block: dict) -> list[str]:
    """The per-seed choices of a block with ``--certified-select``."""
    out = []
    for seed, s in zip(block["seeds"], block.get("selections", [])):
        met = "met" if s["constraint_met"] else f"NOT met (fallback {s['fallback']!r})"
        out.append(f"- seed {seed}: lambda = {s['lam']:g}, sigma = {s['noise_std']:g}, hold-out accuracy "
                   f"{s['val_accuracy']:.4f}, served {s['served']} (refit on all training nodes: "
                   f"{s['refit_served']}), constraint {met}; candidates tried with requests of "
                   f"{s['record'].get('simulated_size', s['request'][1])} (the real one: {s['request'][1]}); "
                   f"{s['simulated']} of "
                   f"{len(s['record']['candidates'])} candidates simulated, {s['seconds']:.0f} s")
    return out


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
            "computation, its D2DGN F1 is the best test F1 over its epochs). The rows of the other "
            "families quote the same file with the defect that changes each number beside it (OpenGU's "
            "CGU runs one-node requests on SGC, its ScaleGUN node mode deletes 50 edges and no node, "
            "its GUIDE F1 is macro-F1 and equal before and after); OpenGU did not run GST (and "
            "overwrites its budget with 1e5, so it would never retrain).\n"
            "relearn on the certified, scattering and sharded blocks: the attacker's Adam steps "
            "(lr 0.01 where the model records no training recipe) tune every parameter the "
            "model has: the linear head of a certified model, every shard (and the learned "
            "aggregator weights) of a sharded one.\n"
            + "".join(f"\n{name}: {note}\n" for name, note in args.attack_notes.items()))
    atomic_write_text(out / f"{args.name}.md", body)
    atomic_write_text(out / f"{args.name}.json", json.dumps(
        dict(command=command, hardware=hardware(), blocks=blocks, attack_notes=args.attack_notes,
             skipped_attacks=args.skipped_attacks),
        indent=1, default=str))


if __name__ == "__main__":
    main()
