"""Serving deletion requests by file through the CLI: sequences, the audit, refusals before work."""
import hashlib
import json

import pytest
import torch

from gnn_unlearn.cli import main

RETRAIN = ["--method", "retrain", "--params", '{"epochs": 8, "seed": 3}']


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _pairs_csv(path, pairs):
    path.write_text("source,target\n" + "".join(f"{u},{v}\n" for u, v in pairs))
    return str(path)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """orig -> (a.csv) -> u1 -> (b.csv) -> u2, and orig -> (a|b) -> uab, all by retraining."""
    d = tmp_path_factory.mktemp("serve")
    orig = str(d / "orig.pt")
    assert main(["train", "--num-nodes", "200", "--epochs", "10", "--output", orig]) == 0
    train_edges = torch.load(orig, weights_only=True)["split"]["train_pos_edge_index"].t().tolist()
    a, b = train_edges[:6], [(v, u) for u, v in train_edges[6:10]]      # b given in reverse
    files = {"a": _pairs_csv(d / "a.csv", a), "b": _pairs_csv(d / "b.csv", b),
             "ab": _pairs_csv(d / "ab.csv", a + b)}
    ledger = str(d / "ledger.jsonl")
    for src, req, out in (("orig", "a", "u1"), ("u1", "b", "u2"), ("orig", "ab", "uab")):
        assert main(["unlearn", "--checkpoint", str(d / f"{src}.pt"), "--request", files[req], *RETRAIN,
                     "--output", str(d / f"{out}.pt"), "--ledger", ledger]) == 0
    return d, ledger


def test_a_then_b_equals_a_or_b_through_checkpoints(served):
    d, _ = served
    u2, uab = (torch.load(str(d / f"{k}.pt"), weights_only=True) for k in ("u2", "uab"))
    assert u2["retained"].keys() == uab["retained"].keys()
    for k in u2["retained"]:
        assert torch.equal(u2["retained"][k], uab["retained"][k]), k
    orig = torch.load(str(d / "orig.pt"), weights_only=True)
    assert u2["retained"]["train_pos_edge_index"].size(1) == orig["split"]["train_pos_edge_index"].size(1) - 10
    assert all(torch.equal(u2["state_dict"][k], uab["state_dict"][k]) for k in uab["state_dict"])
    u1 = torch.load(str(d / "u1.pt"), weights_only=True)      # can fail: A alone retrains otherwise
    assert not all(torch.equal(u1["state_dict"][k], uab["state_dict"][k]) for k in uab["state_dict"])
    assert u2["data_signature"] == uab["data_signature"]
    # u2 was resolved on u1's retained graph
    assert all(torch.equal(u2["split"][k], u1["retained"][k]) for k in u1["retained"])


