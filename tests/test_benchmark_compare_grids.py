"""benchmarks/compare_grids.py: result files it cannot compare are refused, naming the file, before
anything is printed."""
import json

import pytest

from .conftest import load_benchmark


@pytest.fixture(scope="module")
def cg():
    return load_benchmark("compare_grids")


def row(model, gd=0.7, **extra):
    return {"model": model, "n": 2, "dt_auroc": 0.9, "df_auroc": 0.9, "df_auc_gnndelete": gd,
            "df_auc_gnndelete_min": gd, "df_auc_gnndelete_max": gd, **extra}


def block(rows=None, **extra):
    return {"dataset": "Cora", "encoder": "gcn", "df_size": 0.005, "where": "out", "seeds": [0, 1],
            "rows": rows if rows is not None else [row("original"), row("retrain"), row("gnndelete", 0.8)],
            **extra}


def write(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def run(*blocks):
    return {"command": "gnn-unlearn benchmark ...", "blocks": list(blocks)}


def no_gd(r):
    return {k: v for k, v in r.items() if k != "df_auc_gnndelete_min"}


@pytest.mark.parametrize("second, says", [
    ("{not json", "is not JSON"),
    ([block()], "is not a results file of gnn-unlearn benchmark (no command and blocks)"),
    ({"command": "c", "blocks": {}}, "is not a results file of gnn-unlearn benchmark"),
    (run("a block"), "block 1 is not an object"),
    (run({k: v for k, v in block().items() if k != "rows"}), "has no 'rows' (a list of rows)"),
    (run(block(df_size="0.5%")), "has no 'df_size' (a number)"),
    (run(block([row("original"), row("gnndelete")])), "has no 'retrain' row"),
    (run(block([row("retrain"), row("gnndelete"), row("gnndelete")])), "has two rows for one model"),
    (run(block([no_gd(row("retrain")), row("gnndelete")])), "has no 'df_auc_gnndelete_min' in row 'retrain'"),
    (run(block([row("retrain"), row("gnndelete", None)])), "holds values that are not numbers in row 'gnndelete'"),
    (run(block(), block()), "is in the file twice"),
    (run(block([row("original"), row("retrain"), row("retrain#1"), row("d2dgn")])),
     "the runs share no method rows to compare"),
])
def test_runs_it_cannot_compare_are_refused_before_anything_is_printed(cg, tmp_path, capsys, second, says):
    first = write(tmp_path / "first.json", run(block()))
    with pytest.raises(SystemExit) as e:
        cg.main([first, write(tmp_path / "second.json", second)])
    assert says in str(e.value)
    assert str(tmp_path / "second.json") in str(e.value) or "share no method rows" in says
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("argv, says", [
    ([], "usage: python benchmarks/compare_grids.py FIRST.json SECOND.json"),
    (["a.json"], "usage: python benchmarks/compare_grids.py FIRST.json SECOND.json"),
    (["missing.json", "first.json"], "cannot read missing.json"),
    (["first.json", "./first.json"], "FIRST and SECOND are the same file"),
])
def test_wrong_arguments_are_refused_before_anything_is_printed(cg, tmp_path, monkeypatch, capsys, argv, says):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "first.json", run(block()))
    with pytest.raises(SystemExit) as e:
        cg.main(argv)
    assert says in str(e.value)
    assert capsys.readouterr().out == ""


def test_two_runs_of_one_grid_are_set_side_by_side(cg, tmp_path, capsys):
    first = write(tmp_path / "first.json", run(block()))
    second = write(tmp_path / "second.json", run(block([row("original"), row("retrain"), row("gnndelete", 0.72)])))
    cg.main([first, second])
    assert "- gnndelete: mean |GD - retrain| 0.100 (first) -> 0.020 (second)" in capsys.readouterr().out
