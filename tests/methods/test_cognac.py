import pytest
import torch

from gnn_unlearn import unlearn
from gnn_unlearn.data import edge_injection, label_flip, node_split
from gnn_unlearn.methods.cognac import contrastive_loss, invert_features
from gnn_unlearn.training import TrainConfig, train

from ..conftest import param_hash


@pytest.fixture(scope="module")
def poisoned(cora):
    data = node_split(cora, train_ratio=0.6, val_ratio=0.2, use_public=False, seed=0)
    man = label_flip(data, rate=0.1, seed=0)
    model, _ = train(man.data, "node", TrainConfig(epochs=60, weight_decay=5e-4, seed=0))
    return data, man, model


def test_invert_features():
    x = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    assert invert_features(x, torch.tensor([0])).tolist() == [[1.0, 0.0], [1.0, 1.0]]
    r = torch.tensor([[1.0], [3.0]])
    assert invert_features(r, torch.tensor([1])).tolist() == [[1.0], [1.0]]   # mean 2: 3 -> 1


def test_contrastive_loss_uses_per_anchor_means():
    h = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    pos = torch.tensor([[0, 0], [1, 2]])         # anchor 0: positives 1 and 2
    neg = torch.tensor([[0], [3]])
    loss = contrastive_loss(h, pos, neg, 4)
    sp = torch.nn.functional.logsigmoid
    expected = -(sp(torch.tensor(1.0)) + sp(torch.tensor(0.0))) / 2 - sp(torch.tensor(1.0))
    assert torch.allclose(loss, expected)


def test_cognac_runs_on_identified_flips_and_keeps_original(poisoned):
    data, man, model = poisoned
    task = man.identify(0.05, seed=0).resolve(man.data)
    before = param_hash(model)
    result = unlearn(model, task, "cognac", steps=1, contrastive_epochs_1=2, contrastive_epochs_2=3)
    assert param_hash(model) == before
    assert result.history["anchors"] > 0 and result.history["negative_pairs"] > 0
    assert result.history["best_val"] >= max(result.history["val"])


def test_minibatch_cognac_steps_on_sampled_batches_and_is_seeded(poisoned, monkeypatch):
    from gnn_unlearn import loader
    data, man, model = poisoned
    task = man.identify(0.05, seed=0).resolve(man.data)
    sizes = []
    real = loader.sample_subgraph

    def counting(sampler, seeds, generator=None):
        sizes.append(seeds.numel())
        return real(sampler, seeds, generator)

    monkeypatch.setattr(loader, "sample_subgraph", counting)
    kw = dict(steps=2, contrastive_epochs_1=2, contrastive_epochs_2=3, fanouts=[5, 5],
              batch_size=64, seed=3)
    first = unlearn(model, task, "cognac", **kw)
    # 2 rounds x (2 contrastive + 3 x (ascent + descent)) steps; a descent step is one batch
    # of 64 retained training nodes, not the training set
    assert len(sizes) == 2 * (2 + 3 * 2)
    assert [sizes[i] for i in (3, 5, 7, 11, 13, 15)] == [64] * 6
    second = unlearn(model, task, "cognac", **kw)
    assert param_hash(first.model) == param_hash(second.model)
    with pytest.raises(ValueError, match="one fanout per layer"):
        unlearn(model, task, "cognac", fanouts=[5])


def test_cognac_edge_requests_and_refusals(poisoned, cora_gcn, cora_link):
    data, _, _ = poisoned
    inj = edge_injection(data, size=100, seed=0)
    # the model must be trained on the graph the request is resolved on (unlearn checks its digest)
    model, _ = train(inj.data, "node", TrainConfig(epochs=20, weight_decay=5e-4, seed=0))
    task = inj.identify(0.25, seed=0).resolve(inj.data)
    result = unlearn(model, task, "cognac", steps=1, contrastive_epochs_1=1, contrastive_epochs_2=2)
    assert result.history["negative_pairs"] == 2 * 25
    from gnn_unlearn import DeletionRequest
    with pytest.raises(ValueError, match=r"works on \['node'\] models"):
        unlearn(cora_gcn, DeletionRequest.nodes([1]).resolve(cora_link), "cognac")
    with pytest.raises(ValueError, match="does not support"):
        unlearn(model, DeletionRequest.features([1]).resolve(data), "cognac")


