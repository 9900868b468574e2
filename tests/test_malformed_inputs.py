"""Malformed inputs across the Python API and the CLI: each is refused with a clear error before
any optimiser step, and nothing the caller passed changes (tensors and files byte-identical).

One table of cases; an optimiser step taken before the refusal fails the case (the step is
patched to raise), so "refused before work" is checked, not assumed.
"""
from __future__ import annotations

import copy
import hashlib
import os

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from gnn_unlearn import (DeletionRequest, TrainConfig, evaluate, link_split, load_dataset, prepare_data,
                         train, unlearn)
from gnn_unlearn.cli import main
from gnn_unlearn.data import sample_edges, synthetic_graph
from gnn_unlearn.data.samplers import near_test_edges


class StepTaken(AssertionError):
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("malformed")
    data = link_split(synthetic_graph(200, num_classes=3, avg_degree=6, num_features=12,
                                      features_per_node=3, seed=1), seed=0)
    model, _ = train(data, "link", TrainConfig(epochs=5, eval_every=5, seed=0, progress=False))
    task = sample_edges(data, 5, seed=0).resolve(data)
    other = link_split(synthetic_graph(200, num_classes=3, avg_degree=6, num_features=12,
                                       features_per_node=3, seed=1), seed=1)
    ckpt = str(folder / "model.pt")
    assert main(["train", "--num-nodes", "200", "--epochs", "3", "--output", ckpt]) == 0
    csv = folder / "bad.csv"
    csv.write_text("user,item\n1,2\n")
    return dict(data=data, model=model, task=task, other=other, ckpt=ckpt, folder=str(folder),
                csv=str(csv), retrained=unlearn(model, task, "retrain", epochs=2))


