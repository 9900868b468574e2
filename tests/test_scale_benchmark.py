"""benchmarks/scale.py's bounded products-style run, on a tiny graph."""
import json

import pytest

from .conftest import load_benchmark


@pytest.fixture(scope="module")
def scale():
    return load_benchmark("scale")


def test_capped_run_reports_steps_phases_and_peaks(scale, tmp_path):
    scale.main(["--nodes", "1500", "--avg-degree", "20", "--features", "40", "--classes", "7",
                "--fanouts", "3,3", "--batch-size", "256", "--epochs", "3", "--max-steps", "4",
                "--method-epochs", "2", "--request", "0.01", "--region-pairs", "128",
                "--no-retrain", "--methods", "gnndelete,gradient_ascent", "--split-phases",
                "--output", str(tmp_path), "--name", "tiny"])
    rows = json.loads((tmp_path / "tiny.json").read_text())["rows"]
    steps = [r["step"] for r in rows]
    assert steps == ["load", "split", "train", "request", "gnndelete", "gradient_ascent", "evaluate"]
    train = rows[2]
    assert train["steps"] == 4                    # the cap, not 3 epochs' worth of batches
    assert rows[3]["deleted"] == round(0.01 * train["train_edges"])
    assert all(r["peak"] > 0 for r in rows)          # every phase has its peak RSS
    md = (tmp_path / "tiny.md").read_text()
    assert "capped at 4 mini-batch steps" in md and "no retraining" in md
    assert "Peak RSS of the process" in md and "OMP_NUM_THREADS" in md
    assert "128 sampled region pairs" in md


def test_max_steps_needs_fanouts(scale, tmp_path):
    with pytest.raises(SystemExit):
        scale.main(["--nodes", "500", "--max-steps", "3", "--output", str(tmp_path)])
