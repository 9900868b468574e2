"""Link decoders: a score (logit) for each node pair."""
from __future__ import annotations

from torch import Tensor, nn

from gnn_unlearn.ops.scoring import pair_dot


class DotDecoder(nn.Module):
    r"""Inner product :math:`s_{uv} = z_u^\top z_v` (GNNDelete's decoder), computed by
    :func:`~gnn_unlearn.ops.scoring.pair_dot` (a sampled sparse product: no ``[pairs, d]``
    tensor, so it needs no chunking)."""

    def forward(self, z: Tensor, pairs: Tensor) -> Tensor:
        return pair_dot(z, pairs)


class MLPDecoder(nn.Module):
    r"""Symmetric MLP on the Hadamard product: :math:`s_{uv} = \mathrm{MLP}(z_u \odot z_v)`."""

    def __init__(self, channels: int, hidden_channels: int = 64):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, hidden_channels), nn.ReLU(),
                                 nn.Linear(hidden_channels, 1))

    def forward(self, z: Tensor, pairs: Tensor) -> Tensor:
        return self.mlp(z[pairs[0]] * z[pairs[1]]).view(-1)


DECODERS = ("dot", "mlp")


def make_decoder(kind: str, channels: int) -> nn.Module:
    if kind == "dot":
        return DotDecoder()
    if kind == "mlp":
        return MLPDecoder(channels)
    raise ValueError(f"unknown decoder {kind!r}; choose one of {DECODERS}")