def _hash_tensors(obj) -> str:
    h = hashlib.sha256()
    if isinstance(obj, torch.nn.Module):
        items = obj.state_dict().items()
    else:
        items = [(k, v) for k, v in obj.to_dict().items() if isinstance(v, torch.Tensor)]
    for k, v in sorted(items, key=lambda kv: kv[0]):
        h.update(k.encode() + v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _hash_files(folder: str) -> dict[str, str]:
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            out[p] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


E = "edge_index"


def _mixed(d):
    m = copy.copy(d)
    m.train_pos_edge_index = torch.cat([d.train_pos_edge_index, d.train_pos_edge_index[:, :3].flip(0)], 1)
    return m


def _with(d, **kw):
    out = copy.copy(d)
    for k, v in kw.items():
        out[k] = v
    return out


def _nan_x(d):
    x = d.x.clone()
    x[0, 0] = float("nan")
    return _with(d, x=x)


API_CASES = {
    # hyperparameters (shared schema)
    "epochs 0": lambda w: unlearn(w["model"], w["task"], "gradient_ascent", epochs=0),
    "epochs negative": lambda w: unlearn(w["model"], w["task"], "d2dgn", epochs=-5),
    "epochs float": lambda w: unlearn(w["model"], w["task"], "gnndelete", epochs=2.5),
    "epochs bool": lambda w: unlearn(w["model"], w["task"], "gradient_ascent", epochs=True),
    "lr nan": lambda w: unlearn(w["model"], w["task"], "gradient_ascent", lr=float("nan")),
    "lr negative": lambda w: unlearn(w["model"], w["task"], "gnndelete", lr=-1e-3),
    "lr inf": lambda w: unlearn(w["model"], w["task"], "d2dgn", lr=float("inf")),
    "alpha > 1": lambda w: unlearn(w["model"], w["task"], "gnndelete", alpha=1.5),
    "max_val_drop > 1": lambda w: unlearn(w["model"], w["task"], "gradient_ascent", max_val_drop=2.0),
    "unknown hyperparameter": lambda w: unlearn(w["model"], w["task"], "gradient_ascent", epoch=3),
    "retrain patience 0": lambda w: unlearn(w["model"], w["task"], "retrain", patience=0),
    "unknown method": lambda w: unlearn(w["model"], w["task"], "gradient_descent"),
    "method string for task": lambda w: unlearn(w["model"], "task", "retrain"),
    # requests
    "edges [k, 2]": lambda w: DeletionRequest.edges(w["data"].train_pos_edge_index[:, :3].t()).resolve(w["data"]),
    "not a training edge": lambda w: DeletionRequest.edges(w["data"].test_pos_edge_index[:, :1]).resolve(w["data"]),
    "unknown node id": lambda w: DeletionRequest.nodes([10 ** 6]).resolve(w["data"]),
    "negative node id": lambda w: DeletionRequest.nodes([-1]).resolve(w["data"]),
    "duplicate edge in one part": lambda w: DeletionRequest.edges(
        w["data"].train_pos_edge_index[:, [0, 0]]).resolve(w["data"]),
    "empty edges": lambda w: DeletionRequest.edges(torch.empty(2, 0, dtype=torch.long)).resolve(w["data"]),
    "bool node ids": lambda w: DeletionRequest.nodes(torch.tensor([True, False])),
    "float node ids": lambda w: DeletionRequest.nodes(torch.tensor([1.0])),
    "unknown class": lambda w: DeletionRequest.node_class(99).resolve(w["data"]),
    "class id str": lambda w: DeletionRequest.node_class("2"),
    "feature column out of range": lambda w: DeletionRequest.features([0], [500]).resolve(w["data"]),
    "interactions on a non-bipartite graph": lambda w: DeletionRequest.interactions([0], [1]).resolve(w["data"]),
    # combined requests that overlap
    "same edge in two parts": lambda w: (DeletionRequest.edges(w["data"].train_pos_edge_index[:, :1])
                                         | DeletionRequest.edges(w["data"].train_pos_edge_index[:, :1])
                                         ).resolve(w["data"]),
    "edge and its reverse in two parts": lambda w: (
        DeletionRequest.edges(w["data"].train_pos_edge_index[:, :1])
        | DeletionRequest.edges(w["data"].train_pos_edge_index[:, :1].flip(0))).resolve(w["data"]),
    "same node in two parts": lambda w: (DeletionRequest.nodes([3]) | DeletionRequest.nodes([3, 4])
                                         ).resolve(w["data"]),
    "same feature entry in two parts": lambda w: (DeletionRequest.features([3], [1])
                                                  | DeletionRequest.features([3])).resolve(w["data"]),
    # graphs
    "NaN features on resolve": lambda w: DeletionRequest.nodes([1]).resolve(_nan_x(w["data"])),
    "NaN features on train": lambda w: train(_nan_x(w["data"]), "link", TrainConfig(epochs=1, progress=False)),
    "one-direction edge_index": lambda w: DeletionRequest.nodes([1]).resolve(
        _with(w["data"], edge_index=w["data"].train_pos_edge_index)),
    "both-direction training edges": lambda w: DeletionRequest.nodes([1]).resolve(
        _with(w["data"], train_pos_edge_index=to_undirected(w["data"].train_pos_edge_index))),
    "validation edge passing messages": lambda w: train(
        _with(w["data"], edge_index=to_undirected(torch.cat([w["data"].edge_index,
                                                             w["data"].val_pos_edge_index[:, :1]], 1))),
        "link", TrainConfig(epochs=1, progress=False)),
    "not a Data": lambda w: DeletionRequest.nodes([1]).resolve({"edge_index": w["data"].edge_index}),
    # num_hops
    "num_hops negative": lambda w: DeletionRequest.nodes([1]).resolve(w["data"], num_hops=-1),
    "num_hops absurd": lambda w: DeletionRequest.nodes([1]).resolve(w["data"], num_hops=2 ** 62),
    "num_hops bool": lambda w: DeletionRequest.nodes([1]).resolve(w["data"], num_hops=True),
    "num_hops float": lambda w: DeletionRequest.nodes([1]).resolve(w["data"], num_hops=2.0),
    # saved requests
    "saved request without parts": lambda w: DeletionRequest.from_dict({"part": []}),
    "saved request unknown kind": lambda w: DeletionRequest.from_dict({"parts": [{"kind": "edges"}]}),
    "saved request wrong field": lambda w: DeletionRequest.from_dict(
        {"parts": [{"kind": "node", "nodes": [1]}]}),
    "saved request float ids": lambda w: DeletionRequest.from_dict({"parts": [{"kind": "node", "ids": [1.5]}]}),
    "saved request class not int": lambda w: DeletionRequest.from_dict({"parts": [{"kind": "class", "c": [2]}]}),
    # model and task do not belong together
    "task from another split": lambda w: unlearn(w["model"], sample_edges(w["other"], 5, seed=0).resolve(
        w["other"]), "gradient_ascent", epochs=1),
    # evaluation
    "duplicate labels": lambda w: evaluate([w["retrained"], w["retrained"]], w["task"], mia=False,
                                           labels=["a", "a"]),
    "unknown protocol": lambda w: evaluate(w["retrained"], w["task"], mia=False, protocols=("paper",)),
    "df negatives that are edges": lambda w: evaluate(
        w["retrained"], w["task"], mia=False, df_negatives=w["data"].train_pos_edge_index[:, :5]),
    "df negatives wrong shape": lambda w: evaluate(w["retrained"], w["task"], mia=False,
                                                   df_negatives=torch.zeros(5, 2, dtype=torch.long)),
    # the entry point for user graphs
    "ambiguous direction convention": lambda w: prepare_data(_mixed(w["data"])),
    "directed link prediction": lambda w: prepare_data(w["data"], undirected=False),
    "one RandomLinkSplit part": lambda w: prepare_data(_with(w["data"], edge_label_index=w["data"].edge_index)),
    "OGB ranking split": lambda w: prepare_data(w["data"], split={
        "train": {"source_node": torch.tensor([0])}, "valid": {}, "test": {}}),
    "negatives that are positives": lambda w: prepare_data(_with(
        w["data"], val_neg_edge_index=w["data"].train_pos_edge_index[:, :3])),
    "unknown task": lambda w: prepare_data(w["data"], task="graph"),
    "user-item graph without a split": lambda w: prepare_data(
        Data(edge_index=torch.tensor([[0, 3], [3, 0]]), num_nodes=5, num_users=2, num_items=3), task="rec"),
    # datasets and samplers
    "unknown dataset": lambda w: load_dataset("Coraa"),
    "transform not callable": lambda w: load_dataset("synthetic", transform="NormalizeFeatures"),
    "mirror folder missing": lambda w: load_dataset("Cora", mirror=os.path.join(w["folder"], "none")),
    "where unknown": lambda w: sample_edges(w["data"], 5, where="inside"),
    "region unknown": lambda w: near_test_edges(w["data"], 2, "paper"),
    "sample size too large": lambda w: sample_edges(w["data"], 10 ** 6),
}

CLI_CASES = {
    "cli epochs 0": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--params", '{"epochs": 0}'],
    "cli lr NaN": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--params", '{"lr": NaN}'],
    "cli params not JSON": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--params", "{epochs: 3}"],
    "cli params not an object": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--params", "[3]"],
    "cli unknown method": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--method", "nope"],
    "cli missing checkpoint": lambda w: ["unlearn", "--checkpoint", os.path.join(w["folder"], "no.pt")],
    "cli missing request file": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--request",
                                           os.path.join(w["folder"], "no.csv")],
    "cli interaction file on a plain graph": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--request",
                                                        w["csv"]],
    "cli df-size out of range": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--df-size", "2"],
    "cli bad node ids": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--nodes", "a,b"],
    "cli unknown node": lambda w: ["unlearn", "--checkpoint", w["ckpt"], "--nodes", "100000"],
    "cli train epochs 0": lambda w: ["train", "--num-nodes", "200", "--epochs", "0"],
}


