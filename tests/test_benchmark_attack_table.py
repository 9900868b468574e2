"""benchmarks/attack_table.py: every block's models against the spread of its retrained models."""
import json

import pytest

from .conftest import load_benchmark


def load():
    return load_benchmark("attack_table")


def row(model, dt, lira, cka, relearn_gap=0.0, speedup=None):
    r = {"model": model, "n": 3, "dt_auroc": dt, "lira_tpr_1": lira, "cka_retrain": cka,
         "relearn_id_gap": relearn_gap, "seconds": 1.0}
    if speedup is not None:
        r["speedup"] = speedup
    return r


def rows():
    return [row("original", 0.95, 0.30, 0.70, -0.2),
            row("retrain", 0.90, 0.02, 1.00, 0.0),
            row("retrain#1", 0.91, 0.01, 0.72, -0.01),
            row("retrain#2", 0.89, 0.03, 0.75, 0.01),
            row("retrain#3", 0.92, 0.02, 0.70, -0.02),
            row("m", 0.905, 0.05, 0.71, -0.015, speedup=20.0)]


def block(where="in", dataset="Cora"):
    return {"dataset": dataset, "encoder": "gcn", "df_size": 0.005, "where": where, "region": "library",
            "features": "as loaded", "seeds": [0, 1, 2], "rows": rows()}


def test_a_method_is_checked_against_every_retrained_model_and_cka_against_the_other_seeds_only():
    at = load()
    named = {r["model"]: r for r in rows()}
    v = at.verdicts(named, "m")
    assert v["dt_auroc"] is True                  # 0.905 in [0.89, 0.92]
    assert v["lira_tpr_1"] is False               # 0.05 above every retrain's 0.01-0.03
    assert v["relearn_id_gap"] is True            # -0.015 in [-0.02, 0.01], retrain's 0 included
    # CKA vs retrain: retrain's own 1.0 is not a sample; the pool is retrain#k, [0.70, 0.75]
    assert at.pool_values(named, "cka_retrain") == [0.72, 0.75, 0.70]
    assert v["cka_retrain"] is True
    assert at.verdicts(named, "original")["dt_auroc"] is False


def test_the_noise_floor_leaves_each_retrained_model_out_of_its_own_pool():
    at = load()
    named = {r["model"]: r for r in rows()}
    # retrain#3 holds the top Dt (0.92): outside the others' [0.89, 0.91]
    assert at.verdicts(named, "retrain#3")["dt_auroc"] is False
    assert at.verdicts(named, "retrain")["dt_auroc"] is True
    assert "cka_retrain" not in at.verdicts(named, "retrain")     # 1.0 by construction: not tallied
    text = at.table([block()], None)
    tally = text.split("Inside the retrain spread, in / out / random blocks")[1]
    floor = next(line for line in tally.splitlines() if line.startswith("| exact retrain"))
    cells = [c.strip() for c in floor.strip("|").split("|")]
    # Dt: retrain 0.90 in [0.89, 0.92]; #1 0.91 in [0.89, 0.92]; #2 0.89 outside [0.90, 0.92];
    # #3 0.92 outside [0.89, 0.91]
    assert cells[1] == "2 / 4"
    method = next(line for line in text.splitlines() if line.startswith("| Cora | gcn | 0.005 | in | m |"))
    assert "**0.050**" in method and "20.0x" in method


def test_worst_case_blocks_are_tallied_apart_and_the_models_option_keeps_only_named_methods():
    at = load()
    text = at.table([block("in"), block("worst:confidence")], ["nothing"])
    assert "worst-case blocks" in text and "in / out / random blocks" in text
    assert "| m |" not in text and "| original |" in text


def write(path, blocks, command="gnn-unlearn benchmark ..."):
    path.write_text(json.dumps({"command": command, "hardware": "test", "blocks": blocks}))
    return str(path)


def test_a_block_given_twice_is_refused_with_the_merge_script_named(tmp_path, capsys):
    at = load()
    a = write(tmp_path / "a.json", [block()])
    b = write(tmp_path / "b.json", [block()])
    with pytest.raises(SystemExit):
        at.main([a, b])
    assert "merge_grid.py" in capsys.readouterr().err


def test_runs_without_extra_retrains_and_unknown_models_are_refused(tmp_path, capsys):
    at = load()
    lone = block()
    lone["rows"] = [r for r in lone["rows"] if not r["model"].startswith("retrain#")]
    with pytest.raises(SystemExit):
        at.main([write(tmp_path / "a.json", [lone])])
    assert "--retrain-seeds" in capsys.readouterr().err
    good = write(tmp_path / "b.json", [block()])
    with pytest.raises(SystemExit):
        at.main([good, "--models", "gnndelete"])
    assert "gnndelete" in capsys.readouterr().err
    at.main([good, "--models", "m"])
    out = capsys.readouterr().out
    assert "Rendered by" in out and "| Cora | gcn | 0.005 | in | m | 3 |" in out
