"""The attacks shipped with the library; importing this module registers them."""
from gnn_unlearn.metrics import lira  # noqa: F401  (LiRA)
