import pytest

from .conftest import Checked, load_benchmark, refused, stop_main_after_checks


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("certified")


@pytest.fixture()
def no_training(bench, monkeypatch):
    """Any training or unlearning makes the test fail: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    for name in ("train_certified", "unlearn", "run_small", "run_scale"):
        monkeypatch.setattr(bench, name, refuse)


def refused_unwritten(bench, argv, out, capsys) -> str:
    """:func:`refused` with ``--output out``, asserting too that nothing was written."""
    err = refused(bench.main, argv + ["--output", str(out)], capsys)
    assert not out.exists()
    return err


@pytest.mark.parametrize("argv, says", [
    (["--seeds", "0,a"], "--seeds entry 'a': give whole numbers >= 0"),
    (["--seeds", ""], "--seeds entry '': give whole numbers >= 0"),
    (["--seeds", "0,0"], "--seeds: 0 is given twice; give each once"),
    (["--seeds", "-1"], "--seeds entry '-1': give whole numbers >= 0"),
    (["--batches", "0"], "--batches must be >= 1, got 0"),
    (["--rmax", "1e-4"], "--rmax applies to --part scale only"),
    (["--num-hops", "3"], "--num-hops applies to --part scale only"),
    (["--part", "scale", "--seeds", "0"], "--seeds applies to --part small only"),
    (["--part", "scale", "--datasets", "Cora"], "--datasets applies to --part small only"),
    (["--datasets", "nosuch"], "--datasets: unknown dataset 'nosuch'"),
    (["--part", "scale", "--rounds", "0"], "--rounds must be >= 1, got 0"),
    (["--part", "scale", "--rmax", "0,x"], "--rmax takes comma-separated numbers >= 0"),
    (["--part", "scale", "--rmax", "0,0.0"], "--rmax takes distinct thresholds"),
    (["--part", "scale", "--rmax", "-1"], "rmax must be None (exact propagation) or a finite number >= 0"),
    (["--part", "scale", "--rmax", "nan"], "rmax must be None (exact propagation) or a finite number >= 0"),
    (["--part", "scale", "--num-hops", "0"], "push propagation (rmax) needs num_hops >= 1"),
    (["--part", "scale", "--noise-std", "0"], "noise_std must be a positive finite number"),
    (["--part", "scale", "--nodes", "0"], "--nodes 0: num_nodes must be positive"),
    (["--part", "scale", "--nodes", "3"], "--nodes 3: num_classes=5 exceeds num_nodes=3"),
    (["--part", "scale", "--nodes", "300", "--fraction", "1.5"],
     "--fraction 1.5: a fractional size must lie in (0, 1)"),
    (["--part", "scale", "--nodes", "300", "--fraction", "-0.1"],
     "--fraction -0.1: a fractional size must lie in (0, 1)"),
])
def test_bad_options_are_refused_before_any_training(bench, no_training, tmp_path, capsys, argv, says):
    assert says in refused_unwritten(bench, argv, tmp_path / "out", capsys)


@pytest.mark.parametrize("argv, says", [
    (["--datasets", "Cora,nosuch"], "--datasets: unknown dataset 'nosuch'"),
    (["--datasets", "Cora,cora"], "--datasets: 'Cora' and 'cora' are the same; give each once"),
    (["--datasets", "synthetic"], "'synthetic' has no node labels and public node split"),
    (["--datasets", "lastfm"], "'lastfm' has no node labels and public node split"),
    (["--datasets", "Cora", "--batches", "18"],
     "--batches 18: Cora's node request holds 17 training nodes (12.5 % of 140)"),
])
def test_bad_datasets_are_refused_before_any_training(bench, no_training, mirror, cache_root, monkeypatch,
                                                      tmp_path, capsys, argv, says):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    assert says in refused_unwritten(bench, argv + ["--root", cache_root], tmp_path / "out", capsys)


def test_an_output_that_is_a_file_is_refused_unwritten(bench, no_training, tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("keep")
    assert "is a file; give a folder" in refused(bench.main, ["--output", str(target)], capsys)
    assert target.read_text() == "keep"


@pytest.fixture()
def stop_after_checks(bench, monkeypatch):
    stop_main_after_checks(bench, monkeypatch)


def test_the_readme_runs_pass_the_checks(bench, no_training, stop_after_checks, mirror, cache_root, monkeypatch,
                                         tmp_path):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    with pytest.raises(Checked) as e:
        bench.main(["--part", "small", "--seeds", "0,1,2,3,4", "--root", cache_root, "--output", str(tmp_path)])
    assert e.value.args[0] == [0, 1, 2, 3, 4]
    with pytest.raises(Checked) as e:
        bench.main(["--part", "scale", "--nodes", "300", "--rounds", "3", "--rmax", "0,1e-4", "--noise-std", "5.0",
                    "--output", str(tmp_path)])
    rmaxes, data, task = e.value.args[0]
    assert rmaxes == [0.0, 1e-4] and data.num_nodes == 300 and task.df_edge_index.size(1) >= 1
