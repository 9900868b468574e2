"""evaluate(): named Df protocols, fixed negatives, one row per configuration."""
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from gnn_unlearn.data import sample_edges
from gnn_unlearn.data.samplers import near_test_edges
from gnn_unlearn.methods import unlearn
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.metrics import DF_PROTOCOLS, gnndelete_df_auc
from gnn_unlearn.ops.negative import negative_pairs


def test_gnndelete_df_auc_equals_the_reference_loop():
    """The vectorised mean equals sklearn's AUROC on the same draws, ties included."""
    g = torch.Generator().manual_seed(0)
    df = torch.randn(30, generator=g)
    dr = torch.cat([torch.randn(200, generator=g) + 0.5, torch.full((20,), 40.0)])  # saturated ties
    df[:3] = 50.0
    ours = gnndelete_df_auc(df, dr, draws=50, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    neg = torch.sigmoid(df).tolist()
    aucs = []
    for _ in range(50):
        idx = torch.randperm(dr.numel(), generator=g)[:df.numel()]
        pos = torch.sigmoid(dr[idx]).tolist()
        aucs.append(roc_auc_score([0] * len(neg) + [1] * len(pos), neg + pos))
    assert ours == pytest.approx(float(np.mean(aucs)), abs=1e-12)
    with pytest.raises(ValueError, match="only 2 remain"):
        gnndelete_df_auc(df, dr[:2])
    with pytest.raises(ValueError, match="draws"):
        gnndelete_df_auc(df, dr, draws=0)


def test_gnndelete_region_is_the_reference_codes(cora_link):
    """'gnndelete' region = PyG k_hop_subgraph over one-direction pairs; smaller than ours."""
    ours = near_test_edges(cora_link, 2, "library")
    ref = near_test_edges(cora_link, 2, "gnndelete")
    assert int(ref.sum()) < 0.7 * int(ours.sum())
    assert not bool((ref & ~ours).any())        # the one-direction region is inside ours
    with pytest.raises(ValueError, match="region"):
        near_test_edges(cora_link, 2, "paper")
    a = sample_edges(cora_link, 20, where="in", seed=0, region="gnndelete")
    idx = a.resolve(cora_link).df_mask
    assert bool(ref[idx].all())


def test_evaluate_names_protocols_and_rows(cora_gcn, cora_task, cora_retrained, cora_link):
    a = unlearn(cora_gcn, cora_task, "gradient_ascent", lr=1e-3, epochs=3)
    b = unlearn(cora_gcn, cora_task, "gradient_ascent", lr=1e-2, epochs=3)
    neg = negative_pairs(cora_link, int(cora_task.df_mask.sum()), torch.Generator().manual_seed(5))
    rep = evaluate([cora_retrained, a, b], cora_task, mia=False, df_negatives=neg)
    names = [r["model"] for r in rep.rows]
    assert names == ["original", "retrain", "gradient_ascent(lr=0.001)", "gradient_ascent(lr=0.01)"]
    assert rep.meta["protocols"] == DF_PROTOCOLS and rep.meta["df_negatives"] == "given"
    md = rep.to_markdown()
    assert "Df AUROC (library)" in md and "Df AUC (GNNDelete)" in md
    orig, retrain = rep.row("original"), rep.row("retrain")
    # GNNDelete's Df: the original cannot tell deleted from retained edges (both trained on) ...
    assert 0.35 < orig["df_auc_gnndelete"] < 0.65
    # ... while after retraining the deleted edges score below retained ones
    assert retrain["df_auc_gnndelete"] > orig["df_auc_gnndelete"] + 0.1
    # the library's Df: deleted edges vs non-edges drops after retraining
    assert retrain["df_auroc"] < orig["df_auroc"]
    # fixed negatives make the library Df reproducible across calls; labels are honoured
    again = evaluate([cora_retrained, a], cora_task, mia=False, df_negatives=neg, against=("retrain",),
                     labels=["retrain", "ga small lr"], protocols=("library",))
    assert again.row("retrain")["df_auroc"] == retrain["df_auroc"]
    assert "df_auc_gnndelete" not in again.row("ga small lr")
    with pytest.raises(ValueError, match="distinct"):
        evaluate([a, b], cora_task, mia=False, labels=["x", "x"], retrained=cora_retrained)
    with pytest.raises(ValueError, match="protocols"):
        evaluate(a, cora_task, mia=False, protocols=("paper",), retrained=cora_retrained)
    with pytest.raises(ValueError, match="non-edges"):
        evaluate(a, cora_task, mia=False, retrained=cora_retrained,
                 df_negatives=cora_link.train_pos_edge_index[:, :neg.size(1)])


def test_deleted_node_identification_separates_original_from_retrain(cora):
    """Deleted training nodes look like retained ones to the original (both trained on) and
    less confident than them after retraining: the measure has power on Cora."""
    from gnn_unlearn import DeletionRequest, TrainConfig, train
    from gnn_unlearn.data import node_split
    data = node_split(cora, train_ratio=0.6, val_ratio=0.2, use_public=False, seed=0)
    model, _ = train(data, "node", TrainConfig(epochs=100, eval_every=100, patience=10 ** 6, seed=0))
    train_ids = data.train_mask.nonzero().view(-1)
    gaps = []
    for seed in (0, 1):
        ids = train_ids[torch.randperm(train_ids.numel(), generator=torch.Generator().manual_seed(seed))[:80]]
        task = DeletionRequest.nodes(ids).resolve(data)
        retrained = unlearn(model, task, "retrain", epochs=100, patience=10 ** 6, eval_every=100)
        rep = evaluate(retrained, task, mia=False, seed=seed)
        orig, ret = rep.row("original")["deleted_id_auc"], rep.row("retrain")["deleted_id_auc"]
        assert 0.3 < orig < 0.7, orig
        gaps.append(ret - orig)
    assert min(gaps) > 0.1, gaps
    assert "deleted-node id AUC" in rep.to_markdown()
