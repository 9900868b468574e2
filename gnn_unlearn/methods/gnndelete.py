r"""GNNDelete: deletion operators on the affected region of a frozen GNN.

Cheng, Dasoulas, He, Agarwal, Zitnik, "GNNDelete: A General Strategy for Unlearning in Graph
Neural Networks", ICLR 2023.

After each message-passing layer :math:`l` a trainable operator :math:`W_l \in
\mathbb{R}^{d_l \times d_l}` rewrites the representations of the nodes of the
:math:`l`-hop affected region :math:`S^l_{D_f}` (other nodes pass unchanged):

.. math::
    h'^{(l)}_v = h^{(l)}_v W_l \;\; (v \in S^l_{D_f}), \qquad h'^{(l)}_v = h^{(l)}_v \text{ otherwise.}

The encoder is frozen; only the :math:`W_l` train, on

.. math::
    \mathcal{L} = \alpha\, \underbrace{\mathrm{MSE}\big(s(D_f),\ s(P)\big)}_{\text{Deleted Edge Consistency}}
    + (1 - \alpha)\, \underbrace{\mathrm{MSE}\big(\sigma(z_i^\top z_j),\ \sigma(\hat z_i^\top \hat z_j)\big)_{(i,j) \in S_{D_f}^2 \setminus D_f}}_{\text{Neighbourhood Influence}}

with :math:`P` = ``random_ratio`` x :math:`|D_f|` random non-edges (their logits are targets,
detached) and :math:`\hat z` the frozen original model's embeddings.

That is the paper's Deleted Edge Consistency (``dec_target="non_edges"``). It over-forgets:
every deleted edge is pushed to the level of a random pair, while a retrained model still
scores the deleted edges that the rest of the graph predicts highly. Measured on Cora (GCN,
2.5 %, 5 seeds, stopped when :math:`D_f` separates from non-edges like unseen edges do): the
deleted edges then stand out from the retained ones at AUC 0.89 ("in") / 0.99 ("out") against
retraining's 0.69 / 0.90. The default, ``dec_target="unseen_edges"``, matches the *distribution*
instead: each deleted edge's logit is regressed onto the quantile of its rank in the current
model's scores of unseen true edges (validation positives re-weighted to :math:`D_f`'s
structural support, :class:`~gnn_unlearn.methods.stopping.UnseenEdges`):

.. math::
    \mathrm{DEC} = \frac{1}{|D_f|}\sum_{e \in D_f}\big(s(e) - Q^{-1}(\tfrac{r(e) + 1/2}{|D_f|})\big)^2,

so the deleted edges keep their order and look like edges the model never trained on,
against non-edges and against retained edges alike; training stops when they separate from
those unseen edges no better than chance (``target="matched"``).

What differs from the reference code, and why (all measured, see benchmarks/):

* Operators start as the identity (reference: all entries 1/1000, which collapses the region's
  representations and costs 7-12 Dt AUROC points from the first epoch). ``init="reference"``
  restores it.
* Neighbourhood Influence without N x N tensors. ``neighbourhood="all_pairs"`` is the
  paper's form: with :math:`|S_{D_f}| \le` ``max_dense_region`` all region pairs are scored
  as one :math:`|S| \times |S|` product (exactly the reference's N x N masked mean, since
  its mask only selects region pairs); above it, ``num_region_pairs`` pairs drawn uniformly
  from the region (an unbiased estimate of the same mean) are fixed once per call.
  ``neighbourhood="edges"`` (default) keeps the retained training edges inside the region
  plus as many uniformly drawn region pairs, and compares logits (``space="logit"``) rather
  than probabilities: almost all region pairs are non-edges whose sigmoid is ~0, so the
  paper's loss barely protects the edges that matter. Measured on Cora, GCN, 2.5 % "in"
  (seed 0): all-pairs/prob stops on the validation guard at Df AUROC 0.949; edges/logit
  reaches Df 0.915 at Dt 0.910 (retrain: Df 0.883, Dt 0.908), in a quarter of the time.
* The encoder really is frozen (``requires_grad_(False)``), the first layer's output is
  computed once (it does not depend on the operators), and model selection never sees
  :math:`D_f` AUROC or test data: training stops when :math:`D_f` looks like unseen edges
  (:class:`~gnn_unlearn.methods.stopping.ForgetCriterion`) or reverts to the last state
  whose validation AUROC was within ``max_val_drop`` of the start.
* Regions follow both directions of every edge and are read from the
  :class:`~gnn_unlearn.requests.UnlearningTask`; the model runs on the retained graph.

Args:
    alpha: weight of Deleted Edge Consistency (paper 0.5).
    lr: Adam learning rate (default 5e-3 with ``dec_target="unseen_edges"``; the reference's 1e-3
        with ``"non_edges"``).
    epochs: maximum number of epochs.
    random_ratio: random pairs per deleted edge (paper 1; later code 20).
    init: ``"identity"`` or ``"reference"`` (1/1000).
    dec_target: ``"unseen_edges"`` (default: quantile matching, see above) or ``"non_edges"``
        (the paper's random pairs).
    target: stopping target, ``"matched"``, ``"unseen_edges"`` or ``"non_edges"`` (see
        :class:`~gnn_unlearn.methods.stopping.ForgetCriterion`).
    neighbourhood / space: ``"edges"`` / ``"logit"`` (default) or ``"all_pairs"`` / ``"prob"``
        (the paper's); see above.
    max_dense_region / num_region_pairs: see above.
    max_val_drop: tolerated drop of validation AUROC.
    eval_every: epochs between checks of the stopping rules.
    fanouts: neighbours sampled per layer for mini-batches (graphs too large for full batch);
        ``None`` (default): full batch. The first layer's output is exact (computed once for
        the whole graph without gradients, it does not depend on the operators), so only the
        last ``L - 1`` layers run on sampled subgraphs (``fanouts[:L - 1]``, nearest hop
        first). An epoch is one pass over the deleted edges in batches of ``batch_size``,
        each with its share of the random pairs and of the neighbourhood pairs.
    batch_size: deleted edges per mini-batch.
    sampler: ``"torch"`` (this library's sampler, seeded) or ``"pyg"`` (PyG's
        ``NeighborSampler``; needs pyg-lib or torch-sparse).
    seed: seeds the random pairs.
    settle: when the deleted set is found to look unseen, bisect the steps since the previous
        check this many times for the shortest one that still gets there (where none meets
        both targets, for the point closest to both; :meth:`~gnn_unlearn.methods.stopping.Monitor.settle`;
        0: keep the whole step). Default 6:
        the operators' first Adam steps can go far past the targets. Measured with the
        reference (Cora and CiteSeer, GCN, 0.5 / 2.5 %, in / out / worst-case, 5 seeds, against
        the same-seed retrain): mean |deletion identification - retrain's| 0.031 -> 0.018,
        library Df unchanged (0.016 -> 0.017), the in / out verdicts against 5 pooled retrains
        unchanged; worst-case sets move most (Cora 2.5 %: 0.173 -> 0.126, retrain 0.096;
        CiteSeer 0.5 %: 0.197 -> 0.108, retrain 0.069).
    stop_tolerance: the link stopping criterion's tolerance, in null standard deviations of its
        statistics (:class:`~gnn_unlearn.methods.stopping.ForgetCriterion`); 0 stops only once
        the deleted set sits at its targets themselves, not within chance of them.
    backtrack: on a check that finds validation AUROC dropped beyond ``max_val_drop``, return
        the operators to the last good state and halve the learning rate, at most this many
        times (then stop there; 0: stop at the first drop). Without it a first epoch that trips
        the guard returns the identity operators, i.e. the original model.
    raise_alpha: when the loss converges short of the targets (the stop reason "matched as far
        as it goes": the Deleted Edge Consistency and Neighbourhood Influence terms balance
        before the deleted set gets there), move weight to Deleted Edge Consistency,
        :math:`\alpha \leftarrow (1 + \alpha) / 2`, and go on from there, at most this many
        times (0: stop at the first such stall; ``history["alpha_raises"]``,
        ``history["final_alpha"]``). A request that never stalls is untouched. Measured on
        CiteSeer, GCN, 2.5 %, in / out, 5 seeds, with the reference, against 5 retrains per
        request: 8 of 10 requests stalled; raised on the stall, every one reaches its targets,
        library Df goes from +0.034 to +0.018 above the pooled retrains on "out" (within 0.03
        now) and from +0.007 to +0.001 on "in", Dt unchanged (-0.3 / -0.9 points before, -0.2 /
        -1.0 after). A fixed :math:`\alpha = 0.95` for every request instead gets "out" to
        +0.020 but costs "in" 1.8 Dt points.
    reference: a :class:`~gnn_unlearn.methods.reference.HeldOutReference` of this model (or the
        path of one saved by ``HeldOutReference.save`` / ``gnn-unlearn fit-reference``): each
        deleted edge's target is the quantile of unseen edges at its own held-out level, and the
        stopping rule waits for those levels (needs ``dec_target="unseen_edges"`` and
        ``target="matched"``); ``None`` (default): the rank-matched targets above.

Under ``torchrun`` the operators train in ``DistributedDataParallel`` (the frozen base is not
reduced; :mod:`gnn_unlearn.distributed`): full batch, each rank takes its share of the
neighbourhood pairs (dense: of the region's rows) and of the deleted edges, each term weighted
so that the averaged gradient is the single-process one; mini-batches, each rank its share of
the epoch's deleted edges and neighbourhood pairs with its own sampling. Rank 0's stopping
verdict holds for all.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnn_unlearn.distributed import Replica
from gnn_unlearn.loader import (build_sampler, check_batch_size, check_fanouts, check_sampler,
                                 sample_subgraph)
from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.methods.reference import HeldOutReference, as_reference, check_reference, reference_levels
from gnn_unlearn.methods.stopping import (STOP_TOLERANCE, Monitor, StopControl,
                                          UnseenEdges)
from gnn_unlearn.models.encoders import PreparedGraph
from gnn_unlearn.models.predictors import register_model_wrapper
from gnn_unlearn.ops.graph import edge_keys
from gnn_unlearn.ops.scoring import pair_dot
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.utils import seeded


class DeletionOperators(nn.Module):
    """One :math:`d_l \\times d_l` operator per layer, applied to that layer's region rows."""

    def __init__(self, layer_sizes: list[int], regions: list[Tensor], init: str = "identity"):
        super().__init__()
        if init not in ("identity", "reference"):
            raise ValueError(f"init must be 'identity' or 'reference', got {init!r}")
        self.weights = nn.ParameterList(
            nn.Parameter(torch.eye(d) if init == "identity" else torch.full((d, d), 1e-3))
            for d in layer_sizes)
        for i, idx in enumerate(regions):
            self.register_buffer(f"region_{i}", idx.long())

    def region(self, i: int) -> Tensor:
        return getattr(self, f"region_{i}")

    def forward(self, i: int, h: Tensor, idx: Tensor | None = None) -> Tensor:
        """``idx``: the region's rows in ``h`` when ``h`` is a subgraph's (default: the region)."""
        idx = self.region(i) if idx is None else idx
        # an empty region leaves h as it is but keeps W_i in the graph (with a zero gradient),
        # so that DistributedDataParallel finds every operator used in every step
        return h.index_copy(0, idx, h.index_select(0, idx) @ self.weights[i])


