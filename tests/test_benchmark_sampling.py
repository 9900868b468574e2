"""benchmarks/sampling.py: bad options are refused before anything is sampled."""
import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def sampling():
    return load_benchmark("sampling")


@pytest.fixture()
def no_sampling(sampling, monkeypatch):
    """Any sampler built or timed makes the test fail: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("sampling started before the options were checked")
    for name in ("NeighborSampler", "build_sampler", "sample_subgraph"):
        monkeypatch.setattr(sampling, name, refuse)


@pytest.mark.parametrize("argv, says", [
    (["--repeat", "0"], "--repeat must be >= 1, got 0"),
    (["--fanouts", "5,5;10,x"], "--fanouts entry 'x': give whole numbers >= 1"),
    (["--fanouts", "5,5;"], "--fanouts entry '': give whole numbers >= 1"),
    (["--fanouts", "5,0"], "--fanouts entry '0': give whole numbers >= 1"),
    (["--fanouts", "5,5;10,10;5,5"], "--fanouts: '5,5' is given twice; give each once"),
    (["--batch-sizes", "512,abc"], "--batch-sizes entry 'abc': give whole numbers >= 1"),
    (["--batch-sizes", "-1"], "--batch-sizes entry '-1': give whole numbers >= 1"),
    (["--batch-sizes", "16,16"], "--batch-sizes: 16 is given twice; give each once"),
    (["--dataset", "nosuch"], "--dataset: unknown dataset 'nosuch'"),
    (["--dataset", "synthetic:many"], "synthetic:N needs a whole number of nodes N >= 1"),
    (["--dataset", "synthetic:3"], "--dataset 'synthetic:3': num_classes=5 exceeds num_nodes=3"),
    (["--dataset", "synthetic:50", "--batch-sizes", "16,100"],
     "--batch-sizes: 100 seeds per batch, but synthetic:50 has 50 nodes; give at most 50"),
])
def test_bad_options_are_refused_before_any_sampling(sampling, no_sampling, tmp_path, capsys, argv, says):
    assert says in refused(sampling.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused_before_any_sampling(sampling, no_sampling, tmp_path, capsys):
    taken = tmp_path / "results"
    taken.write_text("")
    assert "is a file; give a folder for the results" in refused(sampling.main, ["--dataset", "synthetic:50", "--batch-sizes", "16", "--output", str(taken)], capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


def test_valid_options_reach_the_sampling(sampling, no_sampling, tmp_path):
    with pytest.raises(AssertionError, match="sampling started"):
        sampling.main(["--dataset", "synthetic:50", "--fanouts", "2,2;3", "--batch-sizes", "8,50",
                       "--output", str(tmp_path)])
