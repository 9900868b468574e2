"""gnn_unlearn.experiment: one request of the grid, rows and records keyed by the grid's names."""
import os
import re
import shutil
import subprocess

import pytest

import gnn_unlearn
from gnn_unlearn.data import link_split, synthetic_graph
from gnn_unlearn.experiment import code_version, describe_code, run_edge_request
from gnn_unlearn.methods import HeldOutReference
from gnn_unlearn.training import TrainConfig, train


def test_a_method_with_and_without_the_reference_keeps_two_rows_two_stop_reasons_and_excesses():
    data = link_split(synthetic_graph(num_nodes=200, num_classes=3, avg_degree=6, num_features=16,
                                      features_per_node=4, seed=3), seed=0)
    model, _ = train(data, "link", TrainConfig(seed=0, epochs=60), encoder="gcn")
    reference = HeldOutReference.fit(model, data, seed=0)
    report = run_edge_request(data, model, 0.05, "random", ["gnndelete", "gnndelete+ref"], seed=0,
                              mia=False, log=lambda *a: None, reference=reference)
    assert [r["model"] for r in report.rows] == ["original", "retrain", "gnndelete", "gnndelete+ref"]
    reasons = report.meta["stop_reasons"]
    assert set(reasons) == {"gnndelete", "gnndelete+ref"}
    assert all(isinstance(v, str) and v for v in reasons.values())
    excess = report.meta["stop_excess"]                      # per row, a float for link methods
    assert set(excess) == set(reasons) and all(isinstance(v, float) for v in excess.values())
    assert report.meta["code"] == code_version()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_describe_code_names_the_commit_only_of_a_checkout_that_tracks_the_package(tmp_path, monkeypatch):
    version = f"gnn_unlearn {gnn_unlearn.__version__}"
    repo = tmp_path / "project"
    package = repo / "gnn_unlearn"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    assert describe_code(str(package)) == version                                  # no repository at all

    def git(*args):
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)
    git("init", "-q")
    (repo / "notes.txt").write_text("a\n")
    git("add", "notes.txt")
    git("commit", "-qm", "a")
    assert describe_code(str(package)) == version        # the user's repository, which does not track the package
    git("add", "gnn_unlearn")
    git("commit", "-qm", "b")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=7", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert describe_code(str(package)) == f"{version} @ {head}"
    (repo / "notes.txt").write_text("b\n")                         # changes outside the package
    assert describe_code(str(package)) == f"{version} @ {head}"
    (package / "__init__.py").write_text("x = 2\n")
    assert describe_code(str(package)) == f"{version} @ {head}+changes"
    assert re.fullmatch(r"[0-9a-f]{7,}", head)
    monkeypatch.setenv("PATH", os.devnull)                            # git not found
    assert describe_code(str(package)) == version


def test_code_version_describes_the_imported_package_once_per_process():
    here = os.path.dirname(os.path.abspath(gnn_unlearn.__file__))
    assert code_version() == describe_code(here) and code_version() is code_version()
