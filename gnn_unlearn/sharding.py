r"""Training sharded (SISA) node classifiers and link predictors, and retraining the shards a
deletion touches.

Recipe (Bourtoule et al., "Machine Unlearning", S&P 2021, on graphs as GraphEraser, Chen et
al., CCS 2022, and GUIDE, Wang et al., USENIX Security 2023):

1. partition every node into :math:`K` shards (:mod:`gnn_unlearn.ops.partition`);
2. shard :math:`k` trains on the subgraph induced by its nodes (edges cut by the partition
   are dropped; GUIDE's *repair* gives each cut edge end a virtual neighbour made from the
   in-shard node alone), with its own training nodes (link prediction: its in-shard training
   edges) for the loss and its own validation nodes (edges) for early stopping, from a fresh
   initialisation seeded by ``(seed, k)``;
3. aggregate the shard posteriors (:class:`~gnn_unlearn.models.sharded.ShardedModel`).

Nothing in shard :math:`k` reads data outside it, so a shard retrained alone on the edited
graph is bit-identical (CPU, same seeds) to the same shard of :func:`train_sharded` run on
that graph with the same assignment. What else depends on the data, and what unlearning does
about it:

* the aggregator: ``learned`` weights (fitted on training nodes) and ``similarity`` weights
  (computed from the graph) are recomputed on the edited graph after every deletion;
  ``mean`` and ``majority`` depend on nothing;
* the inference graph: the model predicts on whatever graph it is given; pass the edited one;
* the partition: ``random`` depends only on :math:`N` and the seed. ``blpa``, ``bekm``,
  ``fair`` and ``metis`` read the graph (``bekm`` a model trained on it; ``fair`` the training
  labels): keeping them after a deletion keeps a trace of the deleted data in *where the other
  nodes sit* (the leak the papers accept). Unlearning with ``repartition=True`` recomputes the
  partition on the edited graph and retrains every shard: strictly exact, at full cost.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
from dataclasses import asdict
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, subgraph

from gnn_unlearn.models.predictors import build_model, model_config, model_outputs
from gnn_unlearn.models.sharded import AGGREGATIONS, ShardedModel, shared_graph
from gnn_unlearn.ops.negative import sample_non_edges
from gnn_unlearn.ops.graph_kernels import (Histograms, normalised_match_histograms, pyramid_histograms,
                                           spectral_vertex_embedding)
from gnn_unlearn.ops.partition import (balanced_kmeans, balanced_lpa, fair_partition, graph_balance,
                                       graph_fairness, metis_partition, random_partition)
from gnn_unlearn.training import TrainConfig, check_trainable, fit, negative_pairs, train
from gnn_unlearn.utils import data_to, resolve_device, seeded

PARTITIONS = ("random", "blpa", "bekm", "fair", "metis")
REPAIRS = ("zero", "mirror", "mixup")
#: Data-independent partitions (survive any deletion exactly).
DATA_INDEPENDENT = ("random",)
#: The two papers' recipes (OpenGU defaults: 10 shards, BLPA + learned weights; GUIDE's fair
#: partition + MixUp repair + similarity weights).
PRESETS: dict[str, dict[str, Any]] = {
    "graph_eraser": dict(partition="blpa", aggregation="learned", repair=None),
    "guide": dict(partition="fair", aggregation="similarity", repair="mixup"),
}
LEARNED_DEFAULTS = dict(lr=1e-3, epochs=20, batch_size=32, num_samples=1000, l2=1.0)


def shard_seed(seed: int, shard: int) -> int:
    """The seed of shard ``shard`` in a model trained with ``seed`` (initial weights, dropout)."""
    return int(seed) * 1_000_003 + int(shard)


def _canonical(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Sorted, duplicate-free edges: a shard graph depends on the edge *set*, not its order."""
    return coalesce(edge_index, num_nodes=num_nodes)


