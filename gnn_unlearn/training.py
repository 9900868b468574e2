"""Training the original model and retraining on the retained graph (one recipe for both)."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from tqdm.auto import tqdm

from gnn_unlearn.distributed import Replica
from gnn_unlearn.ops.graph import check_graph_layout, check_node_features, graph_digest
from gnn_unlearn.models.predictors import make_model
from gnn_unlearn.ops.negative import negative_pairs
from gnn_unlearn.utils import data_to, resolve_device, seeded


@dataclass
class TrainConfig:
    """Hyperparameters of training (and so of retraining: the same recipe).

    Early stopping: validation AUROC (link) or accuracy (node) is computed every
    ``eval_every`` epochs; training stops after ``patience`` epochs without improvement and
    the best validation state is returned. Only validation data selects the model.
    Recommenders (``task="rec"``): one epoch = one BPR step on ``batch_size`` sampled triples
    with L2 weight ``l2`` on their initial embeddings; validation = Recall@20.
    ``lr``: Adam's step size; ``None`` (the default) takes the encoder's
    (:func:`learning_rate`: 0.01, GIN 0.005).
    """
    epochs: int = 500
    lr: float | None = None
    weight_decay: float = 0.0
    patience: int = 100
    eval_every: int = 5
    seed: int = 0
    progress: bool = False
    batch_size: int = 8192
    l2: float = 1e-4

    def __post_init__(self) -> None:
        for k in ("epochs", "patience", "eval_every", "batch_size"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainConfig.{k} must be a positive int, got {v!r}")
        if (self.lr is not None and not self.lr > 0) or self.weight_decay < 0 or self.l2 < 0:
            raise ValueError("TrainConfig needs lr > 0 (or None: the encoder's), weight_decay >= 0 "
                             "and l2 >= 0")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TrainConfig":
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown training options {sorted(unknown)}; valid: "
                            f"{sorted(cls.__dataclass_fields__)}")
        return cls(**d)


#: Adam step size of :class:`TrainConfig` (``lr=None``) per encoder kind; others: ``DEFAULT_LR``.
#: GIN: with its batch-normalised MLP, 0.01 leaves one Cora seed in five 3 points below
#: GCN's test AUROC, 0.005 none (``benchmarks/results/gin_recipe.md``).
ENCODER_LR = {"gin": 0.005}
DEFAULT_LR = 0.01


def learning_rate(config: TrainConfig, model: nn.Module) -> float:
    """``config.lr``, or when it is ``None`` the step size of ``model``'s encoder
    (:data:`ENCODER_LR`, else :data:`DEFAULT_LR`)."""
    if config.lr is not None:
        return config.lr
    return ENCODER_LR.get(getattr(getattr(model, "encoder", None), "kind", None), DEFAULT_LR)


@dataclass
class TrainHistory:
    loss: list[float] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val: float = float("-inf")
    epochs_run: int = 0
    steps: int = 0          # optimiser steps (set by mini-batch training)

    def to_dict(self) -> dict:
        return asdict(self)


class EarlyStopping:
    """Keeps the best-on-validation state of ``model`` (in ``history``: ``val``, ``best_val``,
    ``best_epoch``) and says when ``config.patience`` epochs passed without improvement."""

    def __init__(self, model: nn.Module, history: TrainHistory, config: TrainConfig):
        self.model, self.history, self.config = model, history, config
        self.best_state, self.since_best = copy.deepcopy(model.state_dict()), 0

    def update(self, epoch: int, score: float) -> bool:
        """Records validation ``score`` at ``epoch``; True when training should stop."""
        h = self.history
        h.val.append((epoch, score))
        if score > h.best_val:
            h.best_val, h.best_epoch = score, epoch
            self.best_state, self.since_best = copy.deepcopy(self.model.state_dict()), 0
        else:
            self.since_best += self.config.eval_every
        return self.since_best >= self.config.patience

    def restore(self) -> nn.Module:
        """Loads the best state back into the model and returns it (in eval mode)."""
        self.model.load_state_dict(self.best_state)
        return self.model.eval()


def link_loss(model: nn.Module, data: Data, generator: torch.Generator,
              layer_hook=None, positives: Tensor | None = None) -> Tensor:
    """BCE on training positives (default all) vs an equal number of freshly sampled
    non-edges."""
    pos = data.train_pos_edge_index if positives is None else positives
    neg = negative_pairs(data, pos.size(1), generator).to(pos.device)
    return pair_loss(model, data, *labelled_pairs(pos, neg), layer_hook=layer_hook)


def labelled_pairs(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
    """``([2, p + q] pairs, [p + q] labels)``: positives (label 1) then negatives (label 0)."""
    labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))]).to(pos.device)
    return torch.cat([pos, neg], 1), labels


def pair_loss(model: nn.Module, data: Data, pairs: Tensor, labels: Tensor,
              layer_hook=None) -> Tensor:
    """BCE of the logits of ``pairs`` (on the full graph's embeddings) against ``labels``."""
    z = model.encode(data.x, data.edge_index, layer_hook=layer_hook)
    return F.binary_cross_entropy_with_logits(model.decode(z, pairs), labels)


def interaction_keys(data: Data) -> Tensor:
    """Sorted ``user * I + item`` keys of the training interactions (for :func:`sample_items`;
    compute once per run)."""
    nu, ni = int(data.num_users), int(data.num_items)
    train = data.train_pos_edge_index
    return torch.sort(train[0] * ni + train[1] - nu)[0]


def sample_triples(data: Data, num: int, generator: torch.Generator,
                   positives: Tensor | None = None, known: Tensor | None = None) -> Tensor:
    """``[3, num]`` BPR triples (user, item, negative item), global ids: interactions drawn
    uniformly from ``positives`` (default: training interactions), negatives uniform over
    items the user has no training interaction with (``known``: :func:`interaction_keys`)."""
    positives = data.train_pos_edge_index if positives is None else positives
    idx = torch.randint(positives.size(1), (num,), generator=generator).to(positives.device)
    pairs = positives[:, idx]
    return torch.cat([pairs, sample_items(data, pairs[0], generator, known).unsqueeze(0)])


def sample_items(data: Data, users: Tensor, generator: torch.Generator,
                 known: Tensor | None = None, rounds: int = 10) -> Tensor:
    """One item per user (global id) that is not among that user's training interactions
    (``known``: :func:`interaction_keys` of ``data``, computed here when not given)."""
    nu, ni = int(data.num_users), int(data.num_items)
    keys = interaction_keys(data) if known is None else known
    items = torch.randint(ni, (users.numel(),), generator=generator).to(users.device)
    for _ in range(rounds):                 # redraw the few collisions, all at once
        q = users * ni + items
        pos = torch.searchsorted(keys, q).clamp_(max=keys.numel() - 1)
        bad = (keys[pos] == q).nonzero().view(-1)
        if bad.numel() == 0:
            break
        items[bad] = torch.randint(ni, (bad.numel(),), generator=generator).to(users.device)
    return items + nu


def bpr_loss(model: nn.Module, data: Data, triples: Tensor, l2: float = 0.0,
             e0: Tensor | None = None, z: Tensor | None = None) -> Tensor:
    r"""BPR :math:`-\log\sigma(\hat y_{ui} - \hat y_{uj})` averaged over ``triples`` plus
    :math:`\tfrac{l2}{2}\lVert E^{(0)}_{u,i,j}\rVert^2` per triple (``z``: the final
    embeddings computed from ``e0``, when the caller already has them)."""
    e0 = model.embedding.weight if e0 is None else e0
    z = model.encode(None, data.edge_index, e0=e0) if z is None else z
    u, i, j = triples
    loss = F.softplus(model.decode(z, torch.stack([u, j])) - model.decode(z, torch.stack([u, i]))).mean()
    if l2 > 0:
        loss = loss + l2 * 0.5 * (e0[u].pow(2) + e0[i].pow(2) + e0[j].pow(2)).sum(-1).mean()
    return loss


def node_loss(model: nn.Module, data: Data, mask: Tensor | None = None) -> Tensor:
    """Cross-entropy on the nodes of ``mask`` (a boolean mask or node ids; default
    ``train_mask``), from the full graph's logits."""
    mask = data.train_mask if mask is None else mask
    out = model(data.x, data.edge_index)
    return F.cross_entropy(out[mask], data.y[mask])


@torch.no_grad()
def validation_score(model: nn.Module, data: Data) -> float:
    """Validation AUROC (link) or accuracy (node) - the only model-selection signal."""
    from gnn_unlearn.metrics.link import link_auc
    from gnn_unlearn.metrics.node import accuracy
    model.eval()
    if model.task == "rec":
        from gnn_unlearn.metrics.rec import topk_metrics
        return topk_metrics(model, data, "val", k=20)["recall@20"]
    if model.task == "link":
        return link_auc(model, data, data.val_pos_edge_index, data.val_neg_edge_index)["auroc"]
    out = model(data.x, data.edge_index)
    return accuracy(out[data.val_mask].argmax(-1), data.y[data.val_mask])


def check_trainable(data: Data, task: str) -> None:
    need = {"link": ["train_pos_edge_index", "val_pos_edge_index", "val_neg_edge_index"],
            "rec": ["train_pos_edge_index", "val_pos_edge_index", "num_users", "num_items"],
            }.get(task, ["y", "train_mask", "val_mask"])
    missing = [k for k in need if getattr(data, k, None) is None]
    if missing:
        fix = {"link": "gnn_unlearn.link_split(data)", "node": "gnn_unlearn.node_split(data)",
               "rec": "load_dataset('gowalla' | 'lastfm' | 'ml-1m')"}[task]
        raise ValueError(f"{task} training needs {missing} on the graph; make a split first with {fix}")
    check_graph_layout(data, strict=False)     # resolve() checks the deletion layout strictly
    check_node_features(data)


def fit(model: nn.Module, data: Data, config: TrainConfig | None = None,
        device: str | torch.device | None = "cpu") -> tuple[nn.Module, TrainHistory]:
    """Trains ``model`` on ``data`` (in place: it is the model being made) and returns the
    best-on-validation state.

    Link prediction: BCE with fresh negatives every epoch. Node classification:
    cross-entropy on ``train_mask``. Adam, early stopping on validation.

    Under ``torchrun`` (an initialised process group of ``W`` > 1 ranks) the model trains
    inside ``DistributedDataParallel``; each rank takes the loss of its share of the epoch's
    nodes / pairs / triples, weighted so that the averaged gradient is the single-process
    one (:mod:`gnn_unlearn.distributed`): the result is the single-process model up to
    float round-off, on every rank.
    """
    config = config or TrainConfig()
    dev = resolve_device(device)
    check_trainable(data, model.task)
    data = data_to(data, dev)
    model.to(dev)
    history = TrainHistory()
    replica = Replica.current()
    train_nodes = data.train_mask.nonzero().view(-1) if model.task == "node" else None
    if model.task == "node":
        replica.check_shares(train_nodes.numel(), "training nodes")
    elif model.task == "link":
        replica.check_shares(2 * data.train_pos_edge_index.size(1), "training pairs")
    else:
        replica.check_shares(config.batch_size, "BPR triples per step (batch_size)")
    step = replica.wrap(model)        # DistributedDataParallel under torchrun
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate(config, model),
                           weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)     # the same draws on every rank
    own = replica.share()
    known = interaction_keys(data) if model.task == "rec" else None
    stopping = EarlyStopping(model, history, config)
    with seeded(config.seed, dev):
        bar = tqdm(range(1, config.epochs + 1), disable=not config.progress, desc="train",
                   leave=False)
        for epoch in bar:
            model.train()
            opt.zero_grad()
            if model.task == "rec":
                triples = sample_triples(data, config.batch_size, gen, known=known)
                mine = triples[:, own]
                loss = step(bpr_loss, data, mine, config.l2)
                total = triples.size(1)
            elif model.task == "link":
                pos = data.train_pos_edge_index
                pairs, labels = labelled_pairs(pos, negative_pairs(data, pos.size(1), gen).to(dev))
                mine = labels[own]
                loss = step(pair_loss, data, pairs[:, own], mine)
                total = labels.numel()
            else:
                mine = train_nodes[own]
                loss = step(node_loss, data, mine)
                total = train_nodes.numel()
            if replica.active:
                loss = loss * replica.weight(mine.size(-1), total)
            loss.backward()
            opt.step()
            epoch_loss = float(replica.mean(loss.detach()))
            history.loss.append(epoch_loss)
            history.epochs_run = epoch
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                score = replica.broadcast(validation_score(model, data), dev)
                bar.set_postfix(loss=f"{epoch_loss:.4f}", val=f"{score:.4f}")
                if stopping.update(epoch, score):
                    break
    del step                          # DDP's gradient hooks go with it
    stopping.restore()
    model.train_config = {**asdict(config), "lr": learning_rate(config, model)}   # the step size used
    model.data_signature = graph_digest(data)
    return model, history


def train(data: Data, task: str = "link", config: TrainConfig | None = None,
          device: str | torch.device | None = "cpu", **model_options) -> tuple[nn.Module, TrainHistory]:
    """Builds a model for ``data`` (``model_options``: encoder, hidden_channels, out_channels,
    num_layers, dropout, decoder) and trains it; the seed of ``config`` fixes the initial weights.

    >>> model, history = train(link_split(load_dataset("Cora")), task="link", encoder="gcn")
    """
    config = config or TrainConfig()
    with seeded(config.seed):
        model = make_model(data, task, **model_options)
    return fit(model, data, config, device)
