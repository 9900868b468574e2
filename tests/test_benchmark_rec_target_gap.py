"""benchmarks/rec_target_gap.py: bad options are refused before training; a short run ranks the
removed interactions as the evaluation does."""
import json

import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def gap():
    return load_benchmark("rec_target_gap")


@pytest.fixture()
def no_training(gap, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    monkeypatch.setattr(gap, "train", refuse)


@pytest.mark.parametrize("argv, says", [
    (["--dataset", "nosuch"], "--dataset: unknown dataset 'nosuch'"),
    (["--dataset", "synthetic"], "'synthetic' is not a user-item graph"),
    (["--request", "1.5"], "--request is a share of the training interactions in (0, 1)"),
    (["--steps", "0"], "TrainConfig.epochs must be a positive int"),
    (["--name", ""], "--name must not be empty"),
])
def test_bad_options_are_refused_before_any_training(gap, no_training, tmp_path, capsys, argv, says):
    assert says in refused(gap.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_a_short_run_ranks_the_removed_interactions_as_the_evaluation_does(gap, lastfm, monkeypatch, tmp_path):
    from gnn_unlearn.data import sample_interactions
    from gnn_unlearn.metrics.rec import evaluate_recommender

    monkeypatch.setattr(gap, "load_datasets", lambda names, *a, **k: {names[0]: lastfm})
    gap.main(["--dataset", "lastfm", "--steps", "20", "--eval-every", "10", "--batch-size", "4096",
              "--output", str(tmp_path), "--name", "gap"])
    rows = json.loads((tmp_path / "gap.json").read_text())["rows"]
    assert [r["count"] for r in rows][0] == round(0.01 * lastfm.train_pos_edge_index.size(1))
    assert all(0 <= r["rank_pct"] <= 1 and 0 <= r["hit@20"] <= 1 for r in rows)
    # the removed pairs' rank_pct is the evaluation's, on the same retrained model
    from gnn_unlearn import TrainConfig, train
    task = sample_interactions(lastfm, 0.01, seed=0).resolve(lastfm)
    model, _ = train(task.retained_data, "rec", TrainConfig(epochs=20, lr=0.01, batch_size=4096, eval_every=10,
                                                            patience=150, seed=0))
    assert rows[0]["rank_pct"] == pytest.approx(evaluate_recommender(model, task, mia=False)["rank_pct"])