@pytest.fixture
def no_steps(monkeypatch):
    def refuse(self, *a, **k):
        raise StepTaken("an optimiser step ran before the input was refused")
    monkeypatch.setattr(torch.optim.Adam, "step", refuse)
    monkeypatch.setattr(torch.optim.SGD, "step", refuse)


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_python_api_refuses(world, case, no_steps):
    before = {k: _hash_tensors(world[k]) for k in ("data", "model", "other")}
    with pytest.raises((ValueError, TypeError, FileNotFoundError)) as e:
        API_CASES[case](world)
    assert str(e.value).strip() and "Traceback" not in str(e.value)
    assert {k: _hash_tensors(world[k]) for k in ("data", "model", "other")} == before


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_refuses_in_one_line(world, case, no_steps, capsys):
    files = _hash_files(world["folder"])
    out = os.path.join(world["folder"], "out.pt")
    argv = CLI_CASES[case](world)
    if argv[0] != "train" or "--output" not in argv:
        argv = [*argv, "--output", out]
    try:
        code = main(argv)
    except SystemExit as e:          # argparse's own refusals exit 2 as well
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err and len(err.splitlines()) <= 2 and "Traceback" not in err, err
    assert not os.path.exists(out)
    assert _hash_files(world["folder"]) == files


def test_the_suite_is_large_enough():
    assert len(API_CASES) + len(CLI_CASES) >= 60
