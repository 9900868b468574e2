import json
import os

import pytest
import torch

from gnn_unlearn.cli import main


def test_help_everywhere(capsys):
    for cmd in ([], ["demo"], ["train"], ["unlearn"], ["evaluate"], ["benchmark"], ["fit-reference"]):
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
    assert report["meta"]["code"].startswith("gnn_unlearn ") and f"code: {report['meta']['code']}" in printed


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


def _ledger_entries(path):
    from gnn_unlearn.ledger import DeletionLedger
    return DeletionLedger(path).entries()


def test_sharded_train_unlearn_evaluate_is_exact_end_to_end(tmp_path, capsys):
    """GUIDE through the command line: the unlearned checkpoint equals retraining the model's
    recipe, with its partition, on the retained graph the checkpoint records (bit for bit)."""
    from gnn_unlearn.data import load_dataset
    from gnn_unlearn.io import apply_split, load_checkpoint
    from gnn_unlearn.sharding import retrain_sharded
    ckpt, unl = str(tmp_path / "s.pt"), str(tmp_path / "s1.pt")
    assert main(["train", "--family", "sharded", "--shard-method", "guide", "--task", "node", "--num-nodes",
                 "300", "--num-shards", "3", "--epochs", "10", "--output", ckpt]) == 0
    assert json.loads(capsys.readouterr().out)["unlearn_with"] == "guide"
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "guide", "--nodes", "3,4", "--output", unl]) == 0
    capsys.readouterr()
    (entry,) = _ledger_entries(str(tmp_path / "s1.ledger.jsonl"))
    assert entry["method"] == "guide" and entry["touched_shards"] and entry["request"]["deleted_nodes"] == 2
    original, _ = load_checkpoint(ckpt)
    unlearned, payload = load_checkpoint(unl)
    retained = apply_split(load_dataset("synthetic", num_nodes=300, seed=0), payload["retained"])
    assert not retained.train_mask[[3, 4]].any()
    reference = retrain_sharded(original, retained, repartition=False)
    assert all(torch.equal(a, b) for a, b in zip(unlearned.state_dict().values(),
                                                  reference.state_dict().values()))
    assert main(["evaluate", "--unlearned", unl, "--no-mia", "--output", str(tmp_path / "ev")]) == 0
    rows = json.loads((tmp_path / "ev" / "evaluate.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["original", "retrain", "guide"]
    assert main(["unlearn", "--checkpoint", unl, "--method", "gnndelete", "--nodes", "5",
                 "--output", str(tmp_path / "x.pt")]) == 2
    assert "graph_eraser | guide | retrain" in capsys.readouterr().err


def test_certified_request_sequence_end_to_end(tmp_path, capsys):
    """CEU then CGU through the command line, one ledger chain: each entry carries the
    certificate state of the model it wrote, and the bound holds on the retained graph."""
    from gnn_unlearn.data import load_dataset
    from gnn_unlearn.io import apply_split, load_checkpoint
    from tests.methods.certified_helpers import measured_residual
    paths = [str(tmp_path / f"c{k}.pt") for k in range(3)]
    assert main(["train", "--family", "certified", "--num-nodes", "300", "--noise-std", "1",
                 "--output", paths[0]]) == 0
    assert json.loads(capsys.readouterr().out)["family"] == "certified"
    assert main(["unlearn", "--checkpoint", paths[0], "--method", "ceu", "--where", "random",
                 "--df-size", "0.01", "--output", paths[1]]) == 0
    assert main(["unlearn", "--checkpoint", paths[1], "--method", "cgu", "--nodes", "7",
                 "--output", paths[2]]) == 0
    capsys.readouterr()
    entries = _ledger_entries(str(tmp_path / "c1.ledger.jsonl"))
    assert [e["method"] for e in entries] == ["ceu", "cgu"]
    for entry, path in zip(entries, paths[1:]):
        model, payload = load_checkpoint(path)
        cert = model.certificate
        assert entry["certificate"]["budget_left"] == cert.budget_left and entry["certificate"]["certified"]
        retained = apply_split(load_dataset("synthetic", num_nodes=300, seed=0), payload["retained"])
        assert bool((measured_residual(model, retained) <= torch.tensor(cert.bound, dtype=torch.float64)
                     * (1 + 1e-9) + 1e-12).all())
    assert entries[1]["certificate"]["total_requests"] == 2
    assert main(["evaluate", "--unlearned", paths[2], "--no-mia", "--output", str(tmp_path / "ev")]) == 0
    rows = json.loads((tmp_path / "ev" / "evaluate.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["original", "retrain", "cgu"]
    assert main(["audit", str(tmp_path / "c1.ledger.jsonl")]) == 0


def test_gst_scattering_model_end_to_end(tmp_path, capsys):
    """`train --family certified --features scattering`, two GST requests in one ledger chain,
    evaluate (whose retrain rebuilds the scattering model) and audit; each step moves the weights
    towards the scattering model retrained on the retained graph (same noise seed)."""
    from gnn_unlearn.data import load_dataset
    from gnn_unlearn.io import apply_split, load_checkpoint
    from gnn_unlearn.models import ScatteringLinear, train_scattering
    from tests.methods.certified_helpers import measured_residual
    paths = [str(tmp_path / f"g{k}.pt") for k in range(3)]
    assert main(["train", "--family", "certified", "--features", "scattering", "--wavelets", "2",
                 "--scattering-order", "1", "--num-nodes", "300", "--noise-std", "1", "--lam", "0.1",
                 "--output", paths[0]]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "certified" and info["features"] == "scattering"
    assert main(["unlearn", "--checkpoint", paths[0], "--method", "gst", "--nodes", "3,8",
                 "--output", paths[1]]) == 0
    assert main(["unlearn", "--checkpoint", paths[1], "--method", "gst", "--nodes", "7",
                 "--output", paths[2]]) == 0
    capsys.readouterr()
    entries = _ledger_entries(str(tmp_path / "g1.ledger.jsonl"))
    assert [e["method"] for e in entries] == ["gst", "gst"]
    previous, _ = load_checkpoint(paths[0])
    for entry, path in zip(entries, paths[1:]):
        model, payload = load_checkpoint(path)
        assert isinstance(model, ScatteringLinear) and (model.wavelets, model.order) == (2, 1)
        cert = model.certificate
        assert entry["certificate"]["budget_left"] == cert.budget_left and entry["certificate"]["certified"]
        retained = apply_split(load_dataset("synthetic", num_nodes=300, seed=0), payload["retained"])
        assert bool((measured_residual(model, retained) <= torch.tensor(cert.bound, dtype=torch.float64)
                     * (1 + 1e-9) + 1e-12).all())
        scratch = train_scattering(retained, wavelets=2, order=1, noise_std=1.0, lam=0.1, seed=0)
        far = float((previous.weight - scratch.weight).norm())
        near = float((model.weight - scratch.weight).norm())
        assert near < 0.1 * far, (far, near)
        previous = model
    assert main(["evaluate", "--unlearned", paths[2], "--no-mia", "--output", str(tmp_path / "ev")]) == 0
    rows = json.loads((tmp_path / "ev" / "evaluate.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["original", "retrain", "gst"]
    assert main(["audit", str(tmp_path / "g1.ledger.jsonl")]) == 0
    capsys.readouterr()
    assert main(["unlearn", "--checkpoint", paths[2], "--method", "gnndelete", "--nodes", "5",
                 "--output", str(tmp_path / "x.pt")]) == 2
    assert "gst" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--family", "certified", "--task", "link"], "certified models are node classifiers"),
    (["--family", "certified", "--features", "scattering", "--num-hops", "3"],
     "--num-hops is for --features sgc, not --features scattering"),
    (["--family", "certified", "--wavelets", "2"], "--wavelets is for --features scattering"),
    (["--family", "certified", "--features", "scattering", "--wavelets", "0"], "wavelets must be"),
    (["--family", "certified", "--features", "scattering", "--scattering-order", "-1"], "order must be"),
    (["--family", "gnn", "--features", "scattering"], "--features is for --family certified"),
    (["--family", "certified", "--encoder", "gat"], "drop --encoder"),
    (["--num-shards", "3"], "--num-shards is for --family sharded, not --family gnn"),
    (["--family", "sharded", "--lam", "0.1"], "--lam is for --family certified"),
    (["--family", "sharded", "--fanouts", "3,3"], "--fanouts"),
    (["--family", "certified", "--epsilon", "-1"], "epsilon must be a positive finite number"),
    (["--family", "certified", "--delta", "1"], "delta must lie in (0, 1)"),
    (["--family", "sharded", "--num-shards", "0"], "--num-shards must be >= 1"),
    (["--family", "certified", "--lam-grid", "0.1"], "--lam-grid is for hyperparameter selection"),
    (["--family", "sharded", "--lam-grid", "0.1"], "--lam-grid is for --family certified"),
    (["--family", "certified", "--lam", "0.1", "--noise-std", "auto", "--lam-grid", "0.1,0.2"],
     "--lam-grid is for --lam auto"),
    (["--family", "certified", "--lam", "auto", "--lam-grid", "0.1,-1"], "--lam-grid must hold positive"),
    (["--family", "certified", "--lam", "auto", "--expected-request", "node:x"],
     "--expected-request takes KIND:SIZE"),
    (["--family", "certified", "--noise-std", "auto", "--expected-request", "class:1"],
     "request kind must be one of"),
    (["--family", "certified", "--lam", "auto", "--expected-requests", "0"], "--expected-requests must be >= 1"),
])
def test_family_options_are_checked(argv, message, tmp_path, capsys):
    out = str(tmp_path / "x.pt")       # an unknown dataset: refused before the graph is loaded
    assert main(["train", "--dataset", "nope", "--epochs", "2", "--output", out] + argv) == 2
    assert message in capsys.readouterr().err and not os.path.exists(out)


def test_certified_hyperparameter_selection_from_the_cli(tmp_path, capsys):
    """`train --family certified --lam auto --noise-std auto`: the choice, the record (printed and
    in the checkpoint) and the model are select_certified's; an explicit value is kept."""
    from gnn_unlearn.data import load_dataset, node_split
    from gnn_unlearn.io import load_checkpoint
    from gnn_unlearn.methods import select_certified
    path = str(tmp_path / "sel.pt")
    assert main(["train", "--family", "certified", "--num-nodes", "300", "--lam", "auto", "--noise-std", "auto",
                 "--lam-grid", "0.1,0.01,0.001", "--noise-std-grid", "0.1,1", "--expected-request", "node:2",
                 "--expected-requests", "2", "--output", path]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    record = info["selection"]
    assert "| lambda | sigma |" in captured.err and "(chosen)" in captured.err
    assert (info["lam"], info["noise_std"]) == (record["lam"], record["noise_std"]) and record["constraint_met"]
    assert len(record["candidates"]) == 6 and record["request"] == ["node", 2]
    model, payload = load_checkpoint(path)
    assert (model.lam, model.noise_std) == (record["lam"], record["noise_std"])
    assert payload["extra"]["selection"] == record
    data = node_split(load_dataset("synthetic", num_nodes=300, seed=0), seed=0)
    direct = select_certified(data, lams=(0.1, 0.01, 0.001), noise_stds=(0.1, 1.0), request=("node", 2),
                              min_requests=2)
    assert (direct.lam, direct.noise_std) == (record["lam"], record["noise_std"])
    assert torch.equal(model.weight, direct.model.weight)
    assert main(["train", "--family", "certified", "--num-nodes", "300", "--lam", "0.1", "--noise-std", "auto",
                 "--noise-std-grid", "0.1,1", "--expected-request", "node:2", "--output", path]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {c["lam"] for c in info["selection"]["candidates"]} == {0.1} and info["lam"] == 0.1


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


def test_recommender_evaluate_places_the_unlearned_model_in_the_retrain_spread(tmp_path, capsys):
    """train --task rec on the user's own graph, unlearn interactions from a request file, then
    evaluate with --retrain-seeds: the same report as link and node models (rows for the original,
    the retrains and the unlearned model; deletion identification and the spread test)."""
    import torch
    from gnn_unlearn.data.synthetic import bipartite_synthetic
    data = bipartite_synthetic(300, 400, avg_degree=15, seed=0)
    graph, request, model, unl = (str(tmp_path / n) for n in ("g.pt", "req.csv", "m.pt", "u.pt"))
    torch.save(data, graph)
    pairs = data.train_pos_edge_index[:, :20]
    with open(request, "w") as f:
        f.write("user,item\n" + "".join(f"{u},{i - 300}\n" for u, i in pairs.t().tolist()))
    assert main(["train", "--task", "rec", "--graph", graph, "--epochs", "30", "--output", model]) == 0
    assert main(["unlearn", "--checkpoint", model, "--request", request, "--method", "reverse_bpr",
                 "--output", unl]) == 0
    assert main(["evaluate", "--unlearned", unl, "--no-mia", "--retrain-seeds", "3",
                 "--output", str(tmp_path / "ev")]) == 0
    report = json.loads((tmp_path / "ev" / "evaluate.json").read_text())
    rows = {r["model"]: r for r in report["rows"]}
    assert report["kind"] == "rec" and set(rows) >= {"original", "retrain", "retrain#3", "reverse_bpr"}
    # the original trained on the removed interactions: they score like retained ones
    assert rows["original"]["deleted_id_auc"] < min(rows[f"retrain#{i}"]["deleted_id_auc"] for i in (1, 2, 3))
    assert "Df id AUC" in rows["original"]["outside_spread"]


def test_fit_reference_then_unlearn_with_it_records_the_file_in_the_ledger(tmp_path, capsys):
    from gnn_unlearn.ledger import sha256_file
    ckpt, ref, unl = (str(tmp_path / n) for n in ("orig.pt", "ref.pt", "unl.pt"))
    assert main(["train", "--num-nodes", "300", "--epochs", "30", "--output", ckpt]) == 0
    capsys.readouterr()
    assert main(["fit-reference", "--checkpoint", ckpt, "--output", ref]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["reference"] == os.path.abspath(ref) and printed["training_edges"] > 0
    # a file that is not a reference is refused before any work: no checkpoint, no ledger line
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "gnndelete", "--df-size", "0.05",
                 "--params", json.dumps({"reference": ckpt}), "--output", unl]) == 2
    assert "is not a held-out reference" in capsys.readouterr().err
    assert not os.path.exists(unl) and not os.path.exists(str(tmp_path / "unl.ledger.jsonl"))
    assert main(["unlearn", "--checkpoint", ckpt, "--method", "gnndelete", "--df-size", "0.05",
                 "--params", json.dumps({"reference": ref}), "--output", unl]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["reference"] == {"path": os.path.abspath(ref), "sha256": sha256_file(ref)}
    assert f"file={os.path.abspath(ref)!r}" in entry["params"]["reference"]
    assert main(["fit-reference", "--checkpoint", ckpt, "--output", ckpt]) == 2
    assert "--output must differ" in capsys.readouterr().err
    assert main(["fit-reference", "--checkpoint", ckpt, "--folds", "3", "--output", ref]) == 0
    assert json.loads(capsys.readouterr().out)["folds"] == 3
    assert main(["fit-reference", "--checkpoint", ckpt, "--folds", "1", "--output", ref]) == 2
    assert "folds must be an int >= 2" in capsys.readouterr().err


def test_benchmark_first_seed_is_checked_before_any_work(capsys):
    assert main(["benchmark", "--datasets", "synthetic", "--first-seed", "-1"]) == 2
    assert "--first-seed must be >= 0" in capsys.readouterr().err
    assert main(["benchmark", "--datasets", "synthetic", "--methods", "gnndelete+ref", "--reference-folds", "1"]) == 2
    assert "reference_folds must be an int >= 2" in capsys.readouterr().err


def test_fit_reference_for_a_recommender_then_reverse_bpr_with_it(tmp_path, capsys):
    import torch
    from gnn_unlearn.data.synthetic import bipartite_synthetic
    data = bipartite_synthetic(200, 300, avg_degree=15, seed=1)
    graph, request, model, ref, unl = (str(tmp_path / n) for n in ("g.pt", "req.csv", "m.pt", "r.pt", "u.pt"))
    torch.save(data, graph)
    pairs = data.train_pos_edge_index[:, :15]
    with open(request, "w") as f:
        f.write("user,item\n" + "".join(f"{u},{i - 200}\n" for u, i in pairs.t().tolist()))
    assert main(["train", "--task", "rec", "--graph", graph, "--epochs", "30", "--output", model]) == 0
    capsys.readouterr()
    assert main(["fit-reference", "--checkpoint", model, "--output", ref]) == 0
    assert json.loads(capsys.readouterr().out)["training_edges"] == data.train_pos_edge_index.size(1)
    assert main(["unlearn", "--checkpoint", model, "--request", request, "--method", "reverse_bpr",
                 "--params", json.dumps({"reference": ref}), "--output", unl]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["reference"]["path"] == os.path.abspath(ref)
    # the published target cannot use a reference: refused before any work
    assert main(["unlearn", "--checkpoint", model, "--request", request, "--method", "reverse_bpr",
                 "--params", json.dumps({"reference": ref, "target": "published"}),
                 "--output", str(tmp_path / "v.pt")]) == 2
    assert "refine target='matched'" in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "v.pt"))


def test_benchmark_method_params_reach_the_methods_and_the_record(tmp_path, capsys, monkeypatch):
    import gnn_unlearn.experiment as experiment
    calls = []
    real = experiment.unlearn

    def recording(model, task, method, **kw):
        calls.append((method, {k: v for k, v in kw.items() if k != "device"}))
        return real(model, task, method, **kw)

    monkeypatch.setattr(experiment, "unlearn", recording)
    base = ["benchmark", "--datasets", "synthetic", "--methods", "gnndelete,gnndelete+ref", "--sizes", "0.05",
            "--wheres", "in", "--seeds", "1", "--epochs", "30", "--no-mia", "--output", str(tmp_path / "b")]
    for params, message in (('{"d2dgn": {"settle": 6}}', "which this run does not run"),
                            ('{"gnndelete": {"settle": -1}}', "settle=-1 is out of range"),
                            ('{"gnndelete": 3}', "must map a method name to its hyperparameters"),
                            ('{"gnndelete": {"reference": "r.pt"}}', "with the +ref row name")):
        assert main(base + ["--method-params", params]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    assert main(base + ["--method-params", '{"gnndelete": {"settle": 4}}', "--name", "g"]) == 0
    run = json.loads((tmp_path / "b" / "g.json").read_text())
    block = run["blocks"][0]
    assert run["code"].startswith("gnn_unlearn ") and f"code: {run['code']}" in (tmp_path / "b" / "g.md").read_text()
    assert block["method_params"] == {"gnndelete": {"settle": 4}}
    assert block["mia"] is False and not any("mi_ratio" in r for r in block["rows"])   # --no-mia
    runs = [kw for method, kw in calls if method == "gnndelete"]
    assert len(runs) == 2 and all(kw["settle"] == 4 for kw in runs)           # the plain and the +ref row
    assert sum("reference" in kw for kw in runs) == 1
    assert {r["model"] for r in block["rows"]} >= {"gnndelete", "gnndelete+ref"}
    # each seed's own rows are kept, so one seed of a merged run can be read again
    from gnn_unlearn.bench import select_seeds
    assert [[r["model"] for r in rows] for rows in block["seed_rows"]] == [[r["model"] for r in block["rows"]]]
    assert select_seeds(block, [0])["rows"] == block["rows"]


def test_a_benchmark_stopped_mid_grid_keeps_the_blocks_it_finished(tmp_path, monkeypatch):
    import gnn_unlearn.bench as bench
    real, calls = bench.run_edge_request, []

    def stopped_at_the_second(*args, **kw):
        calls.append(args[3])
        if len(calls) == 2:
            raise KeyboardInterrupt("stopped")
        return real(*args, **kw)

    monkeypatch.setattr(bench, "run_edge_request", stopped_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        main(["benchmark", "--datasets", "synthetic", "--methods", "gradient_ascent", "--sizes", "0.05",
              "--wheres", "in,out", "--seeds", "1", "--epochs", "20", "--output", str(tmp_path), "--name", "g"])
    blocks = json.loads((tmp_path / "g.json").read_text())["blocks"]
    assert calls == ["in", "out"] and [b["where"] for b in blocks] == ["in"]
    assert "mia" not in blocks[0] and all("mi_ratio" in r for r in blocks[0]["rows"])   # MIA by default
    assert "| in (library) |" in (tmp_path / "g.md").read_text().replace("  ", " ")
