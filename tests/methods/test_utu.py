import pytest

from gnn_unlearn import DeletionRequest, unlearn
from gnn_unlearn.cli import main
from gnn_unlearn.metrics import link_auc

from ..conftest import param_hash
from .conftest import distance_to_retrain


def test_link_df_scores_move_towards_retrain(cora_link_case):
    cora_gcn, cora_task, retrained = cora_link_case
    before = param_hash(cora_gcn)
    result = unlearn(cora_gcn, cora_task, "utu")
    assert param_hash(cora_gcn) == before and result.model is not cora_gcn
    assert param_hash(result.model) == before                      # the weights are kept
    data, kept = cora_task.data, cora_task.retained_data
    df = cora_task.df_edge_index
    neg = data.test_neg_edge_index[:, : df.size(1)]
    df_orig = link_auc(cora_gcn, data, df, neg)["auroc"]           # before: original graph
    df_utu = link_auc(result.model, kept, df, neg)["auroc"]
    df_rt = link_auc(retrained, kept, df, neg)["auroc"]
    assert abs(df_utu - df_rt) < abs(df_orig - df_rt) - 0.01
    assert result.history["weights_changed"] is False
    assert result.history["unlinked_edges"] == df.size(1)


def test_node_predictions_move_towards_retrain(cora_node_cases):
    for model, task, retrained in cora_node_cases:
        before = param_hash(model)
        out = unlearn(model, task, "utu").model
        assert param_hash(model) == before
        d_orig = distance_to_retrain(model, retrained, task, on_original=True)
        d_utu = distance_to_retrain(out, retrained, task)
        assert d_utu < d_orig - 0.01          # a small step: the weights still remember them


def test_refuses_feature_requests_and_parameters(cora_link_case, cora_link):
    cora_gcn = cora_link_case[0]
    with pytest.raises(ValueError, match=r"'utu' does not support \['feature'\]"):
        unlearn(cora_gcn, DeletionRequest.features([1]).resolve(cora_link), "utu")
    with pytest.raises(ValueError, match="has no parameter 'lr'"):
        unlearn(cora_gcn, DeletionRequest.nodes([1]).resolve(cora_link), "utu", lr=0.1)


def test_cli(tmp_path):
    from gnn_unlearn.io import load_checkpoint
    ckpt, unl = str(tmp_path / "orig.pt"), str(tmp_path / "unl.pt")
    assert main(["train", "--num-nodes", "300", "--epochs", "20", "--output", ckpt]) == 0
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "utu", "--df-size", "0.05",
                 "--output", unl]) == 0
    original, unlearned = load_checkpoint(ckpt)[0], load_checkpoint(unl)[0]
    assert param_hash(original) == param_hash(unlearned)
