"""benchmarks/grid.py: bad options are refused before any training."""
import pytest

import gnn_unlearn.bench

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def grid():
    return load_benchmark("grid")


@pytest.fixture()
def no_training(monkeypatch):
    """Any training makes the test fail: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    monkeypatch.setattr(gnn_unlearn.bench, "prepare_link", refuse)
    monkeypatch.setattr(gnn_unlearn.bench, "run_edge_request", refuse)


@pytest.mark.parametrize("argv, says", [
    # refused by the script's own check
    (["--encoders", "gcn,gnc"], "encoders: unknown encoder 'gnc'; choose from gcn, gat, gin, sage"),
    (["--encoders", "gcn,gcn"], "encoders: 'gcn' is given twice; give each once"),
    (["--methods", "nosuch"], "unknown method 'nosuch'"),
    (["--methods", "reverse_bpr"], "method 'reverse_bpr' does not serve link models"),
    (["--methods", "gnndelete,gnndelete"], "methods must be distinct"),
    (["--sizes", "0.025,abc"], "--sizes entry 'abc': give shares of the training edges in (0, 1)"),
    (["--sizes", "1"], "--sizes entry '1': give shares of the training edges in (0, 1)"),
    (["--sizes", "-0.1"], "--sizes entry '-0.1': give shares"),
    (["--sizes", "nan"], "--sizes entry 'nan': give shares"),
    (["--sizes", "0.025,0.0250"], "--sizes: '0.025' and '0.0250' are the same; give each once"),
    (["--wheres", "in,inn"], "wheres: unknown where 'inn'"),
    (["--wheres", "worst:nosuch"], "wheres: unknown worst-case criterion 'nosuch'"),
    (["--wheres", "in,in"], "wheres: 'in' is given twice"),
    (["--wheres", "worst,worst:confidence"], "wheres: 'worst' and 'worst:confidence' are the same"),
    (["--wheres", "worst:influence", "--encoders", "gcn,gat"], "run gat with another position or criterion"),
    (["--epochs", "0"], "epochs: TrainConfig.epochs must be a positive int, got 0"),
    (["--device", "nosuch"], "invalid device 'nosuch'"),
    (["--datasets", "synthetic,nosuch"], "datasets: unknown dataset 'nosuch'"),
    (["--datasets", "synthetic,Synthetic"], "datasets: 'synthetic' and 'Synthetic' are the same"),
    # refused by gnn-unlearn benchmark itself, also before any training
    (["--seeds", "0"], "--first-seed must be >= 0 and --seeds >= 1"),
    (["--retrain-seeds", "2"], "retrain_seeds must be 1 (one retrain) or an int >= 3"),
    (["--reference-folds", "1"], "reference_folds must be an int >= 2"),
    (["--attacks", "nosuch"], "unknown attacks ['nosuch']"),
    (["--method-params", "{"], "--method-params must be JSON"),
    (["--method-params", '{"gnndelete": {"settle": 6}}'], "method parameters for ['gnndelete']"),
])
def test_bad_options_are_refused_before_any_training(grid, no_training, tmp_path, capsys, argv, says):
    assert says in refused(grid.main, ["--datasets", "synthetic", *argv, "--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused_before_any_training(grid, no_training, tmp_path, capsys):
    taken = tmp_path / "results"
    taken.write_text("")
    assert "is a file; give a folder for the results" in refused(grid.main, ["--datasets", "synthetic", "--output", str(taken)], capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


def test_a_dataset_without_its_files_is_refused_before_any_training(grid, no_training, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        grid.main(["--datasets", "synthetic,Cora", "--mirror", str(tmp_path / "nowhere"), "--root", str(tmp_path),
                   "--output", str(tmp_path / "out")])
    assert e.value.code == 2
    assert "is not a folder; give the folder of raw dataset files" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_valid_options_reach_the_grid(grid, no_training, tmp_path):
    with pytest.raises(AssertionError, match="training started"):
        grid.main(["--datasets", "synthetic", "--wheres", "in,worst:influence", "--output", str(tmp_path)])
