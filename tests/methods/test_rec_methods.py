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
    result = unlearn(lastfm_lightgcn, task, "unlearnrec", encoder=encoder, finetune_steps=2,
                     target="published")
    assert len(result.history["loss"]) == 2
    # matched: the users keep no interaction, so their rows are redrawn and nothing is fine-tuned
    result = unlearn(lastfm_lightgcn, task, "unlearnrec", encoder=encoder, finetune_steps=2)
    assert result.history["loss"] == [] and result.history["stop_reason"] == "untrained rows redrawn"
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


# --- the fidelity target (target="matched") on a small synthetic shop: fast -------------------

@pytest.fixture(scope="module")
def shop_task(shop):
    return sample_interactions(shop, 0.05, seed=0).resolve(shop)


FAST = {"reverse_bpr": {}, "unlearnrec": dict(pretrain_steps=20, batch_size=512)}


def _excess(model, task):
    """The matched stop's statistic for ``model``, from a reference drawn apart from the method's."""
    from gnn_unlearn.methods.rec_common import HeldOutInteractions, matchable, untrained_rows
    from gnn_unlearn.metrics.rec import embeddings
    df = matchable(task.df_edge_index, untrained_rows(task))
    held = HeldOutInteractions(task.retained_data, df, torch.Generator().manual_seed(7))
    z = embeddings(model, task.retained_data)
    return held.excess(held.percentiles(z, df), held.percentiles(z, held.reference))


@pytest.mark.parametrize("method", ["reverse_bpr", "unlearnrec"])
def test_matched_target_moves_removed_pairs_onto_the_held_out_reference_and_not_beyond(
        method, shop_model, shop_task):
    before = param_hash(shop_model)
    start = _excess(shop_model, shop_task)
    result = unlearn(shop_model, shop_task, method, **FAST[method])
    assert param_hash(shop_model) == before                            # input model untouched
    end = _excess(result.model, shop_task)
    assert start[0] > 2 and start[1] > 0.55                             # the original remembers
    assert end[0] < start[0] / 2                                        # moved towards the reference
    assert end[1] > 0.45 and end[0] > -3                                 # ... and stopped on it, not far below
    published = unlearn(shop_model, shop_task, method, target="published", **FAST[method])
    assert abs(end[1] - 0.5) < abs(_excess(published.model, shop_task)[1] - 0.5)
    if method == "reverse_bpr":
        assert result.history["stop_reason"] == "forgotten"
        assert result.history["val_recall"] >= 0.95 * result.history["start_val"]


@pytest.mark.parametrize("method", ["reverse_bpr", "unlearnrec"])
def test_matched_target_never_reads_test_pairs_and_repeats(method, shop, shop_model, shop_task):
    """Test interactions moved elsewhere: the same request gives the bit-identical model (so
    nothing reads them, and a seed repeats a run)."""
    a = unlearn(shop_model, shop_task, method, **FAST[method]).model
    moved = shop.clone()
    g = torch.Generator().manual_seed(3)
    test = moved.test_pos_edge_index
    moved.test_pos_edge_index = torch.stack([test[0][torch.randperm(test.size(1), generator=g)],
                                             test[1][torch.randperm(test.size(1), generator=g)]])
    task = sample_interactions(moved, 0.05, seed=0).resolve(moved)
    assert torch.equal(task.df_edge_index, shop_task.df_edge_index)
    c = unlearn(shop_model, task, method, **FAST[method]).model
    assert param_hash(c) == param_hash(a)


def test_whole_user_removal_lands_where_retraining_leaves_the_users(shop, shop_model):
    """A retrained model never trains a user it has no interaction of: the matched target redraws
    such rows from the initialisation, so their removed items rank like retraining's (near the
    middle), where the published losses leave them near the top."""
    task = sample_users(shop, 5, seed=0).resolve(shop)
    retrain = unlearn(shop_model, task, "retrain").model
    ranks = {name: _forget(m, task)["rank_pct"] for name, m in [
        ("retrain", retrain),
        ("matched", unlearn(shop_model, task, "reverse_bpr").model),
        ("published", unlearn(shop_model, task, "reverse_bpr", target="published").model),
        ("unlearnrec", unlearn(shop_model, task, "unlearnrec", **FAST["unlearnrec"]).model)]}
    assert ranks["retrain"] > 0.4, ranks
    assert abs(ranks["matched"] - ranks["retrain"]) < 0.15, ranks
    assert abs(ranks["unlearnrec"] - ranks["retrain"]) < 0.15, ranks
    assert abs(ranks["published"] - ranks["retrain"]) > 0.25, ranks


def test_matched_options_refused(shop_model, shop_task):
    for method in ("reverse_bpr", "unlearnrec"):
        with pytest.raises(ValueError, match="target must be one of"):
            unlearn(shop_model, shop_task, method, target="lowest")
    with pytest.raises(ValueError, match="check_every.*>= 1"):
        unlearn(shop_model, shop_task, "unlearnrec", check_every=0)
    with pytest.raises(ValueError, match="patience.*>= 1"):
        unlearn(shop_model, shop_task, "reverse_bpr", patience=0)
    with pytest.raises(ValueError, match="target must be one of"):
        pretrain_influence_encoder(shop_model, shop_task.data, steps=2, target="lowest")


