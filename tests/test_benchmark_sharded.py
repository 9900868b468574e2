import json
import os.path as osp

import pytest

from .conftest import Checked, load_benchmark, refused, stop_main_after_checks

RESULTS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), "benchmarks", "results")


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("sharded")


@pytest.fixture()
def no_training(bench, monkeypatch):
    """Any training, unlearning or writing makes the test fail: a refusal must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("work started before the options were checked")
    for name in ("train", "train_sharded", "unlearn", "run", "write"):
        monkeypatch.setattr(bench, name, refuse)


def refused_unwritten(bench, argv, out, capsys) -> str:
    """:func:`refused` with ``--output out``, asserting too that nothing was written."""
    err = refused(bench.main, argv + ["--output", str(out)], capsys)
    assert not out.exists()
    return err


@pytest.mark.parametrize("argv, says", [
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--first-seed", "-1"], "--first-seed must be >= 0, got -1"),
    (["--verify-seeds", "-1"], "--verify-seeds must be >= 0, got -1"),
    (["--per-request", "-2"], "--per-request must be >= 0, got -2"),
    (["--shards", "0"], "--shards must be >= 1, got 0"),
    (["--epochs", "0"], "--epochs, --patience: TrainConfig.epochs must be a positive int"),
    (["--patience", "0"], "--epochs, --patience: TrainConfig.patience must be a positive int"),
    (["--methods", "graph_eraser,sisa"], "--methods: unknown sharding method 'sisa'; choose from graph_eraser, guide"),
    (["--methods", "guide,guide"], "--methods: 'guide' is given twice; give each once"),
    (["--requests", "node"], "--requests entry 'node': give kind:fraction, e.g. node:0.01"),
    (["--requests", "node:x"], "--requests entry 'node:x': give kind:fraction"),
    (["--requests", "nodes:0.01"], "--requests entry 'nodes:0.01': give kind:fraction with kind one of"),
    (["--requests", "node:0.01:2"], "--requests entry 'node:0.01:2': give kind:fraction"),
    (["--requests", "node:0.01,edge:0.01,node:0.01"], "--requests: 'node:0.01' is given twice; give each once"),
    (["--paired", "--per-request", "0"], "--paired times the one-at-a-time requests"),
    (["--paired", "--requests", "edge:0.01"], "--paired times the one-at-a-time requests"),
    (["--per-request", "3", "--requests", "edge:0.01"], "--per-request serves nodes of the node request"),
    (["--partition-options", '{"refine_rounds": 0}'],
     "--partition-options (for graph_eraser's blpa partition): partition 'blpa' takes the options delta, "
     "max_iters, terminate_delta; got 'refine_rounds'"),
    (["--methods", "guide", "--partition-options", '{"refine_rounds": -1}'],
     "--partition-options (for guide's fair partition): refine_rounds must be an int >= 0"),
    (["--partition-options", "[0]"], "must be a JSON object"),
    (["--name", ""], "--name must not be empty"),
    (["--datasets", "nosuch"], "--datasets: unknown dataset 'nosuch'"),
])
def test_bad_options_are_refused_before_any_training(bench, no_training, tmp_path, capsys, argv, says):
    assert says in refused_unwritten(bench, argv, tmp_path / "out", capsys)


@pytest.mark.parametrize("argv, says", [
    (["--datasets", "Cora,nosuch"], "--datasets: unknown dataset 'nosuch'"),
    (["--datasets", "Cora,cora"], "--datasets: 'Cora' and 'cora' are the same; give each once"),
    (["--datasets", "lastfm"], "--datasets 'lastfm' (node task): node_split needs node labels data.y"),
    (["--datasets", "lastfm", "--task", "link"], "sharded training needs node features data.x"),
    (["--datasets", "Cora", "--shards", "2000"], "2000 shards but only 1627 training nodes; use fewer shards"),
    (["--datasets", "Cora", "--task", "link", "--shards", "5000"], "5000 shards but only 4752 training edges"),
    (["--datasets", "Cora", "--encoder", "gcnn"], "--encoder: unknown encoder 'gcnn'"),
    (["--datasets", "Cora", "--requests", "node:0.01,edge:1.5"],
     "--requests edge:1.5 on Cora: a fractional size must lie in (0, 1)"),
    (["--datasets", "Cora", "--requests", "feature:0"], "--requests feature:0 on Cora: a fractional size"),
])
def test_bad_datasets_are_refused_before_any_training(bench, no_training, mirror, cache_root, monkeypatch,
                                                      tmp_path, capsys, argv, says):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    assert says in refused_unwritten(bench, argv + ["--root", cache_root], tmp_path / "out", capsys)


def run_file(path, rows=None, **fields) -> str:
    rows = [dict(dataset="Cora", task="node", method="guide", request="node", size=0.01, shards=10, touched=2,
                 unlearn_s=1.0, retrain_s=2.0, speedup=2.0)] if rows is None else rows
    path.write_text(json.dumps({"command": "python benchmarks/sharded.py", "hardware": "cpu", "rows": rows,
                                **fields}))
    return str(path)


@pytest.mark.parametrize("content, extra, says", [
    (None, [], "--render: cannot read"),
    ("{not json", [], "is not JSON"),
    ("[1, 2]", [], "is not the JSON of a sharded.py run"),
    ('{"command": "x", "hardware": "y"}', [], "is not the JSON of a sharded.py run"),
    ('{"command": "x", "hardware": "y", "rows": []}', [], "is not the JSON of a sharded.py run"),
    ('{"command": "x", "hardware": "y", "rows": [{"dataset": "Cora"}]}', [],
     "each row with dataset, method, request, size, shards"),
    ("ok", ["--task", "link"], "holds node rows; pass --task node"),
    ("ok", ["--shards", "20"], "holds runs with 10 shards; pass --shards 10"),
])
def test_bad_render_files_are_refused_before_writing(bench, no_training, tmp_path, capsys, content, extra, says):
    path = tmp_path / "run.json"
    if content == "ok":
        run_file(path)
    elif content is not None:
        path.write_text(content)
    err = refused_unwritten(bench, ["--render", f"{run_file(tmp_path / 'good.json')},{path}"] + extra, tmp_path / "out",
                  capsys)
    assert says in err and (content == "ok" or str(path) in err)


def test_an_output_that_is_a_file_is_refused_unwritten(bench, no_training, tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("keep")
    assert "is a file; give a folder" in refused(bench.main, ["--output", str(target)], capsys)
    assert target.read_text() == "keep"


@pytest.fixture()
def stop_after_checks(bench, monkeypatch):
    stop_main_after_checks(bench, monkeypatch)


@pytest.mark.parametrize("argv", [
    ["--datasets", "Cora", "--seeds", "3"],
    ["--task", "link", "--datasets", "Cora", "--requests", "edge:0.01,node:0.01", "--per-request", "0"],
    ["--datasets", "Cora", "--requests", "node:0.01", "--per-request", "20", "--paired", "--verify-seeds", "0"],
    ["--datasets", "Cora", "--methods", "guide", "--shards", "20", "--requests", "node:0.01", "--per-request", "20",
     "--paired"],
    ["--datasets", "Cora", "--methods", "guide", "--partition-options", '{"refine_rounds": 0}'],
    ["--datasets", "Cora", "--requests", "edge:0.01"],      # the default --per-request: no node request, no error
])
def test_the_readme_runs_pass_the_checks(bench, no_training, stop_after_checks, mirror, cache_root, monkeypatch,
                                         tmp_path, argv):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    with pytest.raises(Checked):
        bench.main(argv + ["--root", cache_root, "--output", str(tmp_path)])


def test_render_rewrites_a_stored_run(bench, tmp_path):
    bench.main(["--render", osp.join(RESULTS, "sharded_speedup_cora_guide_k20.json"), "--shards", "20",
                "--output", str(tmp_path), "--name", "k20"])
    assert "20 shards" in (tmp_path / "k20.md").read_text()
    assert json.loads((tmp_path / "k20.json").read_text())["rows"]
