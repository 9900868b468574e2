import pytest
import torch

from gnn_unlearn import DeletionRequest, methods, unlearn
from gnn_unlearn.methods import Unlearner, register
from gnn_unlearn.metrics import link_auc
from gnn_unlearn.training import TrainConfig, train

from ..conftest import param_hash


def test_registry():
    assert {"retrain", "gradient_ascent"} <= set(methods.available())
    ga = methods.get("gradient_ascent", lr=0.01)
    assert ga.lr == 0.01 and ga.get_params()["lr"] == 0.01
    with pytest.raises(ValueError, match="unknown unlearning method 'gnndelet'.*available"):
        methods.get("gnndelet")
    with pytest.raises(ValueError, match="no parameter 'learning_rate'; its parameters: lr"):
        methods.get("gradient_ascent", learning_rate=1)
    with pytest.raises(ValueError, match=r"no parameter 'seed'; its parameters: \(none\)"):
        methods.get("utu", seed=0)
    with pytest.raises(ValueError, match="mini-batches: cognac, d2dgn, gnndelete, gradient_ascent"):
        methods.get("reverse_bpr", fanouts=[10, 10])

    with pytest.raises(ValueError, match="already registered"):
        @register
        class Other(Unlearner):
            name = "retrain"


def test_unsupported_request_fails_clearly(cora_gcn, cora_link):
    task = DeletionRequest.features([1, 2]).resolve(cora_link)
    with pytest.raises(ValueError, match=r"'gradient_ascent' does not support \['feature'\].*retrain"):
        unlearn(cora_gcn, task, "gradient_ascent")


def test_unlearn_validates_inputs(cora_gcn, cora_task, small_graph):
    with pytest.raises(TypeError, match="UnlearningTask"):
        unlearn(cora_gcn, "task", "retrain")
    with pytest.raises(TypeError, match="nn.Module"):
        unlearn("model", cora_task, "retrain")
    other = DeletionRequest.nodes([1]).resolve(small_graph)
    with pytest.raises(ValueError, match="input features"):
        unlearn(cora_gcn, other, "retrain")
    with pytest.raises(ValueError, match="CUDA is not available") if not torch.cuda.is_available() \
            else pytest.raises(Exception):
        unlearn(cora_gcn, cora_task, "gradient_ascent", device="cuda")


def test_retrain_equals_training_on_the_retained_graph(cora_gcn, cora_task, cora_retrained):
    direct, _ = train(cora_task.retained_data, "link", TrainConfig(**cora_gcn.train_config))
    for a, b in zip(direct.state_dict().values(), cora_retrained.model.state_dict().values()):
        assert torch.equal(a, b)
    assert cora_retrained.seconds > 0 and cora_retrained.method == "retrain"


def test_gradient_ascent_lowers_df_auroc_and_keeps_original(cora_gcn, cora_task):
    before = param_hash(cora_gcn)
    result = unlearn(cora_gcn, cora_task, "gradient_ascent")
    assert param_hash(cora_gcn) == before
    assert result.model is not cora_gcn and result.original is cora_gcn
    data, kept = cora_task.data, cora_task.retained_data
    df, neg = cora_task.df_edge_index, data.test_neg_edge_index[:, :cora_task.df_edge_index.size(1)]
    orig = link_auc(cora_gcn, data, df, neg)["auroc"]
    after = link_auc(result.model, kept, df, neg)["auroc"]
    assert after < orig - 0.03
    dt = link_auc(result.model, kept, data.test_pos_edge_index, data.test_neg_edge_index)["auroc"]
    assert dt > 0.85
    assert result.history["stop_reason"] in {"deleted set looks unseen", "validation drop", "max epochs"}


def test_gradient_ascent_on_node_classification(cora):
    model, _ = train(cora, "node", TrainConfig(epochs=100, weight_decay=5e-4))
    task = DeletionRequest.node_class(2).resolve(cora)
    before = param_hash(model)
    result = unlearn(model, task, "gradient_ascent", lr=0.01, retain_weight=1.0, max_val_drop=0.1)
    assert param_hash(model) == before
    forget = task.deleted_nodes & cora.train_mask
    pred = result.model(task.retained_data.x, task.retained_data.edge_index)[forget].argmax(-1)
    assert (pred == 2).float().mean() < 0.5


@pytest.mark.parametrize("method,hparams,match", [
    ("gradient_ascent", {"epochs": 0}, "epochs=0 is out of range"),
    ("gradient_ascent", {"epochs": -3}, "out of range"),
    ("gnndelete", {"lr": float("nan")}, "finite"),
    ("d2dgn", {"lr": -1e-3}, "> 0"),
    ("d2dgn", {"alpha": 1.5}, "<= 1"),
    ("gnndelete", {"epochs": 2.5}, "expected int"),
    ("cognac", {"steps": True}, "expected int"),
    ("cognac", {"descent_lr": float("inf")}, "finite"),
    ("reverse_bpr", {"l2": -1.0}, ">= 0"),
    ("retrain", {"patience": 0}, ">= 1"),
    ("unlearnrec", {"edge_dropout": 1.0}, "< 1"),
    ("gif", {"tol": 0.0}, "tol=0.0 is out of range; it must be > 0"),
    ("gif", {"seed": -1}, ">= 0"),
    ("idea", {"strong_convexity": 0.0}, "strong_convexity=0.0 is out of range"),
    ("idea", {"noise_std": -0.1}, ">= 0"),
    ("projector", {"tol": float("nan")}, "finite"),
    ("ceu", {"cg_max_iter": 0}, "cg_max_iter=0 is out of range; it must be >= 1"),
    ("ceu", {"cg_tol": -1e-6}, "> 0"),
    ("cgu", {"retrain": "yes"}, "expected bool"),
    ("graph_eraser", {"workers": 0}, ">= 1"),
    ("cognac", {"k_hop": 0}, "k_hop=0 is out of range; it must be >= 1"),
    ("cognac", {"contrastive_frac": 0.0}, "> 0 and <= 1"),
    ("cognac", {"contrastive_epochs_2": -1}, ">= 0"),
    ("cognac", {"ascent_lr": 0.0}, "> 0"),
])
def test_shared_hyperparameter_schema_refuses_before_work(method, hparams, match):
    from gnn_unlearn.methods import base
    with pytest.raises((ValueError, TypeError), match=match):
        base.get(method, **hparams)
    cls = base._REGISTRY[method]
    with pytest.raises((ValueError, TypeError), match=match):     # direct construction too
        cls(**hparams)


def test_schema_accepts_defaults_and_nones():
    from gnn_unlearn.methods import base
    for name, cls in base._REGISTRY.items():
        cls()                                                       # every default is valid
    assert base.get("retrain", epochs=None).epochs is None
    assert base.get("unlearnrec", finetune_steps=0).finetune_steps == 0   # rule overridden per method
    assert base.get("cognac", contrastive_epochs_1=0).contrastive_epochs_1 == 0
