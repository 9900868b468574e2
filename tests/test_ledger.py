import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gnn_unlearn.data import sample_edges
from gnn_unlearn.io import save_checkpoint
from gnn_unlearn.ledger import (GENESIS, DeletionLedger, LedgerError, _last_line, canonical_json,
                                request_sha256)
from gnn_unlearn.methods import unlearn
from gnn_unlearn.training import TrainConfig, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Three deletions served in sequence on a small graph, each recorded with its checkpoints."""
    from gnn_unlearn.data import link_split, synthetic_graph
    folder = tmp_path_factory.mktemp("ledger")
    data = link_split(synthetic_graph(num_nodes=80, num_classes=3, avg_degree=4, num_features=8,
                                      features_per_node=2, seed=1), seed=0)
    model, _ = train(data, "link", TrainConfig(seed=0, epochs=5))
    paths = [str(folder / "m0.pt")]
    save_checkpoint(paths[0], model, data)
    ledger = DeletionLedger(str(folder / "ledger.jsonl"))
    for k in range(3):
        task = sample_edges(data, 0.05, where="random", seed=k).resolve(data)
        result = unlearn(model, task, "gradient_ascent", epochs=1)
        paths.append(str(folder / f"m{k + 1}.pt"))
        save_checkpoint(paths[-1], result.model, data, request=task.request)
        ledger.record(task, result, input_checkpoint=paths[-2], output_checkpoint=paths[-1], ticket=f"T{k}")
        model, data = result.model, task.retained_data
    return ledger, paths


def _copy(ledger, tmp_path):
    dst = tmp_path / "copy.jsonl"
    dst.write_bytes(open(ledger.path, "rb").read())
    return DeletionLedger(str(dst))


def test_intact_ledger_verifies_and_chains(served):
    ledger, paths = served
    report = ledger.verify()
    assert report.ok and len(report.entries) == 3
    e = report.entries
    assert e[0]["prev_sha256"] == GENESIS and e[1]["prev_sha256"] == e[0]["entry_sha256"]
    assert [x["seq"] for x in e] == [1, 2, 3] and e[2]["ticket"] == "T2"
    assert e[1]["input_checkpoint"]["path"] == os.path.abspath(paths[1])
    saved = torch.load(paths[3], weights_only=True)["request"]
    assert e[2]["request_sha256"] == request_sha256(saved)
    # each entry is a single line of canonical JSON
    lines = open(ledger.path).read().splitlines()
    assert len(lines) == 3 and all(canonical_json(json.loads(l)) == l for l in lines)


@pytest.mark.parametrize("edit", ["field", "delete", "swap", "last"])
def test_tampered_line_fails_the_audit_naming_the_entry(served, tmp_path, edit):
    ledger = _copy(served[0], tmp_path)
    lines = open(ledger.path).read().splitlines()
    bad = 3 if edit == "last" else 2
    if edit in ("field", "last"):   # rewrite what was deleted, keeping valid JSON
        e = json.loads(lines[bad - 1])
        e["request"]["deleted_edges"] += 1
        lines[bad - 1] = canonical_json(e)
    elif edit == "delete":
        del lines[1]
    else:
        lines[1], lines[2] = lines[2], lines[1]
    open(ledger.path, "w").write("\n".join(lines) + "\n")
    report = ledger.verify(check_files=False)
    assert not report.ok and report.bad_entry == bad and report.problem.startswith(f"entry {bad}:")
    assert len(report.entries) == bad - 1 and not report.torn
    if edit == "last":              # an append checks the last entry: refused, nothing written
        before = open(ledger.path, "rb").read()
        with pytest.raises(LedgerError, match="entry 3"):
            ledger._append({"method": "x"})
        assert open(ledger.path, "rb").read() == before
    else:                           # damage further back is the audit's to find, and stays found
        ledger._append({"method": "x"})
        again = ledger.verify(check_files=False)
        assert not again.ok and again.bad_entry == bad


def test_append_reads_only_the_last_entry(served, tmp_path, monkeypatch):
    import gnn_unlearn.ledger as ledger_module
    ledger = _copy(served[0], tmp_path)
    head = ledger.verify(check_files=False).head
    monkeypatch.setattr(ledger_module, "_verify", lambda *a, **k: pytest.fail("append audited the chain"))
    monkeypatch.setattr(ledger_module, "_last_line",
                        lambda fd, block=1 << 16: _last_line(fd, block=7))   # lines span many blocks
    entry = ledger._append({"method": "x"})
    assert entry["seq"] == 4 and entry["prev_sha256"] == head
    monkeypatch.undo()
    assert ledger.verify(check_files=False).ok


def test_changed_checkpoint_fails_the_audit(served, tmp_path):
    ledger, paths = served
    original = open(paths[2], "rb").read()
    try:
        with open(paths[2], "ab") as f:
            f.write(b"\0")
        report = ledger.verify()
        # m2.pt is entry 2's output (and entry 3's input): entry 2 is the first bad one
        assert not report.ok and report.bad_entry == 2 and "changed" in report.problem
        assert ledger.verify(check_files=False).ok
    finally:
        open(paths[2], "wb").write(original)
    assert ledger.verify().ok


def test_torn_tail_is_reported_refused_and_set_aside(served, tmp_path):
    ledger = _copy(served[0], tmp_path)
    content = open(ledger.path, "rb").read()
    torn = content + content.splitlines(keepends=True)[0][:57]    # a crash mid-append
    open(ledger.path, "wb").write(torn)
    report = ledger.verify(check_files=False)
    assert report.torn and report.bad_entry == 4 and len(report.entries) == 3 and "torn" in report.problem
    with pytest.raises(LedgerError, match="torn"):
        ledger._append({"method": "x"})
    assert open(ledger.path, "rb").read() == torn          # refused: nothing written
    aside = ledger.set_aside_torn_tail()
    assert open(aside, "rb").read() == torn[len(content):] and open(ledger.path, "rb").read() == content
    assert ledger._append({"method": "x"})["seq"] == 4 and ledger.verify(check_files=False).ok


_CHILD = r"""
import importlib.util, sys
from types import SimpleNamespace
spec = importlib.util.spec_from_file_location("ledger", sys.argv[4])   # the module alone: fast start
ledger_module = sys.modules["ledger"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ledger_module)
task = SimpleNamespace(request={"parts": [{"kind": "node", "ids": [1, 2]}]},
                       summary=lambda: {"kinds": ["node"], "deleted_nodes": 2})
