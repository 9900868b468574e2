"""Link decoders: a score (logit) for each node pair."""
from __future__ import annotations

from torch import Tensor, nn


class DotDecoder(nn.Module):
    r"""Inner product :math:`s_{uv} = z_u^\top z_v` (GNNDelete's decoder)."""

    def forward(self, z: Tensor, pairs: Tensor) -> Tensor:
        return (z[pairs[0]] * z[pairs[1]]).sum(-1)


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