class GNNDeleteModel(nn.Module):
    """A frozen link predictor with deletion operators; serves like any link model."""
    task = "link"

    def __init__(self, base: nn.Module, operators: DeletionOperators):
        super().__init__()
        self.base = base
        self.operators = operators
        self.config = {**base.config, "gnndelete": {
            "region_sizes": [int(operators.region(i).numel()) for i in range(len(operators.weights))]}}
        self.train_config = getattr(base, "train_config", None)

    @property
    def encoder(self):
        return self.base.encoder

    def _hook(self, layer_hook=None):
        def hook(i: int, h: Tensor) -> Tensor:
            h = self.operators(i, h)
            return layer_hook(i, h) if layer_hook is not None else h
        return hook

    def encode(self, x, edge_index, layer_hook=None, return_layers: bool = False):
        return self.base.encode(x, edge_index, layer_hook=self._hook(layer_hook),
                                return_layers=return_layers)

    def decode(self, z: Tensor, pairs: Tensor, chunk_size: int = 1 << 18) -> Tensor:
        return self.base.decode(z, pairs, chunk_size)

    def forward(self, x, edge_index, pairs):
        return self.decode(self.encode(x, edge_index), pairs)


def wrap_from_config(base: nn.Module, spec: dict[str, Any]) -> GNNDeleteModel:
    """Rebuilds an (untrained) GNNDelete model from its config, for checkpoint loading."""
    regions = [torch.zeros(n, dtype=torch.long) for n in spec["region_sizes"]]
    return GNNDeleteModel(base, DeletionOperators(base.encoder.layer_sizes, regions))


