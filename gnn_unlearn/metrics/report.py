"""What :func:`gnn_unlearn.evaluation.evaluate` prints and how it scores one model: the report,
its columns, the per-task scorers and the retrain-spread summary."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from gnn_unlearn.metrics.link import (auroc_aupr, deleted_vs_retained_auc, gnndelete_df_auc,
                                      link_logits)
from gnn_unlearn.metrics.mia import (LossAttack, ShadowPosteriorAttack, link_attack_features,
                                     node_attack_features)
from gnn_unlearn.metrics.node import accuracy, macro_f1
from gnn_unlearn.metrics.rec import evaluate_recommender, fit_shadow_attack
from gnn_unlearn.metrics.spread import (DISTANCE_NOTE, SPREAD_ALPHA,
                                        leave_one_out_statistics, model_statistics, outside_spread,
                                        predictive_p)
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.ops.graph import edge_keys
from gnn_unlearn.requests import UnlearningTask

LINK_COLUMNS = {
    "dt_auroc": "Dt AUROC", "dt_aupr": "Dt AUPR", "df_auroc": "Df AUROC (library)",
    "df_auc_gnndelete": "Df AUC (GNNDelete)", "df_aupr": "Df AUPR (library)",
    "df_prob": "Df mean p", "mi_ratio": "MI ratio", "mia_df_member": "MIA Df member",
    "mia_auc": "MIA AUC", "seconds": "seconds", "speedup": "speed-up",
}
NODE_COLUMNS = {
    "test_acc": "test acc", "test_f1": "test F1", "deleted_acc": "deleted acc",
    "deleted_id_auc": "deleted-node id AUC",
    "deleted_class_pred": "pred. deleted class", "mia_df_member": "MIA deleted member",
    "mia_auc": "MIA AUC", "seconds": "seconds", "speedup": "speed-up",
}
REC_COLUMNS = {
    "recall@20": "Recall@20", "ndcg@20": "NDCG@20", "rank_pct": "Df rank pct", "hit@20": "Df hit@20",
    "deleted_id_auc": "Df id AUC", "mia_member": "MIA Df member", "mia_auc": "MIA AUC",
    "mi_ratio": "MI ratio", "shadow_auc": "shadow AUC", "seconds": "seconds", "speedup": "speed-up",
}
COLUMNS = {"link": LINK_COLUMNS, "node": NODE_COLUMNS, "rec": REC_COLUMNS}
NOTES = {
    "link": ("Dt: test positives vs test negatives. Df AUROC (library): deleted edges (1) vs as many "
             "sampled non-edges (0). Df AUC (GNNDelete): deleted edges (0) vs an equal-size random "
             "sample of retained training edges (1), mean over 500 samples, as the GNNDelete paper and "
             "code measure it. The original model is scored on the original graph, the others on the "
             "retained graph. MI ratio: GNNDelete's shadow attack, mean over Df of P_present(model) / P_present(original); "
             "MIA: member/non-member loss attack trained per model, fraction of Df classified as "
             "members, with the attack's held-out AUC."),
    "node": ("test acc/F1 on test nodes that were not deleted; deleted acc: accuracy on deleted nodes; "
             "deleted-node id AUC: retained training nodes (1) vs deleted training nodes (0) by the "
             "probability of their true label, mean over 500 equal-size draws of retained nodes (0.5: "
             "deleted nodes look like retained ones; target: retrain's value); "
             "pred. deleted class: share of test predictions that fall in a deleted class; MIA: "
             "member/non-member loss attack, fraction of deleted training nodes classified as members."),
    "rec": ("Recall@20 / NDCG@20 on the test interactions (training items masked); Df rank pct / hit@20: "
            "rank percentile (0 = top) and top-20 rate of the removed interactions among the items that "
            "are not retained training items of their user; Df id AUC: retained training interactions (1) "
            "vs removed ones (0) by score, mean over 200 equal-size draws (0.5: removed interactions look "
            "retained; target: retrain's value); MIA: loss attack trained per model, share of removed "
            "interactions called members; MI ratio: GNNDelete's shadow attack, mean P(present) over the "
            "original's."),
}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


@dataclass
class Report:
    """A table: one row per model, columns as in :data:`LINK_COLUMNS` / :data:`NODE_COLUMNS`."""
    kind: str
    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)
    attack_columns: dict[str, str] = field(default_factory=dict)
    spread_columns: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, str]:
        base = COLUMNS[self.kind]
        if not self.attack_columns and not self.spread_columns:
            return base
        head = {k: v for k, v in base.items() if k not in ("seconds", "speedup")}
        return {**head, **self.attack_columns, **self.spread_columns,
                "seconds": base["seconds"], "speedup": base["speedup"]}

    def row(self, model: str) -> dict[str, Any]:
        for r in self.rows:
            if r["model"] == model:
                return r
        raise KeyError(f"no row {model!r}; rows: {[r['model'] for r in self.rows]}")

    def to_dict(self) -> dict[str, Any]:
        def clean(v):
            return None if isinstance(v, float) and math.isnan(v) else v
        return {"kind": self.kind, "meta": self.meta, "attack_columns": self.attack_columns,
                "spread_columns": self.spread_columns,
                "rows": [{k: clean(v) for k, v in r.items()} for r in self.rows]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        cols = self.columns
        head = "| model | " + " | ".join(cols.values()) + " |"
        sep = "|---" * (len(cols) + 1) + "|"
        lines = [head, sep]
        for r in self.rows:
            cells = []
            for k in cols:
                v = r.get(k, float("nan"))
                cells.append(f"{v:.1f}x" if k == "speedup" and isinstance(v, float) and not math.isnan(v)
                             else _fmt(v))
            lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(NOTES[self.kind])
        for name, note in (self.meta.get("attack_notes") or {}).items():
            lines.append(f"{name}: {note}")
        if self.spread_columns:
            lines.append(self.meta["retrain_spread"]["note"])
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


SPREAD_MEASURES = {"link": ["dt_auroc", "df_auroc", "df_auc_gnndelete"],
                   "node": ["test_acc", "deleted_acc", "deleted_id_auc"],
                   "rec": ["recall@20", "rank_pct", "hit@20", "deleted_id_auc"]}
SPREAD_COLUMNS = {"df_distance": "Df distance to retrains", "df_distance_p": "Df distance p",
                  "df_shift": "Df shift vs retrains (mean z)", "df_shift_p": "Df shift p",
                  "n_outside": "# outside retrain spread", "outside_spread": "outside retrain spread"}


def retrain_spread(rows: list[dict[str, Any]], scores: list[torch.Tensor], retrain_names: list[str],
                    measures: list[str], headers: dict[str, str]) -> dict[str, Any]:
    """Adds the retrain-spread columns to every row (see :mod:`gnn_unlearn.metrics.spread`) and
    returns what the report's meta records of it."""
    index = {r["model"]: i for i, r in enumerate(rows)}
    refs = [rows[index[n]] for n in retrain_names]
    ranges = {}
    for m in measures:
        vals = [float(r[m]) for r in refs if isinstance(r.get(m), (int, float)) and not math.isnan(r[m])]
        ranges[m] = [min(vals), max(vals)] if vals else None
    retrain_scores = torch.stack([scores[index[n]] for n in retrain_names])
    nan = float("nan")
    if retrain_scores.size(1):
        null_dist, null_shift = (v.tolist() for v in leave_one_out_statistics(retrain_scores))
    else:                                   # nothing deleted that the models score
        null_dist = null_shift = [nan] * len(retrain_names)
    for i, row in enumerate(rows):
        outside = [headers.get(m, m) for m in measures
                   if isinstance(row.get(m), (int, float))
                   and outside_spread(float(row[m]), [float(r.get(m, nan)) for r in refs])]
        if row["model"] in retrain_names and retrain_scores.size(1):
            # leave-one-out: tested exactly as a method would be against the other K-1 retrains
            others = retrain_scores[torch.arange(len(retrain_names)) != retrain_names.index(row["model"])]
            if others.size(0) >= 3:
                dist, shift = model_statistics(scores[i], others)
                ref_dist, ref_shift = (v.tolist() for v in leave_one_out_statistics(others))
            else:                           # K = 3: two others make no leave-one-out null
                j = retrain_names.index(row["model"])
                dist, shift, ref_dist, ref_shift = null_dist[j], null_shift[j], [], []
        elif retrain_scores.size(1):
            dist, shift = model_statistics(scores[i], retrain_scores)
            ref_dist, ref_shift = null_dist, null_shift
        else:
            dist = shift = nan
            ref_dist = ref_shift = []
        p_dist = predictive_p(dist, ref_dist)
        p_shift = predictive_p(shift, ref_shift, log=False, two_sided=True)
        outside += [name for name, p in (("Df distance", p_dist), ("Df shift", p_shift))
                    if not math.isnan(p) and p < SPREAD_ALPHA]
        row.update(df_distance=dist, df_distance_p=p_dist, df_shift=shift, df_shift_p=p_shift,
                   n_outside=float(len(outside)), outside_spread=", ".join(outside) or "none")
    return {"measures": measures, "ranges": ranges, "null_distances": null_dist, "null_shifts": null_shift,
            "alpha": SPREAD_ALPHA, "note": DISTANCE_NOTE.format(alpha=SPREAD_ALPHA)}


