"""benchmarks/reference_targets.py: bad options are refused before any training."""
import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("reference_targets")


@pytest.fixture()
def no_training(bench, monkeypatch):
    """Any training makes the test fail: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    for name in ("train", "run", "measure"):
        monkeypatch.setattr(bench, name, refuse)


SYNTHETIC = ["--datasets", "synthetic"]


@pytest.mark.parametrize("argv, says", [
    (["--name", ""], "--name must not be empty"),
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--sizes", "0.005,abc"], "--sizes entry 'abc': give shares of the training edges in (0, 1)"),
    (["--sizes", "0.005,1.5"], "--sizes entry '1.5': give shares of the training edges in (0, 1)"),
    (["--sizes", "-0.1"], "--sizes entry '-0.1'"),
    (["--sizes", "0.005,0.0050"], "--sizes: '0.005' and '0.0050' are the same; give each once"),
    (["--wheres", "in,nowhere"], "--wheres: unknown where 'nowhere'"),
    (["--wheres", "worst:nosuch"], "unknown worst-case criterion 'nosuch'"),
    (["--wheres", "in,in"], "--wheres: 'in' is given twice"),
    (["--wheres", "worst,worst:confidence"], "--wheres: 'worst' and 'worst:confidence' are the same"),
    (["--mirror", "/no/such/folder"], "--mirror '/no/such/folder' is not a folder"),
    (["--datasets", "synthetic,Nosuch"], "--datasets: unknown dataset 'Nosuch'"),
    (["--datasets", "synthetic,Synthetic"], "--datasets: 'synthetic' and 'Synthetic' are the same"),
    (SYNTHETIC + ["--sizes", "0.9", "--wheres", "in,out"],
     "--sizes 0.9 --wheres out on synthetic, seed 0: only 2 training edges (out) are eligible"),
])
def test_bad_options_are_refused_before_any_training(bench, no_training, tmp_path, capsys, argv, says):
    assert says in refused(bench.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused(bench, no_training, tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("")
    with pytest.raises(SystemExit) as e:
        bench.main(SYNTHETIC + ["--output", str(target)])
    assert e.value.code == 2 and "is a file; give a folder" in capsys.readouterr().err
    assert target.read_text() == ""


def test_good_options_pass_the_checks_and_reach_the_work(bench, no_training, tmp_path):
    with pytest.raises(AssertionError, match="training started"):
        bench.main(SYNTHETIC + ["--seeds", "2", "--sizes", "0.005,0.025", "--wheres", "in,random,worst:influence",
                                "--output", str(tmp_path)])
    assert not any(tmp_path.iterdir())
