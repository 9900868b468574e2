"""Merging grid runs over disjoint seeds pools every column exactly."""
import math
import random

import pytest

from gnn_unlearn.bench import keep_models, merge_blocks, select_seeds
from gnn_unlearn.experiment import aggregate

from .conftest import load_benchmark, refused


class _Rep:
    def __init__(self, rows):
        self.rows = rows


def _runs(values, split):
    reps = [_Rep([{"model": "retrain", "dt_auroc": v, "df_auroc": 1 - v / 2},
                  {"model": "gnndelete", "dt_auroc": v / 3, "df_auroc": v * v}]) for v in values]

    def block(part, seeds):
        return {"dataset": "Cora", "encoder": "gcn", "df_size": 0.005, "where": "in", "region": "library",
                "features": "as loaded", "seeds": seeds, "rows": aggregate(part), "steps": [{}] * len(part),
                "seed_rows": [rep.rows for rep in part]}
    return block(reps, list(range(len(values)))), block(reps[:split], list(range(split))), \
        block(reps[split:], list(range(split, len(values))))


def test_merged_runs_equal_one_run_over_all_seeds():
    rng = random.Random(0)
    whole, first, second = _runs([rng.random() for _ in range(5)], 2)
    (merged,) = merge_blocks([[first], [second]])
    assert merged["seeds"] == [0, 1, 2, 3, 4] and len(merged["steps"]) == 5
    for got, want in zip(merged["rows"], whole["rows"]):
        assert got["model"] == want["model"] and got["n"] == want["n"] == 5
        for k in ("dt_auroc", "df_auroc"):
            for suffix in ("", "_std", "_min", "_max"):
                assert math.isclose(got[k + suffix], want[k + suffix], rel_tol=1e-12, abs_tol=1e-15), (k, suffix)


def test_stop_excess_is_merged_in_seed_order_only_when_every_run_recorded_it():
    _, first, second = _runs([0.1, 0.2, 0.3, 0.4], 2)
    first = {**first, "stop_excess": [{"gnndelete": -0.01}, {"gnndelete": 0.02}]}
    with_both = {**second, "stop_excess": [{"gnndelete": 0.0}, {"gnndelete": 0.03}]}
    (merged,) = merge_blocks([[first], [with_both]])
    assert [e["gnndelete"] for e in merged["stop_excess"]] == [-0.01, 0.02, 0.0, 0.03]
    (merged,) = merge_blocks([[first], [second]])       # an older run without it
    assert "stop_excess" not in merged


def test_one_seed_of_a_merged_run_reads_like_a_run_of_its_own():
    rng = random.Random(2)
    values = [rng.random() for _ in range(5)]
    whole, first, second = _runs(values, 2)
    first = {**first, "stop_reasons": [{"gnndelete": f"r{i}"} for i in range(2)]}
    second = {**second, "stop_reasons": [{"gnndelete": f"r{i}"} for i in range(2, 5)]}
    (merged,) = merge_blocks([[first], [second]])
    assert len(merged["seed_rows"]) == 5
    one = select_seeds(merged, [3])
    (alone, _, _) = _runs([values[3]], 1)
    assert one["seeds"] == [3] and one["rows"] == alone["rows"] and one["rows"][0]["n"] == 1
    assert one["stop_reasons"] == [{"gnndelete": "r3"}] and len(one["steps"]) == 1
    both = select_seeds(merged, [4, 1, 7])                  # the seeds it holds, in the block's order
    assert both["seeds"] == [1, 4] and math.isclose(both["rows"][0]["dt_auroc"], (values[1] + values[4]) / 2)
    every = select_seeds(merged, range(5))
    for got, want in zip(every["rows"], whole["rows"]):
        assert got.keys() == want.keys()
        assert all(math.isclose(got[k], want[k], rel_tol=1e-12) for k in got if k != "model")
    assert select_seeds(merged, [9]) is None
    assert len(merged["seed_rows"]) == 5 and merged["seeds"] == [0, 1, 2, 3, 4]      # not modified