def check_retrain_seeds(retrain_seeds: Any) -> None:
    """``retrain_seeds`` is 1 (one retrain) or an int >= 3 (the spread test's leave-one-out sets)."""
    if isinstance(retrain_seeds, bool) or not isinstance(retrain_seeds, int) or retrain_seeds < 1 \
            or retrain_seeds == 2:
        raise ValueError(f"retrain_seeds must be 1 (one retrain) or an int >= 3 (the spread test needs "
                         f"leave-one-out sets of at least 2), got {retrain_seeds!r}")


def plain_value(v: Any) -> bool:
    """JSON-able hyperparameter values (attack state such as fitted models is left out)."""
    return isinstance(v, (bool, int, float, str, type(None))) or (
        isinstance(v, (list, tuple)) and all(isinstance(x, (bool, int, float, str)) for x in v))


class LinkScorer:
    def __init__(self, task: UnlearningTask, seed: int, mia: bool, original: nn.Module,
                 df_negatives: torch.Tensor | None = None, protocols: tuple[str, ...] = ("library",),
                 gnndelete_draws: int = 500):
        self.task, self.seed, self.mia, self.protocols = task, seed, mia, protocols
        self.draws = gnndelete_draws
        data = task.data
        g = torch.Generator().manual_seed(seed)
        self.df = task.df_edge_index
        known = torch.cat([data.train_pos_edge_index, data.val_pos_edge_index,
                           data.test_pos_edge_index], 1)
        if df_negatives is None:
            self.df_neg = negative_pairs(data, self.df.size(1), g, exclude=known).to(self.df.device)
        else:
            self.df_neg = _checked_negatives(df_negatives, known, data.num_nodes, self.df.size(1))
            self.df_neg = self.df_neg.to(self.df.device)
        self.dr = task.dr_edge_index
        n_mem = min(self.dr.size(1), data.test_pos_edge_index.size(1))
        self.members = self.dr[:, torch.randperm(self.dr.size(1), generator=g)[:n_mem].to(self.dr.device)]
        self.shadow = None
        self.before = None
        if mia and self.df.size(1):
            self.shadow = ShadowPosteriorAttack(seed=seed).fit(original.config, data)

    def score(self, model: nn.Module, on_original: bool) -> dict[str, float]:
        t = self.task
        graph = t.data if on_original else t.retained_data
        model.eval()
        with torch.no_grad():
            z = model.encode(graph.x, graph.edge_index)
        dt = auroc_aupr(*torch.split(link_logits(model, graph, torch.cat(
            [graph.test_pos_edge_index, graph.test_neg_edge_index], 1), z),
            [graph.test_pos_edge_index.size(1), graph.test_neg_edge_index.size(1)]))
        row = {"dt_auroc": dt["auroc"], "dt_aupr": dt["aupr"]}
        nan = float("nan")
        if self.df.size(1) == 0:
            row.update(df_auroc=nan, df_aupr=nan, df_auc_gnndelete=nan, df_prob=nan, mi_ratio=nan,
                       mia_df_member=nan, mia_auc=nan)
            return row
        logits = link_logits(model, graph, torch.cat([self.df, self.df_neg], 1), z)
        df_logits = logits[: self.df.size(1)]
        row["df_prob"] = float(torch.sigmoid(df_logits).mean())
        if "library" in self.protocols:
            d = auroc_aupr(df_logits, logits[self.df.size(1):])
            row.update(df_auroc=d["auroc"], df_aupr=d["aupr"])
        if "gnndelete" in self.protocols:
            # the same retained-edge draws for every model (the reference code caches them too)
            g = torch.Generator().manual_seed(self.seed)
            row["df_auc_gnndelete"] = gnndelete_df_auc(df_logits, link_logits(model, graph, self.dr, z),
                                                       self.draws, g)
        if self.mia:
            p = self.shadow.present_probability(df_logits)
            if self.before is None:
                self.before = p
            # probabilities floored at 1e-3 so one near-zero P_before cannot dominate the mean
            row["mi_ratio"] = float(np.mean(np.maximum(p, 1e-3) / np.maximum(self.before, 1e-3)))
            row["mi_attack_auc"] = self.shadow.attack_auc
            attack = LossAttack(seed=self.seed).fit(
                link_attack_features(model, graph, self.members, z),
                link_attack_features(model, graph, graph.test_pos_edge_index, z))
            row["mia_df_member"] = attack.member_rate(link_attack_features(model, graph, self.df, z))
            row["mia_auc"] = attack.attack_auc
        else:
            row.update(mi_ratio=nan, mia_df_member=nan, mia_auc=nan)
        return row