register_model_wrapper("gnndelete", wrap_from_config)


def region_pairs(region: Tensor, num_nodes: int, df: Tensor, num_pairs: int | None,
                 generator: torch.Generator) -> Tensor | None:
    """Uniform sample of ``num_pairs`` distinct-node pairs in ``region`` (minus Df pairs);
    ``None`` when ``num_pairs`` is ``None`` (the caller scores all pairs densely)."""
    if num_pairs is None:
        return None
    r = region.numel()
    a = torch.randint(r, (num_pairs,), generator=generator)
    b = torch.randint(r, (num_pairs,), generator=generator)
    keep = a != b
    pairs = torch.stack([region.cpu()[a[keep]], region.cpu()[b[keep]]]).to(region.device)
    if df.numel():
        pairs = pairs[:, ~torch.isin(edge_keys(pairs, num_nodes), edge_keys(df, num_nodes))]
    return pairs


def neighbourhood_loss(z: Tensor, z_orig: Tensor, region: Tensor, pairs: Tensor | None,
                       df_local_mask: Tensor | None, space: str = "prob",
                       orig_pairs: Tensor | None = None) -> Tensor:
    r"""Neighbourhood Influence: MSE of :math:`\sigma(z_i^\top z_j)` against the original's.

    ``pairs is None``: all pairs :math:`i < j` of the region as one dense
    :math:`|S| \times |S|` product (``df_local_mask`` removes the deleted pairs);
    otherwise only the given sampled pairs (``orig_pairs``: the same pairs as rows of
    ``z_orig`` when ``z`` holds a subgraph's rows).
    """
    return neighbourhood_terms(z, z_orig, region, pairs, df_local_mask, space, orig_pairs).mean()


