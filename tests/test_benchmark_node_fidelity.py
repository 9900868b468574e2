"""benchmarks/node_fidelity.py refuses bad options before any training, each with what was wrong."""
import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("node_fidelity")


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
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--retrain-seeds", "2"], "--retrain-seeds: retrain_seeds must be 1 (one retrain) or an int >= 3"),
    (["--methods", "gif,nosuch"], "--methods: unknown method 'nosuch'"),
    (["--methods", "gnndelete"], "--methods: method 'gnndelete' does not serve node models"),
    (["--methods", "retrain,gif"], "leave out 'retrain'"),
    (["--methods", "gif,gif"], "methods must be distinct"),
    (["--methods", "d2dgn+ref"], "this table runs no held-out reference"),
    (["--methods", "cgu"], "--methods: method 'cgu' needs a certified linear model"),
    (["--methods", "projector"], "--methods: projector works on linear GNNs only"),
    (["--methods", "gradient_ascent,gif", "--request", "class"], "--methods: method 'gif' does not support "
                                                                 "['class'] requests"),
    (["--attacks", "lira,nosuch"], "--attacks: unknown attacks ['nosuch']"),
    (["--attacks", "lira,lira"], "--attacks: attacks listed twice"),
    (["--request", "edges"], "argument --request: invalid choice: 'edges'"),
    (["--size", "0"], "--size: a fractional size must lie in (0, 1), got 0.0"),
    (["--size", "5"], "--size: a fractional size must lie in (0, 1), got 5.0"),
    (["--datasets", "synthetic,nosuch"], "--datasets: unknown dataset 'nosuch'"),
    (["--datasets", "synthetic,Synthetic"], "--datasets: 'synthetic' and 'Synthetic' are the same"),
    (["--datasets", "Cora", "--mirror", "/nonexistent/mirror"], "--mirror '/nonexistent/mirror' is not a folder"),
])
def test_bad_options_are_refused_before_any_training(bench, no_training, tmp_path, capsys, argv, says):
    assert says in refused(bench.main, ["--datasets", "synthetic", "--seeds", "1"] + argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_a_graph_without_labels_is_refused_before_training(bench, no_training, mirror, tmp_path, capsys):
    assert "--datasets: 'lastfm': node_split needs node labels data.y" in refused(bench.main, ["--datasets", "lastfm", "--mirror", mirror, "--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [[], ["--request", "class", "--methods", "gradient_ascent,d2dgn,cognac"],
                                  ["--methods", "", "--attacks", ""]])
def test_valid_options_pass_the_checks_and_reach_training(bench, no_training, tmp_path, argv):
    with pytest.raises(AssertionError, match="training started"):
        bench.main(["--datasets", "synthetic", "--seeds", "2"] + argv + ["--output", str(tmp_path)])
    assert not any(tmp_path.iterdir())
