import os

from gnn_unlearn.bench import user_command


def test_result_headers_give_the_command_as_typed():
    here = os.path.abspath("benchmarks/grid.py")
    assert user_command(["/some/venv/bin/gnn-unlearn", "benchmark", "--name", "a b"]) == \
        "gnn-unlearn benchmark --name 'a b'"
    assert user_command([here, "--seeds", "2"]) == "python benchmarks/grid.py --seeds 2"
    assert user_command(["/x/gnn_unlearn/__main__.py", "demo"]) == "gnn-unlearn demo"
    assert user_command(["/x/site-packages/gnn_unlearn/cli.py", "benchmark"]) == "gnn-unlearn benchmark"
    assert "/" not in user_command(["/elsewhere/entirely/run.py"]).split()[1]


def test_same_requests_tolerate_the_round_off_of_merged_means_but_not_another_request():
    import pytest

    from gnn_unlearn.bench import check_same_requests

    def block(gd):
        return {"dataset": "CiteSeer", "encoder": "gcn", "df_size": 0.025, "where": "in", "seeds": [0, 1],
                "rows": [{"model": "retrain", "dt_auroc": 0.9, "df_auroc": 0.93, "df_auc_gnndelete": gd}]}

    # a 5-seed mean pooled from a 3-seed and a 2-seed mean against the direct mean: 2e-7 apart
    check_same_requests(block(0.6319799115724721), block(0.6319801422529796))
    with pytest.raises(ValueError, match="same-seed retrains differ"):
        check_same_requests(block(0.6319), block(0.6325))
