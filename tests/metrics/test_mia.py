import torch

from gnn_unlearn.data import node_split
from gnn_unlearn.metrics.mia import LossAttack, ShadowPosteriorAttack, node_attack_features
from gnn_unlearn.models import make_model
from gnn_unlearn.training import TrainConfig, fit
from gnn_unlearn.utils import seeded


def _member_split(cora):
    data = node_split(cora, train_ratio=0.5, val_ratio=0.1, seed=0, use_public=False)
    return data, data.train_mask, data.test_mask


def _attack_auc(model, data, members, non_members):
    model.eval()
    with torch.no_grad():
        logits = model(data.x, data.edge_index)
    feats = node_attack_features(logits, data.y)
    return LossAttack(seed=0).fit(feats[members.numpy()], feats[non_members.numpy()]).attack_auc


def test_attack_succeeds_on_an_overfitted_model(cora):
    data, members, non_members = _member_split(cora)
    # random labels can only be memorised, not generalised: the purest overfitting
    data.y = data.y[torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(0))]
    with seeded(0):
        model = make_model(data, "node", dropout=0.0, hidden_channels=256, out_channels=256)
    # no early stopping, no regularisation: memorise the training nodes
    model, _ = fit(model, data, TrainConfig(epochs=200, patience=200, eval_every=200, lr=0.01, seed=0))
    assert _attack_auc(model, data, members, non_members) > 0.9


def test_attack_near_chance_on_a_model_that_never_saw_the_data(cora):
    data, members, non_members = _member_split(cora)
    with seeded(0):
        model = make_model(data, "node")
    assert abs(_attack_auc(model, data, members, non_members) - 0.5) < 0.1


def test_shadow_attack_runs_and_reports_its_auc(cora_gcn, cora_link, cora_task):
    attack = ShadowPosteriorAttack(seed=0, epochs=50).fit(cora_gcn.config, cora_link)
    assert 0.0 <= attack.attack_auc <= 1.0
    p = attack.present_probability(torch.randn(7))
    assert p.shape == (7,) and ((p >= 0) & (p <= 1)).all()
    again = ShadowPosteriorAttack(seed=0, epochs=50).fit(cora_gcn.config, cora_link)
    assert again.attack_auc == attack.attack_auc        # seeded
