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