def test_audit_lists_the_deletions_and_detects_tampering(served, tmp_path, capsys):
    d, ledger = served
    capsys.readouterr()
    assert main(["audit", ledger]) == 0
    out = capsys.readouterr().out
    assert "#1 " in out and "#3 " in out and "retrain: deleted 6 edges" in out and "ledger intact: 3 entries" in out
    # one edited line
    copy = tmp_path / "l.jsonl"
    lines = open(ledger).read().splitlines()
    e = json.loads(lines[1])
    e["method"] = "gradient_ascent"
    copy.write_text("\n".join([lines[0], json.dumps(e, sort_keys=True, separators=(",", ":")), lines[2]]) + "\n")
    assert main(["audit", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "entry 2" in err and err.count("\n") == 1
    # one changed checkpoint
    path = str(d / "uab.pt")
    original = open(path, "rb").read()
    try:
        open(path, "ab").write(b"\0")
        assert main(["audit", ledger]) == 2
        assert "entry 3: output checkpoint" in capsys.readouterr().err
        assert main(["audit", ledger, "--no-files"]) == 0
    finally:
        open(path, "wb").write(original)
    # a torn tail is reported, and can be set aside
    copy.write_text("\n".join(lines) + "\n" + lines[0][:40])
    assert main(["audit", str(copy), "--no-files"]) == 2
    assert "entry 4: torn" in capsys.readouterr().err
    assert main(["audit", str(copy), "--no-files", "--set-aside-torn"]) == 0


def test_evaluate_works_on_a_second_step(served, tmp_path):
    d, _ = served
    assert main(["evaluate", "--unlearned", str(d / "u2.pt"), "--no-mia", "--output", str(tmp_path / "ev")]) == 0
    rows = json.loads((tmp_path / "ev" / "evaluate.json").read_text())["rows"]
    assert [r["model"] for r in rows][0] == "original"


@pytest.mark.parametrize("request_text, extra, match", [
    ("source,target\n", [], "no rows"),
    ("src,dst\n1,2\n", [], "cannot tell the request kind"),
    ("source,target\n1,999999\n", [], "unknown to this graph"),
    ("user,item\n1,2\n", [], "needs a user-item graph"),
    ("node\n1\n1\n", [], "repeat an earlier row"),
    ("node\n1\n", ["--request-kind", "edges"], "missing"),
    ("node\n1\n", ["--params", '{"epochs": -1}'], "epochs"),
    ("node\n1\n", ["--id-map", "user"], "ENTITY=FILE"),
])
def test_bad_requests_are_refused_before_any_work(served, tmp_path, capsys, request_text, extra, match):
    d, ledger = served
    req = tmp_path / "req.csv"
    req.write_text(request_text)
    inputs = [str(req), str(d / "u1.pt"), ledger]
    before = [_digest(p) for p in inputs]
    out = tmp_path / "out.pt"
    code = main(["unlearn", "--checkpoint", str(d / "u1.pt"), "--request", str(req), *RETRAIN, *extra,
                 "--output", str(out), "--ledger", ledger])
    assert code == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert not out.exists() and [_digest(p) for p in inputs] == before


def test_damaged_ledger_is_refused_before_any_work(served, tmp_path, capsys):
    d, _ = served
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "an entry"}\n')
    req = tmp_path / "n.csv"
    req.write_text("node\n5\n")
    out = tmp_path / "o.pt"
    assert main(["unlearn", "--checkpoint", str(d / "u1.pt"), "--request", str(req), *RETRAIN,
                 "--output", str(out), "--ledger", str(bad)]) == 2
    assert "not intact" in capsys.readouterr().err and not out.exists()
    assert bad.read_text() == '{"not": "an entry"}\n'


def test_own_graph_file_trains_and_serves_a_node_sequence(tmp_path, capsys):
    from gnn_unlearn.data import synthetic_graph
    g = synthetic_graph(num_nodes=120, num_classes=3, avg_degree=4, num_features=8, features_per_node=2, seed=5)
    torch.save(g, str(tmp_path / "g.pt"))                       # a PyG Data, loaded weights_only
    torch.save(g.to_dict(), str(tmp_path / "gd.pt"))            # or its dict
    p = lambda n: str(tmp_path / n)                              # noqa: E731
    assert main(["train", "--graph", p("g.pt"), "--task", "node", "--epochs", "5", "--output", p("m.pt")]) == 0
    (tmp_path / "a.csv").write_text("node\n3\n")
    (tmp_path / "b.csv").write_text("node,column\n9,1\n")
    assert main(["unlearn", "--checkpoint", p("m.pt"), "--request", p("a.csv"), *RETRAIN, "--output", p("u1.pt")]) == 0
    assert main(["unlearn", "--checkpoint", p("u1.pt"), "--request", p("b.csv"), "--nodes", "4",
                 "--output", p("z.pt")]) == 2
    assert main(["unlearn", "--checkpoint", p("u1.pt"), "--graph", p("gd.pt"), "--request", p("b.csv"),
                 "--request-kind", "features", *RETRAIN,
                 "--output", p("u2.pt")]) == 0
    u2 = torch.load(p("u2.pt"), weights_only=True)
    # without --ledger, the second step joins the first's ledger: one chain
    assert main(["audit", p("u1.ledger.jsonl")]) == 0 and "ledger intact: 2 entries" in capsys.readouterr().out
    kept = u2["retained"]["edge_index"]
    assert not bool((kept == 3).any()) and u2["retained"]["deleted_features"].nonzero().tolist() == [[9, 1]]
    assert not bool(u2["retained"]["train_mask"][3])
    # another graph under the same checkpoint is refused (its content digest differs), before any work
    torch.save(synthetic_graph(num_nodes=120, num_classes=3, avg_degree=4, num_features=8,
                               features_per_node=2, seed=6), p("other.pt"))
    capsys.readouterr()
    assert main(["unlearn", "--checkpoint", p("u1.pt"), "--graph", p("other.pt"), "--request", p("b.csv"),
                 "--request-kind", "features", *RETRAIN, "--output", p("x.pt")]) == 2
    assert "not the one this checkpoint was trained on" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
    torch.save(torch.zeros(3), p("t.pt"))
    assert main(["train", "--graph", p("t.pt"), "--output", p("y.pt")]) == 2
    assert "not a torch_geometric Data" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["train", "--graph", p("junk.pt"), "--output", p("y.pt")]) == 2
    assert "weights_only" in capsys.readouterr().err


def test_audit_help_and_missing_ledger(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["audit", "--help"])
    assert e.value.code == 0 and "--set-aside-torn" in capsys.readouterr().out
    assert main(["audit", str(tmp_path / "none.jsonl")]) == 2
    assert "no ledger" in capsys.readouterr().err
