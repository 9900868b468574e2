r"""Bi-level search for the forget set an unlearning method handles worst (link prediction).

Fan et al. ("Challenging Forgets: Unveiling the Worst-Case Forget Sets in Machine Unlearning",
ECCV 2024) define the worst-case forget set as the solution of a bi-level problem: the outer
level chooses the deleted set :math:`S` (a fixed number :math:`k` of training items), the inner
level unlearns it, and the outer objective is how far the unlearned model is from what
retraining without :math:`S` gives. :mod:`gnn_unlearn.metrics.forget_sets` ranks edges by cheap
proxies of that hardness; this module solves the bi-level problem itself on graphs small enough
to retrain many times:

.. math::
    S^\star = \arg\max_{|S| = k} \big|\, M(\mathcal U(\theta, S)) - M(\mathcal R(S)) \,\big|,

with :math:`\mathcal U` the method, :math:`\mathcal R` retraining (the mean over
``retrain_seeds`` retrains, the same seeds for every candidate set) and :math:`M` a Df measure written as a mean over the deleted edges of a per-edge rank,

* ``"identification"``: the deleted-vs-retained AUC (GNNDelete's Df protocol),
  :math:`M = 1 - \frac1k\sum_{e \in S} F_R(s(e))`, :math:`F_R` the mid-rank CDF of a fixed
  sample of retained training edges;
* ``"library"``: the deleted-vs-non-edge AUROC, :math:`M = \frac1k\sum_{e\in S} F_N(s(e))`,
  :math:`F_N` the same over a fixed sample of non-edges,

so each deleted edge has a contribution :math:`c_e` to the gap and the gap is their mean. Both
inner problems are solved exactly (the method and a retrain are run for every candidate set;
Fan et al. differentiate through an approximate inner solver instead). The outer level is a
swap search: each round drops the ``swap`` share of :math:`S` with the smallest contribution
(in the direction of the current gap) and adds edges a ridge-regression surrogate (fit on
every :math:`(\text{edge features}, c_e)` seen so far; features: the original's logit, the
endpoint degrees, the first-order influence) predicts to contribute most, plus an ``explore``
share drawn at random; of ``proposals`` such sets the best replaces :math:`S` if it widens the
gap. The search starts from a proxy set (``start``).

A gap found by maximising over many candidate sets against fixed retrains is biased upwards
(the search also exploits their noise: on Cora, GCN, 24 deleted edges, one retrain seed moves
the identification gap of one set by up to 0.07). ``confirm_seeds`` retrains the start set and
the found set with other seeds and reports both gaps against those fresh retrains: compare
those. Even they keep a residue of selection: the search also finds the edges on which *this*
method run happens to land low or high, and a set chosen for that stays chosen. Its size is
measured by searching with ``method="retrain"`` and ``method_options={"seed": s}``: one
independent retrain in the method's place, searched and confirmed the same way, so a method's
confirmed gap can be read against what the search finds between exact retrains (the *noise
floor* of the search).

It runs methods, so it sits at the evaluation level (beside :mod:`gnn_unlearn.evaluation`),
and it is a stress test of a method, never a part of one.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import degree

from gnn_unlearn.data.samplers import hardest, sample_size
from gnn_unlearn.methods.base import get, unlearn
from gnn_unlearn.methods.stopping import weighted_cdf
from gnn_unlearn.metrics.forget_sets import CRITERIA, GATED_ENCODERS, edge_hardness
from gnn_unlearn.metrics.link import link_logits
from gnn_unlearn.ops.graph import training_edges
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.requests import DeletionRequest

OBJECTIVES = ("identification", "library")
#: retained edges / non-edges in the fixed rank samples (fewer when the graph has fewer)
RANK_SAMPLE = 2000


@dataclass
class ForgetSetSearch:
    """What :func:`search_forget_set` returns.

    Attributes:
        request: the found forget set (``DeletionRequest.edges``).
        start_request: the set the search started from.
        gap, start_gap: the signed gap :math:`M(\\text{method}) - M(\\text{retrain})` of the
            found and the start set against the search's retrain.
        confirm_gap, confirm_start_gap: the same against the mean of ``confirm_seeds`` fresh
            retrains (other seeds), ``None`` without them: the numbers to compare.
        history: one entry per evaluated set (round, gap, accepted).
        evaluations: sets evaluated (each: one method run and ``retrain_seeds`` retrains; a
            confirmation: one method run and ``confirm_seeds`` retrains).
    """
    request: DeletionRequest
    start_request: DeletionRequest
    method: str
    objective: str
    size: int
    gap: float
    start_gap: float
    confirm_gap: float | None = None
    confirm_start_gap: float | None = None
    confirm_seeds: int = 0
    retrain_seeds: int = 1
    evaluations: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("method", "objective", "size", "gap", "start_gap", "confirm_gap",
                                             "confirm_start_gap", "confirm_seeds", "retrain_seeds", "evaluations",
                                             "seconds")}
        out["accepted_rounds"] = sum(1 for h in self.history if h.get("accepted") and h["round"] > 0)
        return out


def _features(data: Data, pool: Tensor, hardness: dict[str, Tensor]) -> Tensor:
    """``[T, F]`` standardised surrogate features of every pool edge: the original's confidence,
    the endpoint degrees and (when computed) the log influence."""
    deg = degree(data.edge_index[1], data.num_nodes).to(pool.device)
    du, dv = deg[pool[0]], deg[pool[1]]
    cols = [hardness["confidence"], torch.log1p(torch.minimum(du, dv)).cpu(),
            torch.log1p(torch.maximum(du, dv)).cpu()]
    if "influence" in hardness:
        cols.append(torch.log(hardness["influence"] + 1e-12))
    f = torch.stack([c.double() for c in cols], 1)
    return (f - f.mean(0)) / f.std(0).clamp_min(1e-12)


def _surrogate(features: Tensor, seen: list[tuple[Tensor, Tensor]], l2: float = 1.0) -> Tensor:
    """Ridge regression of the contributions seen so far on the features; predictions for all."""
    idx = torch.cat([i for i, _ in seen])
    y = torch.cat([c for _, c in seen]).double()
    x = torch.cat([features[idx], torch.ones(idx.numel(), 1, dtype=torch.double)], 1)
    w = torch.linalg.solve(x.t() @ x + l2 * torch.eye(x.size(1), dtype=torch.double), x.t() @ y)
    return torch.cat([features, torch.ones(features.size(0), 1, dtype=torch.double)], 1) @ w


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def search_forget_set(data: Data, model: nn.Module, method: str, size: float | int, *,
                      objective: str = "identification", start: str = "worst:confidence",
                      rounds: int = 8, proposals: int = 2, swap: float = 0.25, explore: float = 0.25,
                      retrain_seeds: int = 2, confirm_seeds: int = 0, seed: int = 0,
                      method_options: dict[str, Any] | None = None) -> ForgetSetSearch:
    """Searches the forget set of ``size`` training edges on which ``method`` lands farthest
    from retraining (see the module docs); ``data`` and ``model`` are not modified.

    Args:
        data: the link split ``model`` was trained on.
        model: the original link predictor.
        method: a registered link method serving edge requests (e.g. ``"gnndelete"``), or
            ``"retrain"`` with ``method_options={"seed": s}`` (``s`` none of the retrain seeds):
            the search's noise floor.
        size: a fraction of the training edges or a count.
        objective: one of :data:`OBJECTIVES`.
        start: ``"random"`` or ``"worst:<criterion>"`` (a :data:`~gnn_unlearn.metrics.forget_sets.CRITERIA`
            proxy set).
        rounds: swap rounds (0: evaluate the start set only).
        proposals: candidate sets per round.
        swap: share of the set replaced per proposal.
        explore: share of the added edges drawn at random instead of by the surrogate.
        retrain_seeds: retrains averaged per evaluated set (their seeds fixed for the search).
        confirm_seeds: fresh retrains (seeds other than the search's) to re-measure the start and
            the found set on.
        seed: seeds the start (``random``), the rank samples, the proposals and the retrains.
        method_options: the method's hyperparameters (checked before any work).
    """
    # ---- every argument checked before any work ------------------------------------------
    if not isinstance(data, Data) or getattr(data, "train_pos_edge_index", None) is None:
        raise ValueError("search_forget_set needs a link split (data.train_pos_edge_index; "
                         "make one with gnn_unlearn.link_split)")
    if getattr(model, "task", None) != "link" or not hasattr(model, "encoder"):
        raise ValueError(f"search_forget_set needs the original link predictor, got {type(model).__name__}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if not isinstance(method, str):
        raise ValueError(f"method must be the name of an unlearning method, got {method!r}")
    if method_options is not None and not isinstance(method_options, dict):
        raise ValueError(f"method_options must be a dict of the method's hyperparameters, got "
                         f"{type(method_options).__name__}")
    options = dict(method_options or {})
    if method == "retrain" and (isinstance(options.get("seed"), bool) or not isinstance(options.get("seed"), int)):
        raise ValueError("method 'retrain' is searched as the noise floor (one independent retrain in the "
                         "method's place) and needs its own seed: method_options={'seed': s}, s not "
                         "among the search's or the confirmation's retrain seeds")
    unlearner = get(method, **options)                   # unknown method / bad hyperparameters
    if "link" not in type(unlearner).tasks or "edge" not in type(unlearner).supports:
        raise ValueError(f"method {method!r} does not unlearn edges of link models")
    base, _, criterion = start.partition(":") if isinstance(start, str) else ("", "", "")
    if not (start == "random" or (base == "worst" and criterion in CRITERIA)):
        raise ValueError(f"start must be 'random' or 'worst:<criterion>' ({', '.join(sorted(CRITERIA))}), "
                         f"got {start!r}")
    rounds = _check_int("rounds", rounds, 0)
    proposals = _check_int("proposals", proposals, 1)
    retrain_seeds = _check_int("retrain_seeds", retrain_seeds, 1)
    confirm_seeds = _check_int("confirm_seeds", confirm_seeds, 0)
    seed = _check_int("seed", seed, 0)
    for name, value, low_open in (("swap", swap, True), ("explore", explore, False)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                (0 < value <= 1) if low_open else (0 <= value <= 1)):
            raise ValueError(f"{name} must lie in {'(0, 1]' if low_open else '[0, 1]'}, got {value!r}")
    base_seed = int((getattr(model, "train_config", None) or {}).get("seed", 0))
    search_seeds = [base_seed + j for j in range(retrain_seeds)]     # the first: the original's seed
    fresh = [base_seed + 104729 * (seed + 1) + j for j in range(confirm_seeds)]
    if method == "retrain" and options["seed"] in search_seeds + fresh:
        raise ValueError(f"the noise-floor retrain's seed {options['seed']} is one of the retrain seeds it is "
                         f"compared with ({search_seeds + fresh}); pick another")
    pool = training_edges(data)
    t = pool.size(1)
    k = sample_size(size, t, "training edges")

    t_start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    hops = model.encoder.num_layers
    wanted = {"confidence"} | ({"influence"} if getattr(model.encoder, "kind", None) in GATED_ENCODERS else set())
    if start != "random":
        wanted.add(criterion)
    hardness = {c: edge_hardness(data, model, c, seed).cpu() for c in sorted(wanted)}    # each once
    feats = _features(data, pool, hardness)
    if start == "random":
        current = torch.randperm(t, generator=gen)[:k]
    else:           # the proxy set, as worst_case_edges draws it (ties broken by the seed)
        current = hardest(hardness[criterion], k, torch.Generator().manual_seed(seed))
    # fixed rank samples: training edges (those in a candidate set are masked out per set) and non-edges
    sample_idx = torch.randperm(t, generator=gen)[: min(RANK_SAMPLE, t)]
    known = torch.cat([data.train_pos_edge_index, data.val_pos_edge_index, data.test_pos_edge_index], 1)
    non_edges = negative_pairs(data, min(RANK_SAMPLE, t), gen, exclude=known).to(pool.device)

    def contributions(idx: Tensor, retrain_with: list[int]) -> Tensor:
        """``[k]`` per-edge contributions to the signed gap: the method against the mean of
        retrains with the seeds ``retrain_with``."""
        edges = pool[:, idx.to(pool.device)]
        task = DeletionRequest.edges(edges).resolve(data, num_hops=hops)
        graph = task.retained_data
        keep = ~torch.isin(sample_idx, idx)
        ref = non_edges if objective == "library" else pool[:, sample_idx[keep].to(pool.device)]

        def ranks(m: nn.Module) -> Tensor:
            return weighted_cdf(link_logits(m, graph, edges).float().cpu(), link_logits(m, graph, ref).float().cpu())

        unlearned = ranks(unlearn(model, task, unlearner).model)
        retrained = torch.stack([ranks(unlearn(model, task, "retrain", seed=s).model) for s in retrain_with]).mean(0)
        # identification = 1 - mean rank among retained; library = mean rank among non-edges
        diff = unlearned - retrained
        return diff if objective == "library" else -diff

    def gap_of(c: Tensor) -> float:
        return float(c.mean())

    c_cur = contributions(current, search_seeds)
    seen = [(current, c_cur)]
    gap_cur = start_gap = gap_of(c_cur)
    history = [{"round": 0, "gap": start_gap, "accepted": True}]
    start_idx = current.clone()
    n_swap = max(1, int(round(swap * k)))
    n_explore = int(round(explore * n_swap))
    for rnd in range(1, rounds + 1):
        sign = 1.0 if gap_cur >= 0 else -1.0
        predicted = sign * _surrogate(feats, seen)
        keep_order = torch.argsort(sign * c_cur, descending=True, stable=True)
        kept = current[keep_order[: k - n_swap]]
        outside = torch.ones(t, dtype=torch.bool)
        outside[current] = False
        best = None
        for _ in range(proposals):
            cand = outside.nonzero().view(-1)
            by_model = cand[torch.argsort(predicted[cand], descending=True, stable=True)]
            chosen = by_model[: n_swap - n_explore]
            rest = by_model[n_swap - n_explore:]
            if n_explore:
                chosen = torch.cat([chosen, rest[torch.randperm(rest.numel(), generator=gen)[:n_explore]]])
            proposal = torch.cat([kept, chosen])
            c = contributions(proposal, search_seeds)
            seen.append((proposal, c))
            g = gap_of(c)
            history.append({"round": rnd, "gap": g, "accepted": False})
            if best is None or abs(g) > abs(best[2]):
                best = (proposal, c, g, len(history) - 1)
            # the next proposal of this round explores other edges than this one's surrogate picks
            outside[chosen[: n_swap - n_explore]] = False
        if abs(best[2]) > abs(gap_cur):
            current, c_cur, gap_cur = best[0], best[1], best[2]
            history[best[3]]["accepted"] = True

    confirm_gap = confirm_start = None
    if confirm_seeds:
        confirm_gap = gap_of(contributions(current, fresh))
        confirm_start = gap_of(contributions(start_idx, fresh))
    evaluations = len(history) + (2 if confirm_seeds else 0)
    return ForgetSetSearch(DeletionRequest.edges(pool[:, current.to(pool.device)]),
                           DeletionRequest.edges(pool[:, start_idx.to(pool.device)]), method, objective, k,
                           gap_cur, start_gap, confirm_gap, confirm_start, confirm_seeds, retrain_seeds,
                           evaluations, time.perf_counter() - t_start, history)
