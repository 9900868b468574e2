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


@pytest.fixture()
def at(monkeypatch):
    """The script, with rendering made to fail: a refusal must come before any table is drawn."""
    module = load()

    def refuse(*args, **kwargs):
        raise AssertionError("the table was rendered before the runs and options were checked")
    monkeypatch.setattr(module, "table", refuse)
    return module


def _without(mapping, key):
    return {k: v for k, v in mapping.items() if k != key}


#: name -> (the file's content: JSON, or text as it stands; what the refusal says)
BROKEN_RUNS = {
    "not_json": ("{not json", "is not JSON"),
    "binary": (b"\xff\xfe\x00", "is not JSON"),
    "no_command": ({"blocks": [block()]}, "is not a results file of gnn-unlearn benchmark"),
    "no_blocks": ({"command": "c", "blocks": []}, "holds no blocks"),
    "block_not_object": ({"command": "c", "blocks": [1]}, "block 1 is not an object"),
    "no_dataset": ({"command": "c", "blocks": [_without(block(), "dataset")]},
                   "block 1 has no 'dataset' (a name): not a block of gnn-unlearn benchmark"),
    "size_as_text": ({"command": "c", "blocks": [{**block(), "df_size": "0.005"}]}, "has no 'df_size' (a number)"),
    "no_rows": ({"command": "c", "blocks": [_without(block(), "rows")]}, "has no 'rows' (a list of rows)"),
    "row_without_model": ({"command": "c", "blocks": [{**block(), "rows": rows() + [{"n": 3}]}]},
                          "has a row without a model name"),
    "row_without_n": ({"command": "c", "blocks": [{**block(), "rows": [_without(r, "n") for r in rows()]}]},
                      "has no number of seeds 'n' in row 'original'"),
    "text_value": ({"command": "c", "blocks": [{**block(), "rows": rows()[:-1] + [{**rows()[-1], "dt_auroc": "x"}]}]},
                   "holds values that are not numbers in row 'm': ['dt_auroc']"),
    "null_value": ({"command": "c", "blocks": [{**block(), "rows": rows()[:-1] + [{**rows()[-1], "speedup": None}]}]},
                   "holds values that are not numbers in row 'm': ['speedup']"),
    "no_retrain": ({"command": "c", "blocks": [{**block(), "rows": [r for r in rows() if r["model"] != "retrain"]}]},
                   "block 1 ('Cora', 'gcn', 0.005, 'in') has no 'retrain' row"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_RUNS))
def test_a_file_that_is_no_attack_run_is_refused_with_its_name(at, tmp_path, capsys, kind):
    content, says = BROKEN_RUNS[kind]
    path = tmp_path / f"{kind}.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    good = write(tmp_path / "good.json", [block("out")])
    with pytest.raises(SystemExit) as e:
        at.main([good, str(path)])
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert f"{path}" in captured.err and says in captured.err
    assert captured.out == ""


def test_a_missing_file_or_a_folder_is_refused_with_its_name(at, tmp_path, capsys):
    for path, says in ((tmp_path / "missing.json", "No such file or directory"), (tmp_path, "Is a directory")):
        with pytest.raises(SystemExit) as e:
            at.main([str(path)])
        assert e.value.code == 2
        captured = capsys.readouterr()
        assert f"cannot read {path}: {says}" in captured.err and captured.out == ""


@pytest.mark.parametrize("models, says", [
    ("", "--models '' has an empty entry"),
    ("m,", "--models 'm,' has an empty entry"),
    ("m,m", "--models: 'm' is given twice; give each once"),
    ("original", "the original and the retrained models are always shown"),
    ("m,retrain#1", "--models ['retrain#1']: the original and the retrained models are always shown"),
    ("gnndelete", "--models ['gnndelete'] are in none of the runs"),
])
def test_bad_models_are_refused_before_any_table(at, tmp_path, capsys, models, says):
    good = write(tmp_path / "good.json", [block()])
    with pytest.raises(SystemExit) as e:
        at.main([good, "--models", models])
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert says in captured.err and captured.out == ""

