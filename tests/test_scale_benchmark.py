"""benchmarks/scale.py's bounded products-style run, on a tiny graph."""
import json

import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def scale():
    return load_benchmark("scale")


def test_capped_run_reports_steps_phases_and_peaks(scale, tmp_path):
    scale.main(["--nodes", "1500", "--avg-degree", "20", "--features", "40", "--classes", "7",
                "--fanouts", "3,3", "--batch-size", "256", "--epochs", "3", "--max-steps", "4",
                "--method-epochs", "2", "--request", "0.01", "--region-pairs", "128",
                "--no-retrain", "--methods", "gnndelete,gradient_ascent", "--split-phases",
                "--output", str(tmp_path), "--name", "tiny"])
    rows = json.loads((tmp_path / "tiny.json").read_text())["rows"]
    steps = [r["step"] for r in rows]
    assert steps == ["load", "split", "train", "request", "gnndelete", "gradient_ascent", "evaluate"]
    train = rows[2]
    assert train["steps"] == 4                    # the cap, not 3 epochs' worth of batches
    assert rows[3]["deleted"] == round(0.01 * train["train_edges"])
    assert all(r["peak"] > 0 for r in rows)          # every phase has its peak RSS
    md = (tmp_path / "tiny.md").read_text()
    assert "capped at 4 mini-batch steps" in md and "no retraining" in md
    assert "Peak RSS of the process" in md and "OMP_NUM_THREADS" in md
    assert "128 sampled region pairs" in md


def test_max_steps_needs_fanouts(scale, tmp_path):
    with pytest.raises(SystemExit):
        scale.main(["--nodes", "500", "--max-steps", "3", "--output", str(tmp_path)])


@pytest.fixture()
def no_work(scale, monkeypatch):
    """Any measured step fails the test: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("the benchmark started before the options were checked")
    for name in ("run_size", "measure", "train", "fit_minibatch", "unlearn", "plot"):
        monkeypatch.setattr(scale, name, refuse)


@pytest.mark.parametrize("argv, says", [
    (["--name", ""], "--name must not be empty"),
    (["--nodes", "2000,abc"], "--nodes entry 'abc': give whole numbers >= 1, comma-separated"),
    (["--nodes", "0"], "--nodes entry '0': give whole numbers >= 1"),
    (["--nodes", "500,500"], "--nodes: 500 is given twice; give each once"),
    (["--nodes", "3"], "--nodes entry 3: fewer nodes than --classes (5)"),
    (["--epochs", "0"], "--epochs: TrainConfig.epochs must be a positive int, got 0"),
    (["--method-epochs", "0"], "--method-epochs must be >= 1, got 0"),
    (["--request", "1.5"], "--request is a share in (0, 1), got 1.5"),
    (["--request", "nan"], "--request is a share in (0, 1), got nan"),
    (["--avg-degree", "0"], "--avg-degree must be a positive number, got 0"),
    (["--avg-degree", "inf"], "--avg-degree must be a positive number, got inf"),
    (["--features", "0"], "--features must be >= 1, got 0"),
    (["--classes", "0"], "--classes must be >= 1, got 0"),
    (["--sampler", "pyg"], "--sampler applies to neighbour-sampled mini-batches; give --fanouts too"),
    (["--batch-size", "64"], "--batch-size applies to neighbour-sampled mini-batches"),
    (["--max-steps", "3"], "--max-steps applies to neighbour-sampled mini-batches"),
    (["--fanouts", "5,x"], "--fanouts entry 'x': give whole numbers >= 1"),
    (["--fanouts", "5,5,5"], "--fanouts: give one fanout per layer: the model has 2 layers"),
    (["--fanouts", "5,5", "--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--fanouts", "5,5", "--max-steps", "0"], "--max-steps must be >= 1, got 0"),
    (["--task", "rec", "--fanouts", "5,5"], "--fanouts: mini-batches serve the link and node tasks"),
    (["--methods", "retrain"], "--methods: leave out 'retrain'"),
    (["--methods", "nosuch"], "--methods: unknown method 'nosuch'"),
    (["--methods", ""], "--methods: unknown method ''"),
    (["--methods", "gnndelete,gnndelete"], "--methods: methods must be distinct"),
    (["--methods", "gnndelete+ref"], "drop the '+ref' suffix"),
    (["--task", "node", "--methods", "gnndelete"], "--methods: method 'gnndelete' does not serve node models"),
    (["--methods", "graph_eraser"], "--methods: method 'graph_eraser' unlearns sharded models"),
    (["--methods", "utu"], "--methods: method 'utu' has no parameter 'epochs'"),
    (["--region-pairs", "0"], "--region-pairs must be >= 1, got 0"),
    (["--methods", "gradient_ascent", "--region-pairs", "64"], "--region-pairs applies to gnndelete"),
    (["--device", "nosuch"], "--device: invalid device 'nosuch'"),
])
def test_bad_options_are_refused_before_any_work(scale, no_work, tmp_path, capsys, argv, says):
    assert says in refused(scale.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused(scale, no_work, tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("")
    with pytest.raises(SystemExit) as e:
        scale.main(["--output", str(target)])
    assert e.value.code == 2 and "is a file; give a folder" in capsys.readouterr().err
    assert target.read_text() == ""


@pytest.mark.parametrize("content, says", [
    (None, "t.json does not exist; run the benchmark with this --output and --name first"),
    ("{not json", "t.json is not a JSON file"),
    ('{"rows": []}', "t.json holds no rows of measured steps (step, train_edges, seconds, memory)"),
    ('[1, 2]', "t.json holds no rows of measured steps"),
    ('{"rows": [{"step": "train"}]}', "is it a result of benchmarks/scale.py?"),
])
def test_replot_refuses_a_missing_or_foreign_result_file(scale, no_work, tmp_path, capsys, content, says):
    if content is not None:
        (tmp_path / "t.json").write_text(content)
    with pytest.raises(SystemExit) as e:
        scale.main(["--replot", "--output", str(tmp_path), "--name", "t"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: --replot: " in err and says in err
    assert [p.name for p in tmp_path.iterdir()] == ([] if content is None else ["t.json"])


def test_good_options_pass_the_checks_and_reach_the_work(scale, no_work, tmp_path):
    for argv in ([], ["--task", "node", "--fanouts", "5,5", "--batch-size", "256"], ["--task", "rec"],
                 ["--nodes", "2449029", "--avg-degree", "25.3", "--features", "100", "--classes", "47",
                  "--fanouts", "5,5", "--batch-size", "4096", "--epochs", "1", "--max-steps", "20",
                  "--method-epochs", "5", "--request", "0.0001", "--region-pairs", "4096", "--no-retrain",
                  "--methods", "gnndelete,gradient_ascent", "--split-phases"]):
        with pytest.raises(AssertionError, match="the benchmark started"):
            scale.main(argv + ["--output", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_a_sampler_this_machine_cannot_run_is_refused(scale, no_work, tmp_path, capsys):
    import importlib.util
    if importlib.util.find_spec("pyg_lib") or importlib.util.find_spec("torch_sparse"):
        pytest.skip("PyG's sampler runs here")
    with pytest.raises(SystemExit) as e:
        scale.main(["--fanouts", "5,5", "--sampler", "pyg", "--output", str(tmp_path)])
    assert e.value.code == 2 and "--sampler pyg: sampler='pyg' uses PyG's NeighborSampler" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
