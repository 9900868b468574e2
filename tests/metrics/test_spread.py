"""Retrain-spread test: the original falls outside the spread of retrains, retrains do not."""
import json

import pytest
import torch

from gnn_unlearn.cli import main
from gnn_unlearn.data import link_split, load_dataset, sample_edges
from gnn_unlearn.experiment import aggregate
from gnn_unlearn.methods import unlearn
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.metrics.spread import (leave_one_out_distances, leave_one_out_statistics,
                                        model_distance, model_statistics, outside_spread, predictive_p)
from gnn_unlearn.training import TrainConfig, train


def test_distance_calibrates_a_fresh_draw_and_flags_a_shift():
    g = torch.Generator().manual_seed(0)
    centre = torch.randn(200, generator=g, dtype=torch.double) * 3
    draws = centre + torch.randn(9, 200, generator=g, dtype=torch.double)
    retrains, fresh = draws[:8], draws[8]
    null = leave_one_out_distances(retrains).tolist()
    assert all(0.5 < d < 2.0 for d in null)            # about 1 + 1/(K-1) for a fresh draw
    assert predictive_p(model_distance(fresh, retrains), null) > 0.05
    shifted = fresh + 1.0
    assert predictive_p(model_distance(shifted, retrains), null) < 1e-3
    null_dist, null_shift = leave_one_out_statistics(retrains)
    assert torch.allclose(null_dist, torch.tensor(null, dtype=torch.double))
    fresh_shift, far_shift = model_statistics(fresh, retrains)[1], model_statistics(shifted, retrains)[1]
    assert predictive_p(fresh_shift, null_shift.tolist(), log=False, two_sided=True) > 0.05
    assert far_shift > 0.9 and predictive_p(far_shift, null_shift.tolist(), log=False, two_sided=True) < 1e-3
    assert predictive_p(-far_shift, null_shift.tolist(), log=False, two_sided=True) < 1e-3
    with pytest.raises(ValueError, match="at least 3 retrains"):
        leave_one_out_distances(retrains[:2])
    with pytest.raises(ValueError, match="scores"):
        model_distance(fresh[:10], retrains)
    assert predictive_p(1.0, [1.0]) != predictive_p(1.0, [1.0])   # NaN: one null value is no null


def test_outside_spread():
    assert outside_spread(0.2, [0.3, 0.5]) and outside_spread(0.6, [0.3, 0.5])
    assert not outside_spread(0.3, [0.3, 0.5]) and not outside_spread(float("nan"), [0.3, 0.5])
    assert not outside_spread(0.9, [float("nan")])


@pytest.mark.parametrize("k", [0, 2, True, "3", 2.0])
def test_bad_retrain_seeds_are_refused_before_any_work(k, cora_gcn, cora_task, monkeypatch):
    import gnn_unlearn.evaluation as report
    result = unlearn(cora_gcn, cora_task, "utu")
    monkeypatch.setattr(report, "unlearn", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ValueError, match="retrain_seeds must be 1"):
        evaluate(result, cora_task, mia=False, retrain_seeds=k)
    with pytest.raises(ValueError, match="keep 'retrain' in against"):
        evaluate(result, cora_task, mia=False, retrain_seeds=3, against=("original",))


def _check_power(report, original_seed):
    rows = {r["model"]: r for r in report.rows}
    retrains = [n for n in rows if n.startswith("retrain#")]
    spread = report.meta["retrain_spread"]
    assert len(retrains) == len(spread["seeds"]) == len(set(spread["seeds"]))
    assert original_seed not in spread["seeds"]       # independent of the original's initial weights
    orig = rows["original"]
    # the original still scores its deleted edges as trained: a large positive shift
    assert orig["df_shift"] > 3 * max(abs(v) for v in spread["null_shifts"]) and orig["df_shift"] > 1
    assert orig["df_shift_p"] < 0.01 and "Df shift" in orig["outside_spread"]
    # the unsigned distance is the weaker test: measured p 0.12 with 3 retrains (seed 0), and with
    # 5 retrains below 0.01 on seeds 0 and 1 but not 2; it must still exceed every retrain's
    assert orig["df_distance"] > max(spread["null_distances"])
    assert "Df AUROC (library)" in orig["outside_spread"] and orig["n_outside"] >= 2
    for n in retrains:                # leave-one-out, tested as a method would be: they pass
        assert rows[n]["df_distance_p"] > 0.01 and rows[n]["df_shift_p"] > 0.01
        assert rows[n]["outside_spread"] == "none"
    return rows


