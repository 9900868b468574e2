"""benchmarks/gin_recipe.py refuses bad options before any training, each with what was wrong."""
import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("gin_recipe")


@pytest.fixture()
def no_training(bench, monkeypatch, cache_root):
    """Any training makes the test fail: a refusal must come before the work starts. Datasets are
    cached under the test session's folder."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    monkeypatch.setattr(bench, "train", refuse)
    monkeypatch.setenv("GNN_UNLEARN_CACHE", cache_root)


@pytest.mark.parametrize("argv, says", [
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--device", "gpu0"], "--device: invalid device 'gpu0'"),
    (["--encoders", "gcn,gni"], "--encoders: unknown encoder 'gni'; choose one of"),
    (["--encoders", "gcn,"], "--encoders: unknown encoder ''"),
    (["--encoders", "gcn,linear"], "--encoders: the linear GNN (encoder='linear') is a node classifier"),
    (["--encoders", "gcn,gin,gcn"], "--encoders: 'gcn' is given twice"),
    (["--datasets", "synthetic,nosuch"], "--datasets: unknown dataset 'nosuch'"),
    (["--datasets", "synthetic,Synthetic"], "--datasets: 'synthetic' and 'Synthetic' are the same"),
    (["--datasets", "Cora", "--mirror", "/nonexistent/mirror"], "--mirror '/nonexistent/mirror' is not a folder"),
])
def test_bad_options_are_refused_before_any_training(bench, no_training, tmp_path, capsys, argv, says):
    assert says in refused(bench.main, ["--datasets", "synthetic", "--seeds", "1"] + argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_a_device_that_is_not_there_is_refused(bench, no_training, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert "--device: device 'cuda' was requested but CUDA is not available here" in refused(bench.main, ["--datasets", "synthetic", "--device", "cuda", "--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_valid_options_pass_the_checks_and_reach_training(bench, no_training, tmp_path):
    with pytest.raises(AssertionError, match="training started"):
        bench.main(["--datasets", "synthetic", "--encoders", "gcn,gin,sage,gat", "--output", str(tmp_path)])
    assert not any(tmp_path.iterdir())
