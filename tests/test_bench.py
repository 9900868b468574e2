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
