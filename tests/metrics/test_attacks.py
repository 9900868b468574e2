"""The attack registry: evaluate() prepares each chosen attack once and adds its columns."""
import pytest
import torch

from gnn_unlearn.methods import unlearn
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.metrics.attacks import Attack, _ATTACKS, available_attacks, build_attacks, register_attack


class _Counting(Attack):
    """Counts calls and scores the mean Df logit, a measure that differs between models."""
    name = "counting_test_attack"
    tasks = frozenset({"link"})
    columns = {"count_df_logit": "mean Df logit"}
    note = "test attack"

    def __init__(self, seed: int = 0, scale: float = 1.0):
        super().__init__(seed)        # the shared schema has checked scale (a positive float)
        self.scale, self.prepared, self.scored = float(scale), 0, 0

    def prepare(self, task, original, retrained):
        self.prepared += 1
        self.df = task.df_edge_index

    def score(self, model, graph, on_original):
        self.scored += 1
        with torch.no_grad():
            z = model.encode(graph.x, graph.edge_index)
            return {"count_df_logit": self.scale * float(model.decode(z, self.df).mean())}


@pytest.fixture()
def counting():
    register_attack(_Counting)
    yield _Counting
    _ATTACKS.pop(_Counting.name, None)


def test_evaluate_runs_a_registered_attack_per_row(counting, cora_gcn, cora_task, cora_retrained, monkeypatch):
    built = []
    original_init = counting.__init__

    def spy(self, *a, **k):
        original_init(self, *a, **k)
        built.append(self)
    monkeypatch.setattr(counting, "__init__", spy)
    ga = unlearn(cora_gcn, cora_task, "gradient_ascent")
    rep = evaluate([ga], cora_task, retrained=cora_retrained, mia=False,
                   attacks=[counting.name], attack_params={counting.name: {"scale": 2.0}})
    (attack,) = built
    assert attack.prepared == 1 and attack.scored == 3
    values = [r["count_df_logit"] for r in rep.rows]
    assert len(set(values)) == 3                      # original, retrain, method differ
    assert "mean Df logit" in rep.to_markdown() and "test attack" in rep.to_markdown()
    assert rep.to_dict()["attack_columns"] == {"count_df_logit": "mean Df logit"}
    assert rep.meta["attacks"][counting.name]["scale"] == 2.0


def test_bad_attack_options_are_refused_before_any_work(counting, cora_gcn, cora_task, monkeypatch):
    import gnn_unlearn.evaluation as report
    monkeypatch.setattr(report, "unlearn", lambda *a, **k: pytest.fail("work started"))
    ga_like = unlearn(cora_gcn, cora_task, "utu")
    for attacks, params, err, msg in [
            (["nope"], None, ValueError, "unknown attacks"),
            ("lira", None, TypeError, "list of attack names"),
            ([counting.name, counting.name], None, ValueError, "twice"),
            ([counting.name], {"other": {}}, ValueError, "attack_params must be a dict keyed"),
            ([counting.name], "lira", ValueError, "attack_params must be a dict keyed"),
            ([counting.name], {counting.name: {"scale": "x"}}, TypeError, "scale='x' has type str; expected float"),
            ([counting.name], {counting.name: {"scale": -1.0}}, ValueError, "scale=-1.0 is out of range"),
            ([counting.name], {counting.name: {"seed": 3}}, ValueError, r"takes evaluate\(\)'s seed"),
            ([counting.name], {counting.name: {"bogus": 1}}, TypeError, "counting_test_attack")]:
        with pytest.raises(err, match=msg):
            evaluate(ga_like, cora_task, mia=False, attacks=attacks, attack_params=params)


def test_attacks_are_listed_by_task(counting):
    assert counting.name in available_attacks("link")
    assert counting.name not in available_attacks("node")
    with pytest.raises(ValueError, match="do not apply to 'node'"):
        build_attacks([counting.name], "node")
    with pytest.raises(TypeError, match="must set name"):
        register_attack(type("Bare", (Attack,), {}))
