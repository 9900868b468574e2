"""benchmarks/gnndelete_table.py: result files it cannot render are refused, naming the file,
before anything is printed."""
import json

import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def gt():
    return load_benchmark("gnndelete_table")


def row(model, **extra):
    return {"model": model, "n": 2, "dt_auroc": 0.9, "dt_auroc_std": 0.01, "df_auroc": 0.8, "df_auroc_std": 0.02,
            "seconds": 1.5, "seconds_std": 0.1, **extra}


def block(rows=None, **extra):
    return {"dataset": "Cora", "encoder": "gcn", "df_size": 0.005, "where": "in",
            "rows": rows if rows is not None else [row("original"), row("retrain"), row("gnndelete", speedup=4.0)],
            **extra}


def run(*blocks, **extra):
    return {"command": "gnn-unlearn benchmark ...", "hardware": "test", "blocks": list(blocks), **extra}


def write(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


@pytest.mark.parametrize("content, says", [
    ("{not json", "is not JSON"),
    ([block()], "is not a results file of gnn-unlearn benchmark (no command and blocks)"),
    ({"hardware": "h", "blocks": [block()]}, "is not a results file of gnn-unlearn benchmark"),
    ({"command": "c", "blocks": [block()]}, "has no hardware or protocols"),
    (run(block(), protocols=["df"]), "has no hardware or protocols"),
    (run("a block"), "block 1 is not an object"),
    (run({k: v for k, v in block().items() if k != "where"}), "block 1 has no 'where'"),
    (run(block(df_size="0.5%")), "has no 'df_size' (a number)"),
    (run(block([{"model": "retrain"}])), "has no number of seeds 'n' in row 'retrain'"),
    (run(block([row("retrain"), row("retrain")])), "has two rows for one model"),
    (run(block([row("retrain", mi_ratio=None, mi_ratio_std=0.0)])), "holds values that are not numbers in row 'retrain': ['mi_ratio']"),
    (run(block([row("retrain", mia_auc=0.5)])), "has no 'mia_auc_std' in row 'retrain'"),
    (run(block([row("retrain"), row("m", speedup="fast")])), "not numbers in row 'm': ['speedup']"),
])
def test_files_it_cannot_render_are_refused_before_anything_is_printed(gt, tmp_path, capsys, content, says):
    good = write(tmp_path / "good.json", run(block()))
    bad = write(tmp_path / "bad.json", content)
    with pytest.raises(SystemExit) as e:
        gt.main([good, bad])
    assert e.value.code == 2
    err = capsys.readouterr()
    assert says in err.err and bad in err.err
    assert err.out == ""


def test_missing_files_and_no_files_are_refused(gt, tmp_path, capsys):
    assert "cannot read" in refused(gt.main, [str(tmp_path / "missing.json")], capsys)
    with pytest.raises(SystemExit) as e:
        gt.main([])
    assert e.value.code == 2
    err = capsys.readouterr()
    assert "the following arguments are required: runs" in err.err and err.out == ""


def test_a_run_renders_with_the_gaps_to_retrain(gt, tmp_path, capsys):
    gt.main([write(tmp_path / "good.json", run(block()))])
    out = capsys.readouterr().out
    assert "| Cora | gcn | 0.005 | in (library) | as loaded | gnndelete (n=2) |" in out
    assert "4.0x" in out
