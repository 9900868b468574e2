"""gnn_unlearn.experiment: one request of the grid, rows and records keyed by the grid's names."""
from gnn_unlearn.data import link_split, synthetic_graph
from gnn_unlearn.experiment import run_edge_request
from gnn_unlearn.methods import HeldOutReference
from gnn_unlearn.training import TrainConfig, train


def test_a_method_with_and_without_the_reference_keeps_two_rows_two_stop_reasons_and_excesses():
    data = link_split(synthetic_graph(num_nodes=200, num_classes=3, avg_degree=6, num_features=16,
                                      features_per_node=4, seed=3), seed=0)
    model, _ = train(data, "link", TrainConfig(seed=0, epochs=60), encoder="gcn")
    reference = HeldOutReference.fit(model, data, seed=0)
    report = run_edge_request(data, model, 0.05, "random", ["gnndelete", "gnndelete+ref"], seed=0,
                              mia=False, log=lambda *a: None, reference=reference)
    assert [r["model"] for r in report.rows] == ["original", "retrain", "gnndelete", "gnndelete+ref"]
    reasons = report.meta["stop_reasons"]
    assert set(reasons) == {"gnndelete", "gnndelete+ref"}
    assert all(isinstance(v, str) and v for v in reasons.values())
    excess = report.meta["stop_excess"]                      # per row, a float for link methods
    assert set(excess) == set(reasons) and all(isinstance(v, float) for v in excess.values())