result = SimpleNamespace(method="retrain", params={}, seconds=0.5, peak_memory_bytes=0)
ledger = ledger_module.DeletionLedger(sys.argv[1])
count, pad = int(sys.argv[2]), "x" * int(sys.argv[3])   # long lines: a kill can land inside a write
print("ready", flush=True)
while count:
    ledger.record(task, result, pad=pad)
    count -= 1
"""


def test_killed_writers_leave_a_verifiable_prefix(tmp_path):
    """Two processes append to one ledger at once (the lock keeps one chain) and are killed
    mid-stream: the intact prefix verifies, a torn tail (if the kill tore a line) is reported."""
    path = str(tmp_path / "ledger.jsonl")
    module = os.path.join(ROOT, "gnn_unlearn", "ledger.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, path, "-1", "200000", module], env=env,
                                 stdout=subprocess.PIPE) for _ in range(2)]
    try:
        for child in children:
            assert child.stdout.readline().strip() == b"ready"
        deadline = time.time() + 60
        while (not os.path.exists(path) or os.path.getsize(path) < 2_500_000) and time.time() < deadline:
            time.sleep(0.01)
    finally:
        for child in children:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
    report = DeletionLedger(path).verify(check_files=False)
    assert len(report.entries) >= 10          # the intact prefix verifies: one chain from both writers
    content = open(path, "rb").read()
    if content.endswith(b"\n"):
        assert report.ok
    else:                                    # a torn tail is reported, never accepted
        assert report.torn and report.bad_entry == len(report.entries) + 1
