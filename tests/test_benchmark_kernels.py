"""benchmarks/kernels.py: bad options are refused before anything is timed."""
import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def kernels():
    return load_benchmark("kernels")


@pytest.fixture()
def no_timing(kernels, monkeypatch):
    """Any timed work makes the test fail: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("timing started before the options were checked")
    for name in ("timed", "copy_bandwidth", "normalized_adjacency"):
        monkeypatch.setattr(kernels, name, refuse)


@pytest.mark.parametrize("argv, says", [
    (["--repeat", "0"], "--repeat must be >= 1, got 0"),
    (["--dims", "64,abc"], "--dims entry 'abc': give whole numbers >= 1"),
    (["--dims", "64,"], "--dims entry '': give whole numbers >= 1"),
    (["--dims", "0"], "--dims entry '0': give whole numbers >= 1"),
    (["--dims", "-8"], "--dims entry '-8': give whole numbers >= 1"),
    (["--dims", "64,64"], "--dims: 64 is given twice; give each once"),
    (["--device", "nosuch"], "--device: invalid device 'nosuch'"),
    (["--dataset", "nosuch"], "--dataset: unknown dataset 'nosuch'"),
    (["--dataset", "synthetic:abc"], "synthetic:N needs a whole number of nodes N >= 1"),
    (["--dataset", "synthetic:0"], "synthetic:N needs a whole number of nodes N >= 1"),
    (["--dataset", "synthetic:3"], "--dataset 'synthetic:3': num_classes=5 exceeds num_nodes=3"),
])
def test_bad_options_are_refused_before_any_timing(kernels, no_timing, tmp_path, capsys, argv, says):
    assert says in refused(kernels.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused_before_any_timing(kernels, no_timing, tmp_path, capsys):
    taken = tmp_path / "results"
    taken.write_text("")
    assert "is a file; give a folder for the results" in refused(kernels.main, ["--dataset", "synthetic:50", "--output", str(taken)], capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


def test_valid_options_reach_the_timed_work(kernels, no_timing, tmp_path):
    with pytest.raises(AssertionError, match="timing started"):
        kernels.main(["--dataset", "synthetic:50", "--dims", "8,16", "--repeat", "1", "--output", str(tmp_path)])