def _checked_negatives(neg: torch.Tensor, known: torch.Tensor, n: int, k: int) -> torch.Tensor:
    if not isinstance(neg, torch.Tensor) or neg.dim() != 2 or neg.size(0) != 2:
        raise ValueError(f"df_negatives must be a [2, k] tensor of node pairs, got "
                         f"{tuple(neg.shape) if isinstance(neg, torch.Tensor) else type(neg).__name__}")
    if neg.dtype == torch.bool or neg.is_floating_point():
        raise TypeError(f"df_negatives must hold integer node ids, got {neg.dtype}")
    if neg.size(1) == 0 or (k and neg.size(1) != k):
        raise ValueError(f"df_negatives must hold as many pairs as the deleted set ({k}), got {neg.size(1)}")
    if bool(((neg < 0) | (neg >= n)).any()):
        raise ValueError(f"df_negatives refer to nodes outside 0..{n - 1}")
    clash = int(torch.isin(edge_keys(neg, n), edge_keys(known, n).to(neg.device)).sum())
    if clash:
        raise ValueError(f"{clash} df_negatives are edges of the graph (train/val/test, either direction); "
                         "negatives must be non-edges")
    return neg.long()


class RecScorer:
    """:func:`~gnn_unlearn.metrics.rec.evaluate_recommender` with the shadow attack fitted once."""

    def __init__(self, task: UnlearningTask, seed: int, mia: bool, original: nn.Module):
        self.task, self.seed, self.mia = task, seed, mia
        self.shadow = fit_shadow_attack(original, task, seed=seed) if mia and task.df_edge_index.size(1) else None

    def score(self, model: nn.Module, on_original: bool) -> dict[str, float]:
        return evaluate_recommender(model, self.task, on_original=on_original, seed=self.seed,
                                    shadow=self.shadow, mia=self.mia)


