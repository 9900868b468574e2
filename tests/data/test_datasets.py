import os
import os.path as osp

import numpy as np
import pytest
import torch

from gnn_unlearn.data import available_datasets, load_dataset
from gnn_unlearn.data.datasets import read_lightgcn_file
from gnn_unlearn.ops import undirected_pairs


def test_cora_is_the_real_graph(cora):
    assert cora.num_nodes == 2708
    assert cora.x.shape == (2708, 1433)
    assert undirected_pairs(cora.edge_index, cora.num_nodes).size(1) == 5278
    assert int(cora.y.max()) + 1 == 7
    # the public Planetoid split is kept
    assert int(cora.train_mask.sum()) == 140 and int(cora.test_mask.sum()) == 1000


def test_citeseer(mirror, cache_root):
    data = load_dataset("citeseer", root=cache_root, mirror=mirror)
    assert data.x.shape == (3327, 3703)
    assert int(data.y.max()) + 1 == 6


def test_gowalla_counts(mirror, cache_root):
    data = load_dataset("gowalla", root=cache_root, mirror=mirror)
    assert data.num_users == 29858 and data.num_items == 40981
    assert data.train_pos_edge_index.size(1) == 719081
    assert data.val_pos_edge_index.size(1) == 91047
    assert data.test_pos_edge_index.size(1) == 217242
    users, items = data.train_pos_edge_index
    assert int(users.max()) < data.num_users <= int(items.min())
    assert data.edge_index.size(1) == 2 * 719081


def test_lastfm_counts(lastfm):
    assert (lastfm.num_users, lastfm.num_items) == (1885, 17388)
    assert lastfm.train_pos_edge_index.size(1) == 64315


def test_mirror_is_not_written(mirror, tmp_path):
    before = sorted(os.listdir(osp.join(mirror, "Cora")))
    load_dataset("Cora", root=str(tmp_path), mirror=mirror)
    assert sorted(os.listdir(osp.join(mirror, "Cora"))) == before
    assert osp.isdir(tmp_path / "Cora" / "processed")


def test_missing_files_say_which_and_where(tmp_path):
    empty = tmp_path / "mirror"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"ind\.cora\.x.*GNN_UNLEARN_MIRROR"):
        load_dataset("Cora", root=str(tmp_path / "cache"), mirror=str(empty), download=False)
    with pytest.raises(FileNotFoundError, match="train.txt"):
        load_dataset("gowalla", root=str(tmp_path / "cache"), mirror=str(empty))


def test_bad_names_and_options(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'Coraa'.*Cora"):
        load_dataset("Coraa")
    with pytest.raises(TypeError, match="only 'synthetic'"):
        load_dataset("Cora", num_nodes=5)
    with pytest.raises(FileNotFoundError, match="mirror folder"):
        load_dataset("Cora", root=str(tmp_path), mirror=str(tmp_path / "nope"))
    assert "ogbl-collab" in available_datasets() and "synthetic" in available_datasets()


def test_read_lightgcn_file_matches_line_parser(tmp_path):
    rng = np.random.default_rng(0)
    lines, expected = [], []
    for u in range(50):
        items = rng.choice(200, size=rng.integers(0, 8), replace=False)
        lines.append(" ".join(map(str, [u, *items])))
        expected += [(u, int(i)) for i in items]
    path = tmp_path / "train.txt"
    path.write_text("\n".join(lines) + "\n\n")
    users, items = read_lightgcn_file(str(path))
    assert list(zip(users.tolist(), items.tolist())) == expected


def test_synthetic_through_load_dataset():
    a = load_dataset("synthetic", num_nodes=300, seed=3)
    b = load_dataset("synthetic", num_nodes=300, seed=3)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)


def _load_and_count(args):
    root, mirror = args
    data = load_dataset("CiteSeer", root=root, mirror=mirror)
    return data.num_nodes, data.edge_index.size(1), float(data.x.sum())


def test_processes_loading_one_fresh_cache_at_once_all_get_the_graph(mirror, tmp_path):
    # PyG saves processed/ with a plain write: without the cache lock a second process read the
    # first one's half-written file (14 grid jobs started at once on one machine)
    import multiprocessing as mp
    with mp.get_context("spawn").Pool(4) as pool:
        counts = pool.map(_load_and_count, [(str(tmp_path), mirror)] * 4)
    assert counts == [counts[0]] * 4 and counts[0][:2] == (3327, 9104)
