"""How well does each target predict where retraining leaves the deleted edges?

    python benchmarks/reference_targets.py --datasets Cora,CiteSeer --seeds 5 --sizes 0.005,0.025 \\
        --wheres in,out,worst:confidence --name reference_targets

For every (dataset, seed, size, position): the original GCN link predictor, a retrained one
(the truth) and the two estimates a method can make without retraining, each turned into the
two deletion measures the issue's targets name (Df AUROC against sampled non-edges, the
library's; deleted-vs-retained AUC, GNNDelete's protocol), all scored with the *original's*
embeddings on the retained graph:

* ``validation``: the deleted set as a whole looks like unseen validation positives re-weighted
  to its structural support (:class:`gnn_unlearn.methods.stopping.UnseenEdges`): Df AUROC
  estimate :math:`\\mathrm{AUC}_w(V^+, P)`, deleted-vs-retained estimate
  :math:`P_w(s(e_r) > s(v))`.
* ``reference``: each deleted edge at the validation quantile of its held-out level
  (:class:`gnn_unlearn.methods.reference.HeldOutReference`, levels assigned in the original's
  score order, as the methods use them).
* ``no change``: the original itself on the retained graph.

The error columns are estimate minus retraining's value. No test edge is read by any estimate.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch_geometric.data import Data

from gnn_unlearn.bench import user_command
from gnn_unlearn.data import link_split
from gnn_unlearn.experiment import hardware
from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.methods import HeldOutReference, unlearn
from gnn_unlearn.methods.reference import reference_levels
from gnn_unlearn.methods.stopping import UnseenEdges, rank_auc
from gnn_unlearn.metrics.forget_sets import forget_request
from gnn_unlearn.models import make_model
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.options import (check_output_folder, check_results_name, deleted_set_positions, load_datasets,
                                 shares)
from gnn_unlearn.training import TrainConfig, train
from gnn_unlearn.utils import seeded

ESTIMATES = ("no change", "validation", "reference")


@torch.no_grad()
def _scores(model, graph, pairs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    model.eval()
    z = model.encode(graph.x, graph.edge_index)
    return {k: model.decode(z, v).float() for k, v in pairs.items()}


def measure(model, reference, task, seed: int) -> dict[str, dict[str, float]]:
    """Df AUROC (library) and deleted-vs-retained AUC of retraining and of each estimate."""
    g = task.retained_data
    neg = negative_pairs(task.data, 2000, torch.Generator().manual_seed(seed))
    pairs = dict(df=task.df_edge_index, dr=task.dr_edge_index, neg=neg, val=g.val_pos_edge_index)
    o = _scores(model, g, pairs)
    retrained = unlearn(model, task, "retrain").model
    r = _scores(retrained, g, pairs)
    unseen = UnseenEdges(g, task.df_edge_index, reference_levels(reference, task))
    w = unseen.weights          # the support weights do not depend on the levels
    targets = unseen.quantile_targets(o["df"], o["val"])
    out = {"retrain": dict(lib=rank_auc(r["df"], r["neg"]), gd=rank_auc(r["dr"], r["df"])),
           "no change": dict(lib=rank_auc(o["df"], o["neg"]), gd=rank_auc(o["dr"], o["df"])),
           "validation": dict(lib=rank_auc(o["val"], o["neg"], w),
                              gd=rank_auc(o["dr"], o["val"], neg_weights=w)),
           "reference": dict(lib=rank_auc(targets, o["neg"]), gd=rank_auc(o["dr"], targets))}
    return out


def run(datasets: dict[str, Data], seeds, sizes, wheres) -> list[dict]:
    rows = []
    for ds, graph in datasets.items():
        for seed in seeds:
            data = link_split(graph, seed=seed)
            model, _ = train(data, "link", TrainConfig(seed=seed), encoder="gcn")
            reference = HeldOutReference.fit(model, data, seed=seed)
            for size in sizes:
                for where in wheres:
                    task = forget_request(data, model, size, where, seed=seed).resolve(data, num_hops=2)
                    m = measure(model, reference, task, seed)
                    rows.append(dict(dataset=ds, seed=seed, size=size, where=where,
                                     deleted=int(task.df_edge_index.size(1)),
                                     reference_seconds=reference.seconds, **{
                                         f"{k}:{q}": v[q] for k, v in m.items() for q in ("lib", "gd")}))
                    print(f"{ds} seed {seed} {size:g} {where}: " + ", ".join(
                        f"{k} {v['lib']:.3f}/{v['gd']:.3f}" for k, v in m.items()), file=sys.stderr, flush=True)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per block: retraining's mean, each estimate's mean error and mean absolute error."""
    out = []
    keys = sorted({(r["dataset"], r["size"], r["where"]) for r in rows},
                  key=lambda k: (k[0], k[1], k[2]))
    for ds, size, where in keys:
        block = [r for r in rows if (r["dataset"], r["size"], r["where"]) == (ds, size, where)]
        s = dict(dataset=ds, size=size, where=where, seeds=len(block),
                 deleted=statistics.fmean(r["deleted"] for r in block))
        for q in ("lib", "gd"):
            s[f"retrain:{q}"] = statistics.fmean(r[f"retrain:{q}"] for r in block)
            for e in ESTIMATES:
                err = [r[f"{e}:{q}"] - r[f"retrain:{q}"] for r in block]
                s[f"{e}:{q}:err"] = statistics.fmean(err)
                s[f"{e}:{q}:abs"] = statistics.fmean(abs(x) for x in err)
        out.append(s)
    return out


