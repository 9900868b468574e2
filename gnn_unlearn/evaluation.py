"""``evaluate``: score unlearned models against the original and the retrained model.

It runs methods (the retrained references are :func:`~gnn_unlearn.methods.unlearn` with
``"retrain"``), so it sits above the methods layer; what it scores with lives in
:mod:`gnn_unlearn.metrics` (:mod:`~gnn_unlearn.metrics.report` for the table and the per-task
scorers, :mod:`~gnn_unlearn.metrics.attacks` for the attacks).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from gnn_unlearn.methods.base import UnlearningResult, model_device, unlearn
from gnn_unlearn.metrics.attacks import Attack, build_attacks
from gnn_unlearn.metrics.link import DF_PROTOCOLS
from gnn_unlearn.metrics.report import (COLUMNS, SPREAD_COLUMNS, SPREAD_MEASURES, LinkScorer,
                                        NodeScorer, RecScorer, Report, check_retrain_seeds,
                                        plain_value, retrain_spread)
from gnn_unlearn.metrics.spread import deleted_set_scores
from gnn_unlearn.requests import UnlearningTask


def evaluate(results: UnlearningResult | Sequence[UnlearningResult], task: UnlearningTask,
             against: Sequence[str] = ("original", "retrain"), mia: bool = True,
             retrained: UnlearningResult | None = None, seed: int = 0,
             labels: Sequence[str] | None = None, df_negatives: torch.Tensor | None = None,
             protocols: Sequence[str] = ("library", "gnndelete"), gnndelete_draws: int = 500,
             attacks: Sequence[str] = (), attack_params: dict[str, dict[str, Any]] | None = None,
             retrain_seeds: int = 1) -> Report:
    r"""Scores unlearned models on ``task`` next to the original and the retrained model.

    Args:
        results: one or more :class:`UnlearningResult` of the same original model.
        task: the task they unlearned.
        against: reference rows: ``"original"`` and/or ``"retrain"``. The retrained model is
            computed with :func:`unlearn` (method ``"retrain"``) unless ``retrained`` is given
            or one of ``results`` is a retrain.
        mia: run the membership-inference attacks.
        seed: seeds the sampled Df negatives, GNNDelete's retained-edge draws and the attacks.
        labels: one row name per result (default: the method's name; results of one method
            with different hyperparameters get the differing ones appended, so two
            configurations never print as the same row).
        df_negatives: ``[2, |D_f|]`` fixed non-edges for the library's Df AUROC (default:
            sampled with ``seed``), so that runs can be compared on the same negatives.
        protocols: which Df measures to compute (link tasks): ``"library"`` (Df vs sampled
            non-edges) and/or ``"gnndelete"`` (Df vs retained edges, mean of
            ``gnndelete_draws`` draws); see :data:`gnn_unlearn.metrics.link.DF_PROTOCOLS`.
            Each is a column of its own and is named in ``report.meta["protocols"]``.
        attacks: names of registered attacks to run as well
            (:func:`gnn_unlearn.metrics.attacks.available_attacks`); each adds its columns.
            They are prepared once with the original and the retrained model.
        attack_params: keyword arguments per attack name, e.g. ``{"lira": {"shadows": 16}}``.
        retrain_seeds: 1 (default): the one reference retrain. :math:`K \ge 3`: besides it,
            :math:`K` more retrained models with seeds ``s + 1, ..., s + K`` (``s``: the
            original's training seed, which the ``retrain`` row shares), scored as rows
            ``retrain#1`` ... ``retrain#K``; they are the reference spread. The ``retrain`` row
            stays the reference of the attacks and of the speed-up but is not part of the spread:
            sharing the original's initial weights and random stream, it is not an independent
            draw (measured on a Cora node GCN: its deleted-node distance 23 vs <= 0.5 for the
            other retrains). Every row then gets the retrain-spread test of
            :mod:`gnn_unlearn.metrics.spread`: the measures outside ``[min, max]`` of the K
            retrains (``outside_spread``, their number ``n_outside``), and the deleted set's
            distance and signed shift to the retrains with their p-values (``df_distance``,
            ``df_distance_p``, ``df_shift``, ``df_shift_p``; a ``retrain#i`` row is tested
            leave-one-out, as a method would be against the other K-1 retrains: p-values from
            K >= 4).
    """
    if isinstance(results, UnlearningResult):
        results = [results]
    results = list(results)
    if not results or not all(isinstance(r, UnlearningResult) for r in results):
        raise TypeError("evaluate() needs one or more UnlearningResult from unlearn()")
    bad = set(against) - {"original", "retrain"}
    if bad:
        raise ValueError(f"against may hold 'original' and 'retrain', got {sorted(bad)}")
    unknown = set(protocols) - set(DF_PROTOCOLS)
    if unknown or not protocols:
        raise ValueError(f"protocols must be a non-empty subset of {sorted(DF_PROTOCOLS)}, got {list(protocols)}")
    check_retrain_seeds(retrain_seeds)
    if retrain_seeds > 1 and "retrain" not in against:
        raise ValueError("retrain_seeds > 1 compares every row with the retrained models: keep "
                         "'retrain' in against")
    original = results[0].original
    if original is None or any(r.original is not original for r in results):
        raise ValueError("all results must come from unlearn() on the same original model")
    if original.task not in COLUMNS:
        raise ValueError(f"evaluate() scores link, node and rec models, not {original.task!r}")
    if df_negatives is not None and original.task != "link":
        raise ValueError(f"df_negatives are non-edges for link tasks; this is a {original.task} task")
    names = row_labels(results, labels)
    chosen: list[Attack] = build_attacks(attacks, original.task, attack_params, seed)
    retrain_names = [f"retrain#{i}" for i in range(1, retrain_seeds + 1)] if retrain_seeds > 1 else []
    clash = set(retrain_names) & set(names)
    if clash:
        raise ValueError(f"row labels {sorted(clash)} name the extra retrains' rows; choose other labels")
    device = model_device(results[0].model)
    task = task.to(device)
    entries: list[tuple[str, nn.Module, bool, float]] = []  # name, model, on original graph, seconds
    if "original" in against:
        entries.append(("original", original, True, float("nan")))
    for r in results:
        if r.method == "retrain" and retrained is None:
            retrained = r
    if "retrain" in against:
        if retrained is None:
            retrained = unlearn(original, task, "retrain", device=device)
        entries.append(("retrain", retrained.model, False, retrained.seconds))
        first_seed = int((getattr(original, "train_config", None) or {}).get("seed", 0))
        retrain_seed_list = [first_seed + i for i in range(1, len(retrain_names) + 1)]
        for i, s in enumerate(retrain_seed_list, start=1):
            extra = unlearn(original, task, "retrain", device=device, seed=s)
            entries.append((f"retrain#{i}", extra.model, False, extra.seconds))
    for r, name in zip(results, names):
        if r is not retrained:
            entries.append((name, r.model, False, r.seconds))
    kind = original.task
    if kind == "link":
        scorer = LinkScorer(task, seed, mia, original, df_negatives, tuple(protocols), gnndelete_draws)
    elif kind == "rec":
        scorer = RecScorer(task, seed, mia, original)
    else:
        scorer = NodeScorer(task, seed, mia)
    if chosen and retrained is None:
        retrained = unlearn(original, task, "retrain", device=device)
    for attack in chosen:
        attack.prepare(task, original, retrained.model)
    rows, deleted_scores = [], []
    for name, model, on_original, seconds in entries:
        model.to(device)
        row = {"model": name, **scorer.score(model, on_original), "seconds": seconds}
        graph = task.data if on_original else task.retained_data
        for attack in chosen:
            row.update(attack.score(model, graph, on_original))
        rows.append(row)
        if retrain_seeds > 1:
            deleted_scores.append(deleted_set_scores(model, task, graph))
    ref = retrained.seconds if retrained is not None else float("nan")
    for row in rows:
        row["speedup"] = ref / row["seconds"] if row["seconds"] and not math.isnan(row["seconds"]) else float("nan")
    meta = {"request": task.summary(), "seed": seed, "device": str(device),
            "dataset": getattr(task.data, "name", None),
            "methods": {n: {k: v if plain_value(v) else repr(v) for k, v in r.params.items()}
                        for r, n in zip(results, names)}}
    if kind == "link":
        meta["protocols"] = {p: DF_PROTOCOLS[p] for p in protocols}
        meta["df_negatives"] = "given" if df_negatives is not None else f"sampled (seed {seed})"
    attack_columns = {k: v for a in chosen for k, v in a.columns.items()}
    spread_columns: dict[str, str] = {}
    if retrain_seeds > 1:
        measures = SPREAD_MEASURES[kind] + list(attack_columns)
        headers = {**COLUMNS[kind], **attack_columns}
        meta["retrain_spread"] = retrain_spread(rows, deleted_scores, retrain_names, measures, headers)
        meta["retrain_spread"]["seeds"] = retrain_seed_list
        spread_columns = dict(SPREAD_COLUMNS)
    if chosen:
        meta["attacks"] = {a.name: {k: v for k, v in vars(a).items() if plain_value(v)} for a in chosen}
        meta["attack_notes"] = {a.name: a.note for a in chosen if a.note}
    return Report(kind=kind, rows=rows, meta=meta, attack_columns=attack_columns,
                  spread_columns=spread_columns)


def row_labels(results: list[UnlearningResult], labels: Sequence[str] | None) -> list[str]:
    """Row names: given labels (checked), else method names made unique by their differing params."""
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(results) or not all(isinstance(x, str) and x for x in labels):
            raise ValueError(f"labels must be {len(results)} non-empty strings, one per result")
        reserved = [lab for lab, r in zip(labels, results)
                    if lab == "original" or (lab == "retrain" and r.method != "retrain")]
        if len(set(labels)) != len(labels) or reserved:
            raise ValueError(f"labels must be distinct, and 'original' / 'retrain' name the reference "
                             f"rows only (got {labels})")
        return labels
    names = []
    for r in results:
        same = [o for o in results if o.method == r.method]
        if len(same) == 1:
            names.append(r.method)
            continue
        keys = sorted({k for o in same for k in o.params})
        differ = [k for k in keys if len({repr(o.params.get(k)) for o in same}) > 1]
        names.append(f"{r.method}(" + ", ".join(f"{k}={r.params.get(k)!r}" for k in differ) + ")"
                     if differ else r.method)
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        names = [f"{n}#{names[:i].count(n) + 1}" if n in dup else n for i, n in enumerate(names)]
    return names
