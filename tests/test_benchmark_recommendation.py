import json

import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def rec():
    return load_benchmark("recommendation")


@pytest.fixture()
def no_training(rec, monkeypatch):
    """Any training makes the test fail: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    monkeypatch.setattr(rec, "train", refuse)


@pytest.mark.parametrize("argv, says", [
    (["--retrain-seeds", "2"], "--retrain-seeds: retrain_seeds must be 1 (one retrain) or an int >= 3"),
    (["--retrain-seeds", "0"], "--retrain-seeds: retrain_seeds must be 1 (one retrain) or an int >= 3"),
    (["--methods", "gnndelete"], "does not serve rec models"),
    (["--methods", "nosuch"], "unknown method 'nosuch'"),
    (["--methods", "retrain,reverse_bpr"], "leave out 'retrain'"),
    (["--methods", "reverse_bpr,reverse_bpr"], "methods must be distinct"),
    (["--requests", "users0"], "usersN needs a whole number of users N >= 1"),
    (["--requests", "0.01,1.5"], "give a share of the training interactions in (0, 1)"),
    (["--requests", "abc"], "give a share of the training interactions in (0, 1)"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--pretrain-steps", "0"], "--pretrain-steps must be >= 1"),
    (["--steps", "0"], "TrainConfig.epochs must be a positive int"),
    (["--lr", "-1"], "lr > 0"),
    (["--reference-folds", "1"], "--reference-folds must be >= 2"),
    (["--datasets", "nosuch"], "unknown dataset 'nosuch'"),
    (["--datasets", "synthetic"], "'synthetic' is not a user-item graph"),
])
def test_bad_options_are_refused_before_any_training(rec, no_training, tmp_path, capsys, argv, says):
    assert says in refused(rec.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_a_request_larger_than_the_data_is_refused_before_training(rec, no_training, mirror, cache_root,
                                                                    monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    with pytest.raises(SystemExit):
        rec.main(["--datasets", "lastfm", "--root", cache_root, "--requests", "0.01,users100000",
                  "--output", str(tmp_path)])
    assert "cannot sample 100000 of 1885 users with interactions" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_short_run_writes_its_table(rec, mirror, cache_root, monkeypatch, tmp_path):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    rec.main(["--datasets", "lastfm", "--root", cache_root, "--requests", "0.01", "--methods", "reverse_bpr",
              "--steps", "4", "--eval-every", "2", "--pretrain-steps", "1", "--output", str(tmp_path),
              "--name", "short"])
    rows = json.loads((tmp_path / "short.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["original", "retrain", "reverse_bpr"]
    assert all(r["request"] == "0.01" and r["removed"] > 0 for r in rows)
    assert "### lastfm: 1% of interactions" in (tmp_path / "short.md").read_text()
