"""Where retraining puts removed interactions, against the matched target's proxy.

Reverse BPR and UnlearnRec (``target="matched"``) move each removed interaction to the ranks that
held-out validation interactions of the same users have (``methods/reverse_bpr.py``). This trains
the recommender retraining would give (LightGCN on the retained interactions) and ranks, with the
evaluation's own rank definition (``rank_pct`` / ``hit@20`` among the items that are not the
user's retained training items):

* the removed interactions (where retraining puts them: the target);
* the validation interactions of the users with removed ones (the proxy the methods move them to,
  before its re-weighting to the removed items' popularity), and all validation interactions.

A proxy ranked lower than the removed interactions means a method that matches it over-forgets.

    python benchmarks/rec_target_gap.py --dataset gowalla --request 0.01 --steps 400 \
        --batch-size 32768 --eval-every 50 --patience 150 --name rec_target_gap_gowalla
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from gnn_unlearn import TrainConfig, train
from gnn_unlearn.data import is_bipartite, sample_interactions
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.metrics.rec import embeddings, pair_ranks, rank_summary
from gnn_unlearn.options import check_output_folder, check_results_name, load_datasets


def check_args(a: argparse.Namespace):
    """Refuses every bad option before any training (``ValueError`` naming the flag) and returns
    the resolved request: a user-item dataset, a share in (0, 1) that can be drawn, the training
    numbers :class:`~gnn_unlearn.TrainConfig` takes, a results name and folder."""
    check_results_name(a.name)
    check_output_folder(a.output)
    try:
        config = TrainConfig(epochs=a.steps, lr=a.lr, batch_size=a.batch_size, eval_every=a.eval_every,
                             patience=a.patience, seed=a.seed)
    except ValueError as e:
        raise ValueError(f"--steps, --lr, --batch-size, --eval-every, --patience, --seed: {e}") from None
    data = load_datasets([a.dataset], "--dataset", root=a.root)[a.dataset]
    if not is_bipartite(data):
        raise ValueError(f"--dataset: {a.dataset!r} is not a user-item graph; give e.g. lastfm or gowalla")
    if not 0 < a.request < 1:
        raise ValueError(f"--request is a share of the training interactions in (0, 1), got {a.request:g}")
    try:
        task = sample_interactions(data, a.request, seed=a.seed).resolve(data)
    except ValueError as e:
        raise ValueError(f"--request: {e}") from None
    return task, config


def measure(task, config: TrainConfig) -> dict:
    """Trains on the retained interactions and ranks the three sets of pairs (module docstring)."""
    kept, removed = task.retained_data, task.df_edge_index
    t = time.perf_counter()
    model, hist = train(kept, "rec", config)
    seconds = time.perf_counter() - t
    z = embeddings(model, kept)
    nu, ni = int(kept.num_users), int(kept.num_items)
    val = kept.val_pos_edge_index
    same_users = val[:, torch.isin(val[0], torch.unique(removed[0]))]
    popularity = torch.bincount(kept.train_pos_edge_index[1] - nu, minlength=ni).float()
    rows = []
    for label, pairs in (("removed interactions (retraining's ranks: the target)", removed),
                         ("validation interactions of the same users (the proxy)", same_users),
                         ("all validation interactions", val)):
        rows.append(dict(pairs=label, count=int(pairs.size(1)), **rank_summary(pair_ranks(z, kept, pairs), ni),
                         mean_item_popularity=float(popularity[pairs[1] - nu].mean())))
    return dict(rows=rows, train_seconds=seconds, train_steps=hist.epochs_run)


def markdown(result: dict, command: str) -> str:
    lines = ["# Retraining's ranks of removed interactions against the matched target's proxy", "",
             f"Command: `{command}`  ", f"Hardware: {hardware()}  ",
             f"Retrained on the retained interactions in {result['train_seconds']:.0f} s "
             f"({result['train_steps']} steps).", "",
             "| pairs | count | rank_pct | hit@20 | mean training popularity of the items |", "|---|---|---|---|---|"]
    lines += [f"| {r['pairs']} | {r['count']} | {r['rank_pct']:.4f} | {r['hit@20']:.4f} | "
              f"{r['mean_item_popularity']:.1f} |" for r in result["rows"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--request", type=float, default=0.01, help="share of the training interactions removed")
    p.add_argument("--seed", type=int, default=0, help="the request's and the training's seed")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=32768)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--patience", type=int, default=150)
    p.add_argument("--root", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="rec_target_gap")
    a = p.parse_args(argv)
    try:
        task, config = check_args(a)
    except ValueError as e:
        p.error(str(e))
    command = "python benchmarks/rec_target_gap.py " + " ".join(
        shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv))
    result = measure(task, config)
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{a.name}.md", markdown(result, command))
    atomic_write_text(out / f"{a.name}.json", json.dumps(dict(command=command, hardware=hardware(), **result),
                                                         indent=1))
    print(markdown(result, command))


if __name__ == "__main__":
    main()