def test_a_run_written_before_per_seed_rows_is_refused_one_seed_and_merges_without_them():
    _, first, second = _runs([0.1, 0.2, 0.3, 0.4], 2)
    older = {k: v for k, v in second.items() if k != "seed_rows"}
    (merged,) = merge_blocks([[first], [older]])
    assert "seed_rows" not in merged
    with pytest.raises(ValueError, match="keeps no per-seed rows.*read one seed from the run's log"):
        select_seeds(merged, [0])
    assert select_seeds(merged, [8]) is None               # holds none of them: nothing to refuse


def test_overlapping_seeds_missing_blocks_and_other_models_are_refused():
    _, first, second = _runs([0.1, 0.2, 0.3, 0.4], 2)
    with pytest.raises(ValueError, match="seeds .* repeat"):
        merge_blocks([[first], [first]])
    other = {**second, "where": "out"}
    with pytest.raises(ValueError, match="is in 1 of the 2 runs"):
        merge_blocks([[first], [other]])
    fewer = {**second, "rows": second["rows"][:1]}
    with pytest.raises(ValueError, match="different models"):
        merge_blocks([[first], [fewer]])


def test_partial_merge_pools_each_block_over_the_runs_that_hold_it():
    rng = random.Random(1)
    whole, first, second = _runs([rng.random() for _ in range(4)], 3)
    other = {**first, "where": "out"}                   # a second block, measured in the first run only
    merged = merge_blocks([[first, other], [second]], partial=True)
    by_where = {b["where"]: b for b in merged}
    assert by_where["in"]["seeds"] == [0, 1, 2, 3] and by_where["out"]["seeds"] == [0, 1, 2]
    for got, want in zip(by_where["in"]["rows"], whole["rows"]):
        assert math.isclose(got["dt_auroc"], want["dt_auroc"], rel_tol=1e-12)
    assert by_where["out"]["rows"] == other["rows"]
    with pytest.raises(ValueError, match="is in 1 of the 2 runs"):
        merge_blocks([[first, other], [second]])
    with pytest.raises(ValueError, match="seeds .* repeat"):
        merge_blocks([[first, other], [first]], partial=True)


def _with_original(block, dts, where="in"):
    """``block`` at position ``where`` with an original model of test AUROC ``dts[i]`` at seed i."""
    seed_rows = [[{"model": "original", "dt_auroc": dts[s], "dt_aupr": 0.9, "df_auroc": 0.99}] + rows
                 for s, rows in zip(block["seeds"], block["seed_rows"])]
    return {**block, "where": where, "seed_rows": seed_rows}


def test_a_seed_whose_original_differs_between_joined_runs_is_refused():
    _, first, second = _runs([0.1, 0.2, 0.3, 0.4], 2)
    dts = [0.91, 0.92, 0.93, 0.94]
    # seeds 0-1 at "in" in the first run, 2-3 in the second; "out" of seeds 2-3 measured in the first
    run_a = [_with_original(first, dts), _with_original(second, dts, "out")]
    same = merge_blocks([run_a, [_with_original(second, dts), _with_original(first, dts, "out")]])
    assert {b["where"] for b in same} == {"in", "out"}
    retrained = dts[:2] + [0.93, 0.9401]         # seed 3's original tests otherwise in the second run
    with pytest.raises(ValueError, match=r"^(?=.*dt_auroc 0\.940000)(?=.*dt_auroc 0\.940100)seed 3 of Cora gcn: "
                                         r"the original model reads .*rerun the seed's blocks in one run"):
        merge_blocks([run_a, [_with_original(second, retrained), _with_original(first, dts, "out")]])
    # the request's own columns (Df) differ between positions without complaint
    moved = [{**b, "seed_rows": [[{**rows[0], "df_auroc": 0.5}] + rows[1:] for rows in b["seed_rows"]]}
             for b in (_with_original(second, dts), _with_original(first, dts, "out"))]
    assert len(merge_blocks([run_a, moved])) == 2