def shard_graph(data: Data, assignment: Tensor, shard: int, repair: str | None = None,
                seed: int = 0) -> Data:
    r"""The training graph of one shard: the subgraph induced by its nodes (ascending ids).

    Node classification: masks are restricted to the shard; a shard without validation nodes
    validates on its training nodes. Link prediction: the training edges with both ends in the
    shard (message passing and loss) and the validation edges with both ends in it, with as
    many validation non-edges drawn inside the shard (seeded by ``shard_seed(seed, shard)``,
    avoiding the shard's training and validation edges); a shard without validation edges
    validates on its training edges.

    With ``repair`` (GUIDE), every directed message-passing edge :math:`v \to u` cut by the
    partition (:math:`u` inside, :math:`v` outside) gives :math:`u` a virtual neighbour
    :math:`w` (edges :math:`u \leftrightarrow w`; no label, in no mask, in no training pair)
    with features :math:`0` (``"zero"``), :math:`x_u` (``"mirror"``) or :math:`\lambda x_u`,
    :math:`\lambda \sim U(0, 1)` drawn from ``shard_seed(seed, shard)`` (``"mixup"``). Only
    :math:`u`'s own features are used, so the shard reads nothing of :math:`v`.

    ``node_ids`` holds the original ids of the real nodes (the first ``len(node_ids)``).
    Every edge set is sorted first, so the result depends on the graph, not on edge order.
    """
    n = data.num_nodes
    link = getattr(data, "train_pos_edge_index", None) is not None
    inside = assignment == shard
    nodes = inside.nonzero().view(-1)
    m = nodes.numel()

    def induced(edge_index: Tensor) -> Tensor:     # edges with both ends inside, relabelled 0..m-1
        return subgraph(inside, _canonical(edge_index, n), relabel_nodes=True, num_nodes=n)[0]

    ei = _canonical(data.edge_index, n)
    sub = subgraph(inside, ei, relabel_nodes=True, num_nodes=n)[0]
    x = data.x[nodes]
    out = Data(node_ids=nodes)
    if link:
        train = induced(data.train_pos_edge_index)
        val = induced(data.val_pos_edge_index)
        if val.size(1) == 0:
            val = train
        g = torch.Generator().manual_seed(shard_seed(seed, shard))
        out.train_pos_edge_index = train
        out.val_pos_edge_index = val
        out.val_neg_edge_index = sample_non_edges(torch.cat([train, val], 1), m, val.size(1), g).to(val.device)
    else:
        out.y = data.y.view(-1)[nodes]
        out.train_mask = data.train_mask[nodes]
        out.val_mask = data.val_mask[nodes]
        if not bool(out.val_mask.any()):
            out.val_mask = out.train_mask.clone()
    if repair is not None:
        cut = ei[:, inside[ei[1]] & ~inside[ei[0]]]       # sorted by (v, u): canonical
        u = torch.cumsum(inside, 0)[cut[1]] - 1           # local ids (nodes keep their order)
        r = u.numel()
        if repair == "zero":
            xv = torch.zeros(r, x.size(1), dtype=x.dtype, device=x.device)
        elif repair == "mirror":
            xv = x[u]
        elif repair == "mixup":
            g = torch.Generator().manual_seed(shard_seed(seed, shard) + 1)
            lam = torch.rand(r, generator=g).to(x.device, x.dtype)
            xv = lam.view(-1, 1) * x[u]
        else:
            raise ValueError(f"unknown repair {repair!r}; choose one of {REPAIRS} or None")
        w = torch.arange(m, m + r, device=sub.device)
        sub = torch.cat([sub, torch.stack([u, w]), torch.stack([w, u])], 1)
        x = torch.cat([x, xv])
        if not link:
            out.y = torch.cat([out.y, torch.zeros(r, dtype=out.y.dtype, device=out.y.device)])
            pad = torch.zeros(r, dtype=torch.bool, device=out.train_mask.device)
            out.train_mask, out.val_mask = torch.cat([out.train_mask, pad]), torch.cat([out.val_mask, pad])
    out.x, out.edge_index, out.num_nodes = x, sub, x.size(0)
    return out


