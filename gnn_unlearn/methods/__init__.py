"""Unlearning methods: one file each, all behind :class:`Unlearner` and the registry."""
from gnn_unlearn.methods.base import (Unlearner, UnlearningResult, available, get,
                                      minibatch_methods, register, unlearn)
from gnn_unlearn.methods.cognac import Cognac
from gnn_unlearn.methods.d2dgn import D2DGN
from gnn_unlearn.methods.gnndelete import GNNDelete
from gnn_unlearn.methods.gradient_ascent import GradientAscent
from gnn_unlearn.methods.graph_eraser import GraphEraser
from gnn_unlearn.methods.guide import GUIDE
from gnn_unlearn.methods.retrain import Retrain
from gnn_unlearn.methods.reverse_bpr import ReverseBPR
from gnn_unlearn.methods.unlearnrec import UnlearnRec

__all__ = ["Unlearner", "UnlearningResult", "available", "get", "minibatch_methods", "register", "unlearn",
           "Retrain", "ReverseBPR", "UnlearnRec", "GradientAscent", "GNNDelete", "D2DGN", "Cognac",
           "GraphEraser", "GUIDE"]
