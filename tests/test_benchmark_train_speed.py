"""benchmarks/train_speed.py: bad options are refused before anything is timed."""
import os

import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("train_speed")


@pytest.fixture()
def no_timing(bench, monkeypatch):
    """Any timed case fails the test: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("timing started before the options were checked")
    for name in ("run_case", "negative_sampling_row", "to_early_stop"):
        monkeypatch.setattr(bench, name, refuse)


@pytest.mark.parametrize("argv, says", [
    (["--name", ""], "--name must not be empty"),
    (["--cases", ""], "--cases must name some of cora_node, citeseer_node"),
    (["--cases", " , "], "--cases must name some of"),
    (["--cases", "cora_node,nosuch"], "--cases entry 'nosuch': choose from cora_node, citeseer_node"),
    (["--cases", "cora_node,cora_node"], "--cases: 'cora_node' is given twice; give each once"),
    (["--threads", "0"], "--threads must be >= 1, got 0"),
    (["--repeats", "0"], "--repeats must be >= 1, got 0"),
    (["--phase-epochs", "-1"], "--phase-epochs must be >= 1, got -1"),
    (["--gowalla-epochs", "0"], "--gowalla-epochs must be >= 1, got 0"),
    (["--cases", "cora_node", "--gowalla-epochs", "5"], "--gowalla-epochs applies to the gowalla_link case"),
])
def test_bad_options_are_refused_before_any_timing(bench, no_timing, tmp_path, capsys, argv, says):
    assert says in refused(bench.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused(bench, no_timing, tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("")
    with pytest.raises(SystemExit) as e:
        bench.main(["--output", str(target)])
    assert e.value.code == 2 and "is a file; give a folder" in capsys.readouterr().err
    assert target.read_text() == ""


def test_a_missing_dataset_is_refused_before_the_first_case(bench, no_timing, mirror, monkeypatch, tmp_path,
                                                             capsys):
    """A mirror with Cora but not gowalla: gowalla's missing files are found before Cora's case
    is timed."""
    only_cora = tmp_path / "mirror"
    only_cora.mkdir()
    (only_cora / "Cora").symlink_to(os.path.join(mirror, "Cora"))
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", str(only_cora))
    monkeypatch.setenv("GNN_UNLEARN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert "--cases: gowalla: missing raw files" in refused(bench.main, ["--cases", "cora_node,gowalla_link", "--output", str(out)], capsys)
    assert not out.exists()


def test_good_options_pass_the_checks_and_reach_the_work(bench, no_timing, mirror, cache_root, monkeypatch,
                                                          tmp_path):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    monkeypatch.setenv("GNN_UNLEARN_CACHE", cache_root)
    with pytest.raises(AssertionError, match="timing started"):
        bench.main(["--cases", "cora_node,opengu", "--repeats", "1", "--output", str(tmp_path)])
    assert not any(tmp_path.iterdir())