def partition_option_names(method: str) -> tuple[str, ...]:
    """The options partition ``method`` takes: the keyword arguments of its function
    (``random``: none)."""
    function = {"blpa": balanced_lpa, "bekm": balanced_kmeans, "fair": fair_partition,
                "metis": metis_partition}.get(method)
    if function is None:
        return ()
    return tuple(name for name, p in inspect.signature(function).parameters.items()
                 if p.default is not inspect.Parameter.empty and name != "generator")


def check_partition_options(method: str, options: dict[str, Any] | None) -> None:
    """Refuses ``options`` that partition ``method`` does not take, before any work (``bekm``
    trains a backbone before its k-means would see them)."""
    if options is None:
        return
    if not isinstance(options, dict):
        raise TypeError(f"partition_options must be a dict, got {type(options).__name__}")
    names = partition_option_names(method)
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"partition {method!r} takes the options {', '.join(names) or '(none)'}; "
                         f"got {', '.join(map(repr, unknown))}")


def partition_nodes(data: Data, method: str, num_shards: int, seed: int = 0,
                    options: dict[str, Any] | None = None, train_config: TrainConfig | None = None,
                    model_options: dict[str, Any] | None = None,
                    device: torch.device | str = "cpu") -> Tensor:
    """The node -> shard assignment of ``method`` (:data:`PARTITIONS`) on ``data``.

    ``bekm`` clusters the log-softmax outputs (link graphs: the embeddings) of a backbone
    trained on ``data`` with ``train_config`` and ``model_options`` (GraphEraser); ``fair``
    colours nodes by their training labels, every other node sharing one extra colour (GUIDE,
    without its use of test labels; a graph without a node split gets one colour).
    """
    if method not in PARTITIONS:
        raise ValueError(f"unknown partition {method!r}; choose one of {PARTITIONS} or pass an "
                         "assignment tensor")
    check_partition_options(method, options)
    opts = dict(options or {})
    g = torch.Generator().manual_seed(int(seed))
    n = data.num_nodes
    if method == "random":
        return random_partition(n, num_shards, g, data.edge_index.device)
    if method == "blpa":
        return balanced_lpa(data.edge_index, n, num_shards, generator=g, **opts)
    if method == "fair":
        y, train_mask = getattr(data, "y", None), getattr(data, "train_mask", None)
        if y is None or train_mask is None:     # no training labels: balance only, one colour
            colours = torch.zeros(n, dtype=torch.long, device=data.edge_index.device)
        else:
            y = y.view(-1)
            colours = torch.where(train_mask, y, torch.full_like(y, int(y.max()) + 1))
        return fair_partition(data.edge_index, n, num_shards, colours, generator=g, **opts)
    if method == "bekm":
        task = "link" if getattr(data, "train_pos_edge_index", None) is not None else "node"
        backbone, _ = train(data, task, train_config or TrainConfig(seed=seed), device,
                            **(model_options or {}))
        emb = model_outputs(backbone, data_to(data, resolve_device(device)))
        emb = F.log_softmax(emb, -1) if task == "node" else emb
        return balanced_kmeans(emb, num_shards, generator=g, **opts).to(data.edge_index.device)
    return metis_partition(data.edge_index, n, num_shards, **opts)


def train_shard(data: Data, assignment: Tensor, shard: int, arch: dict[str, Any],
                config: TrainConfig, repair: str | None = None, seed: int = 0,
                device: torch.device | str = "cpu") -> nn.Module:
    """Trains shard ``shard`` from a fresh initialisation seeded by ``shard_seed(seed, shard)``."""
    sg = shard_graph(data, assignment, shard, repair, seed)
    empty = (sg.train_pos_edge_index.size(1) == 0 if arch["task"] == "link"
             else not bool(sg.train_mask.any()))
    if empty:
        what = "training edge" if arch["task"] == "link" else "training node"
        raise ValueError(f"shard {shard} holds no {what}; use fewer shards (or a partition that "
                         f"spreads the {what}s)")
    s = shard_seed(seed, shard)
    with seeded(s):
        model = build_model(arch)
    cfg = TrainConfig.from_dict({**asdict(config), "seed": s, "progress": False})
    model, _ = fit(model, sg, cfg, device)
    return model.eval()


