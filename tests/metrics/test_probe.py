"""Adversarial probe: power on Cora, the budget, the model untouched, options checked."""
import pytest
import torch

from gnn_unlearn.methods import unlearn
from gnn_unlearn.evaluation import evaluate
from gnn_unlearn.metrics.link import link_logits
from gnn_unlearn.metrics.probe import ProbeAttack, matched_non_edges
from gnn_unlearn.ops.graph import edge_keys
from tests.conftest import param_hash


def test_probe_tells_the_original_from_retraining(cora_gcn, cora_task, cora_retrained):
    """Same budget and steps: Df resurfaces further in the original (AUROC vs matched non-edges
    ~0.995, mean p ~0.97) than in retrain (~0.92, ~0.87)."""
    attack = ProbeAttack(seed=0)
    attack.prepare(cora_task, cora_gcn, cora_retrained.model)
    orig = attack.score(cora_gcn, cora_task.data, True)
    ret = attack.score(cora_retrained.model, cora_task.retained_data, False)
    assert ret["probe_auc_gap"] == 0.0 and ret["probe_prob_gap"] == 0.0
    assert orig["probe_auc_gap"] > 0.03, orig
    assert orig["probe_prob_gap"] > 0.05, orig


def test_the_probe_ascends_within_its_budget(cora_task, cora_retrained):
    """The perturbation stays in the budget (both norms) and raises Df's scores."""
    model, graph = cora_retrained.model, cora_task.retained_data
    plain = float(torch.sigmoid(link_logits(model, graph, cora_task.df_edge_index)).mean())
    for norm, eps in (("l2", 0.02), ("linf", 0.01)):
        attack = ProbeAttack(seed=0, eps=eps, norm=norm, steps=5)
        attack.prepare(cora_task, model, model)
        delta = attack.perturbation(model, graph)
        size = delta.norm(dim=1).max() if norm == "l2" else delta.abs().max()
        assert float(size) <= attack.radius * (1 + 1e-5)
        assert float(size) > 0.5 * attack.radius                   # the budget is used
        assert delta.size(0) == torch.unique(cora_task.df_edge_index).numel()
        assert attack.reference["prob"] > plain + 0.02, (norm, attack.reference, plain)


def test_the_probe_leaves_the_model_untouched(cora_gcn, cora_task, cora_retrained):
    gd = unlearn(cora_gcn, cora_task, "gradient_ascent").model
    models = (cora_gcn, cora_retrained.model, gd)
    hashes = [param_hash(m) for m in models]
    grads = lambda: [None if p.grad is None else p.grad.clone() for m in models for p in m.parameters()]
    grads_before = grads()
    attack = ProbeAttack(seed=1, steps=3)
    attack.prepare(cora_task, cora_gcn, cora_retrained.model)
    first = attack.score(gd, cora_task.retained_data, False)
    assert attack.score(gd, cora_task.retained_data, False) == first       # repeatable
    assert [param_hash(m) for m in models] == hashes
    same = lambda a, b: (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
    assert all(same(a, b) for a, b in zip(grads(), grads_before))       # no gradient reached them


def test_matched_non_edges_share_an_endpoint_and_are_non_edges(cora_link):
    pairs = cora_link.train_pos_edge_index[:, :200]
    known = torch.cat([cora_link.train_pos_edge_index, cora_link.val_pos_edge_index,
                       cora_link.test_pos_edge_index], 1)
    neg = matched_non_edges(pairs, known, cora_link.num_nodes, torch.Generator().manual_seed(0))
    assert torch.equal(neg[0], pairs[0]) and bool((neg[0] != neg[1]).all())
    n = cora_link.num_nodes
    assert not bool(torch.isin(edge_keys(neg, n), edge_keys(known, n)).any())
    star = torch.stack([torch.zeros(3, dtype=torch.long), torch.arange(1, 4)])   # node 0 knows all 3 others
    with pytest.raises(ValueError, match="too dense"):
        matched_non_edges(star[:, :1], star, 4, torch.Generator().manual_seed(0))


def test_probe_through_evaluate_and_bad_options(cora_gcn, cora_task, cora_retrained, monkeypatch):
    ga = unlearn(cora_gcn, cora_task, "gradient_ascent")
    rep = evaluate([ga], cora_task, retrained=cora_retrained, mia=False, attacks=["probe"],
                   attack_params={"probe": {"steps": 3}})
    assert rep.row("retrain")["probe_auc_gap"] == 0.0 and "probe AUC gap" in rep.to_markdown()
    import gnn_unlearn.evaluation as report
    monkeypatch.setattr(report, "unlearn", lambda *a, **k: pytest.fail("work started"))
    for params, err, msg in [({"eps": 0}, ValueError, "eps=0 is out of range; it must be > 0"),
                             ({"eps": float("nan")}, ValueError, "eps=nan must be a finite number"),
                             ({"steps": 0}, ValueError, "steps=0 is out of range"),
                             ({"norm": "l1"}, ValueError, "norm='l1' is not one of"),
                             ({"budget": 1}, TypeError, "probe")]:
        with pytest.raises(err, match=msg):
            evaluate(ga, cora_task, mia=False, attacks=["probe"], attack_params={"probe": params})


def test_node_deletion_probe_tells_the_original_from_retraining(cora_node_deletion):
    """Node classification, 80 deleted training nodes: under the same probe the deleted nodes'
    true labels resurface more in the original than in retrain (id AUC 0.41 vs 0.53, mean p
    1.00 vs 0.86)."""
    task, model, retrained = cora_node_deletion
    attack = ProbeAttack(seed=0)
    attack.prepare(task, model, retrained)
    orig = attack.score(model, task.data, True)
    assert orig["probe_auc_gap"] < -0.05 and orig["probe_prob_gap"] > 0.05, (orig, attack.reference)


@pytest.mark.slow
@pytest.mark.parametrize("seed,where", [(1, "in"), (2, "out")])
def test_probe_power_holds_for_other_seeds_and_positions(cora_link, seed, where):
    from gnn_unlearn import TrainConfig, train
    from gnn_unlearn.data import sample_edges
    model, _ = train(cora_link, "link", TrainConfig(seed=seed), encoder="gcn")
    task = sample_edges(cora_link, 0.025, where=where, seed=seed).resolve(cora_link, num_hops=2)
    attack = ProbeAttack(seed=seed)
    attack.prepare(task, model, unlearn(model, task, "retrain").model)
    orig = attack.score(model, task.data, True)
    assert orig["probe_auc_gap"] > 0.03 and orig["probe_prob_gap"] > 0.05, (orig, attack.reference)
