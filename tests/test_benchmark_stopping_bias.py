"""benchmarks/stopping_bias.py: the two stopping excesses of retrains and methods, per block."""
import json

import pytest

from .conftest import load_benchmark, refused


def load():
    return load_benchmark("stopping_bias")


def row(model, z1, z2, seed=0, where="in", reason=None):
    return dict(dataset="Cora", encoder="gcn", size=0.025, where=where, seed=seed, model=model,
                z_unseen=z1, z_non=z2, stop_reason=reason, seconds=None)


def test_blocks_average_over_seeds_and_the_overall_table_over_everything():
    sb = load()
    rows = [row("retrain", -1.0, 0.5), row("retrain", 0.0, -0.5, seed=1),
            row("d2dgn+ref", 0.4, 0.5, reason="deleted set looks unseen"),
            row("d2dgn+ref", 0.6, 0.3, seed=1, reason="matched as far as it goes"),
            row("d2dgn+ref", 2.0, 1.0, where="out", reason="validation drop")]
    blocks = {(s["where"], s["model"]): s for s in sb.summary(rows)}
    assert blocks[("in", "retrain")]["z_unseen"] == pytest.approx(-0.5)
    assert blocks[("in", "d2dgn+ref")]["n"] == 2
    assert blocks[("in", "d2dgn+ref")]["stop_reasons"] == ["deleted set looks unseen", "matched as far as it goes"]
    kinds = {k: v for k, *v in sb.overall(rows)}
    assert kinds["d2dgn+ref"][0] == 3 and kinds["d2dgn+ref"][1] == pytest.approx(1.0)
    assert kinds["retrain"][3] == pytest.approx(0.5)              # mean |z_unseen|
    text = sb.markdown(rows, "cmd", "test machine")
    assert "| d2dgn+ref | 3 | +1.00 | +0.60 |" in text and "validation drop" in text
    # per request (seed 0 "in", seed 1 "in"; "out" has no retrains): distance to the retrains'
    # mean, the larger of the two statistics: |0.4 - -1.0| = 1.4 and |0.3 - -0.5| = 0.8
    (name, n, dist, error, spread), = sb.decomposition(rows)
    assert (name, n) == ("d2dgn+ref", 2)
    assert dist == pytest.approx((1.4 + 0.8) / 2) and error == pytest.approx((1.0 + 0.5) / 2) and spread == 0


def test_bad_arguments_are_refused_before_any_work(capsys):
    sb = load()
    for argv in (["--methods", "d2dgn"], ["--wheres", "nowhere"], ["--seeds", "0"], ["--sizes", "2"],
                 ["--method-params", "[1]"], ["--methods", "nothing+ref"]):
        with pytest.raises(SystemExit):
            sb.main(argv)
        assert "error" in capsys.readouterr().err


def test_a_small_run_measures_the_original_retrains_and_methods(tmp_path):
    sb = load()
    sb.main(["--datasets", "synthetic", "--sizes", "0.05", "--wheres", "random", "--seeds", "1",
             "--retrains", "2", "--methods", "d2dgn+ref", "--epochs", "30", "--output", str(tmp_path), "--name", "sb"])
    rows = json.loads((tmp_path / "sb.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["original", "retrain", "retrain#k", "d2dgn+ref"]
    assert all(isinstance(r["z_unseen"], float) and isinstance(r["z_non"], float) for r in rows)
    assert rows[-1]["stop_reason"] and rows[0]["stop_reason"] is None
    assert "Over every block and seed" in (tmp_path / "sb.md").read_text()
    (tmp_path / "sb.md").unlink()
    sb.main(["--render", str(tmp_path / "sb.json")])
    assert "distance to the retrains" in (tmp_path / "sb.md").read_text()


@pytest.fixture()
def sb(monkeypatch):
    """The script, with any training made to fail: a refusal must come before the work."""
    module = load()

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    for name in ("measure", "prepare_link", "unlearn"):
        monkeypatch.setattr(module, name, refuse)
    return module


@pytest.mark.parametrize("argv, says", [
    (["--methods", "d2dgn"], "--methods must all run with the reference (end in +ref)"),
    (["--methods", "nothing+ref"], "--methods: unknown method 'nothing'"),
    (["--methods", "utu+ref"], "--methods: 'utu+ref': method 'utu' takes no held-out reference"),
    (["--methods", "d2dgn+ref,d2dgn+ref"], "--methods: methods must be distinct"),
    (["--method-params", "{x"], "--method-params is not JSON"),
    (["--method-params", "[1]"], "--method-params: method parameters must map a method name to its hyperparameters"),
    (["--method-params", '{"d2dgn": {"nosuch": 1}}'], "--method-params: method 'd2dgn' has no parameter 'nosuch'"),
    (["--methods", "d2dgn+ref", "--method-params", '{"gnndelete": {"settle": 6}}'],
     "--method-params: method parameters for ['gnndelete'], which this run does not run"),
    (["--method-params", '{"d2dgn": {"reference": 1}}'], "pass the held-out reference with the +ref row name"),
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--retrains", "0"], "--retrains must be >= 1, got 0"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--reference-folds", "1"], "--reference-folds must be >= 2, got 1"),
    (["--name", ""], "--name must not be empty"),
    (["--name", "sub/x"], "--name 'sub/x': give a file name without a folder"),
    (["--sizes", "abc"], "--sizes entry 'abc': give shares of the training edges in (0, 1)"),
    (["--sizes", "0.025,2"], "--sizes entry '2': give shares of the training edges in (0, 1)"),
    (["--sizes", "0.025,0.025"], "--sizes: '0.025' is given twice; give each once"),
    (["--wheres", "nowhere"], "--wheres: unknown where 'nowhere'"),
    (["--wheres", "in,in"], "--wheres: 'in' is given twice; give each once"),
    (["--wheres", "worst,worst:confidence"], "--wheres: 'worst' and 'worst:confidence' are the same"),
    (["--wheres", "worst:influence", "--encoders", "gcn,gat"],
     "--wheres: worst:influence gates the messages of gcn, gin, sage encoders only; run gat"),
    (["--encoders", "gcx"], "--encoders: unknown encoder 'gcx'"),
    (["--encoders", "gcn,gcn"], "--encoders: 'gcn' is given twice; give each once"),
    (["--datasets", "nosuch"], "--datasets: unknown dataset 'nosuch'"),
    (["--datasets", "Cora,cora"], "--datasets: 'Cora' and 'cora' are the same; give each once"),
])
def test_bad_options_are_refused_with_what_was_wrong_before_any_training(sb, tmp_path, capsys, argv, says):
    out = tmp_path / "out"
    assert says in refused(sb.main, argv + ["--output", str(out)], capsys)
    assert not out.exists()


def test_an_output_file_is_refused_before_any_training(sb, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    assert f"--output {str(taken)!r} is a file; give a folder" in refused(sb.main, ["--datasets", "synthetic", "--output", str(taken)], capsys)


def test_a_results_file_without_rows_is_not_rendered(sb, tmp_path, capsys):
    saved = tmp_path / "sb.json"
    saved.write_text(json.dumps({"command": "c", "hardware": "h", "rows": []}))
    assert f"--render {saved}: not a results file of this script (it holds no rows)" in refused(sb.main, ["--render", str(saved)], capsys)
    assert not (tmp_path / "sb.md").exists()
