r"""Per-edge targets for link (and recommendation) unlearning from held-out reference models,
trained once.

How would a model retrained without an edge :math:`e` score it? The validation positives
answer that for the deleted set *as a whole* (:class:`~gnn_unlearn.methods.stopping.UnseenEdges`:
unseen true edges, re-weighted to the deleted edges' structural support). Per edge they cannot:
a forget set chosen for being easy (the edges the model is most confident about, "Challenging
Forgets") is still predicted by a retrained model from the rest of the graph, and matching it to
the validation distribution drags it far below where retraining leaves it.

:class:`HeldOutReference` splits the training edges into :math:`k` seeded folds (default 2) and
trains :math:`k` models with the original's recipe, model :math:`m` on every fold but :math:`m`
(its messages pass over those edges only), so every training edge is held out of exactly one of
them, as in :math:`k`-fold cross-fitting / the shadow models of membership attacks
(Carlini et al., "Membership Inference Attacks From First Principles", 2022). For a deleted
edge :math:`e`, the reference :math:`r(e)` that never saw it scores it on the retained graph;
its *level* is

.. math::
    q_e = \hat F_{r(e)}\big(s_{r(e)}(e)\big), \qquad
    \hat F_r(s) = \frac{\sum_v w_v\,[s_r(v) < s] + \tfrac12 \sum_v w_v\,[s_r(v) = s]}{\sum_v w_v},

the weighted share of validation positives :math:`v` (weights :math:`w_v` of
:class:`~gnn_unlearn.methods.stopping.UnseenEdges`) that reference scores below :math:`e`. A
level is a rank among unseen edges, so it carries over between models of different score
scales: the unlearning methods move :math:`e`'s score to the :math:`q_e`-quantile of *their
own* validation scores (:meth:`UnseenEdges.quantile_targets` with ``levels``), and their
stopping rule (:class:`~gnn_unlearn.methods.stopping.ForgetCriterion`) waits for the deleted
set's separation from unseen edges to fall to :math:`\bar q` instead of 0.5.

Measured (``benchmarks/reference_targets.py``, Cora and CiteSeer, GCN, retraining as the
truth): on confidence-chosen worst-case sets the levels put the deleted-vs-retained AUC within
0.03 of retraining's, where the validation-only estimate is off by up to 0.19; on random "in"
and "out" sets they are as close or closer (the file has every number).

Recommenders (``reverse_bpr``, ``unlearnrec``) take the same kind of reference, fit on folds of
the user-item interactions: a removed pair's level is its rank among the user's candidate items
under the reference that never saw it, as a share of the held-out interactions of the same users
(:class:`~gnn_unlearn.methods.rec_common.HeldOutInteractions`) it beats
(:meth:`HeldOutReference.pair_levels`); each pair then goes to that quantile of the current
model's held-out ranks, in the reference's order instead of the original's. Measured on lastfm
(LightGCN, 1 %, seed 0, 5 retrains): with the targets in the order of one retrain of another
seed, reverse BPR's per-pair distance to the retrains falls from 4.60 to 2.34 (retrains
1.30-1.55), so most of the scatter the order-keeping transport leaves is the order. With a
reference (``benchmarks/results/fidelity_rec_lastfm_reference*.md``, 2 seeds): 2 folds (models on
half the interactions) order the pairs worse than the original for reverse BPR (4.61 -> 5.23)
and better for UnlearnRec (3.53 -> 2.88); 4 folds give 2.96 and 1.82 (retrains 1.24-1.58), at
2.2x / 1.4x the methods' seconds. Recommenders want ``folds=4``.

Costs and caveats: :math:`k` trainings (each on :math:`1 - 1/k` of the edges), once per trained
model (not per request); levels are then a forward pass per reference. Together the references
are trained on every training edge, deleted ones included, so they hold the data a request removes: they never reach the
released model, but keep them like the original (same retention rules) and fit new ones after
retraining.
"""
from __future__ import annotations

