import pytest
import torch

from gnn_unlearn import DeletionRequest, unlearn
from gnn_unlearn.data import sample_interactions, sample_users
from gnn_unlearn.methods.unlearnrec import (load_influence_encoder, pretrain_influence_encoder,
                                            save_influence_encoder)
from gnn_unlearn.metrics.rec import pair_ranks, rank_summary, topk_metrics

from ..conftest import param_hash


@pytest.fixture(scope="module")
def rec_task(lastfm):
    return sample_interactions(lastfm, 0.01, seed=0).resolve(lastfm)


@pytest.fixture(scope="module")
def encoder(lastfm_lightgcn, lastfm):
    enc, info = pretrain_influence_encoder(lastfm_lightgcn, lastfm, 0.01, steps=40, seed=0)
    assert len(info["loss"]) == 40
    return enc


def _forget(model, task):
    return rank_summary(pair_ranks(model, task.retained_data, task.df_edge_index), task.data.num_items)


def test_lightgcn_beats_popularity(lastfm, lastfm_lightgcn):
    nu, ni = lastfm.num_users, lastfm.num_items
    pop = torch.bincount(lastfm.train_pos_edge_index[1] - nu, minlength=ni).float()
    z = torch.zeros(nu + ni, 2)
    z[:nu, 0], z[nu:, 0] = 1, pop
    popular = topk_metrics(z, lastfm, "test")["recall@20"]
    learned = topk_metrics(lastfm_lightgcn, lastfm, "test")["recall@20"]
    assert learned > popular + 0.05, (learned, popular)


@pytest.mark.parametrize("method", ["reverse_bpr", "unlearnrec", "retrain"])
def test_methods_push_removed_items_down_and_keep_quality(method, lastfm_lightgcn, rec_task, encoder):
    before = param_hash(lastfm_lightgcn)
    kw = {"encoder": encoder} if method == "unlearnrec" else {}
    if method == "retrain":
        kw = {"epochs": 100}
    result = unlearn(lastfm_lightgcn, rec_task, method, **kw)
    assert param_hash(lastfm_lightgcn) == before
    original = _forget(lastfm_lightgcn, rec_task)
    after = _forget(result.model, rec_task)
    assert after["rank_pct"] > original["rank_pct"] + 0.005, (original, after)
    assert after["hit@20"] < original["hit@20"], (original, after)
    rec0 = topk_metrics(lastfm_lightgcn, rec_task.data, "test")["recall@20"]
    rec1 = topk_metrics(result.model, rec_task.retained_data, "test")["recall@20"]
    assert rec1 > 0.85 * rec0, (rec0, rec1)


def test_unlearnrec_moves_only_request_nodes_and_reloads(lastfm_lightgcn, rec_task, encoder, tmp_path):
    path = str(tmp_path / "ie.pt")
    save_influence_encoder(path, encoder)
    result = unlearn(lastfm_lightgcn, rec_task, "unlearnrec", encoder=path)
    touched = torch.unique(rec_task.df_edge_index.reshape(-1)).numel()
    assert 0 < result.history["changed_rows"] <= touched
    with pytest.raises(ValueError, match="pre-trained for"):
        load_influence_encoder(path, num_nodes=10)
    with pytest.raises(ValueError, match="not a readable|not a gnn_unlearn"):
        (tmp_path / "junk.pt").write_bytes(b"junk")
        load_influence_encoder(str(tmp_path / "junk.pt"))


def test_user_requests_and_refusals(lastfm, lastfm_lightgcn, encoder, cora_gcn, cora_link):
    task = sample_users(lastfm, 20, seed=0).resolve(lastfm)
    result = unlearn(lastfm_lightgcn, task, "unlearnrec", encoder=encoder, finetune_steps=2)
    assert len(result.history["loss"]) == 2
    with pytest.raises(ValueError, match=r"works on \['rec'\] models"):
        unlearn(cora_gcn, DeletionRequest.edges(cora_link.train_pos_edge_index[:, :3]).resolve(cora_link),
                "reverse_bpr")
    with pytest.raises(ValueError, match="does not support"):
        unlearn(lastfm_lightgcn, DeletionRequest.nodes([1]).resolve(lastfm), "unlearnrec")
    with pytest.raises(ValueError, match="not training edges"):
        DeletionRequest.interactions([0], [lastfm.num_items - 1]).resolve(lastfm)


def test_evaluate_recommender_reports_both_attacks(lastfm_lightgcn, rec_task):
    from gnn_unlearn.metrics.rec import evaluate_recommender, fit_shadow_attack
    shadow = fit_shadow_attack(lastfm_lightgcn, rec_task, epochs=30)
    row = evaluate_recommender(lastfm_lightgcn, rec_task, on_original=True, shadow=shadow,
                               attack_samples=500)
    assert row["mi_ratio"] == pytest.approx(1.0)                # the original against itself
    assert 0.5 < row["shadow_auc"] <= 1 and 0 <= row["mia_member"] <= 1
    assert row["mia_member"] > 0.5                               # removed pairs were members
