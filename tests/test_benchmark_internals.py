"""benchmarks/internals.py: bad options are refused before anything is measured."""
import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def internals():
    return load_benchmark("internals")


@pytest.fixture()
def no_measuring(internals, monkeypatch):
    """Any measured work makes the test fail: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("measuring started before the options were checked")
    for name in ("ledger_appends", "similarity_weights", "train_certified"):
        monkeypatch.setattr(internals, name, refuse)


@pytest.mark.parametrize("argv, says", [
    (["--entries", "40"], "--entries must be > 40"),
    (["--entries", "-5"], "--entries must be > 40"),
    (["--pad", "-1"], "--pad must be >= 0 bytes, got -1"),
    (["--repeat", "0"], "--repeat must be >= 1, got 0"),
    (["--mirror", "/nonexistent/mirror"], "--mirror: mirror folder '/nonexistent/mirror' does not exist"),
])
def test_bad_options_are_refused_before_any_measuring(internals, no_measuring, tmp_path, capsys, argv, says):
    assert says in refused(internals.main, ["--label", "test", *argv, "--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("shards, says", [
    ("0", "--shards: num_shards must be a positive int, got 0"),
    ("3000", "--shards: cannot split 2708 nodes into 3000 non-empty shards; use fewer shards"),
])
def test_shards_that_do_not_split_cora_are_refused_before_any_measuring(internals, no_measuring, mirror,
                                                                          cache_root, monkeypatch, tmp_path,
                                                                          capsys, shards, says):
    monkeypatch.setenv("GNN_UNLEARN_CACHE", cache_root)
    assert says in refused(internals.main, ["--label", "test", "--shards", shards, "--mirror", mirror, "--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused_before_any_measuring(internals, no_measuring, tmp_path, capsys):
    taken = tmp_path / "results"
    taken.write_text("")
    assert "is a file; give a folder for the results" in refused(internals.main, ["--label", "test", "--output", str(taken)], capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


def test_valid_options_reach_the_measuring(internals, no_measuring, mirror, cache_root, monkeypatch, tmp_path):
    monkeypatch.setenv("GNN_UNLEARN_CACHE", cache_root)
    with pytest.raises(AssertionError, match="measuring started"):
        internals.main(["--label", "test", "--entries", "41", "--mirror", mirror, "--output", str(tmp_path)])
