"""benchmarks/opengu_node.py: one block per model family, each with its own retrain, the same
request in every block, and attacks that cannot audit a family left out with the reason."""
import json

import pytest

import gnn_unlearn

from gnn_unlearn.data import synthetic_graph

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("opengu_node")


@pytest.fixture(scope="module")
def report(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("opengu")
    bench.load_dataset = lambda name, mirror=None: synthetic_graph(200, num_features=32, seed=1)
    bench.main(["--datasets", "Tiny", "--seeds", "1", "--epochs", "5", "--shards", "2",
                "--families", "gcn,certified,sharded", "--methods", "utu", "--attacks", "lira,relearn",
                "--attack-params", '{"lira": {"shadows": 2, "variant": "offline"}}',
                "--output", str(out), "--name", "t"])
    return json.loads((out / "t.json").read_text()), (out / "t.md").read_text()


def rows_of(payload, family):
    block = next(b for b in payload["blocks"] if b["family"] == family)
    return {r["model"]: r for r in block["runs"]}, block


def test_each_family_has_its_own_retrain_at_distance_zero(report):
    payload, _ = report
    for family, retrains in (("gcn", ["retrain"]), ("certified", ["cgu: retrain", "scalegun: retrain"]),
                             ("sharded", ["graph_eraser: retrain", "guide: retrain"])):
        rows, _ = rows_of(payload, family)
        for name in retrains:
            assert rows[name]["dist"] == 0.0
        assert len({r["seed"] for r in rows.values()}) == 1


def test_certificate_state_is_reported(report):
    rows, _ = rows_of(report[0], "certified")
    for method in ("cgu", "scalegun"):
        assert rows[method]["retrained"] in (0.0, 1.0)
        assert 0.0 <= rows[method]["budget_left_share"] <= 1.0
    assert "auto-retrained (seeds)" in report[1]


def test_lira_left_out_of_non_gnn_blocks_with_its_reason(report):
    payload, md = report
    gcn, _ = rows_of(payload, "gcn")
    assert "lira_auc" in gcn["retrain"]
    for family in ("certified", "sharded"):
        rows, block = rows_of(payload, family)
        assert "lira" in block["skipped_attacks"] and "relearn" not in block["skipped_attacks"]
        own = [r for name, r in rows.items() if not name.startswith("single GCN")]
        assert all("lira_auc" not in r and "relearn_id_auc" in r for r in own)
    certified_section = md.split("certified linear")[1].split("###")[0]
    assert "LiRA" not in certified_section.split("\n\n")[1] and "lira: not run" in certified_section


def test_sharded_block_repeats_the_single_gcn_of_the_same_request(report):
    payload, _ = report
    gcn, _ = rows_of(payload, "gcn")
    sharded, _ = rows_of(payload, "sharded")
    assert sharded["single GCN: retrain"]["test_f1_micro"] == gcn["retrain"]["test_f1_micro"]
    assert sharded["single GCN: retrain"]["speedup"] != sharded["single GCN: retrain"]["speedup"]  # nan
    assert sharded["graph_eraser"]["seconds"] > 0 and sharded["guide"]["seconds"] > 0


def test_certified_select_chooses_per_seed_and_serves_the_protocol_request(bench, tmp_path):
    """--certified-select protocol: the certified block's lambda / sigma come from select_certified
    (hold-out validation, the block's own request), the cgu row is the chosen model, and the
    choice is listed under the block."""
    bench.load_dataset = lambda name, mirror=None: synthetic_graph(200, num_features=32, seed=1)
    bench.main(["--datasets", "Tiny", "--seeds", "1", "--families", "certified,scattering", "--attacks", "",
                "--certified-select", "protocol", "--output", str(tmp_path), "--name", "s"])
    payload = json.loads((tmp_path / "s.json").read_text())
    rows, block = rows_of(payload, "certified")
    (chosen,) = block["selections"]
    assert chosen["request"] == ["node", 20] and chosen["validation"].startswith("hold-out of 0.2")
    assert chosen["constraint_met"] and chosen["refit_served"] == 1
    assert rows["cgu"]["retrained"] == 0.0          # the protocol request: served without retraining
    assert "selected for 1 x protocol" in block["backbone"]
    md = (tmp_path / "s.md").read_text()
    assert f"lambda = {chosen['lam']:g}, sigma = {chosen['noise_std']:g}" in md
    _, scattering = rows_of(payload, "scattering")
    assert len(scattering["selections"]) == 1 and scattering["selections"][0]["record"]["method"] == "gst"
    with pytest.raises(SystemExit):
        bench.main(["--families", "certified", "--certified-select", "class:1"])


@pytest.fixture()
def no_training(bench, monkeypatch):
    """Any training or unlearning fails the test: a refusal must come before the work starts.
    ``Tiny`` is a 200-node labelled graph and ``Bare`` one without labels; other names go to the
    library's loader (which refuses an unknown name before reading any file)."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    for name in ("train", "train_certified", "train_scattering", "train_sharded", "select_certified",
                 "unlearn", "run_block"):
        monkeypatch.setattr(bench, name, refuse)
    real = gnn_unlearn.load_dataset

    def load(name, mirror=None):
        graph = synthetic_graph(200, num_features=32, seed=1)
        if name == "Tiny":
            return graph
        if name == "Bare":
            del graph.y
            return graph
        return real(name, mirror=mirror)
    monkeypatch.setattr(bench, "load_dataset", load)


TINY = ["--datasets", "Tiny"]


@pytest.mark.parametrize("argv, says", [
    (["--name", ""], "--name must not be empty"),
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--epochs", "0"], "--epochs: TrainConfig.epochs must be a positive int, got 0"),
    (["--families", "gcn,gcm"], "--families entry 'gcm': choose from gcn, linear"),
    (["--families", "gcn,gcn"], "--families: 'gcn' is given twice; give each once"),
    (["--families", "linear", "--no-linear"], "--families 'linear' with --no-linear leaves no block to run"),
    (["--families", ""], "--families '' leaves no block to run"),
    (["--family-seeds", "sharded:x"], "--family-seeds entry 'sharded:x': give family:seeds pairs"),
    (["--family-seeds", "sharded:2,sharded:1"], "--family-seeds: 'sharded' is given twice"),
    (["--families", "gcn", "--family-seeds", "sharded:1"], "--family-seeds names 'sharded', which is not a block"),
    (["--seeds", "2", "--family-seeds", "gcn:3"], "--family-seeds gcn:3: give 1 to --seeds (2) seeds"),
    (["--family-seeds", "gcn:0"], "--family-seeds gcn:0: give 1 to --seeds (3) seeds"),
    (["--methods", "utu,nosuch"], "--methods entry 'nosuch': choose from utu, gif"),
    (["--methods", ""], "--methods entry '': choose from"),
    (["--methods", "utu,utu"], "--methods: 'utu' is given twice"),
    (["--families", "linear", "--methods", "utu"], "--methods chooses the gcn block's rows; add gcn"),
    (["--attacks", "nosuch"], "--attacks, --attack-params: unknown attacks ['nosuch']"),
    (["--attack-params", "{"], "--attack-params must be JSON"),
    (["--attack-params", '{"probe": {}}'], "attack_params must be a dict keyed by the chosen attacks"),
    (["--certified-select", "class:1"], "--certified-select takes 'protocol' or KIND:SIZE"),
    (["--certified-select", "node:1.5"], "a fractional request size must lie in (0, 1)"),
    (["--certified-select", ""], "--certified-select takes 'protocol' or KIND:SIZE"),
    (["--families", "gcn", "--certified-select", "protocol"], "--certified-select applies to the certified"),
    (["--certified-min-requests", "0"], "--certified-min-requests must be >= 1, got 0"),
    (["--certified-min-requests", "2"], "--certified-min-requests applies to --certified-select"),
    (["--count-scaling", "strict"], "--count-scaling applies to --certified-select"),
    (["--families", "gcn", "--shards", "4"], "--shards applies to the sharded block"),
    (TINY + ["--families", "sharded", "--shards", "0"], "--shards (graph_eraser on Tiny): num_shards must be"),
    (TINY + ["--families", "sharded", "--shards", "500"], "500 shards but only 161 training nodes"),
    (["--synthetic", "0"], "--synthetic takes a number of nodes >= 1, got 0"),
    (["--synthetic", "100"], "--synthetic: cannot draw the request of seed 0 (270 training nodes)"),
    (["--synthetic", "1000", "--datasets", "Cora"], "--synthetic replaces --datasets"),
    (["--synthetic", "1000", "--methods", "utu"], "--methods does not apply with --synthetic"),
    (["--synthetic", "1000", "--families", "gcn,certified"], "runs only the gcn and linear blocks; drop certified"),
    (["--datasets", "Tiny,Nosuch"], "--datasets: unknown dataset 'Nosuch'"),
    (["--datasets", "Tiny,tiny"], "--datasets: 'Tiny' and 'tiny' are the same"),
    (["--datasets", "Bare"], "--datasets: 'Bare' has no node features or labels"),
    (TINY + ["--mirror", "/no/such/folder"], "--mirror '/no/such/folder' is not a folder"),
])
def test_bad_options_are_refused_before_any_training(bench, no_training, tmp_path, capsys, argv, says):
    assert says in refused(bench.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused(bench, no_training, tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("")
    with pytest.raises(SystemExit) as e:
        bench.main(TINY + ["--output", str(target)])
    assert e.value.code == 2 and "is a file; give a folder" in capsys.readouterr().err
    assert target.read_text() == ""


def test_good_options_pass_the_checks_and_reach_the_work(bench, no_training, tmp_path):
    with pytest.raises(AssertionError, match="training started"):
        bench.main(TINY + ["--seeds", "2", "--families", "gcn,sharded", "--family-seeds", "sharded:1",
                           "--methods", "utu", "--shards", "4", "--output", str(tmp_path)])
    assert not any(tmp_path.iterdir())
