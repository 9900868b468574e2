"""gnn_unlearn: graph unlearning for PyTorch Geometric."""
from gnn_unlearn import methods
from gnn_unlearn.data import link_split, load_dataset, node_split, prepare_data
from gnn_unlearn.methods import UnlearningResult, unlearn
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.metrics import Report
from gnn_unlearn.requests import DeletionRequest, UnlearningTask
from gnn_unlearn.training import TrainConfig, train

__version__ = "0.1.0"
__all__ = ["load_dataset", "link_split", "node_split", "prepare_data", "DeletionRequest", "UnlearningTask",
           "train", "TrainConfig", "unlearn", "UnlearningResult", "evaluate", "Report", "methods"]