def _train_shard_worker(job: tuple) -> dict[str, Tensor]:
    """Process-pool entry point: trains one shard, returns its weights (CPU)."""
    data, assignment, shard, arch, config, repair, seed, threads = job
    torch.set_num_threads(threads)
    return train_shard(data, assignment, shard, arch, config, repair, seed, "cpu").state_dict()


def train_shards(data: Data, assignment: Tensor, shards: Sequence[int], arch: dict[str, Any],
                 config: TrainConfig, repair: str | None = None, seed: int = 0,
                 device: torch.device | str = "cpu", workers: int = 1) -> dict[int, nn.Module]:
    """:func:`train_shard` for each of ``shards``; with ``workers > 1`` on the CPU, in that many
    spawned processes, each with this process's thread count (shards are independent, so the
    weights are the same as trained one after another; a test checks it). On CUDA the shards
    train one after another on the device."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    dev = torch.device(device)
    ids = list(shards)
    if workers == 1 or dev.type != "cpu" or len(ids) < 2:
        return {k: train_shard(data, assignment, k, arch, config, repair, seed, dev) for k in ids}
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(data, assignment, k, arch, config, repair, seed, torch.get_num_threads()) for k in ids]
    with ProcessPoolExecutor(min(workers, len(ids)), mp_context=mp.get_context("spawn")) as pool:
        states = list(pool.map(_train_shard_worker, jobs))
    out = {}
    for k, state in zip(ids, states):
        with seeded(shard_seed(seed, k)):
            model = build_model(arch)
        model.load_state_dict(state)
        model.train_config = {**asdict(config), "seed": shard_seed(seed, k), "progress": False}
        out[k] = model.eval()
    return out


@torch.no_grad()
def true_class_probabilities(shards: Sequence[nn.Module], data: Data, seed: int = 0,
                             num_samples: int = 1000) -> Tensor:
    r"""``[K, S]``: :math:`q_{ks}`, shard :math:`k`'s probability of the true label of sample
    :math:`s`, on the whole graph ``data``. Node models: ``num_samples`` training nodes. Link
    models: ``num_samples`` training edges (label 1) and as many sampled non-edges (label 0,
    probability :math:`1 - p`). Samples are drawn with ``seed``."""
    g = torch.Generator().manual_seed(int(seed))
    if getattr(shards[0], "task", None) == "link":
        train = data.train_pos_edge_index
        pos = train[:, torch.randperm(train.size(1), generator=g)[:num_samples].to(train.device)]
        neg = negative_pairs(data, pos.size(1), g).to(pos.device)
        graph = shared_graph(shards, data.x, data.edge_index)
        p = torch.stack([torch.sigmoid(m.decode(m.encode(data.x, graph), torch.cat([pos, neg], 1)))
                         for m in shards])
        return torch.cat([p[:, : pos.size(1)], 1 - p[:, pos.size(1):]], 1)
    train_nodes = data.train_mask.nonzero().view(-1)
    pick = torch.randperm(train_nodes.numel(), generator=g)[:num_samples].to(train_nodes.device)
    nodes = train_nodes[pick]
    probs = ShardedModel.probabilities_of(shards, data.x, data.edge_index)[:, nodes]   # [K, S, C]
    y = data.y.view(-1)[nodes]
    return probs.gather(2, y.view(1, -1, 1).expand(len(shards), -1, 1)).squeeze(2)


def learned_weights(shards: Sequence[nn.Module], data: Data, seed: int = 0, lr: float = 1e-3,
                    epochs: int = 20, batch_size: int = 32, num_samples: int = 1000,
                    l2: float = 1.0) -> Tensor:
    r"""GraphEraser's "optimal" aggregation weights.

    .. math::
        \min_{\alpha \ge 0}\ \frac{1}{|B|}\sum_{s \in B} -\log \alpha^\top q_s
        + l_2 \lVert\alpha\rVert_2

    with :math:`q_s` the shards' probabilities of sample :math:`s`'s true label
    (:func:`true_class_probabilities`: the cross-entropy of the mixture
    :math:`\sum_k \alpha_k p_k`, which OpenGU passes through a second softmax first);
    mini-batch Adam from :math:`\alpha = 1/K`, clamped to :math:`\ge 0` after each step;
    returns :math:`\alpha / \sum\alpha`. The gradient is written out,
    :math:`\nabla = -\frac{1}{|B|}\sum_s q_s / (\alpha^\top q_s) + l_2\,\alpha/\lVert\alpha\rVert`,
    and Adam (:math:`\beta = (0.9, 0.999)`, :math:`\epsilon = 10^{-8}`) applied by hand: the
    640 default steps cost milliseconds instead of autograd's per-step overhead.
    """
    k = len(shards)
    q = true_class_probabilities(shards, data, seed, num_samples).double()
    g = torch.Generator().manual_seed(int(seed) + 1)
    alpha = torch.full((k,), 1.0 / k, dtype=torch.float64, device=q.device)
    m1, m2 = torch.zeros_like(alpha), torch.zeros_like(alpha)
    b1, b2, eps, step = 0.9, 0.999, 1e-8, 0
    for _ in range(epochs):
        order = torch.randperm(q.size(1), generator=g).to(q.device)
        for batch in order.split(batch_size):
            qb = q[:, batch]
            mix = alpha @ qb
            inv = torch.where(mix > 1e-12, 1.0 / mix.clamp_min(1e-12), torch.zeros_like(mix))
            grad = -(qb * inv).mean(1)
            norm = alpha.norm()
            if l2 and float(norm) > 0:
                grad = grad + l2 * alpha / norm
            step += 1
            m1.mul_(b1).add_(grad, alpha=1 - b1)
            m2.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            denom = (m2 / (1 - b2 ** step)).sqrt_().add_(eps)
            alpha = (alpha - lr * (m1 / (1 - b1 ** step)) / denom).clamp_(min=0)
    a = alpha.float()
    return a / a.sum() if float(a.sum()) > 0 else torch.full_like(a, 1.0 / k)


def similarity_weights(data: Data, assignment: Tensor, num_shards: int, dim: int = 6,
                       levels: int = 4, memo: dict[str, Histograms] | None = None) -> Tensor:
    r"""GUIDE's label-free weights :math:`w = \mathrm{softmax}_k\, \hat k_{PM}(G, G_k)`: the
    normalised pyramid match between the whole graph and each shard's induced subgraph.

    ``memo``: pyramid histograms of shard subgraphs from an earlier call, keyed by a digest of
    the subgraph (:func:`subgraph_key`); a shard whose induced subgraph is unchanged reuses
    them instead of a new spectral embedding (the embedding is a bitwise repeatable function
    of the subgraph, so the weights are identical). The dict is updated in place to hold this
    call's ``num_shards`` entries and nothing else. The whole graph's side is always rebuilt.
    """
    n = data.num_nodes
    ei = _canonical(data.edge_index, n)
    full_histograms = pyramid_histograms(spectral_vertex_embedding(ei, n, dim), levels)
    scores, used = [], {}
    for k in range(num_shards):
        nodes = (assignment == k).nonzero().view(-1)
        sub, _ = subgraph(nodes, ei, relabel_nodes=True, num_nodes=n)
        key = subgraph_key(sub, nodes.numel(), dim, levels)
        histograms = None if memo is None else memo.get(key)
        if histograms is None:
            histograms = pyramid_histograms(spectral_vertex_embedding(sub, nodes.numel(), dim), levels)
        used[key] = histograms
        scores.append(normalised_match_histograms(full_histograms, n, histograms, nodes.numel()))
    if memo is not None:
        memo.clear()
        memo.update(used)
    return torch.softmax(torch.tensor(scores, dtype=torch.float), 0)


def subgraph_key(edge_index: Tensor, num_nodes: int, dim: int, levels: int) -> str:
    """A digest of a (canonically ordered) subgraph and the embedding settings: equal keys
    mean equal :func:`~gnn_unlearn.ops.graph_kernels.spectral_vertex_embedding` input."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{num_nodes}:{dim}:{levels}:{tuple(edge_index.shape)}".encode())
    h.update(edge_index.detach().to("cpu", torch.long).contiguous().numpy().tobytes())
    return h.hexdigest()


