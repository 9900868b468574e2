"""Task models: an encoder plus a link decoder or a node-classification head."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gnn_unlearn.models.decoders import DotDecoder, make_decoder
from gnn_unlearn.models.encoders import GNNEncoder, LayerHook
from gnn_unlearn.ops.scoring import chunked_pair_scores

TASKS = ("link", "node", "rec")


class LinkPredictor(nn.Module):
    """``encoder`` -> node embeddings ``z``; ``decoder(z, pairs)`` -> a logit per pair."""
    task = "link"

    def __init__(self, encoder: GNNEncoder, decoder: str = "dot", config: dict | None = None):
        super().__init__()
        self.encoder = encoder
        self.decoder = make_decoder(decoder, encoder.out_channels)
        self.config = dict(config or {})

    def encode(self, x: Tensor | None, edge_index: Tensor, layer_hook: LayerHook | None = None,
               return_layers: bool = False):
        return self.encoder(x, edge_index, layer_hook=layer_hook, return_layers=return_layers)

    def decode(self, z: Tensor, pairs: Tensor, chunk_size: int = 1 << 18) -> Tensor:
        if isinstance(self.decoder, DotDecoder):      # no per-pair tensor: no chunks needed
            return self.decoder(z, pairs)
        return chunked_pair_scores(self.decoder, z, pairs, chunk_size)

    def forward(self, x: Tensor | None, edge_index: Tensor, pairs: Tensor) -> Tensor:
        return self.decode(self.encode(x, edge_index), pairs)


class NodeClassifier(nn.Module):
    """``encoder`` -> ``z``; a linear head -> class logits."""
    task = "node"

    def __init__(self, encoder: GNNEncoder, num_classes: int, config: dict | None = None):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_channels, num_classes)
        self.num_classes = num_classes
        self.config = dict(config or {})

    def encode(self, x: Tensor | None, edge_index: Tensor, layer_hook: LayerHook | None = None,
               return_layers: bool = False):
        return self.encoder(x, edge_index, layer_hook=layer_hook, return_layers=return_layers)

    def forward(self, x: Tensor | None, edge_index: Tensor) -> Tensor:
        return self.head(self.encode(x, edge_index))


_WRAPPERS: dict[str, Callable[[nn.Module, Any], nn.Module]] = {}


def register_model_wrapper(key: str, rebuild: Callable[[nn.Module, Any], nn.Module]) -> None:
    """Lets a method that wraps a base model (e.g. GNNDelete's deletion operators) be rebuilt
    from a checkpoint config without this module importing the method.

    A config holding ``key`` is built as ``rebuild(build_model(config without key), config[key])``.
    """
    if key in _WRAPPERS and _WRAPPERS[key] is not rebuild:
        raise ValueError(f"a model wrapper for config key {key!r} is already registered")
    _WRAPPERS[key] = rebuild


def build_model(config: dict[str, Any]) -> nn.Module:
    """Builds an untrained model from a config (as stored in ``model.config`` and checkpoints)."""
    cfg = dict(config)
    for key, rebuild in _WRAPPERS.items():
        if key in cfg:  # a model wrapped by a method (e.g. GNNDelete's deletion operators)
            spec = cfg.pop(key)
            return rebuild(build_model(cfg), spec)
    if "scattering" in cfg:                # GST: scattering features + certified logistic regression
        from gnn_unlearn.models.scattering import ScatteringLinear
        return ScatteringLinear.from_config(config)
    if "certified" in cfg:                 # SGC features + certified logistic regression
        from gnn_unlearn.models.certified import CertifiedLinear
        return CertifiedLinear.from_config(config)
    if cfg.get("encoder") == "linear":     # fixed propagation + a linear map (SGC-style)
        from gnn_unlearn.models.linear import build_linear
        return build_linear(config)
    task = cfg.pop("task", None)
    if task not in TASKS:
        raise ValueError(f"model config needs task in {TASKS}, got {task!r}")
    if task == "rec":
        from gnn_unlearn.models.lightgcn import LightGCN
        return LightGCN(config=dict(config), **cfg)
    if "in_channels" not in cfg:
        raise ValueError("model config has no 'in_channels' (None for graphs without features)")
    num_classes = cfg.pop("num_classes", None)
    decoder = cfg.pop("decoder", "dot")
    encoder = GNNEncoder(
        in_channels=cfg.pop("in_channels"), hidden_channels=cfg.pop("hidden_channels", 128),
        out_channels=cfg.pop("out_channels", 64), num_layers=cfg.pop("num_layers", 2),
        conv=cfg.pop("encoder", "gcn"), dropout=cfg.pop("dropout", 0.5),
        num_nodes=cfg.pop("num_nodes", None))
    if cfg:
        raise ValueError(f"unknown model options {sorted(cfg)}")
    if task == "link":
        return LinkPredictor(encoder, decoder, config)
    if not num_classes:
        raise ValueError("a node-classification model needs num_classes")
    return NodeClassifier(encoder, num_classes, config)


def model_config(data: Data, task: str = "link", encoder: str = "gcn", hidden_channels: int = 128,
                 out_channels: int = 64, num_layers: int | None = None, dropout: float = 0.5,
                 decoder: str = "dot") -> dict[str, Any]:
    """The config of a model that fits ``data`` (input size, node count, classes).

    ``num_layers`` defaults to 2 for GNN encoders and 3 for LightGCN (``task="rec"``, whose
    ``out_channels`` is the embedding size)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task == "rec":
        if getattr(data, "num_users", None) is None:
            raise ValueError("a recommender needs a user-item graph (data.num_users, data.num_items); "
                             "load one with load_dataset('gowalla' | 'lastfm' | 'ml-1m')")
        return dict(task="rec", num_users=int(data.num_users), num_items=int(data.num_items),
                    embedding_dim=out_channels, num_layers=3 if num_layers is None else num_layers)
    num_layers = 2 if num_layers is None else num_layers
    x = getattr(data, "x", None)
    cfg: dict[str, Any] = dict(task=task, encoder=encoder, hidden_channels=hidden_channels,
                               out_channels=out_channels, num_layers=num_layers, dropout=dropout,
                               in_channels=None if x is None else int(x.size(1)))
    if x is None:
        cfg["num_nodes"] = int(data.num_nodes)
    if task == "link":
        cfg["decoder"] = decoder
    else:
        y = getattr(data, "y", None)
        if y is None:
            raise ValueError("node classification needs labels data.y")
        cfg["num_classes"] = int(y.max()) + 1
    return cfg


def make_model(data: Data, task: str = "link", **options) -> nn.Module:
    """Shortcut: ``build_model(model_config(data, task, **options))``."""
    return build_model(model_config(data, task, **options))


def num_hops(model: nn.Module) -> int:
    """Message-passing hops of a model (the receptive field a request's region needs)."""
    encoder = getattr(model, "encoder", None)
    if encoder is not None:
        return encoder.num_layers
    hops = getattr(model, "num_hops", None)      # propagation-only models (CertifiedLinear)
    return hops if isinstance(hops, int) else model.num_layers


def model_outputs(model: nn.Module, data: Data) -> Tensor:
    """Embeddings ``z`` (link models) or class logits (node models) on ``data``, in eval mode."""
    was = model.training
    model.eval()
    with torch.no_grad():
        out = (model(data.x, data.edge_index) if model.task == "node"
               else model.encode(data.x, data.edge_index))
    model.train(was)
    return out
