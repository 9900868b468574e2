import math

import pytest
import torch

from gnn_unlearn import DeletionRequest, unlearn
from gnn_unlearn.cli import main
from gnn_unlearn.data import sample_nodes
from gnn_unlearn.methods import get
from gnn_unlearn.methods.idea import gaussian_mechanism_std, idea_bound
from gnn_unlearn.metrics import link_auc
from gnn_unlearn.training import TrainConfig, train

from ..conftest import param_hash


def flat_params(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.fixture(scope="module")
def small_node_model(cora):
    model, _ = train(cora, "node", TrainConfig(epochs=40, eval_every=40, patience=40, weight_decay=5e-4),
                     hidden_channels=16, out_channels=16)
    return model


def test_edge_requests_move_df_towards_retrain(cora_link_case):
    model, task, retrained = cora_link_case
    before = param_hash(model)
    result = unlearn(model, task, "idea", noise_std=1e-4)
    assert param_hash(model) == before
    data, kept = task.data, task.retained_data
    df = task.df_edge_index
    neg = data.test_neg_edge_index[:, : df.size(1)]
    df_orig = link_auc(model, data, df, neg)["auroc"]
    df_idea = link_auc(result.model, kept, df, neg)["auroc"]
    df_rt = link_auc(retrained, kept, df, neg)["auroc"]
    assert abs(df_idea - df_rt) < abs(df_orig - df_rt) - 0.01, (df_orig, df_idea, df_rt)


def test_without_noise_it_is_gif_and_noise_is_calibrated(cora, small_node_model):
    task = sample_nodes(cora, 20, seed=0, among=cora.train_mask).resolve(cora)
    gif = unlearn(small_node_model, task, "gif")
    plain = unlearn(small_node_model, task, "idea")
    assert param_hash(gif.model) == param_hash(plain.model)            # same estimator
    h = plain.history
    assert h["removed_items"] == 20 and h["num_train"] == int(cora.train_mask.sum())
    assert h["noise_std"] == 0 and h["certified"] is False
    expected = idea_bound(20, h["region_items"], h["num_train"], h["update_norm"], 0.25, 1.0, 0.5)
    assert h["bound"] == pytest.approx(expected["bound"])
    m, t, n = 20, h["region_items"], h["num_train"]
    assert h["alpha1"] == pytest.approx((m * 0.25 + math.sqrt(m * m + 0.0625 + 2 * n * t)) / n)
    cert = unlearn(small_node_model, task, "idea", epsilon=1.0, delta=1e-4)
    sigma = gaussian_mechanism_std(cert.history["bound"], 1.0, 1e-4)
    assert cert.history["noise_std"] == pytest.approx(sigma) and cert.history["certified"]
    noise = flat_params(cert.model) - flat_params(gif.model)
    assert float(noise.std()) == pytest.approx(sigma, rel=0.05)
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.05 * sigma)


def test_partial_feature_requests(cora, small_node_model):
    ids = cora.train_mask.nonzero().view(-1)[:10]
    cols = cora.x[ids].sum(0).nonzero().view(-1)[:50]              # columns these nodes use
    task = DeletionRequest.features(ids, cols).resolve(cora)
    out = unlearn(small_node_model, task, "idea", iterations=30)
    assert param_hash(out.model) != param_hash(small_node_model)
    assert out.history["update_norm"] > 0 and math.isfinite(out.history["bound"])


@pytest.mark.parametrize("bad", [dict(noise_std=-1.0), dict(epsilon=0.0), dict(delta=1.0),
                                 dict(delta=0.0), dict(lipschitz=float("nan")), dict(iterations=0),
                                 dict(strong_convexity=0.0)])
def test_bad_hyperparameters_are_refused(bad):
    with pytest.raises(ValueError):
        get("idea", **bad)


def test_cli(tmp_path):
    from gnn_unlearn.io import load_checkpoint
    ckpt, unl = str(tmp_path / "orig.pt"), str(tmp_path / "unl.pt")
    assert main(["train", "--num-nodes", "300", "--epochs", "20", "--output", ckpt]) == 0
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "idea", "--df-size", "0.05",
                 "--params", '{"iterations": 20, "epsilon": 1.0}', "--output", unl]) == 0
    assert param_hash(load_checkpoint(ckpt)[0]) != param_hash(load_checkpoint(unl)[0])
