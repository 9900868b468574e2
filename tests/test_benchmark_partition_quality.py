import json

import pytest
import torch

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def pq():
    return load_benchmark("partition_quality")


def test_touched_counts_a_nodes_own_shard_and_its_neighbours_other_shards(pq):
    # path 0-1-2-3 plus 1-4, shards [0, 0, 1, 2, 0]: node 1 has neighbours in shards 0 and 1
    pairs = torch.tensor([[0, 1], [1, 2], [2, 3], [1, 4]]).t()
    edge_index = torch.cat([pairs, pairs.flip(0)], 1)
    assignment = torch.tensor([0, 0, 1, 2, 0])
    per_node = [pq.touched_per_node(edge_index, assignment, torch.tensor([v]), 3) for v in range(5)]
    assert per_node == [1.0, 2.0, 3.0, 2.0, 1.0]
    assert pq.touched_per_node(edge_index, assignment, torch.arange(5), 3) == pytest.approx(9 / 5)


def test_the_table_is_measured_per_partition_and_guides_default_is_fairer_and_cuts_less(pq, tmp_path):
    pq.main(["--datasets", "synthetic", "--seeds", "2", "--shards", "4", "--output", str(tmp_path), "--name", "q"])
    rows = json.loads((tmp_path / "q.json").read_text())["rows"]
    assert len(rows) == 2 * len(pq.PARTITIONS)
    by = {(r["seed"], r["partition"]): r for r in rows}
    fast, default = pq.PARTITIONS[2][0], pq.PARTITIONS[3][0]
    for seed in (0, 1):
        assert by[seed, default]["fairness"] < by[seed, fast]["fairness"]
        assert by[seed, default]["cut"] < by[seed, fast]["cut"]
        assert by[seed, "random"]["touched_repair"] > by[seed, default]["touched_repair"] >= 1
    assert "| synthetic | random | 2 |" in (tmp_path / "q.md").read_text()
    with pytest.raises(SystemExit):
        pq.main(["--seeds", "0"])


@pytest.fixture()
def no_partitioning(pq, monkeypatch):
    """Any partition computed fails the test: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("partitioning started before the options were checked")
    monkeypatch.setattr(pq, "partition_nodes", refuse)


@pytest.mark.parametrize("argv, says", [
    (["--name", ""], "--name must not be empty"),
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--shards", "1"], "--shards must be >= 2 (one shard cuts nothing), got 1"),
    (["--datasets", "synthetic,Nosuch"], "--datasets: unknown dataset 'Nosuch'"),
    (["--datasets", "synthetic,SYNTHETIC"], "--datasets: 'synthetic' and 'SYNTHETIC' are the same"),
    (["--datasets", "synthetic", "--shards", "5000"], "--shards 5000: synthetic has only 2000 nodes"),
])
def test_bad_options_are_refused_before_any_partition(pq, no_partitioning, tmp_path, capsys, argv, says):
    assert says in refused(pq.main, argv + ["--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused(pq, no_partitioning, tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("")
    with pytest.raises(SystemExit) as e:
        pq.main(["--datasets", "synthetic", "--output", str(target)])
    assert e.value.code == 2 and "is a file; give a folder" in capsys.readouterr().err
    assert target.read_text() == ""


def test_a_graph_without_labels_is_refused(pq, no_partitioning, mirror, cache_root, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    assert "--datasets: 'lastfm': node_split needs node labels data.y" in refused(pq.main, ["--datasets", "lastfm", "--root", cache_root, "--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())