def aggregation_weights(shards: Sequence[nn.Module], data: Data, aggregation: str,
                        assignment: Tensor, seed: int = 0,
                        options: dict[str, Any] | None = None,
                        memo: dict[str, Histograms] | None = None) -> Tensor:
    """``[K]`` weights for ``aggregation`` (uniform for ``mean`` / ``majority``); ``memo``:
    :func:`similarity_weights`' shard histograms (``similarity`` only)."""
    k = len(shards)
    if aggregation == "learned":
        return learned_weights(shards, data, seed, **{**LEARNED_DEFAULTS, **(options or {})})
    if aggregation == "similarity":
        return similarity_weights(data, assignment, k, memo=memo, **(options or {}))
    return torch.full((k,), 1.0 / k)


def check_sharded_inputs(data: Data, task: str, num_shards: int, partition: str | Tensor,
                         aggregation: str, repair: str | None,
                         partition_options: dict[str, Any] | None = None) -> None:
    """Refuses inputs :func:`train_sharded` cannot use, before any training: ``data`` unfit
    for ``task`` or without features, more shards than training units, an unknown
    aggregation, repair or partition, a malformed assignment tensor, and partition options
    the partition does not take (an assignment tensor takes none)."""
    if not isinstance(data, Data):
        raise TypeError(f"data must be a torch_geometric.data.Data, got {type(data).__name__}")
    if task not in ("node", "link"):
        raise ValueError(f"sharded training supports task='node' or 'link', got {task!r}")
    check_trainable(data, task)
    if getattr(data, "x", None) is None:
        raise ValueError("sharded training needs node features data.x (a featureless graph's node "
                         "embeddings cannot be split across shards)")
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"num_shards must be a positive int, got {num_shards!r}")
    units = (data.train_pos_edge_index.size(1), "training edges") if task == "link" else \
        (int(data.train_mask.sum()), "training nodes")
    if num_shards > units[0]:
        raise ValueError(f"{num_shards} shards but only {units[0]} {units[1]}; use fewer shards")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {AGGREGATIONS}")
    if repair is not None and repair not in REPAIRS:
        raise ValueError(f"unknown repair {repair!r}; choose one of {REPAIRS} or None")
    if isinstance(partition, Tensor):
        if partition.shape != (data.num_nodes,) or partition.dtype != torch.long:
            raise ValueError(f"an assignment must be a long tensor of shape [{data.num_nodes}], got "
                             f"{partition.dtype} {tuple(partition.shape)}")
        if int(partition.min()) < 0 or int(partition.max()) >= num_shards:
            raise ValueError(f"assignment holds shard ids outside 0..{num_shards - 1}")
        if partition_options:
            raise ValueError("partition_options apply to a named partition; an assignment tensor "
                             "takes none")
    elif partition not in PARTITIONS:
        raise ValueError(f"unknown partition {partition!r}; choose one of {PARTITIONS} or pass an "
                         "assignment tensor")
    else:
        check_partition_options(partition, partition_options)


