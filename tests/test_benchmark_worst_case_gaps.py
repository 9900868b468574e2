"""benchmarks/worst_case_gaps.py: grid files it cannot read are refused, naming the file, before
anything is written."""
import json

import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def wcg():
    return load_benchmark("worst_case_gaps")


def row(model, lib=0.8, **extra):
    return {"model": model, "n": 3, "df_auroc": lib, "df_auc_gnndelete": 0.7, **extra}


def block(rows=None, where="worst:confidence", **extra):
    return {"dataset": "Cora", "encoder": "gcn", "df_size": 0.005, "where": where,
            "rows": rows if rows is not None else [row("original"), row("retrain"), row("gnndelete", 0.85)],
            **extra}


def run(*blocks):
    return {"command": "gnn-unlearn benchmark ...", "blocks": list(blocks)}


@pytest.mark.parametrize("content, says", [
    ("{not json", "is not JSON"),
    ([block()], "is not a results file of gnn-unlearn benchmark (no command and blocks)"),
    ({"blocks": [block()]}, "is not a results file of gnn-unlearn benchmark"),
    (run(7), "block 1 is not an object"),
    (run({k: v for k, v in block().items() if k != "encoder"}), "block 1 has no 'encoder'"),
    (run(block([{"model": "retrain"}])), "has no number of seeds 'n' in row 'retrain'"),
    (run(block([row("original"), row("gnndelete")])), "has no 'retrain' row"),
    (run(block([row("retrain"), row("gnndelete"), row("gnndelete")])), "has two rows for one model"),
    (run(block([row("retrain"), row("gnndelete", None)])), "holds values that are not numbers in row 'gnndelete': ['df_auroc']"),
    (run(block([row("original"), row("retrain")])), "holds no method rows (only the original and the retrain)"),
    (run(), "holds no blocks"),
])
def test_grids_it_cannot_read_are_refused_before_anything_is_written(wcg, tmp_path, capsys, content, says):
    grid = tmp_path / "grid.json"
    grid.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(SystemExit) as e:
        wcg.main([str(grid)])
    assert e.value.code == 2
    err = capsys.readouterr()
    assert says in err.err and str(grid) in err.err
    assert err.out == ""
    assert [p.name for p in tmp_path.iterdir()] == ["grid.json"]


def test_a_missing_grid_is_refused(wcg, tmp_path, capsys):
    assert "cannot read" in refused(wcg.main, [str(tmp_path / "missing.json")], capsys)
    assert not any(tmp_path.iterdir())


def test_a_grid_gives_each_method_its_gap_to_retrain(wcg, tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(run(block())))
    wcg.main([str(grid)])
    assert "| gnndelete | worst:confidence | 0.800 / 0.850 / **+0.050** |" in capsys.readouterr().out
    assert json.loads((tmp_path / "grid_gaps.json").read_text())["gaps"][0]["df_auroc_gap"] == pytest.approx(0.05)