def neighbourhood_terms(z: Tensor, z_orig: Tensor, region: Tensor, pairs: Tensor | None,
                        df_local_mask: Tensor | None, space: str = "prob",
                        orig_pairs: Tensor | None = None, rows: slice = slice(None)) -> Tensor:
    """The squared differences whose mean is :func:`neighbourhood_loss`, one per pair;
    ``rows``: with ``pairs is None``, only the pairs of these rows of the dense region
    product (a rank's share under data parallelism)."""
    if pairs is None:
        zr, zo = z[region], z_orig[region]
        now, before = zr[rows] @ zr.t(), zo[rows] @ zo.t()
        if space == "prob":
            now, before = torch.sigmoid(now), torch.sigmoid(before)
        return ((now - before) ** 2)[df_local_mask[rows]]
    now = pair_dot(z, pairs)
    before = pair_dot(z_orig, pairs if orig_pairs is None else orig_pairs)
    if space == "prob":
        now, before = torch.sigmoid(now), torch.sigmoid(before)
    return F.mse_loss(now, before, reduction="none")


def dense_pair_mask(region: Tensor, num_nodes: int, df: Tensor) -> Tensor:
    """``[|S|, |S|]`` bool: upper-triangular region pairs that are not deleted edges."""
    r = region.numel()
    mask = torch.ones(r, r, dtype=torch.bool, device=region.device).triu_(1)
    pos = torch.full((num_nodes,), -1, dtype=torch.long, device=region.device)
    pos[region] = torch.arange(r, device=region.device)
    if df.numel():
        a, b = pos[df[0]], pos[df[1]]
        ok = (a >= 0) & (b >= 0)
        a, b = a[ok], b[ok]
        mask[torch.minimum(a, b), torch.maximum(a, b)] = False
    return mask


DEC_TARGETS = ("unseen_edges", "non_edges")