def train_sharded(data: Data, task: str = "node", num_shards: int = 10,
                  partition: str | Tensor | None = None, aggregation: str | None = None,
                  repair: str | None = None, seed: int = 0, config: TrainConfig | None = None,
                  device: str | torch.device | None = "cpu", method: str | None = None,
                  partition_options: dict[str, Any] | None = None,
                  aggregation_options: dict[str, Any] | None = None, workers: int = 1,
                  **model_options: Any) -> ShardedModel:
    """Trains a sharded node classifier or link predictor from scratch.

    Args:
        data: a graph with a node split (``train_mask``, ``val_mask``; task ``"node"``) or a
            link split (task ``"link"``), with node features.
        task: ``"node"`` or ``"link"``.
        num_shards: :math:`K`.
        partition: a name in :data:`PARTITIONS` or an ``[N]`` assignment to reuse (default:
            the preset's, else ``random``).
        aggregation: ``mean``, ``majority``, ``learned`` (GraphEraser) or ``similarity``
            (GUIDE); default: the preset's, else ``mean``.
        repair: GUIDE's subgraph repair (``zero``, ``mirror``, ``mixup``), ``"none"``, or
            ``None`` (the preset's, else none).
        seed: seeds the partition, shard :math:`k` (through :func:`shard_seed`) and the
            aggregator, so a run is repeatable on the CPU.
        config: the training recipe of every shard (``seed`` is replaced per shard).
        method: ``"graph_eraser"`` or ``"guide"``: fills partition / aggregation / repair left
            at ``None`` with the paper's choice (:data:`PRESETS`) and marks the model for that
            unlearning method.
        workers: train shards in this many processes (CPU; results unchanged).
        **model_options: the shard architecture (encoder, hidden_channels, ...; see
            :func:`~gnn_unlearn.models.model_config`).

    >>> model = train_sharded(node_split(load_dataset("Cora")), num_shards=10, method="graph_eraser")
    """
    if method is not None and method not in PRESETS:
        raise ValueError(f"unknown method preset {method!r}; choose one of {sorted(PRESETS)}")
    preset = PRESETS.get(method, dict(partition="random", aggregation="mean", repair=None))
    partition = preset["partition"] if partition is None else partition
    aggregation = preset["aggregation"] if aggregation is None else aggregation
    repair = preset["repair"] if repair is None else (None if repair == "none" else repair)
    check_sharded_inputs(data, task, num_shards, partition, aggregation, repair, partition_options)
    config = config or TrainConfig(seed=seed)
    dev = resolve_device(device)
    data = data_to(data, dev)
    arch = model_config(data, task, **model_options)
    if isinstance(partition, Tensor):
        assignment, partition_name = partition.to(dev), "given"
    else:
        assignment = partition_nodes(data, partition, num_shards, seed, partition_options, config,
                                     model_options, dev).to(dev)
        partition_name = partition
    if torch.bincount(assignment, minlength=num_shards).min() == 0:
        raise ValueError("the partition left a shard empty; use fewer shards")
    trained = train_shards(data, assignment, range(num_shards), arch, config, repair, seed, dev, workers)
    shards = [trained[k] for k in range(num_shards)]
    memo: dict[str, Histograms] = {}
    weights = aggregation_weights(shards, data, aggregation, assignment, seed, aggregation_options, memo)
    recipe = dict(method=method, task=task, num_shards=num_shards, partition=partition_name,
                  partition_options=dict(partition_options or {}), aggregation=aggregation,
                  aggregation_options=dict(aggregation_options or {}), repair=repair, seed=seed,
                  train_config=asdict(config), model_options=dict(model_options),
                  partition_depends_on_data=(None if partition_name == "given"
                                             else partition_name not in DATA_INDEPENDENT),
                  balance=graph_balance(assignment, num_shards),
                  fairness=_training_label_fairness(data, assignment, num_shards))
    model = ShardedModel(shards, assignment, aggregation, weights.to(dev), arch, recipe)
    model.similarity_memo = memo
    return model


