"""The recommenders' fidelity target: held-out rank quantiles, untrained rows, the stop."""
import pytest
import torch

from gnn_unlearn.data import sample_interactions, sample_users
from gnn_unlearn.methods.rec_common import (HeldOutInteractions, RankMonitor, matchable, reset_untrained,
                                            untrained_embeddings, untrained_rows)
from gnn_unlearn.metrics.rec import embeddings
from gnn_unlearn.models.lightgcn import INIT_STD


def test_target_percentiles_transport_removed_onto_reference(shop):
    task = sample_interactions(shop, 0.05, seed=0).resolve(shop)
    held = HeldOutInteractions(task.retained_data, task.df_edge_index, torch.Generator().manual_seed(0))
    k = task.df_edge_index.size(1)
    g = torch.Generator().manual_seed(1)
    df_pct = torch.rand(k, generator=g, dtype=torch.double) * 0.01           # all near the top
    ref_pct = torch.rand(held.reference.size(1), generator=g, dtype=torch.double)
    held.weights = torch.ones_like(held.weights)
    target = held.target_percentiles(df_pct, ref_pct)
    # order kept: the best-ranked removed pair gets the smallest reference quantile ...
    assert bool((torch.diff(target[torch.argsort(df_pct)]) >= 0).all())
    # ... and the targets are distributed like the reference (quantile by quantile)
    qs = torch.tensor([0.1, 0.5, 0.9], dtype=torch.double)
    assert torch.allclose(torch.quantile(target, qs), torch.quantile(ref_pct, qs), atol=0.05)
    assert held.excess(df_pct, ref_pct)[0] > 5                  # far above the reference: not matched
    assert held.excess(target, ref_pct)[0] <= 0                 # on it: matched


def test_reference_weights_follow_the_removed_items_popularity(shop):
    task = sample_interactions(shop, 0.05, seed=0).resolve(shop)
    held = HeldOutInteractions(task.retained_data, task.df_edge_index, torch.Generator().manual_seed(0))
    from gnn_unlearn.methods.rec_common import item_bins
    b_df, b_ref = item_bins(task.retained_data, task.df_edge_index), item_bins(task.retained_data, held.reference)
    size = int(torch.cat([b_df, b_ref]).max()) + 1
    share_df = torch.bincount(b_df, minlength=size).float() / b_df.numel()
    share_ref = torch.zeros(size).index_add_(0, b_ref, held.weights) / held.weights.sum()
    covered = torch.bincount(b_ref, minlength=size) > 0
    assert torch.allclose(share_ref[covered] / share_ref[covered].sum(),
                          share_df[covered] / share_df[covered].sum(), atol=1e-5)


def _copy(model, shop):
    twin = type(model)(shop.num_users, shop.num_items)
    twin.load_state_dict(model.state_dict())
    return twin


def test_untrained_rows_are_the_rows_left_without_interactions(shop, shop_model):
    task = sample_users(shop, 5, seed=0).resolve(shop)
    rows = untrained_rows(task)
    users = torch.unique(task.df_edge_index[0])
    assert bool(rows[users].all())
    deg = torch.bincount(task.retained_data.train_pos_edge_index.reshape(-1), minlength=shop.num_nodes)
    assert bool((deg[rows] == 0).all())
    assert matchable(task.df_edge_index, rows).size(1) == 0      # every removed pair lost its user
    model = _copy(shop_model, shop)
    assert torch.equal(reset_untrained(model, task, torch.Generator().manual_seed(0)), rows)
    fresh = model.embedding.weight[users]
    assert not torch.equal(fresh, shop_model.embedding.weight[users])
    assert torch.equal(model.embedding.weight[~rows], shop_model.embedding.weight[~rows])
    assert 0.6 * INIT_STD < float(fresh.detach().std()) < 1.5 * INIT_STD   # a user keeps its initial draw
    again = _copy(shop_model, shop)
    reset_untrained(again, task, torch.Generator().manual_seed(0))
    assert torch.equal(again.embedding.weight, model.embedding.weight)      # seeded


def test_items_left_without_interactions_are_drawn_like_cold_items(shop, shop_model):
    """Retraining still samples such an item as a negative: it ends like the catalogue's items
    that never had a training interaction, not like a fresh initialisation."""
    task = sample_users(shop, 40, seed=1).resolve(shop)
    rows = untrained_rows(task)
    items = rows.clone()
    items[:shop.num_users] = False
    assert int(items.sum()) > 0
    e0 = shop_model.embedding.weight.detach()
    deg = torch.bincount(shop.train_pos_edge_index.reshape(-1), minlength=shop.num_nodes)
    cold = deg == 0
    cold[:shop.num_users] = False
    assert int(cold.sum()) >= 2
    got_rows, values = untrained_embeddings(e0, task, torch.Generator().manual_seed(0), min_cold=2)
    item_values = values[items[got_rows]]
    cold_mean = e0[cold].mean(0)
    assert float((item_values.mean(0) - cold_mean).norm()) < 0.25 * float(cold_mean.norm())
    assert abs(float(item_values.norm(dim=1).mean()) / float(e0[cold].norm(dim=1).mean()) - 1) < 0.2
    _, plain = untrained_embeddings(e0, task, torch.Generator().manual_seed(0), min_cold=10 ** 6)
    assert 0.6 * INIT_STD < float(plain[items[got_rows]].std()) < 1.5 * INIT_STD   # too few cold items


def test_monitor_refuses_bad_options(shop):
    task = sample_interactions(shop, 0.05, seed=0).resolve(shop)
    with pytest.raises(ValueError, match="target must be one of"):
        RankMonitor(task, torch.Generator(), target="lowest")
    with pytest.raises(ValueError, match="nothing to rank"):
        RankMonitor(task, torch.Generator(), pairs=task.df_edge_index[:, :0])
    no_val = task.retained_data.clone()
    no_val.val_pos_edge_index = no_val.val_pos_edge_index[:, :0]
    with pytest.raises(ValueError, match="needs validation interactions"):
        HeldOutInteractions(no_val, task.df_edge_index, torch.Generator())


def test_original_model_ranks_removed_pairs_above_the_reference(shop, shop_model):
    """The statistic the stop uses tells a model that trained on the removed pairs."""
    task = sample_interactions(shop, 0.05, seed=0).resolve(shop)
    monitor = RankMonitor(task, torch.Generator().manual_seed(0))
    assert monitor.check(shop_model) is None
    assert monitor.last["excess"] > 0 and monitor.last["separation"] > 0.55
    z = embeddings(shop_model, task.retained_data)
    targets = monitor.score_targets(z)
    assert targets.shape == monitor.df[0].shape
    now = shop_model.decode(z, monitor.df)
    assert float(targets.mean()) < float(now.mean())          # the targets lie below the trained scores