def test_spread_tells_the_original_from_retraining_on_cora(cora_gcn, cora_task, cora_retrained):
    ga = unlearn(cora_gcn, cora_task, "gradient_ascent")
    report = evaluate([ga], cora_task, retrained=cora_retrained, mia=False, retrain_seeds=4)
    rows = _check_power(report, 0)
    assert [r["model"] for r in report.rows] == ["original", "retrain", "retrain#1", "retrain#2",
                                                 "retrain#3", "retrain#4", "gradient_ascent"]
    assert report.meta["retrain_spread"]["seeds"] == [1, 2, 3, 4]
    assert rows["retrain"]["dt_auroc"] == pytest.approx(
        evaluate([cora_retrained], cora_task, mia=False).row("retrain")["dt_auroc"])
    assert "Df distance to retrains" in report.to_markdown()
    agg = {r["model"]: r for r in aggregate([report, report])}
    assert agg["original"]["df_distance"] == pytest.approx(rows["original"]["df_distance"])
    assert "outside_spread" not in agg["original"]          # a list of names does not average


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_spread_power_over_seeds(seed, mirror, cache_root):
    data = link_split(load_dataset("Cora", root=cache_root, mirror=mirror), seed=seed)
    original, _ = train(data, "link", TrainConfig(seed=seed), encoder="gcn")
    task = sample_edges(data, 0.025, where="in", seed=seed).resolve(data, num_hops=2)
    ga = unlearn(original, task, "gradient_ascent")
    _check_power(evaluate([ga], task, mia=False, retrain_seeds=5, seed=seed), seed)


def test_benchmark_with_retrain_seeds_from_the_cli(tmp_path, capsys):
    assert main(["benchmark", "--datasets", "synthetic", "--epochs", "20", "--seeds", "1", "--wheres", "in",
                 "--retrain-seeds", "3", "--no-mia", "--output", str(tmp_path), "--name", "g"]) == 0
    block = json.loads((tmp_path / "g.json").read_text())["blocks"][0]
    assert [r["model"] for r in block["rows"]] == ["original", "retrain", "retrain#1", "retrain#2",
                                                   "retrain#3", "gradient_ascent"]
    assert "df_distance_p" in block["attack_columns"] and "retrain spread" in block["attack_notes"]
    assert "Df distance p" in (tmp_path / "g.md").read_text()
    assert main(["benchmark", "--datasets", "synthetic", "--retrain-seeds", "2", "--output",
                 str(tmp_path), "--name", "h"]) == 2
    assert "retrain_seeds must be 1" in capsys.readouterr().err


@pytest.mark.slow
def test_spread_on_deleted_training_nodes(cora):
    from gnn_unlearn.data import node_split, sample_nodes
    data = node_split(cora, seed=0, use_public=False)
    original, _ = train(data, "node", TrainConfig(seed=0, epochs=100), encoder="gcn")
    task = sample_nodes(data, 0.05, among=data.train_mask, seed=0).resolve(data, num_hops=2)
    report = evaluate([unlearn(original, task, "retrain")], task, mia=False, retrain_seeds=5)
    rows = {r["model"]: r for r in report.rows}
    assert list(rows) == ["original", "retrain"] + [f"retrain#{i}" for i in range(1, 6)]
    assert report.meta["retrain_spread"]["measures"] == ["test_acc", "deleted_acc", "deleted_id_auc"]
    # trained on them, the original is more sure of the deleted nodes' labels than any retrain
    assert rows["original"]["df_shift"] > 1 and rows["original"]["df_shift_p"] < 0.01
    assert all(rows[n]["outside_spread"] == "none" for n in list(rows)[2:])
