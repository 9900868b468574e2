"""The attacks shipped with the library; importing this module registers them."""
import gnn_unlearn.metrics.relearn  # noqa: F401
import gnn_unlearn.metrics.probe  # noqa: F401
import gnn_unlearn.metrics.cka  # noqa: F401
from gnn_unlearn.metrics import lira  # noqa: F401  (LiRA)