def test_keep_models_drops_other_methods_rows_and_entries_only():
    _, first, _ = _runs([0.1, 0.2], 2)
    block = {**first, "rows": first["rows"] + [{**first["rows"][1], "model": "d2dgn"}],
             "stop_reasons": [{"gnndelete": "a", "d2dgn": "b"}] * 2,
             "steps": [{"retrain": 1.0, "gnndelete": 0.1, "d2dgn": 0.2}] * 2,
             "seed_rows": [rows + [{**rows[1], "model": "d2dgn"}] for rows in first["seed_rows"]]}
    kept = keep_models(block, ["d2dgn"])
    assert [r["model"] for r in kept["rows"]] == ["retrain", "d2dgn"]
    assert kept["stop_reasons"] == [{"d2dgn": "b"}] * 2 and kept["steps"][0] == {"retrain": 1.0, "d2dgn": 0.2}
    assert [[r["model"] for r in rows] for rows in kept["seed_rows"]] == [["retrain", "d2dgn"]] * 2
    assert [r["model"] for r in block["rows"]] == ["retrain", "gnndelete", "d2dgn"]     # not modified
    with pytest.raises(ValueError, match="no rows for \\['cognac'\\]"):
        keep_models(block, ["cognac"])
    with pytest.raises(ValueError, match="kept anyway"):       # would otherwise drop every method
        keep_models(block, ["retrain"])


def test_merge_script_names_every_source_command_machine_and_code(tmp_path):
    import json
    from gnn_unlearn.bench import CODE_NOT_RECORDED
    module = load_benchmark("merge_grid")
    _, first, second = _runs([0.1, 0.2, 0.3, 0.4], 2)
    paths = []
    for i, (block, machine) in enumerate(((first, "machine A"), (second, "machine B"))):
        p = tmp_path / f"run{i}.json"
        p.write_text(json.dumps({"command": f"gnn-unlearn benchmark --seeds 2 --first-seed {2 * i}",
                                 "hardware": machine, "blocks": [block],
                                 **({"code": "gnn_unlearn 0.1.0 @ abc1234"} if i else {})}))
        paths.append(str(p))
    module.main([*paths, "--output", str(tmp_path), "--name", "merged"])
    out = json.loads((tmp_path / "merged.json").read_text())
    assert out["sources"] == ["gnn-unlearn benchmark --seeds 2 --first-seed 0",
                              "gnn-unlearn benchmark --seeds 2 --first-seed 2"]
    assert out["hardware"] == "machine A (run 1) / machine B (run 2)"
    assert out["code"] == f"{CODE_NOT_RECORDED} (run 1) / gnn_unlearn 0.1.0 @ abc1234 (run 2)"
    assert out["blocks"][0]["seeds"] == [0, 1, 2, 3]
    md = (tmp_path / "merged.md").read_text()
    assert "Merged from the runs" in md and "--first-seed 2" in md


def test_merge_script_joins_a_run_of_more_methods_with_models(tmp_path):
    import json
    module = load_benchmark("merge_grid", "merge_grid_bench3")
    _, first, second = _runs([0.1, 0.2, 0.3, 0.4], 2)
    more = {**first, "rows": first["rows"] + [{**first["rows"][1], "model": "d2dgn"}]}
    paths = []
    for i, block in enumerate((more, second)):
        p = tmp_path / f"run{i}.json"
        p.write_text(json.dumps({"command": f"run {i}", "hardware": "m", "blocks": [block]}))
        paths.append(str(p))
    with pytest.raises(SystemExit):                     # different models: refused, nothing written
        module.main([*paths, "--output", str(tmp_path), "--name", "merged"])
    assert not (tmp_path / "merged.json").exists()
    module.main([*paths, "--output", str(tmp_path), "--name", "merged", "--models", "gnndelete"])
    out = json.loads((tmp_path / "merged.json").read_text())
    assert [r["model"] for r in out["blocks"][0]["rows"]] == ["retrain", "gnndelete"]
    assert out["blocks"][0]["seeds"] == [0, 1, 2, 3]


def test_merge_script_refuses_files_that_are_not_grid_runs(tmp_path):
    module = load_benchmark("merge_grid", "merge_grid_bench2")
    bad = tmp_path / "x.json"
    bad.write_text('{"rows": []}')
    with pytest.raises(SystemExit):
        module.main([str(bad), str(bad), "--output", str(tmp_path), "--name", "m"])
    assert not (tmp_path / "m.json").exists()


@pytest.fixture()
def merge(monkeypatch):
    """The script, with writing made to fail: a refusal must come before any file is written."""
    module = load_benchmark("merge_grid", "merge_grid_refusals")

    def refuse(*args, **kwargs):
        raise AssertionError("results written before the runs and options were checked")
    monkeypatch.setattr(module, "write_grid", refuse)
    return module


