import hashlib
import json

import pytest
import torch

from gnn_unlearn.data import bipartite_synthetic, link_split, synthetic_graph
from gnn_unlearn.request_files import infer_kind, read_request, request_from_ids


@pytest.fixture(scope="module")
def rec():
    return bipartite_synthetic(num_users=40, num_items=30, avg_degree=6, seed=0)


@pytest.fixture(scope="module")
def graph():
    return link_split(synthetic_graph(num_nodes=60, num_classes=3, avg_degree=4, num_features=6,
                                      features_per_node=2, seed=1), seed=0)


def _train_pairs(rec, k, start=0):
    t = rec.train_pos_edge_index[:, start:start + k]
    return t[0].tolist(), (t[1] - rec.num_users).tolist()


def _write(path, text):
    path.write_text(text)
    return str(path)


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_interactions_csv_resolves_to_those_pairs(rec, tmp_path):
    users, items = _train_pairs(rec, 5)
    f = _write(tmp_path / "forget.csv", "user,item\n" + "".join(f"{u}, {i}\n" for u, i in zip(users, items)) + "\n")
    before = _digest(f)
    task = read_request(f, rec).resolve(rec)
    assert _digest(f) == before
    assert task.df_mask.nonzero().view(-1).tolist() == [0, 1, 2, 3, 4]


def test_jsonl_and_python_and_id_maps_agree(rec, tmp_path):
    users, items = _train_pairs(rec, 4, start=7)
    # the user's own IDs: strings through a map file (original_id,index)
    (tmp_path / "users.csv").write_text("original_id,index\n" + "".join(f"u{k},{k}\n" for k in range(40)))
    item_map = {f"song-{k}": k for k in range(30)}
    f = _write(tmp_path / "f.jsonl", "".join(json.dumps({"user": f"u{u}", "item": f"song-{i}"}) + "\n"
                                             for u, i in zip(users, items)))
    maps = {"user": str(tmp_path / "users.csv"), "item": item_map}
    from_file = read_request(f, rec, id_map=maps).resolve(rec)
    from_python = request_from_ids(rec, "interactions", {"user": [f"u{u}" for u in users],
                                                         "item": [f"song-{i}" for i in items]},
                                   id_map=maps).resolve(rec)
    plain = request_from_ids(rec, None, {"user": users, "item": items}).resolve(rec)
    assert torch.equal(from_file.df_mask, from_python.df_mask) and torch.equal(from_file.df_mask, plain.df_mask)
    assert int(plain.df_mask.sum()) == 4


def test_users_items_edges_nodes_features(rec, graph, tmp_path):
    u = read_request(_write(tmp_path / "u.csv", "user\n3\n5\n"), rec).resolve(rec)
    t = rec.train_pos_edge_index
    assert torch.equal(u.df_mask, (t[0] == 3) | (t[0] == 5))
    i = read_request(_write(tmp_path / "i.csv", "item\n2\n"), rec).resolve(rec)
    assert torch.equal(i.df_mask, t[1] == rec.num_users + 2)
    e = graph.train_pos_edge_index[:, :3]
    edges = read_request(_write(tmp_path / "e.csv", "source,target\n" + "".join(
        f"{b},{a}\n" for a, b in e.t().tolist())), graph).resolve(graph)          # reversed: same edges
    assert edges.df_mask.nonzero().view(-1).tolist() == [0, 1, 2]
    nodes = read_request(_write(tmp_path / "n.csv", "node\n4\n9\n"), graph).resolve(graph)
    assert nodes.deleted_nodes.nonzero().view(-1).tolist() == [4, 9]
    feats = read_request(_write(tmp_path / "x.csv", "node,column\n4,1\n9,1\n9,3\n7,\n"), graph).resolve(graph)
    expected = torch.zeros_like(feats.feature_mask)
    expected[4, 1] = expected[9, 1] = expected[9, 3] = True
    expected[7] = True
    assert torch.equal(feats.feature_mask, expected)
    rows = read_request(_write(tmp_path / "r.csv", "node\n4\n"), graph, kind="features").resolve(graph)
    assert rows.feature_mask[4].all() and int(rows.feature_mask.sum()) == graph.x.size(1)


@pytest.mark.parametrize("text, kind, match", [
    ("", None, "is empty"),
    ("user,item\n", None, "no rows"),
    ("usr,item\n1,2\n", None, "cannot tell the request kind"),
    ("user,item,when\n1,2,3\n", "interactions", "unexpected"),
    ("user\n1\n", "interactions", "missing"),
    ("user,item\n1,2,3\n", None, "do not have the 2 fields"),
    ("user,item\nU1,2\n", None, "not integer IDs, e.g. 'U1'"),
    ("user\n3\n999\n1000\n", None, "unknown to this graph: it has 40 users.*'1000', '999'"),
    ("user\n3\n3\n", None, "repeat an earlier row"),
    ("user,user\n3,3\n", None, "repeated column names"),
    ("node\n3\n", "bogus", "unknown request kind"),
])
def test_malformed_request_files_are_refused_by_name(rec, tmp_path, text, kind, match):
    f = _write(tmp_path / "bad.csv", text)
    before = _digest(f)
    with pytest.raises(ValueError, match=match):
        read_request(f, rec, kind=kind)
    assert _digest(f) == before


def test_pairs_that_are_not_training_interactions_are_named(rec, tmp_path):
    v = rec.val_pos_edge_index[:, 0]
    f = _write(tmp_path / "v.csv", f"user,item\n{int(v[0])},{int(v[1]) - rec.num_users}\n")
    with pytest.raises(ValueError, match=rf"not training interactions.*\('{int(v[0])}', "
                                         rf"'{int(v[1]) - rec.num_users}'\)"):
        read_request(f, rec)


def test_wrong_kind_for_the_graph_and_unknown_mapped_ids(graph, rec, tmp_path):
    with pytest.raises(ValueError, match="needs a user-item graph"):
        read_request(_write(tmp_path / "u.csv", "user\n1\n"), graph)
    with pytest.raises(ValueError, match="2 user IDs .* are not in the user ID map.*'nobody', 'zed'"):
        request_from_ids(rec, "users", {"user": ["a", "zed", "nobody"]}, id_map={"user": {"a": 0}})
    with pytest.raises(ValueError, match="more than one original ID"):
        request_from_ids(rec, "users", {"user": ["a"]}, id_map={"user": {"a": 0, "b": 0}})
    (tmp_path / "m.csv").write_text("id,index\na,0\n")
    with pytest.raises(ValueError, match="original_id,index"):
        read_request(_write(tmp_path / "u2.csv", "user\na\n"), rec, id_map={"user": str(tmp_path / "m.csv")})
    with pytest.raises(ValueError, match="unknown entities"):
        read_request(_write(tmp_path / "u3.csv", "user\n1\n"), rec, id_map={"person": {"a": 0}})
    with pytest.raises(ValueError, match="unknown file type"):
        read_request(_write(tmp_path / "u.txt", "user\n1\n"), rec)


def test_parquet_needs_pyarrow_or_reads(rec, tmp_path):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        f = tmp_path / "r.parquet"
        f.write_bytes(b"PAR1")
        with pytest.raises(ImportError, match="needs pyarrow"):
            read_request(str(f), rec)
        return
    pq.write_table(pa.table({"user": [1, 2]}), str(tmp_path / "r.parquet"))
    assert int(read_request(str(tmp_path / "r.parquet"), rec).resolve(rec).df_mask.sum()) > 0


def test_infer_kind():
    assert infer_kind(["item", "user"]) == "interactions"
    assert infer_kind(["node", "column"]) == "features" and infer_kind(["node"]) == "nodes"
