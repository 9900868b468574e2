"""benchmarks/opengu_node.py: one block per model family, each with its own retrain, the same
request in every block, and attacks that cannot audit a family left out with the reason."""
import json

import pytest

from gnn_unlearn.data import synthetic_graph

from .conftest import load_benchmark


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