def test_matched_loss_settles_on_the_reference_when_never_stopped(shop_model, shop_task):
    """With the stop switched off the matched regression stays on the reference: it transports the
    removed pairs onto held-out ranks, it does not push them ever lower as reverse BPR does."""
    result = unlearn(shop_model, shop_task, "reverse_bpr", epochs=60, check_every=20, tolerance=-1e9, patience=1000,
                     max_val_drop=1.0)
    assert result.history["epochs"] == 60 and result.history["stop_reason"] == "max epochs"
    excess, separation, _ = _excess(result.model, shop_task)
    assert 0.42 < separation < 0.58, separation
    pushed = unlearn(shop_model, shop_task, "reverse_bpr", target="published", epochs=80, check_every=80,
                     max_val_drop=1.0)
    assert _excess(pushed.model, shop_task)[1] < 0.4                    # the published loss overshoots


# --- a held-out reference for recommenders: the targets in the order of models that never saw them

@pytest.fixture(scope="module")
def shop_reference(shop, shop_model):
    from gnn_unlearn.methods import HeldOutReference
    return HeldOutReference.fit(shop_model, shop, seed=0)


def test_rec_reference_levels_are_held_out_ranks_and_set_the_targets_order(shop, shop_model, shop_task,
                                                                         shop_reference):
    from gnn_unlearn.methods.rec_common import HeldOutInteractions, matchable, untrained_rows
    from gnn_unlearn.metrics.rec import embeddings
    from gnn_unlearn.ops.graph import edge_keys
    ref = shop_reference
    assert ref.task == "rec" and len(ref.models) == 2
    keys = torch.sort(edge_keys(shop.train_pos_edge_index, shop.num_nodes)).values
    assert torch.equal(ref.all_keys, keys) and 0.4 < float(ref.fold_of_key.float().mean()) < 0.6
    df = matchable(shop_task.df_edge_index, untrained_rows(shop_task))
    held = HeldOutInteractions(shop_task.retained_data, df, torch.Generator().manual_seed(0))
    levels = ref.pair_levels(held, df)
    assert levels.shape == (df.size(1),) and bool(((levels >= 0) & (levels <= 1)).all())
    # each pair's level is read from the reference that did not train on it
    fold = ref.fold_of(df)
    assert 0 < int(fold.sum()) < df.size(1)
    z = embeddings(ref.models[1], shop_task.retained_data)
    one = int((fold == 1).nonzero()[0])
    from gnn_unlearn.methods.stopping import weighted_cdf
    expect = weighted_cdf(held.percentiles(z, df[:, one:one + 1]).float(), held.percentiles(z, held.reference).float(),
                          held.weights.float())
    assert torch.allclose(levels[one:one + 1].float(), expect, atol=1e-6)
    # the targets follow the levels' order, not the original's
    z0 = embeddings(shop_model, shop_task.retained_data)
    df_pct, ref_pct = held.percentiles(z0, df), held.percentiles(z0, held.reference)
    target = held.target_percentiles(df_pct, ref_pct, levels)
    assert bool((torch.diff(target[torch.argsort(levels, stable=True)]) >= 0).all())
    plain = held.target_percentiles(df_pct, ref_pct)
    assert not torch.equal(target, plain)


@pytest.mark.parametrize("method", ["reverse_bpr", "unlearnrec"])
def test_rec_methods_with_the_reference_still_land_on_the_held_out_reference(method, shop_model, shop_task,
                                                                            shop_reference, tmp_path):
    before = param_hash(shop_model)
    result = unlearn(shop_model, shop_task, method, reference=shop_reference, **FAST[method])
    assert param_hash(shop_model) == before
    end = _excess(result.model, shop_task)
    assert end[1] > 0.45 and end[0] < _excess(shop_model, shop_task)[0] / 2
    plain = unlearn(shop_model, shop_task, method, **FAST[method])
    assert param_hash(plain.model) != param_hash(result.model)         # the reference changed the targets
    path = tmp_path / "shop_ref.pt"
    shop_reference.save(path)
    by_path = unlearn(shop_model, shop_task, method, reference=str(path), **FAST[method])
    assert param_hash(by_path.model) == param_hash(result.model)


def test_rec_reference_refusals(shop_model, shop_task, shop_reference, cora_gcn, cora_task):
    from gnn_unlearn.methods import HeldOutReference
    with pytest.raises(ValueError, match="refine target='matched'"):
        unlearn(shop_model, shop_task, "reverse_bpr", reference=shop_reference, target="published")
    with pytest.raises(ValueError, match="fit on a 'rec' model"):
        unlearn(cora_gcn, cora_task, "gnndelete", reference=shop_reference)
    with pytest.raises(ValueError, match="a link reference gives levels"):
        HeldOutReference([cora_gcn], shop_reference.fold_of_key,
                         shop_reference.all_keys, 10, 0).pair_levels(None, shop_task.df_edge_index)
    with pytest.raises(ValueError, match="recommender's reference gives pair_levels"):
        shop_reference.levels(shop_task)
    from gnn_unlearn.methods.rec_common import HeldOutInteractions
    held = HeldOutInteractions(shop_task.retained_data, shop_task.df_edge_index, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="not training interactions"):
        shop_reference.pair_levels(held, shop_task.data.val_pos_edge_index[:, :5])
