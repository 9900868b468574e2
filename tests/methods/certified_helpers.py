"""Shared checks of the certified-unlearning tests (cgu, ceu, scalegun)."""
import torch

from gnn_unlearn.methods import unlearn
from gnn_unlearn.ops.logistic import gradient, ovr_targets


def measured_residual(model, data):
    """||grad L(w) + b|| per class on *exactly* propagated features of ``data`` (the quantity the
    certificate bounds), float64."""
    z = model.propagated(data.x, data.edge_index)[data.train_mask]
    y = ovr_targets(data.y[data.train_mask], model.num_classes)
    return (gradient(model.weight, z, y, model.lam * z.size(0)) + model.noise).norm(dim=0)


def serve(model, data, requests, method, **hparams):
    """Serves ``requests`` in order (each resolved on the previous retained graph); returns
    ``[(result, retained graph)]``."""
    out = []
    for request in requests:
        task = request.resolve(data, num_hops=model.num_hops)
        result = unlearn(model, task, method, **hparams)
        data, model = task.retained_data, result.model
        out.append((result, data))
    return out


def assert_bound_holds(result, data):
    measured = measured_residual(result.model, data)
    bound = torch.tensor(result.history["bound"], dtype=torch.float64)
    assert bool((measured <= bound * (1 + 1e-9) + 1e-12).all()), (measured, bound)
    cert = result.model.certificate
    assert result.history["budget_left"] == cert.budget - max(bound.tolist())
    return measured, bound