import os
import time
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.io import load_checkpoint_payload, save_payload
from gnn_unlearn.methods.base import unlearn
from gnn_unlearn.methods.stopping import UnseenEdges, weighted_cdf
from gnn_unlearn.models.predictors import build_model
from gnn_unlearn.ops.graph import edge_keys
from gnn_unlearn.requests import DeletionRequest, UnlearningTask


#: the model tasks a reference serves
TASKS = ("link", "rec")


class HeldOutReference:
    """Cross-fitted reference models: the training edges (interactions) fall into ``k`` seeded
    folds, and model ``m`` trains on every fold but ``m`` (see the module docs; ``k = 2``: two
    models, each on one half).

    Build with :meth:`fit`; pass to the link methods as ``reference=`` (``gradient_ascent``,
    ``gnndelete``, ``d2dgn``; recommenders: ``reverse_bpr``, ``unlearnrec``) for every request
    on that model's graph (also a sequence of requests: each deleted edge is a training edge of
    the original graph).

    Attributes:
        models: the ``k`` reference models (eval mode); ``models[m]`` never saw fold ``m``.
        fold_of_key: ``[T]`` the fold of each training edge, aligned with ``all_keys``.
        seed: the seed of the folds and of the references' training.
        num_nodes: nodes of the graph they were trained on.
        seconds: wall time of :meth:`fit`.
        file: the path it was loaded from (:meth:`load`), else ``None``.
    """

    def __init__(self, models: list[nn.Module], fold_of_key: Tensor, all_keys: Tensor,
                 num_nodes: int, seed: int, seconds: float = float("nan")):
        self.models = models
        self.task = getattr(models[0], "task", None) if models else None
        self.all_keys = all_keys                    # sorted keys of every training edge
        self.fold_of_key = fold_of_key              # their folds: models[m] never saw fold m
        self.num_nodes, self.seed, self.seconds = num_nodes, seed, seconds
        self.file: str | None = None                # where it was loaded from (:meth:`load`)

    def __repr__(self) -> str:
        where = f", file={self.file!r}" if self.file else ""
        return (f"HeldOutReference(folds={len(self.models)}, seed={self.seed}, edges={self.all_keys.numel()}, "
                f"nodes={self.num_nodes}{where})")

    @property
    def folds(self) -> int:
        return len(self.models)

    # files ------------------------------------------------------------------------------------
    KIND = "held_out_reference"

    def save(self, path: str | os.PathLike) -> None:
        """Atomically writes the references (config and weights) and the folds to ``path``,
        loadable with :meth:`load` (``weights_only``: no code runs on loading)."""
        save_payload(os.fspath(path), {
            "kind": self.KIND, "version": 2,
            "configs": [dict(m.config) for m in self.models],
            "train_configs": [dict(getattr(m, "train_config", None) or {}) for m in self.models],
            "state_dicts": [{k: v.detach().cpu() for k, v in m.state_dict().items()} for m in self.models],
            "fold_of_key": self.fold_of_key.cpu(), "all_keys": self.all_keys.cpu(),
            "num_nodes": int(self.num_nodes), "seed": int(self.seed), "seconds": float(self.seconds)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "HeldOutReference":
        """Reads a file written by :meth:`save`; anything else is refused with the reason."""
        path = os.fspath(path)
        payload = load_checkpoint_payload(path)
        if payload.get("kind") != cls.KIND:
            raise ValueError(f"{path!r} is not a held-out reference (written by HeldOutReference.save or "
                             "`gnn-unlearn fit-reference`)")
        configs, states = payload.get("configs"), payload.get("state_dicts")
        if not (isinstance(configs, list) and isinstance(states, list) and len(configs) == len(states) >= 2):
            raise ValueError(f"{path!r}: a held-out reference holds two or more models; the file is damaged")
        folds, every, n = payload.get("fold_of_key"), payload.get("all_keys"), payload.get("num_nodes")
        if not (isinstance(folds, Tensor) and isinstance(every, Tensor) and isinstance(n, int) and n > 0):
            raise ValueError(f"{path!r}: the folds or the node count are missing; the file is damaged")
        if (folds.shape != every.shape or folds.dtype != torch.long or
                (folds.numel() and (int(folds.min()) < 0 or int(folds.max()) >= len(configs)))):
            raise ValueError(f"{path!r}: the folds do not match the training edges or the {len(configs)} "
                             "models; the file is damaged")
        models = []
        for config, state, train_config in zip(configs, states, payload.get("train_configs") or [{}] * len(configs)):
            try:
                m = build_model(config)
                m.load_state_dict(state)
            except (KeyError, TypeError, ValueError, RuntimeError) as e:
                raise ValueError(f"{path!r}: a reference model does not rebuild from its config "
                                 f"({type(e).__name__}: {e})") from e
            if getattr(m, "task", None) not in TASKS:
                raise ValueError(f"{path!r}: the references must be link or recommendation models")
            m.train_config = train_config or None
            models.append(m.eval())
        out = cls(models, folds, every, n, int(payload.get("seed", 0)), float(payload.get("seconds", float("nan"))))
        out.file = os.path.abspath(path)
        return out

    # ------------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, model: nn.Module, data: Data, seed: int = 0,
            device: str | torch.device | None = None, folds: int = 2) -> "HeldOutReference":
        """Trains ``folds`` references with ``model``'s recipe (``model.train_config``, full
        batch or mini-batches as it was trained), reference ``m`` on every seeded fold of
        ``data.train_pos_edge_index`` but fold ``m`` (training edges of a link model, user-item
        interactions of a recommender); ``model`` and ``data`` are not modified. More folds
        cost more trainings (once) and give references closer to the original's data (each
        sees :math:`1 - 1/k` of it)."""
        task_kind = getattr(model, "task", None)
        if task_kind not in TASKS:
            raise ValueError("a held-out reference serves link prediction and recommendation; got a "
                             f"{getattr(model, 'task', type(model).__name__)!r} model")
        if not isinstance(data, Data) or getattr(data, "train_pos_edge_index", None) is None:
            raise ValueError("a held-out reference needs the split the model was trained on "
                             "(data.train_pos_edge_index; make one with gnn_unlearn.link_split, or a "
                             "recommendation dataset)")
        if getattr(data, "val_pos_edge_index", None) is None or data.val_pos_edge_index.size(1) == 0:
            raise ValueError("the levels are ranks among validation positives; the split has none")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
            raise ValueError(f"folds must be an int >= 2, got {folds!r}")
        train_edges = data.train_pos_edge_index
        if train_edges.size(1) < 2 * folds:
            raise ValueError(f"a held-out reference of {folds} folds needs at least {2 * folds} training "
                             f"edges, the split has {train_edges.size(1)}")
        t0 = time.perf_counter()
        fold = assign_folds(train_edges.size(1), folds, torch.Generator().manual_seed(seed)).to(train_edges.device)
        base_seed = int((getattr(model, "train_config", None) or {}).get("seed", 0))
        models = []
        for k in range(folds):
            # reference k trains without fold k: deleting those edges from the graph removes them
            # from its messages and its supervision, exactly as retraining does
            held = train_edges[:, fold == k]
            request = (DeletionRequest.edges(held) if task_kind == "link" else
                       DeletionRequest.interactions(held[0], held[1] - int(data.num_users)))
            task = request.resolve(data, num_hops=1)
            ref = unlearn(model, task, "retrain", device=device,
                          seed=base_seed + 7919 * (seed + 1) + k).model
            ref.eval()
            models.append(ref)
        n = data.num_nodes
        keys, order = torch.sort(edge_keys(train_edges, n).cpu())
        return cls(models, fold.cpu()[order], keys, n, seed, time.perf_counter() - t0)

    # ------------------------------------------------------------------------------------------
    def check(self, task: UnlearningTask) -> None:
        """Refuses a task on another graph or one whose deleted edges it did not split."""
        if task.data.num_nodes != self.num_nodes:
            raise ValueError(f"the reference was fit on a graph of {self.num_nodes} nodes; the task's "
                             f"has {task.data.num_nodes}: fit a HeldOutReference on this model's graph")
        self._require_known(task.df_edge_index, "deleted edges are not training edges")

    @torch.no_grad()
    def levels(self, task: UnlearningTask, weights: Tensor | None = None) -> Tensor:
        """``[|D_f|]`` levels :math:`q_e \\in [0, 1]` of ``task.df_edge_index``, in its order.

        ``weights``: of the validation positives (default: all 1; the methods pass
        :attr:`UnseenEdges.weights`)."""
        if self.task != "link":
            raise ValueError("levels() ranks link scores; a recommender's reference gives pair_levels()")
        self.check(task)
        data, df = task.retained_data, task.df_edge_index
        val = data.val_pos_edge_index
        w = torch.ones(val.size(1)) if weights is None else weights.detach().float().cpu()
        if w.numel() != val.size(1):
            raise ValueError(f"weights must hold one value per validation positive ({val.size(1)}), "
                             f"got {w.numel()}")
        def scores(ref: nn.Module, mine: Tensor) -> tuple[Tensor, Tensor]:
            dev = next(ref.parameters()).device
            z = ref.encode(data.x.to(dev), data.edge_index.to(dev))
            return ref.decode(z, mine.to(dev)).float().cpu(), ref.decode(z, val.to(dev)).float().cpu()

        return self._by_fold(df, scores, w).float()

    def _positions(self, pairs: Tensor) -> tuple[Tensor, Tensor]:
        """``(positions in all_keys, found)`` of ``pairs``' keys."""
        keys = edge_keys(pairs, self.num_nodes).cpu()
        pos = torch.searchsorted(self.all_keys, keys).clamp(max=max(self.all_keys.numel() - 1, 0))
        return pos, self.all_keys[pos] == keys

    def _require_known(self, pairs: Tensor, what: str) -> None:
        """Refuses ``pairs`` unless every one is a training pair of the graph the references
        were fit on (``what``: how to name the others)."""
        if not bool(self._positions(pairs)[1].all()):
            raise ValueError(f"some {what} of the graph the reference was fit on: fit a HeldOutReference "
                             "on this model's training graph")

    def fold_of(self, pairs: Tensor) -> Tensor:
        """``[k]`` the fold of each of ``pairs`` (training pairs; :meth:`check` refuses others):
        the index of the reference that never saw it."""
        return self.fold_of_key[self._positions(pairs)[0]]

    def _by_fold(self, pairs: Tensor, scores, weights: Tensor) -> Tensor:
        """Each pair's level under the reference that never saw it: the weighted mid-rank CDF
        of its score among the reference set's, ``scores(model, its pairs) -> (pairs' scores,
        reference set's scores)``, in an order where larger ranks higher."""
        fold = self.fold_of(pairs)
        out = torch.empty(pairs.size(1), dtype=torch.double)
        for k, ref in enumerate(self.models):
            mine = fold == k                                # reference k never saw these
            if bool(mine.any()):
                s_mine, s_ref = scores(ref, pairs[:, mine.to(pairs.device)])
                out[mine] = weighted_cdf(s_mine, s_ref, weights).double()
        return out.to(pairs.device)

    @torch.no_grad()
    def pair_levels(self, held: Any, pairs: Tensor) -> Tensor:
        r"""``[k]`` levels of removed user-item ``pairs`` for a recommender: under the reference
        that never saw a pair, the weighted share of the held-out reference interactions
        ``held.reference`` (weights ``held.weights``) it ranks *better* than the pair, from
        their rank percentiles among the user's candidate items (``held.percentiles``, on
        ``held.data``, the retained graph). ``held``: the
        :class:`~gnn_unlearn.methods.rec_common.HeldOutInteractions` of the request."""
        if self.task != "rec":
            raise ValueError("pair_levels() is for a recommender's reference; a link reference gives levels()")
        self._require_known(pairs, "pairs are not training interactions")
        def scores(ref: nn.Module, mine: Tensor) -> tuple[Tensor, Tensor]:
            dev = next(ref.parameters()).device
            z = ref.encode(None, held.data.edge_index.to(dev))
            # rank percentiles (0 = top): the share of reference pairs ranked better than a pair
            return (held.percentiles(z, mine.to(dev)).float().cpu(),
                    held.percentiles(z, held.reference.to(dev)).float().cpu())

        return self._by_fold(pairs, scores, held.weights.detach().float().cpu())


def assign_folds(num: int, folds: int, generator: torch.Generator) -> Tensor:
    """``[num]`` seeded fold ids in ``0..folds-1``, every fold non-empty (``num >= folds``): fold
    :math:`k - 1 - \\lfloor uk \\rfloor`, :math:`u \\sim U(0, 1)`, so with two folds fold 1 is
    :math:`u < 0.5` (the first half of earlier versions); an empty fold takes one item of the
    largest."""
    fold = (folds - 1 - (torch.rand(num, generator=generator) * folds).long().clamp(max=folds - 1))
    for f in range(folds):
        if not bool((fold == f).any()):
            largest = int(torch.argmax(torch.bincount(fold, minlength=folds)))
            fold[int((fold == largest).nonzero()[0])] = f
    return fold


def as_reference(method: str, reference: Any) -> HeldOutReference | None:
    """A method's ``reference=`` option as a :class:`HeldOutReference`: ``None``, a reference, or
    the path of one saved with :meth:`HeldOutReference.save` (loaded now, so a wrong file is
    refused when the method is built, before any work)."""
    if reference is None or isinstance(reference, HeldOutReference):
        return reference
    if isinstance(reference, (str, os.PathLike)):
        return HeldOutReference.load(reference)
    raise TypeError(f"{method}: reference must be a HeldOutReference (HeldOutReference.fit(model, data)) "
                    f"or the path of a saved one, got {type(reference).__name__}")


def check_reference(method: str, reference: Any, model: nn.Module, task: UnlearningTask,
                    target: str, loss_target: str | None = None) -> None:
    """Refuses, before any work, a ``reference=`` option a method cannot use: not a
    :class:`HeldOutReference`, a reference fit on another kind of model (link / recommender)
    than ``model``, a stopping ``target`` other than ``"matched"``, a loss target
    (``loss_target``, e.g. GNNDelete's ``dec_target``) other than ``"unseen_edges"``, or a
    reference fit on another graph."""
    if reference is None:
        return
    if not isinstance(reference, HeldOutReference):
        raise TypeError(f"{method}: reference must be a HeldOutReference "
                        f"(gnn_unlearn.methods.HeldOutReference.fit(model, data)), got {type(reference).__name__}")
    if getattr(model, "task", None) not in TASKS or reference.task != model.task:
        raise ValueError(f"{method}: this reference was fit on a {reference.task!r} model; it serves "
                         f"{reference.task!r} models only, and this is a {getattr(model, 'task', None)!r} model")
    if target != "matched":
        raise ValueError(f"{method}: reference levels refine target='matched'; got target={target!r}")
    if loss_target is not None and loss_target != "unseen_edges":
        raise ValueError(f"{method}: reference levels set the targets of the 'unseen_edges' loss; got "
                         f"{loss_target!r}")
    reference.check(task)


def reference_levels(reference: HeldOutReference | None, task: UnlearningTask) -> Tensor | None:
    """The deleted edges' levels (None without a reference), weighted to their support."""
    if reference is None:
        return None
    weights = UnseenEdges(task.retained_data, task.df_edge_index).weights
    return reference.levels(task, weights)
