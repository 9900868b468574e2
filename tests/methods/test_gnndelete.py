import pytest
import torch

from gnn_unlearn import DeletionRequest, unlearn
from gnn_unlearn.io import load_checkpoint, save_checkpoint
from gnn_unlearn.methods.gnndelete import (GNNDeleteModel, dense_pair_mask, neighbourhood_loss,
                                           region_pairs)
from gnn_unlearn.methods.stopping import STALLED
from gnn_unlearn.metrics import link_auc

from ..conftest import param_hash
from .conftest import backtracks_on_validation_drop


def _aucs(model, task):
    data, kept = task.data, task.retained_data
    df = task.df_edge_index
    neg = data.test_neg_edge_index[:, : df.size(1)]
    return (link_auc(model, kept, data.test_pos_edge_index, data.test_neg_edge_index)["auroc"],
            link_auc(model, kept, df, neg)["auroc"])


def test_forgets_towards_retrain_and_keeps_utility(cora_gcn, cora_task, cora_retrained):
    before = param_hash(cora_gcn)
    result = unlearn(cora_gcn, cora_task, "gnndelete")
    assert param_hash(cora_gcn) == before
    dt, df = _aucs(result.model, cora_task)
    dt_orig = link_auc(cora_gcn, cora_task.data, cora_task.data.test_pos_edge_index,
                       cora_task.data.test_neg_edge_index)["auroc"]
    _, df_orig = _aucs(cora_gcn, cora_task)          # original weights on the retained graph
    dt_rt, df_rt = _aucs(cora_retrained.model, cora_task)
    assert df < df_orig - 0.02                       # clearly forgets
    assert abs(df - df_rt) < 0.06                    # lands near retrain
    assert dt > min(dt_orig, dt_rt) - 0.03           # keeps utility
    # only the deletion operators were trained; the base encoder is frozen and unchanged
    assert isinstance(result.model, GNNDeleteModel)
    for a, b in zip(result.model.base.state_dict().values(), cora_gcn.state_dict().values()):
        assert torch.equal(a, b)


def test_identity_operators_are_a_no_op(cora_gcn, cora_task):
    # lr must be > 0 (the schema refuses a no-op); a vanishing step leaves the identity operators
    result = unlearn(cora_gcn, cora_task, "gnndelete", epochs=1, lr=1e-12)
    kept = cora_task.retained_data
    z0 = cora_gcn.encode(kept.x, kept.edge_index)
    z1 = result.model.encode(kept.x, kept.edge_index)
    assert torch.allclose(z0, z1, atol=1e-6)


def test_region_loss_matches_the_dense_formulation_on_cora(cora_gcn, cora_task):
    """The region-restricted loss equals the reference's N x N masked mean, and the sampled
    estimate is close to it."""
    kept = cora_task.retained_data
    n = kept.num_nodes
    with torch.no_grad():
        z_orig = cora_gcn.encode(kept.x, kept.edge_index)
        z = z_orig + 0.1 * torch.randn(z_orig.shape, generator=torch.Generator().manual_seed(0))
    region = cora_task.affected_nodes().nonzero().view(-1)
    df = cora_task.df_edge_index
    # dense N x N reference (as in the original code): region x region, upper triangle, minus Df
    in_region = torch.zeros(n, dtype=torch.bool)
    in_region[region] = True
    full = (in_region.unsqueeze(0) & in_region.unsqueeze(1)).triu(1)
    full[torch.minimum(df[0], df[1]), torch.maximum(df[0], df[1])] = False
    dense = ((torch.sigmoid(z @ z.t()) - torch.sigmoid(z_orig @ z_orig.t())) ** 2)[full].mean()
    ours = neighbourhood_loss(z, z_orig, region, None, dense_pair_mask(region, n, df))
    assert torch.allclose(ours, dense, rtol=1e-5)
    pairs = region_pairs(region, n, df, 1 << 17, torch.Generator().manual_seed(0))
    sampled = neighbourhood_loss(z, z_orig, region, pairs, None)
    assert abs(float(sampled) / float(dense) - 1) < 0.05


