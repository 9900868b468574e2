import pytest
import torch

from gnn_unlearn.data import link_split
from gnn_unlearn.metrics.link import link_auc
from gnn_unlearn.models.encoders import GNNEncoder, takes_sparse_input
from gnn_unlearn.training import TrainConfig, train


def test_gin_mlp_has_batch_norm_and_keeps_the_sparse_path(small_graph):
    enc = GNNEncoder(small_graph.x.size(1), 16, 8, conv="gin")
    for conv in enc.convs:
        assert [type(n).__name__ for n in conv.nn.norms] == ["BatchNorm"]
    graph = enc.prepare(small_graph.edge_index, small_graph.num_nodes)
    assert takes_sparse_input(enc.convs[0], graph)
    gcn = GNNEncoder(small_graph.x.size(1), 16, 8, conv="gcn")   # GCN has no norm to add
    assert not any("norm" in name for name, _ in gcn.named_parameters())


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3])
def test_gin_trains_as_well_as_gcn_on_cora(cora, seed):
    """Seeds 2 and 3 are two of the three where GIN without batch norm (step size 0.01)
    collapsed to a degree-only score (Dt 0.63 and 0.60 against GCN's 0.93 and 0.91;
    benchmarks/results/gin_recipe.md); now 0.93 and 0.91."""
    torch.set_num_threads(1)
    data = link_split(cora, seed=seed)
    dt = {}
    for enc in ("gcn", "gin"):
        model, _ = train(data, "link", TrainConfig(seed=seed), encoder=enc)
        dt[enc] = link_auc(model, data, data.test_pos_edge_index, data.test_neg_edge_index)["auroc"]
    assert dt["gin"] >= dt["gcn"] - 0.02, dt