class NodeScorer:
    def __init__(self, task: UnlearningTask, seed: int, mia: bool):
        self.task, self.seed, self.mia = task, seed, mia
        data = task.data
        self.y = data.y.view(-1)
        self.test = data.test_mask & ~task.deleted_nodes
        self.deleted = task.deleted_nodes
        self.deleted_classes = torch.unique(self.y[self.deleted]) if "class" in task.kinds else None
        self.members = data.train_mask & ~task.deleted_nodes
        self.forget = data.train_mask & task.deleted_nodes

    def score(self, model: nn.Module, on_original: bool) -> dict[str, float]:
        graph = self.task.data if on_original else self.task.retained_data
        model.eval()
        with torch.no_grad():
            logits = model(graph.x, graph.edge_index)
        pred = logits.argmax(-1)
        nan = float("nan")
        row = {"test_acc": accuracy(pred[self.test], self.y[self.test]),
               "test_f1": macro_f1(pred[self.test], self.y[self.test]),
               "deleted_acc": accuracy(pred[self.deleted], self.y[self.deleted]),
               "deleted_id_auc": nan, "deleted_class_pred": nan, "mia_df_member": nan, "mia_auc": nan}
        if bool(self.forget.any()) and int(self.members.sum()) >= int(self.forget.sum()):
            p_true = torch.softmax(logits.float(), -1).gather(1, self.y.view(-1, 1)).view(-1)
            row["deleted_id_auc"] = deleted_vs_retained_auc(
                p_true[self.forget], p_true[self.members], 500, torch.Generator().manual_seed(self.seed))
        if self.deleted_classes is not None:
            row["deleted_class_pred"] = float(torch.isin(pred[self.task.data.test_mask],
                                                         self.deleted_classes).float().mean())
        if self.mia and bool(self.forget.any()):
            feats = node_attack_features(logits, self.y)
            attack = LossAttack(seed=self.seed).fit(feats[self.members.cpu().numpy()],
                                                    feats[self.test.cpu().numpy()])
            row["mia_df_member"] = attack.member_rate(feats[self.forget.cpu().numpy()])
            row["mia_auc"] = attack.attack_auc
        return row