def _run_files(tmp_path):
    """Two runs of one block over seeds 0-1 and 2-3."""
    import json
    _, first, second = _runs([0.1, 0.2, 0.3, 0.4], 2)
    paths = []
    for i, block in enumerate((first, second)):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps({"command": f"run {i}", "hardware": "m", "blocks": [block]}))
        paths.append(str(path))
    return paths, first


def _without(mapping, key):
    return {k: v for k, v in mapping.items() if k != key}


def _broken_runs(block):
    """name -> (the file's content: JSON, or text as it stands; what the refusal says)"""
    rows = block["rows"]
    return {
        "not_json": ("{not json", "is not JSON"),
        "no_command": ({"blocks": [block]}, "is not a results file of gnn-unlearn benchmark"),
        "no_blocks": ({"command": "c", "blocks": []}, "holds no blocks"),
        "block_not_object": ({"command": "c", "blocks": [[]]}, "block 1 is not an object"),
        "no_encoder": ({"command": "c", "blocks": [_without(block, "encoder")]},
                       "block 1 has no 'encoder' (a name): not a block of gnn-unlearn benchmark"),
        "no_seeds": ({"command": "c", "blocks": [_without(block, "seeds")]}, "has no 'seeds' (a list of seeds)"),
        "row_without_n": ({"command": "c", "blocks": [{**block, "rows": [_without(rows[0], "n"), rows[1]]}]},
                          "has no number of seeds 'n' in row 'retrain'"),
        "null_value": ({"command": "c", "blocks": [{**block, "rows": [{**rows[0], "dt_auroc": None}, rows[1]]}]},
                       "holds values that are not numbers in row 'retrain': ['dt_auroc']"),
        "no_minimum": ({"command": "c", "blocks": [{**block, "rows": [_without(rows[0], "df_auroc_min"), rows[1]]}]},
                       "has a standard deviation of 'df_auroc' without its mean, minimum and maximum in row 'retrain'"),
    }


@pytest.mark.parametrize("kind", ["not_json", "no_command", "no_blocks", "block_not_object", "no_encoder", "no_seeds",
                                  "row_without_n", "null_value", "no_minimum"])
def test_merge_script_refuses_a_file_that_is_no_grid_run_with_its_name(merge, tmp_path, capsys, kind):
    import json
    (good, _), block = _run_files(tmp_path)
    content, says = _broken_runs(block)[kind]
    path = tmp_path / f"{kind}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        merge.main([good, str(path), "--output", str(out), "--name", "m", "--partial"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"{path}" in err and says in err
    assert not out.exists()


@pytest.mark.parametrize("argv, says", [
    (["--name", ""], "--name must not be empty"),
    (["--name", "sub/m"], "--name 'sub/m': give a file name without a folder"),
    (["--name", ".."], "--name '..': give a file name without a folder"),
    (["--name", "m", "--models", ","], "--models names no method"),
    (["--name", "m", "--models", "gnndelete,gnndelete"], "--models: 'gnndelete' is given twice; give each once"),
    (["--name", "m", "--models", "cognac"], "has no rows for ['cognac']"),
])
def test_merge_script_refuses_bad_options_before_writing(merge, tmp_path, capsys, argv, says):
    paths, _ = _run_files(tmp_path)
    out = tmp_path / "out"
    assert says in refused(merge.main, [*paths, "--output", str(out), *argv], capsys)
    assert not out.exists()


def test_merge_script_refuses_a_missing_run_one_run_and_an_output_file(merge, tmp_path, capsys):
    (first, second), _ = _run_files(tmp_path)
    out, taken, missing = str(tmp_path / "out"), tmp_path / "taken", str(tmp_path / "missing.json")
    taken.write_text("a file")
    for argv, says in (([first, missing, "--output", out], f"cannot read {missing}: No such file or directory"),
                       ([first, "--output", out], "give at least two runs to merge"),
                       ([first, second, "--output", str(taken)], f"--output {str(taken)!r} is a file")):
        assert says in refused(merge.main, [*argv, "--name", "m"], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run0.json", "run1.json", "taken"]
