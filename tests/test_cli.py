import json
import os

import pytest

from gnn_unlearn.cli import main


def test_help_everywhere(capsys):
    for cmd in ([], ["demo"], ["train"], ["unlearn"], ["evaluate"], ["benchmark"]):
        with pytest.raises(SystemExit) as e:
            main([*cmd, "--help"])
        assert e.value.code == 0
    assert "--device" in capsys.readouterr().out


def test_demo_on_the_synthetic_graph(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--num-nodes", "300", "--epochs", "40", "--output", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| retrain |" in printed and "| gradient_ascent |" in printed
    report = json.loads((out / "demo.json").read_text())
    assert [r["model"] for r in report["rows"]] == ["original", "retrain", "gradient_ascent"]
    assert (out / "demo.md").exists()


def test_train_unlearn_evaluate_chain(tmp_path, capsys):
    ckpt, unl = str(tmp_path / "orig.pt"), str(tmp_path / "unl.pt")
    assert main(["train", "--num-nodes", "300", "--epochs", "30", "--output", ckpt]) == 0
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "gradient_ascent", "--df-size", "0.05",
                 "--params", '{"epochs": 5}', "--output", unl]) == 0
    assert os.path.exists(unl) and os.path.exists(str(tmp_path / "unl.ledger.jsonl"))
    assert main(["evaluate", "--unlearned", unl, "--no-mia", "--output", str(tmp_path / "ev")]) == 0
    rows = json.loads((tmp_path / "ev" / "evaluate.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["original", "retrain", "gradient_ascent"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["demo", "--dataset", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_text("x")
    assert main(["unlearn", "--checkpoint", str(junk), "--output", str(tmp_path / "o.pt")]) == 2
    assert "not a readable" in capsys.readouterr().err


def test_train_with_pyg_sampler_works_or_says_what_is_missing(tmp_path, capsys):
    import torch_geometric.typing as pyg_typing
    ckpt = str(tmp_path / "m.pt")
    code = main(["train", "--num-nodes", "300", "--epochs", "2", "--fanouts", "3,3",
                 "--sampler", "pyg", "--output", ckpt])
    if pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE:
        assert code == 0 and (tmp_path / "m.pt").exists()
    else:
        assert code == 2 and "needs pyg-lib or torch-sparse" in capsys.readouterr().err
        assert not (tmp_path / "m.pt").exists()


def test_linear_gnn_trains_and_projector_unlearns_from_the_cli(tmp_path, capsys):
    ckpt, out = str(tmp_path / "lin.pt"), str(tmp_path / "u.pt")
    assert main(["train", "--task", "node", "--encoder", "linear", "--num-nodes", "300", "--epochs", "20",
                 "--output", ckpt]) == 0
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "projector", "--nodes", "3,4",
                 "--output", out]) == 0
    assert os.path.exists(out)
    assert main(["train", "--task", "link", "--encoder", "linear", "--num-nodes", "300", "--epochs", "2",
                 "--output", str(tmp_path / "x.pt")]) == 2
    assert "node classifier" in capsys.readouterr().err


def test_worst_case_forget_sets_from_the_cli(tmp_path, capsys):
    from gnn_unlearn.cli import WHERE_CHOICES
    from gnn_unlearn.metrics.forget_sets import CRITERIA
    assert {w.split(":")[1] for w in WHERE_CHOICES if ":" in w} == set(CRITERIA)
    out = tmp_path / "demo"
    assert main(["demo", "--num-nodes", "300", "--epochs", "40", "--where", "worst:influence",
                 "--no-mia", "--output", str(out)]) == 0
    assert json.loads((out / "demo.json").read_text())["meta"]["where"] == "worst:influence"
    # an unknown criterion is refused before any training
    assert main(["benchmark", "--datasets", "synthetic", "--wheres", "in,worst:loss",
                 "--output", str(tmp_path / "b")]) == 2
    assert "unknown worst-case criterion 'loss'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    ckpt, unl = str(tmp_path / "orig.pt"), str(tmp_path / "unl.pt")
    assert main(["train", "--num-nodes", "300", "--epochs", "30", "--output", ckpt]) == 0
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "gradient_ascent", "--df-size", "0.05",
                 "--where", "worst:confidence", "--params", '{"epochs": 5}', "--output", unl]) == 0
    assert os.path.exists(unl)
