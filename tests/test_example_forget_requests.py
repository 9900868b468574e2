import os
import runpy


def test_recommender_forget_requests_example(mirror, cache_root, tmp_path, monkeypatch, capsys):
    """The example serves two requests on lastfm in sequence and the audit verifies both."""
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    monkeypatch.setenv("GNN_UNLEARN_CACHE", cache_root)
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                        "recommender_forget_requests.py")
    example = runpy.run_path(path)
    example["main_example"](str(tmp_path), epochs=3)
    out = capsys.readouterr().out
    assert "#1 " in out and "reverse_bpr: deleted 5 interactions" in out
    assert "#2 " in out and "ledger intact: 2 entries" in out
    assert (tmp_path / "step2.pt").exists()
