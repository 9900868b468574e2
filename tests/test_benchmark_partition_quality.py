import json

import pytest
import torch

from .conftest import load_benchmark


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