def test_cognac_class_removal_stops_predicting_the_class(cora):
    from gnn_unlearn import DeletionRequest
    model, _ = train(cora, "node", TrainConfig(epochs=100, weight_decay=5e-4, seed=0))
    task = DeletionRequest.node_class(3).resolve(cora)
    result = unlearn(model, task, "cognac", seed=0)
    kept = task.retained_data
    with torch.no_grad():
        pred = result.model(kept.x, kept.edge_index).argmax(-1)
        before = model(kept.x, kept.edge_index).argmax(-1)
    y = cora.y.view(-1)
    forget, other = cora.test_mask & (y == 3), cora.test_mask & (y != 3)
    assert (before[forget] == 3).float().mean() > 0.5            # the original predicts it
    assert (pred[forget] == 3).float().mean() < 0.2               # afterwards hardly ever
    acc = lambda p: (p[other] == y[other]).float().mean()
    assert acc(pred) > acc(before) - 0.05


def test_ascent_losses():
    from gnn_unlearn.methods.cognac import ascent_loss
    logits = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
    y = torch.tensor([0, 0])
    assert torch.allclose(ascent_loss(logits, y, "ce"), -torch.nn.functional.cross_entropy(logits, y))
    confident, unsure = ascent_loss(logits[:1], y[:1]), ascent_loss(logits[1:], y[1:])
    assert confident > unsure > 0 and torch.isfinite(ascent_loss(torch.tensor([[100.0, 0.0]]), y[:1]))
    with pytest.raises(ValueError, match="ascent must be"):
        from gnn_unlearn.methods.cognac import Cognac
        Cognac(ascent="nope")


def test_cognac_with_5_percent_beats_retraining_without_them(cora):
    """Cognac's headline on Cora (GCN, 10 % label flips, 5 % identified, models trained for a
    fixed 300 epochs): measured 0.774 vs 0.690 for retraining without the identified nodes
    (oracle 0.875, poisoned 0.685) at seed 0; asserted with margins well below that."""
    data = node_split(cora, train_ratio=0.6, val_ratio=0.2, use_public=False, seed=0)
    man = label_flip(data, rate=0.1, seed=0)
    cfg = TrainConfig(epochs=300, eval_every=300, patience=10 ** 6, weight_decay=5e-4, seed=0)
    oracle, _ = train(data, "node", cfg)
    poisoned, _ = train(man.data, "node", cfg)
    task = man.identify(0.05, seed=0).resolve(man.data)
    y = data.y.view(-1)
    manipulated = data.test_mask & ((y == man.classes[0]) | (y == man.classes[1]))

    def acc(model):
        model.eval()
        with torch.no_grad():
            pred = model(data.x, data.edge_index).argmax(-1)
        return float((pred[manipulated] == y[manipulated]).float().mean())

    cognac = acc(unlearn(poisoned, task, "cognac", seed=0).model)
    retrained = acc(unlearn(poisoned, task, "retrain").model)
    assert acc(poisoned) < acc(oracle) - 0.1                       # the poison did harm
    assert cognac > retrained + 0.03, (cognac, retrained)
    # mini-batch Cognac (batches of 1,024 of the 1,625 training nodes) with 25 % identified:
    # measured 0.746 / 0.770 (2 / 1 threads; poisoned 0.685 / 0.669). Its edge over retraining
    # without the identified nodes is within the seed spread (+0.008 / +0.056), so what is
    # asserted is that it undoes part of the damage
    task25 = man.identify(0.25, seed=0).resolve(man.data)
    mini = acc(unlearn(poisoned, task25, "cognac", seed=0, fanouts=[10, 10], batch_size=1024).model)
    assert mini > acc(poisoned) + 0.03, (mini, acc(poisoned))
    assert cognac - acc(poisoned) > 0.2 * (acc(oracle) - acc(poisoned))


def test_cognac_says_when_it_returns_the_input_weights(poisoned):
    """A run whose rounds all lose validation accuracy returns the start state: that must not be
    silent (a warning and history["returned_start_state"]); keep_start=False returns the best
    updated state instead, whose weights differ from the input model's."""
    data, man, model = poisoned
    task = man.identify(0.05, seed=0).resolve(man.data)
    kw = dict(steps=1, contrastive_epochs_1=1, contrastive_epochs_2=2, descent_lr=5.0)  # a round that hurts
    with pytest.warns(UserWarning, match="returned weights are the input model's"):
        kept = unlearn(model, task, "cognac", **kw)
    assert kept.history["returned_start_state"] and kept.history["best_round"] == -1
    assert param_hash(kept.model) == param_hash(model)
    moved = unlearn(model, task, "cognac", keep_start=False, **kw)
    assert not moved.history["returned_start_state"] and moved.history["best_round"] == 0
    assert param_hash(moved.model) != param_hash(model)
    with pytest.raises(TypeError, match="keep_start"):
        unlearn(model, task, "cognac", keep_start="no")
