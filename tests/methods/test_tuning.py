import pytest
import torch

from gnn_unlearn.methods.tuning import IntRange, LogUniform, random_search


def test_search_space_draws_are_seeded_and_in_range():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = [LogUniform(1e-4, 1e-1).sample(g1) for _ in range(20)]
    assert a == [LogUniform(1e-4, 1e-1).sample(g2) for _ in range(20)]
    assert all(1e-4 <= v <= 1e-1 for v in a)
    assert {IntRange(2, 4).sample(g1) for _ in range(50)} == {2, 3, 4}


def test_random_search_keeps_the_best_and_checks_names(cora):
    from gnn_unlearn import DeletionRequest, TrainConfig, train
    model, _ = train(cora, "node", TrainConfig(epochs=40, weight_decay=5e-4, seed=0))
    task = DeletionRequest.nodes(cora.train_mask.nonzero().view(-1)[:10]).resolve(cora)
    space = {"steps": [1], "contrastive_epochs_1": IntRange(1, 2), "contrastive_epochs_2": [2],
             "descent_lr": LogUniform(1e-3, 1e-2)}
    result = random_search(model, task, "cognac", space, trials=3, seed=0)
    assert len(result.trials) == 3 and result.trials[0][0] == {}
    assert result.best_score == max(v for _, v in result.trials)
    again = random_search(model, task, "cognac", space, trials=3, seed=0)
    assert [p for p, _ in again.trials] == [p for p, _ in result.trials]
    with pytest.raises(ValueError, match="has no hyperparameters"):
        random_search(model, task, "cognac", {"bogus": [1]}, trials=1)
    with pytest.raises(ValueError, match="declares no search space"):
        random_search(model, task, "retrain", trials=1)


def test_method_hyperparameters_are_validated():
    from gnn_unlearn.methods import get
    for name, bad in [("cognac", {"steps": 0}), ("cognac", {"contrastive_frac": 0}),
                      ("unlearnrec", {"weights": (1.0, -1.0, 0.0)}), ("unlearnrec", {"edge_dropout": 1.0})]:
        with pytest.raises(ValueError):
            get(name, **bad)
