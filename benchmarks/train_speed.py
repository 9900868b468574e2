"""Training speed: the retraining yardstick, per epoch and to early stop, before and after.

Every unlearning speed-up is measured against retraining, so this times
:func:`gnn_unlearn.training.fit` itself: node classification on Cora and CiteSeer and link
prediction on Cora to early stop (the library's default recipe: GCN 128-64, Adam lr 0.01,
validation every 5 epochs, patience 100), a few link epochs on gowalla (70,839 nodes, 1.4 M
directed edges, featureless), and OpenGU's recipe on Cora (GCN, 64 hidden, 100 epochs, Adam
lr 0.005, one thread; OpenGU's own figure is quoted from ``shared/opengu/results.md``).

"Before" turns the sparse-feature path off in the same run (``encoder.sparse_feature_density
= 0``: the first layer's :math:`XW` as a dense product, as before it existed); the two are run
alternately, so the ratio survives a loaded machine. Each case also gets a per-epoch phase
breakdown (negative sampling, forward, backward, optimiser step, one validation pass).

    GNN_UNLEARN_MIRROR=../shared/datasets python benchmarks/train_speed.py --name train_speed_cpu
    # on a loaded machine, one thread (CPU seconds then approximate an idle core's wall-clock):
    python benchmarks/train_speed.py --threads 1 --repeats 2 --name train_speed_cpu
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from gnn_unlearn.data import link_split, node_split
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.models import make_model
from gnn_unlearn.models.features import density, is_sparse_enough
from gnn_unlearn.ops.graph import edge_keys
from gnn_unlearn.ops.negative import sample_non_edges
from gnn_unlearn.options import check_distinct, check_output_folder, check_results_name, load_datasets
from gnn_unlearn.training import (TrainConfig, fit, link_loss, negative_pairs, node_loss,
                                  validation_score)
from gnn_unlearn.utils import seeded

#: OpenGU's retraining time on Cora (GCN 64 hidden, 100 epochs, one core), quoted from
#: shared/opengu/results.md (Retrain row: 1.82 s retrain, 1.92 s original training).
OPENGU_RETRAIN_S = 1.82

MODES = {"before": 0.0, "after": None}    # sparse_feature_density: 0 = off, None = default
#: The cases (``--cases``) and the dataset each trains on.
CASES = {"cora_node": "Cora", "citeseer_node": "CiteSeer", "cora_link": "Cora", "gowalla_link": "gowalla",
         "opengu": "Cora"}


def build(data, task: str, config: TrainConfig, mode: str, **options):
    with seeded(config.seed):
        model = make_model(data, task, **options)
    if MODES[mode] is not None:
        model.encoder.sparse_feature_density = MODES[mode]
    return model


def to_early_stop(data, task: str, config: TrainConfig, mode: str, **options) -> dict:
    """One ``fit`` from a fresh model (the seed fixes its weights): wall-clock and CPU
    seconds (of all threads: under load, CPU time is what the work cost, wall-clock adds the
    waiting for a core), epochs, best validation score."""
    model = build(data, task, config, mode, **options)
    t, c = time.perf_counter(), time.process_time()
    model, history = fit(model, data, config)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    return dict(seconds=secs, cpu_seconds=cpu, epochs=history.epochs_run,
                best_epoch=history.best_epoch, best_val=history.best_val,
                ms_per_epoch=1000 * secs / history.epochs_run)


def filter_then_unique(positive: torch.Tensor, num_nodes: int, num_samples: int,
                       generator: torch.Generator, source_range=None, target_range=None,
                       max_rounds: int = 20) -> torch.Tensor:
    """``sample_non_edges`` as it was before this benchmark (lookups of unsorted draws, then
    ``unique``): the "before" of the negative-sampling row; returns the same pairs."""
    s_lo, s_hi = source_range or (0, num_nodes)
    t_lo, t_hi = target_range or (0, num_nodes)
    pos_keys = torch.sort(edge_keys(positive, num_nodes).cpu())[0]
    chosen = torch.empty(0, dtype=torch.long)
    for _ in range(max_rounds):
        draw = int((num_samples - chosen.numel()) * 1.3) + 16
        src = torch.randint(s_lo, s_hi, (draw,), generator=generator)
        dst = torch.randint(t_lo, t_hi, (draw,), generator=generator)
        keep = src != dst
        keys = edge_keys(torch.stack([src[keep], dst[keep]]), num_nodes)
        pos = torch.searchsorted(pos_keys, keys).clamp_(max=pos_keys.numel() - 1)
        keys = torch.unique(keys[pos_keys[pos] != keys])
        keys = keys[~torch.isin(keys, chosen)]
        keys = keys[torch.randperm(keys.numel(), generator=generator)]
        chosen = torch.cat([chosen, keys])[:num_samples]
        if chosen.numel() >= num_samples:
            break
    return torch.stack([chosen // num_nodes, chosen % num_nodes])


def negative_sampling_row(name: str, data, repeats: int) -> dict:
    """Milliseconds per epoch's negatives (as many as training edges), before/after, one
    thread, alternately; and whether both give the same pairs."""
    was = torch.get_num_threads()
    torch.set_num_threads(1)
    pos, n = data.train_pos_edge_index, data.num_nodes
    ranges = {}
    if getattr(data, "num_users", None) is not None:
        ranges = dict(source_range=(0, int(data.num_users)),
                      target_range=(int(data.num_users), n))
    times = {"before": [], "after": []}
    try:
        for _ in range(repeats):
            for mode, fn in (("before", filter_then_unique), ("after", sample_non_edges)):
                g = torch.Generator().manual_seed(0)
                c = time.process_time()
                pairs = fn(pos, n, pos.size(1), g, **ranges)
                times[mode].append(1000 * (time.process_time() - c))
                if mode == "before":
                    reference = pairs
        same = torch.equal(reference, pairs)
    finally:
        torch.set_num_threads(was)
    return dict(case=name, pairs=int(pos.size(1)), same_pairs=bool(same),
                before_cpu_ms=statistics.median(times["before"]),
                after_cpu_ms=statistics.median(times["after"]))


def phases(data, task: str, config: TrainConfig, mode: str, epochs: int, **options) -> dict:
    """CPU milliseconds per epoch of each step of ``fit``'s loop, averaged over ``epochs``
    epochs (validation: per pass; ``fit`` runs one every ``eval_every`` epochs)."""
    model = build(data, task, config, mode, **options)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    acc = dict(negatives=0.0, forward=0.0, backward=0.0, step=0.0, validation=0.0)
    clock = time.process_time        # CPU time: robust to other jobs on the machine
    with seeded(config.seed):
        for _ in range(epochs):
            model.train()
            opt.zero_grad()
            t0 = clock()
            if task == "link":
                pos = data.train_pos_edge_index
                neg = negative_pairs(data, pos.size(1), gen)
                t1 = clock()
                z = model.encode(data.x, data.edge_index)
                logits = model.decode(z, torch.cat([pos, neg], 1))
                labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))])
                loss = F.binary_cross_entropy_with_logits(logits, labels)
            else:
                t1 = t0
                loss = node_loss(model, data)
            t2 = clock()
            loss.backward()
            t3 = clock()
            opt.step()
            t4 = clock()
            validation_score(model, data)
            t5 = clock()
            for key, secs in zip(acc, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                acc[key] += secs
    return {k: round(1000 * v / epochs, 2) for k, v in acc.items()}


def top_ops(data, task: str, config: TrainConfig, mode: str, epochs: int, k: int = 8,
            **options) -> list[dict]:
    """The ``k`` torch operators with the most self time over ``epochs`` training steps
    (torch.profiler; forward, backward and Adam step, no validation): what dominates."""
    from torch.profiler import ProfilerActivity, profile
    model = build(data, task, config, mode, **options)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    model.train()

    def step():
        opt.zero_grad()
        loss = link_loss(model, data, gen) if task == "link" else node_loss(model, data)
        loss.backward()
        opt.step()

    with seeded(config.seed):
        step()                                  # caches built outside the profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(epochs):
                step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [dict(op=e.key, ms_per_epoch=round(e.self_cpu_time_total / 1000 / epochs, 2),
                 share=round(e.self_cpu_time_total / total, 3)) for e in events[:k]]


def run_case(name: str, data, task: str, config: TrainConfig, repeats: int, threads: int,
             phase_epochs: int, log, **options) -> dict:
    was = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runs = {m: [] for m in MODES}
        for _ in range(repeats):                    # alternate: both see the same load
            for mode in MODES:
                runs[mode].append(to_early_stop(data, task, config, mode, **options))
                r = runs[mode][-1]
                log(f"  {name} {mode}: {r['seconds']:.2f} s, {r['epochs']} epochs, "
                    f"best val {r['best_val']:.4f} at {r['best_epoch']}")
        breakdown = {m: phases(data, task, config, m, phase_epochs, **options) for m in MODES}
        ops = {m: top_ops(data, task, config, m, phase_epochs, **options) for m in MODES}
    finally:
        torch.set_num_threads(was)
    row = dict(case=name, task=task, threads=threads, config=config.__dict__, options=options,
               runs=runs, phases=breakdown, top_ops=ops)
    for mode in MODES:
        secs = [r["seconds"] for r in runs[mode]]
        row[f"{mode}_s"] = statistics.median(secs)
        row[f"{mode}_min_s"] = min(secs)
        row[f"{mode}_ms_per_epoch"] = statistics.median(r["ms_per_epoch"] for r in runs[mode])
        row[f"{mode}_cpu_s"] = statistics.median(r["cpu_seconds"] for r in runs[mode])
    row["speedup"] = row["before_s"] / row["after_s"]
    row["cpu_speedup"] = row["before_cpu_s"] / row["after_cpu_s"]
    x = getattr(data, "x", None)
    row["sparse_features"] = x is not None and is_sparse_enough(x)
    row["feature_density"] = None if x is None else density(x)
    b, a = runs["before"][0], runs["after"][0]
    row["same_result"] = (b["epochs"] == a["epochs"] and b["best_epoch"] == a["best_epoch"]
                          and abs(b["best_val"] - a["best_val"]) < 1e-6)
    return row


def markdown(rows: list[dict], negatives: list[dict], command: str, loads: list[float],
             note: str) -> str:
    lines = [
        "# Training speed (the retraining yardstick)", "",
        f"Command: `{command}`  ",
        f"Hardware: {hardware()} ({os.cpu_count()} cores; torch's default thread count "
        "above, each case's in the table)  ",
        f"Load average (1 min) at start / end: {loads[0]:.2f} / {loads[1]:.2f}. {note}", "",
        "\"before\" = the first layer's X W as a dense product (`encoder.sparse_feature_density "
        "= 0`); \"after\" = CSR products for sparse features (the default). Both in the same "
        "run, alternately, from the same seed. Wall-clock seconds are medians over the repeats "
        "(min in brackets); CPU seconds (all threads) are what the work cost, without the "
        "waiting for a core that a loaded machine adds. Cases without sparse features run the "
        "same code both times (their ratio is noise).", "",
        "| case | threads | feature density | epochs (best) | best val before / after | "
        "before s | after s | before CPU s | after CPU s | ms/epoch before / after | "
        "speed-up wall / CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, a = r["runs"]["before"][0], r["runs"]["after"][0]
        dens = "none" if r["feature_density"] is None else f"{100 * r['feature_density']:.1f} %"
        ratio = (f"{r['speedup']:.2f}x / {r['cpu_speedup']:.2f}x" if r["sparse_features"]
                 else "same path")
        lines.append(
            f"| {r['case']} | {r['threads']} | {dens} | {a['epochs']} ({a['best_epoch']}) | "
            f"{b['best_val']:.4f} / {a['best_val']:.4f} | {r['before_s']:.2f} "
            f"({r['before_min_s']:.2f}) | {r['after_s']:.2f} ({r['after_min_s']:.2f}) | "
            f"{r['before_cpu_s']:.2f} | {r['after_cpu_s']:.2f} | "
            f"{r['before_ms_per_epoch']:.1f} / {r['after_ms_per_epoch']:.1f} | {ratio} |")
    lines += ["", "## Per-epoch phases (CPU ms)", "",
              "Negative sampling (link), forward (+ loss), backward, Adam step, and one "
              "validation pass (`fit` runs one every `eval_every` = 5 epochs by default).",
              "", "| case | mode | negatives | forward | backward | step | validation pass |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        for mode, p in r["phases"].items():
            lines.append(f"| {r['case']} | {mode} | {p['negatives']} | {p['forward']} | "
                         f"{p['backward']} | {p['step']} | {p['validation']} |")
    lines += ["", "## What dominates: top operators by self time (torch.profiler, training "
              "steps without validation)", "", "Per case and mode: operator, ms per epoch, share "
              "of the profiled time. `aten::bernoulli_` is dropout's mask.", "",
              "| case | mode | top operators |", "|---|---|---|"]
    for r in rows:
        for mode, ops in r["top_ops"].items():
            cells = "; ".join(f"{o['op']} {o['ms_per_epoch']} ms ({100 * o['share']:.0f} %)"
                              for o in ops[:6])
            lines.append(f"| {r['case']} | {mode} | {cells} |")
    if negatives:
        lines += ["", "## Negative sampling (one epoch's negatives, one thread, CPU ms)", "",
                  "\"before\": rejection lookups of the unsorted draws, then `unique`; "
                  "\"after\": `unique` first, so the lookups walk the sorted edge keys in order. "
                  "Same random draws, same pairs.", "",
                  "| graph | pairs | before ms | after ms | same pairs |", "|---|---|---|---|---|"]
        for r in negatives:
            lines.append(f"| {r['case']} | {r['pairs']:,} | {r['before_cpu_ms']:.1f} | "
                         f"{r['after_cpu_ms']:.1f} | {r['same_pairs']} |")
    opengu = [r for r in rows if r["case"].startswith("OpenGU")]
    if opengu:
        r = opengu[0]
        lines += ["", f"OpenGU recipe: after {r['after_s']:.2f} s wall "
                  f"(min {r['after_min_s']:.2f}, "
                  f"CPU {r['after_cpu_s']:.2f} s) vs OpenGU's retraining {OPENGU_RETRAIN_S} s on "
                  "one core (quoted from `shared/opengu/results.md`, measured there with another "
                  "job on the machine)."]
    return "\n".join(lines) + "\n"


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[list[str], dict[str, Data]]:
    """Refuses every bad option before anything is timed, with what was wrong (``ValueError``),
    and returns the cases and their datasets by name, loaded: an empty ``--name``, an
    ``--output`` that is a file; ``--cases`` empty, unknown or repeated; ``--threads``,
    ``--repeats``, ``--phase-epochs`` or ``--gowalla-epochs`` < 1, ``--gowalla-epochs`` without
    the gowalla_link case; a dataset of the cases that cannot be loaded (missing files)."""
    check_results_name(args.name)
    check_output_folder(args.output)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if not cases:
        raise ValueError(f"--cases must name some of {', '.join(CASES)}, got {args.cases!r}")
    for case in cases:
        if case not in CASES:
            raise ValueError(f"--cases entry {case!r}: choose from {', '.join(CASES)}")
    check_distinct("--cases", cases)
    for flag, value in (("--threads", args.threads), ("--repeats", args.repeats),
                        ("--phase-epochs", args.phase_epochs), ("--gowalla-epochs", args.gowalla_epochs)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if args.gowalla_epochs != parser.get_default("gowalla_epochs") and "gowalla_link" not in cases:
        raise ValueError("--gowalla-epochs applies to the gowalla_link case; add it to --cases")
    return cases, load_datasets(list(dict.fromkeys(CASES[c] for c in cases)), flag="--cases")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="cora_node,citeseer_node,cora_link,gowalla_link,opengu",
                   help="comma-separated subset of cora_node, citeseer_node, cora_link, "
                        "gowalla_link, opengu")
    p.add_argument("--threads", type=int, default=2, help="threads (OpenGU's recipe: always 1)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--phase-epochs", type=int, default=10)
    p.add_argument("--gowalla-epochs", type=int, default=3)
    p.add_argument("--note", default="", help="a sentence on the machine's load, for the table")
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="train_speed_cpu")
    args = p.parse_args(argv)
    command = "python benchmarks/train_speed.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if not os.environ.get("GNN_UNLEARN_MIRROR"):
        print("note: GNN_UNLEARN_MIRROR is not set; datasets load from the cache or the web",
              file=sys.stderr)
    try:
        cases, graphs = check_args(args, p)
    except ValueError as e:
        p.error(str(e))

    log = print
    loads = [os.getloadavg()[0]]
    rows, negatives = [], []
    default = TrainConfig()
    for case in cases:
        log(f"{case}: load average {os.getloadavg()[0]:.2f}")
        if case in ("cora_node", "citeseer_node"):
            name = "Cora" if case == "cora_node" else "CiteSeer"
            data = node_split(graphs[name], seed=0)
            rows.append(run_case(f"{name} node GCN 128-64", data, "node", default, args.repeats,
                                 args.threads, args.phase_epochs, log))
        elif case == "cora_link":
            data = link_split(graphs["Cora"], seed=0)
            negatives.append(negative_sampling_row("Cora", data, args.repeats))
            rows.append(run_case("Cora link GCN 128-64", data, "link", default, args.repeats,
                                 args.threads, args.phase_epochs, log))
        elif case == "gowalla_link":
            data = link_split(graphs["gowalla"], seed=0)
            negatives.append(negative_sampling_row("gowalla", data, args.repeats))
            config = TrainConfig(epochs=args.gowalla_epochs, eval_every=args.gowalla_epochs)
            rows.append(run_case(f"gowalla link GCN 128-64 ({args.gowalla_epochs} epochs)", data,
                                 "link", config, 1, args.threads, 1, log))
        else:
            data = node_split(graphs["Cora"], seed=0)
            config = TrainConfig(epochs=100, lr=0.005, patience=100)
            rows.append(run_case("OpenGU recipe: Cora node GCN 64-64, 100 epochs", data, "node",
                                 config, args.repeats, 1, args.phase_epochs, log,
                                 hidden_channels=64, out_channels=64))
    loads.append(os.getloadavg()[0])
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, negatives, command, loads, args.note)
    atomic_write_text(str(out / f"{args.name}.md"), text)
    atomic_write_text(str(out / f"{args.name}.json"), json.dumps(
        dict(command=command, hardware=hardware(), load_average=loads, note=args.note,
             opengu_retrain_s=OPENGU_RETRAIN_S, rows=rows, negative_sampling=negatives),
        indent=1))
    print(text)


if __name__ == "__main__":
    main()
