import math

import pytest
import torch

from gnn_unlearn.metrics import accuracy, auroc_aupr, link_auc, macro_f1


def test_auroc_aupr_hand_computed():
    out = auroc_aupr(torch.tensor([0.9, 0.4]), torch.tensor([0.5, 0.1]))
    assert out["auroc"] == pytest.approx(3 / 4)                 # 3 of 4 pos/neg pairs ordered
    assert out["aupr"] == pytest.approx((1 + 2 / 3) / 2)         # precision at each positive
    perfect = auroc_aupr(torch.tensor([3.0, 2.0]), torch.tensor([1.0, 0.0]))
    assert perfect == {"auroc": 1.0, "aupr": 1.0}
    with pytest.raises(ValueError, match="at least one"):
        auroc_aupr(torch.tensor([]), torch.tensor([1.0]))


def test_accuracy_and_macro_f1_hand_computed():
    y = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 1, 1, 1])
    assert accuracy(pred, y) == 0.75
    assert macro_f1(pred, y) == pytest.approx((2 / 3 + 0.8) / 2)
    assert math.isnan(accuracy(torch.tensor([]), torch.tensor([])))


def test_trained_model_scores_well_on_cora(cora_gcn, cora_link):
    out = link_auc(cora_gcn, cora_link, cora_link.test_pos_edge_index, cora_link.test_neg_edge_index)
    assert out["auroc"] > 0.88


@pytest.mark.parametrize("m, k", [(1000, 30), (3 << 20, 2000)])
def test_random_subsets_are_distinct_and_uniform(m, k):
    """Both draws (one permutation per draw; distinct uniform ids beyond PERMUTATION_LIMIT)
    give k distinct ids per row and cover every part of range(m) alike."""
    from gnn_unlearn.metrics.link import PERMUTATION_LIMIT, random_subsets
    assert (m > PERMUTATION_LIMIT) == (k == 2000)
    idx = random_subsets(m, k, 200, torch.Generator().manual_seed(0))
    assert idx.shape == (200, k) and int(idx.min()) >= 0 and int(idx.max()) < m
    assert all(row.unique().numel() == k for row in idx)
    counts = torch.bincount(idx.reshape(-1) * 10 // m, minlength=10).double()
    expected = 200 * k / 10
    assert float((counts - expected).abs().max()) < 6 * math.sqrt(expected)
    again = random_subsets(m, k, 200, torch.Generator().manual_seed(0))
    assert torch.equal(idx, again)


def test_deleted_vs_retained_auc_on_many_retained_items_matches_the_population():
    """Past PERMUTATION_LIMIT retained items, the mean over draws still estimates the
    Mann-Whitney statistic against all retained items."""
    from gnn_unlearn.metrics.link import deleted_vs_retained_auc
    g = torch.Generator().manual_seed(0)
    retained = torch.rand(3 << 20, generator=g)
    deleted = torch.rand(1000, generator=g) * 0.8           # deleted scores lower on average
    exact = float((torch.searchsorted(torch.sort(deleted)[0], retained).double()).mean() / 1000)
    est = deleted_vs_retained_auc(deleted, retained, draws=50, generator=g)
    assert abs(est - exact) < 0.01 and exact > 0.55
