"""Sparse, vectorised graph kernels used across the library."""
from gnn_unlearn.ops.graph import (
    edge_keys,
    hop_distance,
    lookup_edges,
    symmetrize,
    undirected_pairs,
)
from gnn_unlearn.ops.negative import sample_non_edges
from gnn_unlearn.ops.scoring import chunked_pair_scores

__all__ = [
    "edge_keys",
    "hop_distance",
    "lookup_edges",
    "symmetrize",
    "undirected_pairs",
    "sample_non_edges",
    "chunked_pair_scores",
]
