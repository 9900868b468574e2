"""benchmarks/influence_kinds.py refuses bad datasets before any training, each with what was wrong."""
import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("influence_kinds")


@pytest.fixture()
def no_training(bench, monkeypatch, cache_root):
    """Any training or unlearning makes the test fail: a refusal must come before the work starts.
    Datasets are cached under the test session's folder."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    monkeypatch.setattr(bench, "train", refuse)
    monkeypatch.setattr(bench, "unlearn", refuse)
    monkeypatch.setenv("GNN_UNLEARN_CACHE", cache_root)


@pytest.mark.parametrize("argv, says", [
    (["--datasets", "synthetic,nosuch"], "--datasets: unknown dataset 'nosuch'"),
    (["--datasets", "synthetic,"], "--datasets: unknown dataset ''"),
    (["--datasets", "synthetic,Synthetic"], "--datasets: 'synthetic' and 'Synthetic' are the same"),
])
def test_bad_options_are_refused_before_any_training(bench, no_training, tmp_path, capsys, argv, says):
    assert says in refused(bench.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_a_graph_without_labels_is_refused_before_training(bench, no_training, mirror, monkeypatch, tmp_path,
                                                           capsys):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    assert "--datasets: 'lastfm': node_split needs node labels data.y" in refused(bench.main, ["--datasets", "synthetic,lastfm", "--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_valid_options_pass_the_checks_and_reach_training(bench, no_training, tmp_path):
    with pytest.raises(AssertionError, match="training started"):
        bench.main(["--datasets", "synthetic", "--seed", "3", "--output", str(tmp_path)])
    assert not any(tmp_path.iterdir())
