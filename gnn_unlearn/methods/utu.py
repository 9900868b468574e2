r"""UtU: Unlink to Unlearn - delete from the graph, keep the weights.

Tan, Sun, Qiu, Su, Shen, "Unlink to Unlearn: Simplifying Edge Unlearning in GNNs",
WWW 2024 Companion (arXiv 2402.10695).

The update is the identity on the parameters:

.. math::
    \theta' = \theta, \qquad z' = f_{\theta}(X', E \setminus D_f)

Only the message-passing graph changes: deleted edges (and every edge of a deleted node)
leave it, and the model is used on :attr:`~gnn_unlearn.requests.UnlearningTask.retained_data`
from then on, which is where :func:`gnn_unlearn.evaluate` scores every unlearned model. The
paper shows that for edge unlearning in link prediction this alone comes close to retraining,
without the over-forgetting of GNNDelete. It costs nothing, which makes it the floor any
unlearning method must beat: what a method adds beyond UtU is what it removes from the
*weights* (a weight-level membership attack still sees everything UtU kept).

Node requests work the same way (the node loses all its edges and leaves the training set; its
own features still reach its own prediction through the self-loop); both link prediction and
node classification models are served.
"""
from __future__ import annotations

from torch import nn

from gnn_unlearn.methods.base import Unlearner, register
from gnn_unlearn.requests import UnlearningTask


@register
class UnlinkToUnlearn(Unlearner):
    """Keeps the weights; the retained graph (``task.retained_data``) is the whole update.

    Takes no hyperparameters. The returned model is a copy of the input (``unlearn`` never
    hands out the caller's object); use it with ``task.retained_data``.
    """
    name = "utu"
    supports = frozenset({"edge", "node"})
    tasks = frozenset({"link", "node"})

    def __init__(self) -> None:
        pass

    def fit(self, model: nn.Module, task: UnlearningTask) -> nn.Module:
        summary = task.summary()
        self.history.update(weights_changed=False, graph="task.retained_data",
                            unlinked_edges=summary["deleted_edges"],
                            unlinked_nodes=summary["deleted_nodes"])
        return model