@register
class GNNDelete(Unlearner):
    __doc__ = __doc__
    name = "gnndelete"
    data_parallel = True
    supports = frozenset({"edge", "node", "feature", "interaction"})
    tasks = frozenset({"link"})

    def __init__(self, alpha: float = 0.5, lr: float | None = None, epochs: int = 300,
                 random_ratio: int = 1, init: str = "identity", target: str = "matched",
                 dec_target: str = "unseen_edges",
                 max_dense_region: int = 4096, num_region_pairs: int = 1 << 18,
                 neighbourhood: str = "edges", space: str = "logit", max_val_drop: float = 0.03,
                 eval_every: int = 1, fanouts: list[int] | None = None, batch_size: int = 1024,
                 sampler: str = "torch", seed: int = 0, reference: HeldOutReference | str | None = None,
                 settle: int = 6, stop_tolerance: float = STOP_TOLERANCE, backtrack: int = 3,
                 raise_alpha: int = 3):
        self.fanouts, self.batch_size, self.sampler = fanouts, batch_size, check_sampler(sampler)
        self.backtrack, self.raise_alpha = backtrack, raise_alpha
        self.settle, self.stop_tolerance = settle, stop_tolerance
        self.alpha, self.epochs, self.random_ratio = alpha, epochs, random_ratio
        self.reference = as_reference(self.name, reference)
        self.neighbourhood, self.space = neighbourhood, space
        self.init, self.target = init, target
        if dec_target not in DEC_TARGETS:
            raise ValueError(f"gnndelete: dec_target must be one of {DEC_TARGETS}, got {dec_target!r}")
        self.dec_target = dec_target
        if lr is None:
            # measured on Cora (GCN, 2.5 %, seeds 0-1, in/out): 5e-3 stops after 16-116 epochs;
            # 1e-3 needed up to 179 even at twice the stopping tolerance; 2e-2 trips the guard
            lr = 5e-3 if dec_target == "unseen_edges" else 1e-3
        self.lr = lr
        self.max_dense_region, self.num_region_pairs = max_dense_region, num_region_pairs
        self.max_val_drop, self.eval_every, self.seed = max_val_drop, eval_every, seed

    def check(self, model: nn.Module, task: UnlearningTask) -> None:
        super().check(model, task)
        check_reference(self.name, self.reference, model, task, self.target, self.dec_target)

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")
        if isinstance(model, GNNDeleteModel):
            raise ValueError("this model already carries deletion operators; for a sequential "
                             "request unlearn from its base model (model.base) on the combined request")
        enc = model.encoder
        if task.num_hops < enc.num_layers:
            raise ValueError(f"the task was resolved with num_hops={task.num_hops} but the encoder has "
                             f"{enc.num_layers} layers; resolve with num_hops={enc.num_layers}")
        model.requires_grad_(False)
        model.eval()
        data, n = task.retained_data, task.data.num_nodes
        device = task.device
        regions = [task.affected_nodes(i + 1).nonzero().view(-1) for i in range(enc.num_layers)]
        operators = DeletionOperators(enc.layer_sizes, regions, self.init).to(device)
        wrapped = GNNDeleteModel(model, operators)
        df = task.df_edge_index
        g = torch.Generator().manual_seed(self.seed)
        graph = enc.prepare(data.edge_index, n)
        with torch.no_grad():
            h0 = enc.layer(0, enc.input(data.x), graph)   # independent of the operators
            z_orig = model.encode(data.x, data.edge_index)
        region = regions[-1]
        if self.neighbourhood == "all_pairs":
            dense = region.numel() <= self.max_dense_region and self.fanouts is None
            pairs = None if dense else region_pairs(region, n, df, self.num_region_pairs, g)
            local_mask = dense_pair_mask(region, n, df) if dense else None
            how = "dense region" if dense else f"{pairs.size(1)} sampled pairs"
        elif self.neighbourhood == "edges":
            edges = task.train_edges[:, task.affected_edges]
            pairs = torch.cat([edges, region_pairs(region, n, task.train_edges, edges.size(1), g)], 1)
            local_mask = None
            how = f"{edges.size(1)} region edges + as many region non-edges"
        else:
            raise ValueError(f"neighbourhood must be 'all_pairs' or 'edges', got {self.neighbourhood!r}")
        self.history.update(neighbourhood=how, region_nodes=int(region.numel()))

        def encode() -> Tensor:
            h = operators(0, h0)
            for i in range(1, enc.num_layers):
                h = operators(i, enc.layer(i, h, graph))
            return h

        levels = reference_levels(self.reference, task) if df.numel() else None
        self._unseen = UnseenEdges(data, df, levels) if df.numel() and self.dec_target == "unseen_edges" else None
        opt = torch.optim.Adam(operators.parameters(), lr=self.lr)
        monitor = Monitor(wrapped, task, g, self.target, self.max_val_drop,
                          levels=levels, tolerance=self.stop_tolerance) if df.numel() else None
        step = self._full_batch_step if self.fanouts is None else self._minibatch_step
        replica = Replica.current()
        # DistributedDataParallel under torchrun: it averages the gradients of the only
        # parameters that train, the operators' (the frozen base's are not reduced)
        ctx = dict(wrapped=wrapped, enc=enc, encode=encode, h0=h0, z_orig=z_orig, region=region, alpha=self.alpha,
                   regions=regions, pairs=pairs, local_mask=local_mask, df=df, task=task,
                   opt=opt, g=g, replica=replica, local=replica.local_generator(g, self.seed),
                   step=replica.wrap(wrapped),
                   num_dense_pairs=None if local_mask is None else int(local_mask.sum()))
        if self.fanouts is not None:
            check_fanouts(self.fanouts, enc.num_layers)
            check_batch_size(self.batch_size)
            in_region = torch.zeros(enc.num_layers, n, dtype=torch.bool, device=device)
            for i, idx in enumerate(regions):
                in_region[i, idx] = True
            hops = self.fanouts[: enc.num_layers - 1]
            ctx.update(in_region=in_region, sampler=build_sampler(data, hops, self.sampler) if hops else None)

        def raise_alpha() -> bool:          # weight to Deleted Edge Consistency
            if ctx["alpha"] >= 1:
                return False
            ctx["alpha"] = (1 + ctx["alpha"]) / 2
            return True

        control = StopControl(monitor, wrapped, operators.state_dict, operators.load_state_dict, self.lr,
                              self.backtrack, self.settle, encode, replica.decide, raise_alpha, self.raise_alpha)

        def check() -> str | None:
            if monitor is None:
                return None
            with torch.no_grad():           # rank 0 decides for all ranks
                return replica.decide(monitor.check(wrapped, encode()))

        def restart(lr: float) -> None:
            ctx["opt"] = torch.optim.Adam(operators.parameters(), lr=lr)

        # identity operators may already sit at the target: then no step is taken
        at_start = monitor is not None and bool(replica.decide(monitor.evaluate(wrapped, encode())[1]))
        with seeded(self.seed, device):
            losses = control.run(self.epochs, at_start, lambda: float(replica.mean(step(ctx).detach())),
                                 check, restart, every=self.eval_every)
        del ctx["step"]                     # DDP's gradient hooks go with it
        control.finish(self.history)
        self.history.update(loss=losses, epochs=len(losses), alpha_raises=control.shifts, final_alpha=ctx["alpha"])
        return wrapped

    def _full_batch_step(self, c: dict) -> Tensor:
        """One step on the whole graph; under data parallelism each rank takes the loss of its
        share of the neighbourhood pairs and deleted edges (drawn identically on every rank),
        weighted so that the ranks' average gradient is the single-process one."""
        c["opt"].zero_grad()
        loss = c["step"](self._full_batch_loss, c)
        loss.backward()
        c["opt"].step()
        return loss

    def _full_batch_loss(self, wrapped, c: dict) -> Tensor:
        split, pairs = c["replica"], c["pairs"]
        z, df = c["encode"](), c["df"]
        if pairs is None:                   # the dense region product: this rank's rows
            near = neighbourhood_terms(z, c["z_orig"], c["region"], None, c["local_mask"],
                                       self.space, rows=split.share())
            loss = split.share_mean(near, c["num_dense_pairs"])
        else:
            near = neighbourhood_terms(z, c["z_orig"], c["region"], split.take(pairs), None, self.space)
            loss = split.share_mean(near, pairs.size(1))
        if df.numel():
            rand = None if self._unseen is not None else negative_pairs(
                c["task"].data, df.size(1) * self.random_ratio, c["g"]).to(df.device)
            dec = self._dec_terms(wrapped, z, df, rand, self._val_logits(wrapped, z))
            loss = c["alpha"] * split.share_mean(split.take(dec), dec.numel()) + (1 - c["alpha"]) * loss
        return loss

    def _dec_terms(self, wrapped, z: Tensor, df_pairs: Tensor, rand_pairs: Tensor,
                   val_logits: Tensor | None = None, val_subset: Tensor | None = None,
                   df_index: Tensor | None = None) -> Tensor:
        """Deleted Edge Consistency, one squared error per deleted edge (per deleted edge and
        random pair with the paper's target): deleted-edge logits towards the quantiles of
        unseen edges' (``val_logits``, detached; ``val_subset``: which of them; ``df_index``:
        which deleted edges ``df_pairs`` are, for reference levels), or towards random pairs'
        (the paper's)."""
        if self._unseen is not None:
            df_logits = wrapped.decode(z, df_pairs)
            targets = self._unseen.quantile_targets(df_logits, val_logits, val_subset, df_index)
            return F.mse_loss(df_logits, targets, reduction="none")
        df_logits = wrapped.decode(z, df_pairs).repeat(self.random_ratio)
        return F.mse_loss(df_logits, wrapped.decode(z, rand_pairs).detach(), reduction="none")

    def _val_logits(self, wrapped, z: Tensor) -> Tensor | None:
        """The current scores of the unseen reference edges (no gradient flows through them)."""
        if self._unseen is None:
            return None
        with torch.no_grad():
            return wrapped.decode(z.detach(), self._unseen.val)

    def _minibatch_step(self, c: dict) -> Tensor:
        """One pass over the deleted edges; each batch runs the operators' layers on the
        sampled computation subgraph of the nodes its loss terms touch. Under data
        parallelism each rank takes its share of the epoch's order of deleted edges and of
        neighbourhood pairs (:meth:`~gnn_unlearn.distributed.Replica.shard`) and samples its
        subgraphs and reference pairs from its own stream."""
        df, pairs, g, split = c["df"], c["pairs"], c["g"], c["replica"]
        device = c["h0"].device
        df_order = split.shard(torch.randperm(df.size(1), generator=g)) if df.numel() else None
        pair_order = split.shard(torch.randperm(pairs.size(1), generator=g))
        units = df_order.numel() if df.numel() else pair_order.numel()
        num_batches = max(-(-units // self.batch_size), 1)
        df_batches = df_order.to(device).chunk(num_batches) if df.numel() else [None] * num_batches
        pair_batches = pair_order.to(device).chunk(num_batches)
        for df_idx, pair_idx in zip(df_batches, pair_batches):
            c["opt"].zero_grad()
            loss = c["step"](self._minibatch_loss, c, df_idx, pair_idx)
            loss.backward()
            c["opt"].step()
        return loss

    def _minibatch_loss(self, wrapped, c: dict, df_idx: Tensor | None, pair_idx: Tensor) -> Tensor:
        df, pairs, g, enc, ops = c["df"], c["pairs"], c["local"], c["enc"], wrapped.operators
        device = c["h0"].device
        near = pairs[:, pair_idx]
        parts = [near]
        if df_idx is not None:
            df_b = df[:, df_idx]
            val_subset = None
            if self._unseen is not None:
                # the unseen reference edges run through the same sampled computation as
                # the deleted ones, so that their scores are comparable
                ref, val_subset = self._unseen.sample(df_b.size(1), g)
            else:
                ref = negative_pairs(c["task"].data, df_b.size(1) * self.random_ratio, g).to(device)
            parts = [df_b, ref, near]
        seeds, inverse = torch.unique(torch.cat(parts, 1).reshape(-1), return_inverse=True)
        if c["sampler"] is not None:
            n_id, edge_index = sample_subgraph(c["sampler"], seeds, g)
            graph = PreparedGraph.build(edge_index, n_id.numel(), enc.kind)
        else:                           # one-layer model: no message passing after layer 0
            n_id, graph = seeds, None
        local = [c["in_region"][i, n_id].nonzero().view(-1) for i in range(enc.num_layers)]
        h = ops(0, c["h0"][n_id], local[0])
        for i in range(1, enc.num_layers):
            h = ops(i, enc.layer(i, h, graph), local[i])
        z = h[: seeds.numel()]
        index = inverse.view(2, -1)
        nn_ = near.size(1)
        loss = neighbourhood_loss(z, c["z_orig"], c["region"], index[:, -nn_:], None, self.space,
                                  orig_pairs=near)
        if df_idx is not None:
            nf = df_b.size(1)
            ref_local = index[:, nf:nf + ref.size(1)]
            val_logits = None if val_subset is None else wrapped.decode(z, ref_local).detach()
            dec = self._dec_terms(wrapped, z, index[:, :nf], ref_local, val_logits, val_subset,
                                  df_idx).mean()
            loss = c["alpha"] * dec + (1 - c["alpha"]) * loss
        return loss