def markdown(rows, blocks, command) -> str:
    lines = ["# Where retraining leaves the deleted edges, and how well each target predicts it", "",
             f"Command: `{command}`  ", f"Hardware: {hardware()}", "",
             __doc__.split("\n\n", 2)[2].strip(), "",
             "Per block (mean over seeds): retraining's value, then per estimate the mean error "
             "(estimate - retrain) and, in brackets, the mean absolute error. lib = Df AUROC "
             "against non-edges; gd = deleted-vs-retained AUC.", "",
             "| dataset | Df | where | seeds | deleted | retrain lib | " +
             " | ".join(f"{e} lib" for e in ESTIMATES) + " | retrain gd | " +
             " | ".join(f"{e} gd" for e in ESTIMATES) + " |",
             "|" + "---|" * (6 + 2 * len(ESTIMATES) + 1)]
    for b in blocks:
        cells = [b["dataset"], f"{b['size']:g}", b["where"], str(b["seeds"]), f"{b['deleted']:.0f}"]
        for q in ("lib", "gd"):
            cells.append(f"{b[f'retrain:{q}']:.3f}")
            cells += [f"{b[f'{e}:{q}:err']:+.3f} ({b[f'{e}:{q}:abs']:.3f})" for e in ESTIMATES]
        lines.append("| " + " | ".join(cells) + " |")
    fits = [r["reference_seconds"] for r in rows]
    lines += ["", f"Reference fit (two half-data GCNs, once per original): {min(fits):.1f}-{max(fits):.1f} s.",
              "", "Every run:", "",
              "| dataset | seed | Df | where | " + " | ".join(f"{k} lib/gd" for k in ("retrain",) + ESTIMATES) + " |",
              "|" + "---|" * 8]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['seed']} | {r['size']:g} | {r['where']} | " + " | ".join(
            f"{r[f'{k}:lib']:.3f} / {r[f'{k}:gd']:.3f}" for k in ("retrain",) + ESTIMATES) + " |")
    return "\n".join(lines) + "\n"


def check_args(a: argparse.Namespace) -> tuple[dict[str, Data], list[float]]:
    """Refuses every bad option before any training, with what was wrong (``ValueError``), and
    returns the datasets by name, loaded, and the sizes. Refused: an empty ``--name``, an
    ``--output`` that is a file,
    ``--seeds`` < 1, ``--sizes`` not distinct shares in (0, 1), ``--wheres`` that
    :func:`~gnn_unlearn.metrics.forget_sets.parse_where` refuses or that name one position twice
    (``worst`` is ``worst:confidence``), a ``--mirror`` that is not a folder, ``--datasets``
    repeated, unknown or with missing files, and requests that cannot be drawn from a seed's link
    split (the worst-case ones ranked by an untrained GCN: only their size matters here)."""
    check_results_name(a.name)
    check_output_folder(a.output)
    if a.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {a.seeds}")
    sizes = shares("--sizes", a.sizes, "of the training edges", "0.005,0.025")
    wheres = a.wheres.split(",")
    deleted_set_positions(wheres)
    datasets = load_datasets(a.datasets.split(","), mirror=a.mirror)
    for name, graph in datasets.items():
        model = None
        for seed in range(a.seeds):
            data = link_split(graph, seed=seed)
            if model is None:
                with seeded(seed):
                    model = make_model(data, "link", encoder="gcn")
            for size in sizes:
                for where in wheres:
                    try:
                        forget_request(data, model, size, where, seed=seed)
                    except ValueError as e:
                        raise ValueError(f"--sizes {size:g} --wheres {where} on {name}, seed {seed}: {e}") from None
    return datasets, sizes


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--sizes", default="0.005,0.025")
    p.add_argument("--wheres", default="in,out,worst:confidence")
    p.add_argument("--mirror", default=None)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="reference_targets")
    a = p.parse_args(argv)
    try:
        datasets, sizes = check_args(a)
    except ValueError as e:
        p.error(str(e))
    command = user_command()
    t0 = time.perf_counter()
    rows = run(datasets, list(range(a.seeds)), sizes, a.wheres.split(","))
    blocks = summary(rows)
    os.makedirs(a.output, exist_ok=True)
    atomic_write_text(os.path.join(a.output, f"{a.name}.md"), markdown(rows, blocks, command)
                      + f"\nTotal wall time: {time.perf_counter() - t0:.0f} s.\n")
    atomic_write_text(os.path.join(a.output, f"{a.name}.json"), json.dumps(
        {"command": command, "hardware": hardware(), "rows": rows, "blocks": blocks}, indent=2))


if __name__ == "__main__":
    main()