def test_node_and_feature_requests_run(cora_gcn, cora_link):
    nodes = DeletionRequest.nodes([10, 20, 30]).resolve(cora_link)
    result = unlearn(cora_gcn, nodes, "gnndelete", epochs=20)
    assert result.history["epochs"] >= 1
    feats = DeletionRequest.features([5, 6]).resolve(cora_link)
    out = unlearn(cora_gcn, feats, "gnndelete", epochs=5)   # no deleted edge: neighbourhood only
    assert out.history["epochs"] == 5


def test_unsupported_requests_and_models_fail_clearly(cora_gcn, cora_link, cora):
    with pytest.raises(ValueError, match=r"does not support \['class'\]"):
        unlearn(cora_gcn, DeletionRequest.node_class(1).resolve(cora_link), "gnndelete")
    task = DeletionRequest.nodes([1]).resolve(cora_link, num_hops=1)
    with pytest.raises(ValueError, match="num_hops=2"):
        unlearn(cora_gcn, task, "gnndelete")
    from gnn_unlearn.training import TrainConfig, train
    node_model, _ = train(cora, "node", TrainConfig(epochs=5))
    with pytest.raises(ValueError, match=r"works on \['link'\] models"):
        unlearn(node_model, DeletionRequest.nodes([1]).resolve(cora), "gnndelete")


def test_checkpoint_roundtrip_with_operators(cora_gcn, cora_task, tmp_path):
    result = unlearn(cora_gcn, cora_task, "gnndelete", epochs=5)
    path = str(tmp_path / "gd.pt")
    save_checkpoint(path, result.model, cora_task.data)
    model, _ = load_checkpoint(path, cora_task.data)
    kept = cora_task.retained_data
    assert torch.allclose(model.encode(kept.x, kept.edge_index),
                          result.model.encode(kept.x, kept.edge_index))



def test_a_step_that_drops_validation_is_retried_at_half_the_rate_not_given_up(cora_gcn, cora_task):
    """A first epoch that trips the validation guard used to return the identity operators: the
    original model, unchanged. With backtracking the step is retried at half the rate."""
    retried = backtracks_on_validation_drop(cora_gcn, cora_task, "gnndelete")
    _, df = _aucs(retried.model, cora_task)
    _, df_orig = _aucs(cora_gcn, cora_task)
    assert df < df_orig - 0.02                       # it forgets instead of returning the original


def test_a_loss_that_converges_short_of_the_targets_moves_weight_to_forgetting(cora_gcn, cora_task):
    """With almost all weight on Neighbourhood Influence the loss balances before the deleted set
    reaches its targets. ``raise_alpha=0`` stops there; by default the weight of Deleted Edge
    Consistency is raised on such a stall and training goes on, ending nearer the targets."""
    stuck = unlearn(cora_gcn, cora_task, "gnndelete", alpha=0.02, raise_alpha=0)
    assert stuck.history["stop_reason"] == STALLED
    assert stuck.history["alpha_raises"] == 0 and stuck.history["final_alpha"] == 0.02
    raised = unlearn(cora_gcn, cora_task, "gnndelete", alpha=0.02)
    assert raised.history["alpha_raises"] >= 1
    assert raised.history["final_alpha"] == pytest.approx(1 - 0.98 / 2 ** raised.history["alpha_raises"])
    assert raised.history["stop_excess"] < stuck.history["stop_excess"] - 0.005
    _, df_stuck = _aucs(stuck.model, cora_task)
    _, df_raised = _aucs(raised.model, cora_task)
    assert df_raised < df_stuck                       # it forgets more than where it stalled
    with pytest.raises(ValueError, match="raise_alpha"):
        unlearn(cora_gcn, cora_task, "gnndelete", raise_alpha=-1)
