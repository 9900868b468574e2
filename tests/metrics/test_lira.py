"""LiRA on deleted edges: tells the original from retraining at low FPR; options checked first."""
import json

import pytest
import torch

from gnn_unlearn.cli import main
from gnn_unlearn.data import link_split, load_dataset, sample_edges
from gnn_unlearn.methods import unlearn
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.metrics.lira import LiRA, gaussian_fit, tpr_at_fpr
from gnn_unlearn.training import TrainConfig, train
from tests.conftest import param_hash


def test_tpr_at_fpr_thresholds_on_the_negatives():
    neg = torch.arange(200.0)                      # 1 % of 200: at most 2 negatives above
    pos = torch.tensor([196.5, 197.5, 198.5, 250.0])
    assert tpr_at_fpr(pos, neg, 0.01) == 0.75      # threshold 197: only 198, 199 exceed it
    assert tpr_at_fpr(pos, neg, 0.001) == 0.25     # fewer than 1/0.001 negatives: above them all
    with pytest.raises(ValueError, match="fpr must lie"):
        tpr_at_fpr(pos, neg, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        tpr_at_fpr(pos[:0], neg, 0.01)


def test_gaussian_fit_per_target_and_pooled():
    logits = torch.tensor([[0.0, 10.0], [2.0, 14.0], [4.0, 0.0]], dtype=torch.double)
    member = torch.tensor([[True, True], [True, True], [False, False]])
    mu, sd = gaussian_fit(logits, member, pooled=False)
    assert torch.allclose(mu, torch.tensor([1.0, 12.0], dtype=torch.double))
    assert torch.allclose(sd ** 2, torch.tensor([2.0, 8.0], dtype=torch.double))
    _, sd_pooled = gaussian_fit(logits, member, pooled=True)
    assert torch.allclose(sd_pooled ** 2, torch.full((2,), 5.0, dtype=torch.double))


@pytest.mark.parametrize("options, err, msg", [
    ({"shadows": 3}, ValueError, "shadows=3 is too few for the online variant"),
    ({"shadows": True}, TypeError, "shadows=True has type bool"),
    ({"shadows": 1, "variant": "offline"}, ValueError, "shadows=1 is out of range; it must be >= 2"),
    ({"variant": "both"}, ValueError, r"variant='both' is not one of \('online', 'offline'\)"),
    ({"variance": "local"}, ValueError, "variance='local' is not one of"),
    ({"epochs": 0}, ValueError, "epochs=0 is out of range")])
def test_bad_lira_options_are_refused_before_any_work(options, err, msg, cora_gcn, cora_task, monkeypatch):
    import gnn_unlearn.evaluation as report
    result = unlearn(cora_gcn, cora_task, "utu")
    monkeypatch.setattr(report, "unlearn", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(err, match=msg):
        evaluate(result, cora_task, mia=False, attacks=["lira"], attack_params={"lira": options})


def _power(original, task, retrained, **options):
    before = param_hash(original), param_hash(retrained)
    attack = LiRA(**options)
    attack.prepare(task, original, retrained)
    rows = {"original": attack.score(original, task.data, True),
            "retrain": attack.score(retrained, task.retained_data, False)}
    assert (param_hash(original), param_hash(retrained)) == before
    return attack, rows


def test_lira_tells_the_original_from_retraining_on_cora(cora_gcn, cora_task, cora_retrained):
    # 4 shadows of 100 epochs keep this in CI time; the full recipe is in the slow test below
    attack, rows = _power(cora_gcn, cora_task, cora_retrained.model, seed=0, shadows=4, epochs=100)
    assert attack.num_positives == int(cora_task.df_mask.sum()) and attack.num_negatives == 263
    assert attack.shadow_auc > 0.7                     # the attack's own held-out power
    orig, re = rows["original"], rows["retrain"]
    assert orig["lira_auc"] > 0.8 and abs(re["lira_auc"] - 0.5) < 0.12
    assert orig["lira_tpr_1"] > re["lira_tpr_1"] + 0.05
    assert re["lira_tpr_1"] <= 0.05                     # near the FPR: Df looks never-seen


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("variant", ["online", "offline"])
def test_lira_power_over_seeds_with_the_full_recipe(seed, variant, mirror, cache_root):
    data = link_split(load_dataset("Cora", root=cache_root, mirror=mirror), seed=seed)
    original, _ = train(data, "link", TrainConfig(seed=seed), encoder="gcn")
    task = sample_edges(data, 0.025, where="in", seed=seed).resolve(data, num_hops=2)
    retrained = unlearn(original, task, "retrain").model
    _, rows = _power(original, task, retrained, seed=seed, shadows=8, variant=variant)
    orig, re = rows["original"], rows["retrain"]
    assert orig["lira_auc"] > 0.8 and abs(re["lira_auc"] - 0.5) < 0.12
    assert orig["lira_tpr_1"] > re["lira_tpr_1"] + 0.05


def test_lira_and_retrain_seeds_from_the_cli(tmp_path, capsys):
    ckpt, unl = str(tmp_path / "orig.pt"), str(tmp_path / "unl.pt")
    assert main(["train", "--num-nodes", "300", "--epochs", "30", "--output", ckpt]) == 0
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "gradient_ascent", "--df-size", "0.05",
                 "--params", '{"epochs": 5}', "--output", unl]) == 0
    assert main(["evaluate", "--unlearned", unl, "--no-mia", "--attacks", "lira", "--attack-params",
                 '{"lira": {"shadows": 2, "variant": "offline"}}', "--retrain-seeds", "3",
                 "--output", str(tmp_path / "ev")]) == 0
    report = json.loads((tmp_path / "ev" / "evaluate.json").read_text())
    assert [r["model"] for r in report["rows"]] == ["original", "retrain", "retrain#1", "retrain#2",
                                                    "retrain#3", "gradient_ascent"]
    for row in report["rows"]:
        assert 0.0 <= row["lira_tpr_1"] <= 1.0 and 0.0 <= row["lira_auc"] <= 1.0
        assert row["df_distance"] > 0
        if row["model"].startswith("retrain#"):       # 3 retrains: 2 others make no null for one
            assert row["df_distance_p"] is None and row["outside_spread"] == "none"
        else:
            assert 0.0 <= row["df_distance_p"] <= 1.0
    assert report["meta"]["attacks"]["lira"]["shadows"] == 2
    assert "LiRA TPR@0.1%FPR" in (tmp_path / "ev" / "evaluate.md").read_text()
    assert main(["evaluate", "--unlearned", unl, "--no-mia", "--attacks", "lira", "--attack-params",
                 '{"lira": {"variant": "x"}}']) == 2
    assert "variant='x' is not one of ('online', 'offline')" in capsys.readouterr().err


@pytest.mark.slow
def test_lira_on_deleted_training_nodes(mirror, cache_root):
    from gnn_unlearn.data import node_split, sample_nodes
    data = node_split(load_dataset("Cora", root=cache_root, mirror=mirror), seed=0, use_public=False)
    original, _ = train(data, "node", TrainConfig(seed=0), encoder="gcn")
    task = sample_nodes(data, 0.05, among=data.train_mask, seed=0).resolve(data, num_hops=2)
    retrained = unlearn(original, task, "retrain").model
    attack, rows = _power(original, task, retrained, seed=0, shadows=4)
    assert attack.num_positives == int((task.deleted_nodes & data.train_mask).sum())
    orig, re = rows["original"], rows["retrain"]      # measured: TPR@1% 0.47 vs 0.07, AUC 0.75 vs 0.38
    assert orig["lira_tpr_1"] > re["lira_tpr_1"] + 0.2 and orig["lira_auc"] > re["lira_auc"] + 0.2
