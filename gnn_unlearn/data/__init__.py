"""Datasets, splits and deleted-set samplers."""
from gnn_unlearn.data.datasets import available_datasets, default_root, load_dataset
from gnn_unlearn.data.manipulations import Manipulation, edge_injection, label_flip
from gnn_unlearn.data.samplers import (
    sample_edges,
    sample_interactions,
    sample_nodes,
    sample_users,
    near_test_edges,
)
from gnn_unlearn.data.interop import prepare_data
from gnn_unlearn.data.splits import link_split, node_split
from gnn_unlearn.ops.graph import is_bipartite, training_edges
from gnn_unlearn.data.synthetic import bipartite_synthetic, synthetic_graph

__all__ = [
    "available_datasets", "default_root", "load_dataset", "link_split", "node_split", "prepare_data",
    "training_edges", "is_bipartite", "synthetic_graph", "bipartite_synthetic",
    "Manipulation", "label_flip", "edge_injection",
    "sample_edges", "sample_nodes", "sample_users", "sample_interactions", "near_test_edges",
]