def _training_label_fairness(data: Data, assignment: Tensor, num_shards: int) -> float | None:
    """GUIDE's fairness gap of the training labels over shards (``None`` without a node split)."""
    if getattr(data, "train_mask", None) is None or getattr(data, "y", None) is None:
        return None
    train = data.train_mask
    return graph_fairness(assignment[train], data.y.view(-1)[train], num_shards)


def touched_shards(model: ShardedModel, task) -> Tensor:
    """Sorted ids of the shards whose training data a resolved deletion changes.

    A deleted node, or a node whose features are deleted, touches its own shard. A deleted
    edge touches the shard holding both ends; an edge cut by the partition touches no shard
    unless the shards were repaired (GUIDE), in which case it touches both ends' shards (their
    virtual neighbours came from it).
    """
    a = model.assignment.to(task.device)
    k = model.num_shards
    touched = torch.zeros(k, dtype=torch.bool, device=a.device)
    touched[a[task.deleted_nodes]] = True
    u, v = task.df_edge_index
    if model.recipe.get("repair"):
        touched[a[u]] = True
        touched[a[v]] = True
    else:
        same = a[u] == a[v]
        touched[a[u[same]]] = True
    if task.feature_mask is not None:
        touched[a[task.feature_mask.any(1)]] = True
    return touched.nonzero().view(-1).cpu()


