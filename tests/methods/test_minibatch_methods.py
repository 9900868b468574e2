"""Mini-batch (neighbour-sampled) paths of the fine-tuning methods, on Cora."""
import pytest
import torch

from gnn_unlearn import DeletionRequest, unlearn
from gnn_unlearn.metrics import link_auc
from gnn_unlearn.training import TrainConfig, train

from ..conftest import param_hash

LINK_METHODS = {
    "gradient_ascent": dict(retain_weight=1.0),
    "d2dgn": dict(),
    "gnndelete": dict(),
}


@pytest.mark.parametrize("method", sorted(LINK_METHODS))
def test_minibatch_link_unlearning_forgets_and_keeps_utility(method, cora_gcn, cora_task, cora_retrained):
    before = param_hash(cora_gcn)
    result = unlearn(cora_gcn, cora_task, method, fanouts=[10, 10], batch_size=256, seed=0,
                     **LINK_METHODS[method])
    assert param_hash(cora_gcn) == before
    data, kept = cora_task.data, cora_task.retained_data
    df = cora_task.df_edge_index
    neg = data.test_neg_edge_index[:, : df.size(1)]
    test = (data.test_pos_edge_index, data.test_neg_edge_index)
    df_orig = link_auc(cora_gcn, kept, df, neg)["auroc"]
    df_new = link_auc(result.model, kept, df, neg)["auroc"]
    dt_new = link_auc(result.model, kept, *test)["auroc"]
    dt_rt = link_auc(cora_retrained.model, kept, *test)["auroc"]
    assert df_new < df_orig - 0.02, (df_orig, df_new)
    assert dt_new > dt_rt - 0.06, (dt_rt, dt_new)
    # smoke run with several mini-batches per epoch (134 deleted edges in batches of 32)
    small = unlearn(cora_gcn, cora_task, method, fanouts=[5, 5], batch_size=32, epochs=2,
                    **LINK_METHODS[method])
    assert small.history["epochs"] >= 1


def test_minibatch_runs_are_seeded(cora_gcn, cora_task):
    runs = [unlearn(cora_gcn, cora_task, "d2dgn", fanouts=[5, 5], batch_size=64, epochs=3, seed=1)
            for _ in range(2)]
    a, b = (r.model.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def cora_node_model(cora):
    model, _ = train(cora, "node", TrainConfig(epochs=100, weight_decay=5e-4))
    return model


@pytest.mark.parametrize("method", ["gradient_ascent", "d2dgn"])
def test_minibatch_class_removal(method, cora, cora_node_model):
    task = DeletionRequest.node_class(3).resolve(cora)
    kw = dict(retain_weight=1.0, lr=1e-2) if method == "gradient_ascent" else {}
    result = unlearn(cora_node_model, task, method, fanouts=[10, 10], batch_size=128,
                     max_val_drop=0.1, epochs=100, **kw)
    kept = task.retained_data
    pred = result.model(kept.x, kept.edge_index).argmax(-1)
    forget = task.deleted_nodes & cora.train_mask
    assert (pred[forget] == 3).float().mean() <= 0.05, result.history["stop_reason"]
    rest = cora.test_mask & ~task.deleted_nodes
    before = cora_node_model(kept.x, kept.edge_index).argmax(-1)
    acc = lambda p: float((p[rest] == cora.y[rest]).float().mean())
    assert acc(pred) > acc(before) - 0.1


@pytest.mark.parametrize("method", sorted(LINK_METHODS))
def test_minibatch_refusals(method, cora_gcn, cora_task):
    with pytest.raises(ValueError, match="one fanout per layer"):
        unlearn(cora_gcn, cora_task, method, fanouts=[10])
    with pytest.raises(ValueError, match="batch_size"):
        unlearn(cora_gcn, cora_task, method, fanouts=[10, 10], batch_size=0)
