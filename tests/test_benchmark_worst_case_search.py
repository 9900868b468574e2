"""benchmarks/worst_case_search.py: method names, the retrain#k noise floor included."""
import pytest

from .conftest import load_benchmark


def load():
    return load_benchmark("worst_case_search")


def test_noise_floor_rows_are_retrains_beside_the_methods():
    m = load()
    assert m.parse_rows(["gnndelete+ref", "retrain#1", "d2dgn", "retrain#12"]) == [
        ("gnndelete", True), ("retrain", False), ("d2dgn", False), ("retrain", False)]
    assert m.parse_rows(["retrain#2"]) == [("retrain", False)]


@pytest.mark.parametrize("names", [["retrain"], ["retrain#0"], ["retrain#x"], ["nope", "retrain#1"]])
def test_other_names_are_refused_before_any_work(names):
    with pytest.raises(ValueError):
        load().parse_rows(names)


@pytest.mark.parametrize("argv", [["--reference-folds", "1"], ["--methods", "retrain"], ["--seeds", "0"],
                                  ["--methods", "gnndelete", "--method-params", '{"d2dgn": {"settle": 6}}'],
                                  ["--methods", "gnndelete", "--method-params", '{"gnndelete": {"settle": -1}}'],
                                  ["--methods", "gnndelete", "--method-params", "{settle: 6}"],
                                  ["--methods", "nope"]])
def test_bad_command_lines_stop_before_any_work(argv, monkeypatch, capsys):
    m = load()
    monkeypatch.setattr(m, "run", lambda a: pytest.fail("work started"))
    with pytest.raises(SystemExit) as stop:
        m.main(argv)
    assert stop.value.code == 2 and "error:" in capsys.readouterr().err