def _recipe_and_device(model: ShardedModel, device: str | torch.device | None) -> tuple[dict, torch.device]:
    """A sharded model's recipe and where to retrain it (default: where the model is)."""
    if not isinstance(model, ShardedModel):
        raise TypeError(f"expected a ShardedModel (from train_sharded), got {type(model).__name__}")
    return model.recipe, resolve_device(device) if device is not None else model.assignment.device


def retrain_shards(model: ShardedModel, data: Data, shards: Sequence[int] | Tensor,
                   device: str | torch.device | None = None, workers: int = 1,
                   copy_kept: bool = True) -> ShardedModel:
    """A new sharded model: ``shards`` retrained from fresh initialisation on ``data`` with the
    model's own assignment and recipe, the other shard models kept unchanged, and the
    aggregation weights recomputed on ``data`` (similarity weights reuse the histograms of
    shards whose induced subgraph ``data`` leaves as it was: same result, fewer spectral
    embeddings). ``model`` is not modified. ``copy_kept``: copy the kept shard models (the
    default), or share them with ``model`` when ``model`` is a private copy that is thrown
    away afterwards (as :func:`~gnn_unlearn.methods.base.unlearn` gives its methods)."""
    r, dev = _recipe_and_device(model, device)
    data = data_to(data, dev)
    arch = dict(model.config)
    config = TrainConfig.from_dict(r["train_config"])
    assignment = model.assignment.to(dev)
    ids = sorted({int(s) for s in (shards.tolist() if isinstance(shards, Tensor) else shards)})
    bad = [s for s in ids if not 0 <= s < model.num_shards]
    if bad:
        raise ValueError(f"shard ids {bad} are outside 0..{model.num_shards - 1}")
    retrained = train_shards(data, assignment, ids, arch, config, r["repair"], r["seed"], dev, workers)
    new_models = [retrained[s] if s in retrained else copy.deepcopy(m) if copy_kept else m
                  for s, m in enumerate(model.shards)]
    memo = dict(model.similarity_memo)
    weights = aggregation_weights(new_models, data, model.aggregation, assignment, r["seed"],
                                  r.get("aggregation_options"), memo)
    out = ShardedModel(new_models, assignment, model.aggregation, weights.to(dev), copy.deepcopy(model.config),
                       copy.deepcopy(model.recipe))
    out.similarity_memo = memo
    return out


def retrain_sharded(model: ShardedModel, data: Data, repartition: bool = True,
                    device: str | torch.device | None = None, workers: int = 1) -> ShardedModel:
    """Full retraining with ``model``'s recipe on ``data``: the partition recomputed on ``data``
    (``repartition``; a ``given`` or ``random`` partition is reused as it is data-free) or kept,
    and every shard retrained."""
    r, dev = _recipe_and_device(model, device)
    partition = (r["partition"] if repartition and r["partition"] != "given"
                 else model.assignment.to(dev))
    return train_sharded(data, r.get("task", model.task), r["num_shards"], partition, r["aggregation"], r["repair"] or "none",
                         r["seed"], TrainConfig.from_dict(r["train_config"]), dev, r.get("method"),
                         r.get("partition_options"), r.get("aggregation_options"), workers,
                         **r.get("model_options", {}))
