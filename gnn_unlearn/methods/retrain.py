"""Exact unlearning: retrain from scratch on the retained graph (the gold standard)."""
from __future__ import annotations

from dataclasses import asdict

from torch import nn

from gnn_unlearn.loader import check_sampler, fit_minibatch
from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.models.certified import CertifiedLinear
from gnn_unlearn.models.predictors import build_model
from gnn_unlearn.models.sharded import ShardedModel
from gnn_unlearn.requests import UnlearningTask
from gnn_unlearn.sharding import retrain_sharded
from gnn_unlearn.training import TrainConfig, fit
from gnn_unlearn.utils import seeded


@register
class Retrain(Unlearner):
    """Trains a fresh model of the same architecture on ``task.retained_data``.

    The recipe is the original model's (``model.train_config``, set by
    :func:`gnn_unlearn.training.train`), unless overridden here. What is deleted is
    simply absent: deleted edges from message passing and the training edges, deleted
    nodes from the training set, deleted features zeroed.

    Args:
        epochs, lr, weight_decay, patience, eval_every, seed: override the original's
            :class:`~gnn_unlearn.training.TrainConfig`.
        fanouts, batch_size: retrain with neighbour-sampled mini-batches
            (:func:`gnn_unlearn.loader.fit_minibatch`) instead of full batch. Default: as the
            original was trained (``fit_minibatch`` records its fanouts and batch size in
            ``train_config``), otherwise full batch.
        sampler: ``"torch"`` or ``"pyg"`` (:func:`gnn_unlearn.loader.build_sampler`);
            default: as recorded, else ``"torch"``.

    Under ``torchrun`` (``gnn-unlearn unlearn --method retrain``) both paths train inside
    ``DistributedDataParallel``, each rank on its share of every epoch's seeds
    (:mod:`gnn_unlearn.distributed`).

    A :class:`~gnn_unlearn.models.sharded.ShardedModel` is retrained whole with its own recipe
    (:func:`gnn_unlearn.sharding.retrain_sharded`: partition recomputed on the retained graph,
    every shard retrained, aggregator refitted); the overrides above do not apply to it.
    """
    name = "retrain"
    data_parallel = True
    supports = frozenset({"edge", "node", "class", "feature", "interaction"})
    tasks = frozenset({"link", "node", "rec"})

    def __init__(self, epochs: int | None = None, lr: float | None = None,
                 weight_decay: float | None = None, patience: int | None = None,
                 eval_every: int | None = None, seed: int | None = None, progress: bool = False,
                 fanouts: list[int] | None = None, batch_size: int | None = None,
                 sampler: str | None = None):
        self.fanouts, self.batch_size = fanouts, batch_size
        self.sampler = None if sampler is None else check_sampler(sampler)
        self.epochs, self.lr, self.weight_decay = epochs, lr, weight_decay
        self.patience, self.eval_every, self.seed, self.progress = patience, eval_every, seed, progress

    def sampling_for(self, model: nn.Module) -> tuple[list[int] | None, int, str]:
        """(fanouts, batch size, sampler) of mini-batch retraining; fanouts ``None``: full
        batch."""
        recorded = dict(getattr(model, "train_config", None) or {})
        fanouts = self.fanouts or recorded.get("fanouts")
        return (fanouts, self.batch_size or recorded.get("minibatch_size") or 1024,
                self.sampler or recorded.get("sampler") or "torch")

    @staticmethod
    def max_steps_for(model: nn.Module) -> int | None:
        """The original's cap on mini-batch steps (``fit_minibatch(max_steps=...)``), if any:
        retraining repeats the same bounded recipe."""
        return (getattr(model, "train_config", None) or {}).get("max_steps")

    def config_for(self, model: nn.Module) -> TrainConfig:
        base = dict(getattr(model, "train_config", None) or asdict(TrainConfig()))
        base.pop("fanouts", None)
        base.pop("minibatch_size", None)
        base.pop("sampler", None)
        base.pop("max_steps", None)
        for k in ("epochs", "lr", "weight_decay", "patience", "eval_every", "seed"):
            v = getattr(self, k)
            if v is not None:
                base[k] = v
        base["progress"] = self.progress
        return TrainConfig.from_dict(base)

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        if isinstance(model, CertifiedLinear):   # its own exact trainer, same noise seed
            fresh = type(model).from_config(model.config)     # SGC or scattering features
            fresh = fresh.to(model.weight.device).fit(task.retained_data,
                                                      noise_seed=model.certificate.noise_seed)
            self.history.update(fresh.train_info)
            return fresh
        if isinstance(model, ShardedModel):
            self.history["sharded"] = "partition recomputed, every shard retrained, aggregator refitted"
            return retrain_sharded(model, task.retained_data, repartition=True)
        if not getattr(model, "config", None):
            raise ValueError("retrain needs model.config to rebuild the architecture; build models "
                             "with gnn_unlearn.models.make_model / build_model")
        config = self.config_for(model)
        device = next(model.parameters()).device
        # the architecture only: operators a method added (e.g. GNNDelete's) are not retrained
        arch = {k: v for k, v in model.config.items() if k != "gnndelete"}
        with seeded(config.seed):
            fresh = build_model(arch)
        fanouts, batch_size, sampler = self.sampling_for(model)
        if fanouts:      # neighbour-sampled mini-batches (graphs too large for full batch)
            fresh, hist = fit_minibatch(fresh, task.retained_data, config, fanouts, batch_size,
                                        device, sampler, max_steps=self.max_steps_for(model))
        else:
            fresh, hist = fit(fresh, task.retained_data, config, device)
        self.history.update(hist.to_dict())
        return fresh
