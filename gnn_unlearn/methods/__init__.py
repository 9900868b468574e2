"""Unlearning methods: one file each, all behind :class:`Unlearner` and the registry."""
from gnn_unlearn.methods.base import (Unlearner, UnlearningResult, available, data_parallel_methods,
                                      get, minibatch_methods, register, unlearn)
from gnn_unlearn.methods.ceu import CEU
from gnn_unlearn.methods.cgu import CGU
from gnn_unlearn.methods.certified_select import (CertifiedSelection, NoCertifiedCandidate,
                                                  select_certified)
from gnn_unlearn.methods.cognac import Cognac
from gnn_unlearn.methods.d2dgn import D2DGN
from gnn_unlearn.methods.gnndelete import GNNDelete
from gnn_unlearn.methods.gradient_ascent import GradientAscent
from gnn_unlearn.methods.graph_eraser import GraphEraser
from gnn_unlearn.methods.guide import GUIDE
from gnn_unlearn.methods.retrain import Retrain
from gnn_unlearn.methods.reverse_bpr import ReverseBPR
from gnn_unlearn.methods.scalegun import ScaleGUN
from gnn_unlearn.methods.gif import GIF
from gnn_unlearn.methods.idea import IDEA
from gnn_unlearn.methods.megu import MEGU
from gnn_unlearn.methods.sgu import SGU
from gnn_unlearn.methods.gukd import GUKD
from gnn_unlearn.methods.gst import GST
from gnn_unlearn.methods.projector import Projector
from gnn_unlearn.methods.reference import HeldOutReference
from gnn_unlearn.methods.unlearnrec import UnlearnRec
from gnn_unlearn.methods.utu import UnlinkToUnlearn

__all__ = ["Unlearner", "UnlearningResult", "available", "data_parallel_methods", "get",
           "minibatch_methods", "register", "unlearn", "HeldOutReference",
           "Retrain", "ReverseBPR", "UnlearnRec", "GradientAscent", "GNNDelete", "D2DGN", "Cognac",
           "CGU", "CEU", "ScaleGUN", "select_certified", "CertifiedSelection", "NoCertifiedCandidate",
           "UnlinkToUnlearn", "GIF", "IDEA", "Projector", "MEGU", "SGU", "GUKD", "GST",
           "GraphEraser", "GUIDE"]
