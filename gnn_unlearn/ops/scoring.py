"""Scoring large sets of node pairs in bounded memory."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def chunked_pair_scores(score_fn: Callable[[Tensor, Tensor], Tensor], z: Tensor,
                        pairs: Tensor, chunk_size: int = 1 << 18) -> Tensor:
    """Applies ``score_fn(z, pairs_chunk)`` to ``pairs`` chunk by chunk.

    Peak extra memory is ``chunk_size x hidden`` instead of ``|pairs| x hidden``.
    """
    if pairs.size(1) <= chunk_size:
        return score_fn(z, pairs)
    return torch.cat([score_fn(z, pairs[:, i:i + chunk_size])
                      for i in range(0, pairs.size(1), chunk_size)])
