"""benchmarks/corrective.py refuses bad options before any training, each with what was wrong."""
import pytest

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("corrective")


@pytest.fixture()
def no_training(bench, monkeypatch):
    """Any training or unlearning makes the test fail: a refusal must come before the work starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    monkeypatch.setattr(bench, "train", refuse)
    monkeypatch.setattr(bench, "unlearn", refuse)


@pytest.mark.parametrize("argv, says", [
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--train-epochs", "-1"], "--train-epochs must be >= 0"),
    (["--methods", "nosuch"], "--methods: unknown method 'nosuch'"),
    (["--methods", ""], "--methods: unknown method ''"),
    (["--methods", "gnndelete"], "--methods: method 'gnndelete' does not serve node models"),
    (["--methods", "retrain,cognac"], "leave out 'retrain'"),
    (["--methods", "cognac,cognac"], "methods must be distinct"),
    (["--methods", "gradient_ascent+ref"], "this table runs no held-out reference"),
    (["--method-params", "{cognac: 1}"], "--method-params is not JSON"),
    (["--method-params", '{"cognac": 3}'], "--method-params: method parameters must map a method name"),
    (["--method-params", '{"utu": {}}'], "--method-params: method parameters for ['utu'], which this run does not run"),
    (["--method-params", '{"cognac": {"stepz": 3}}'], "method 'cognac' has no parameter 'stepz'"),
    (["--method-params", '{"cognac": {"steps": -1}}'], "--method-params: cognac: hyperparameter steps=-1 is out of range"),
    (["--method-params", '{"cognac": {"steps": "3"}}'], "--method-params: cognac: hyperparameter steps='3' has type str"),
    (["--method-params", '{"cognac": {"seed": 1}}'], "--method-params: cognac sets 'seed'"),
    (["--manipulations", "label_flip,labelflip"], "--manipulations entry 'labelflip': choose from label_flip, edge_injection"),
    (["--manipulations", "label_flip,label_flip"], "--manipulations: 'label_flip' is given twice"),
    (["--fractions", "0.05,abc"], "--fractions entry 'abc': give shares of the manipulated set in (0, 1]"),
    (["--fractions", "0.05,0.050"], "--fractions: '0.05' and '0.050' are the same"),
    (["--fractions", "0.05,0"], "--fractions entry '0': give shares of the manipulated set in (0, 1]"),
    (["--fractions", "1.5"], "--fractions entry '1.5': give shares of the manipulated set in (0, 1]"),
    (["--flip-rate", "1.5"], "--flip-rate (label_flip on synthetic, seed 0): rate must lie in (0, 1), got 1.5"),
    (["--manipulations", "edge_injection", "--inject-edges", "0"], "--inject-edges (edge_injection on synthetic, "
                                                                   "seed 0): cannot inject 0 edges"),
    (["--datasets", "synthetic,nosuch"], "--datasets: unknown dataset 'nosuch'"),
    (["--datasets", "synthetic,Synthetic"], "--datasets: 'synthetic' and 'Synthetic' are the same"),
])
def test_bad_options_are_refused_before_any_training(bench, no_training, cache_root, tmp_path, capsys,
                                                     argv, says):
    with pytest.raises(SystemExit) as e:
        bench.main(["--datasets", "synthetic", "--seeds", "1", "--root", cache_root] + argv
                   + ["--output", str(tmp_path)])
    assert e.value.code == 2
    assert says in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_graph_without_labels_is_refused_before_training(bench, no_training, mirror, cache_root, monkeypatch,
                                                           tmp_path, capsys):
    monkeypatch.setenv("GNN_UNLEARN_MIRROR", mirror)
    assert "--datasets: 'lastfm': node_split needs node labels data.y" in refused(bench.main, ["--datasets", "lastfm", "--root", cache_root, "--output", str(tmp_path)], capsys)
    assert not any(tmp_path.iterdir())


def test_methods_without_a_seed_run_unseeded(bench):
    """utu takes no seed: the table passes one only to the methods that take it."""
    assert bench.seed_option("utu", 2) == {}
    assert bench.seed_option("cognac", 2) == {"seed": 2}


def test_valid_options_pass_the_checks_and_reach_training(bench, no_training, cache_root, tmp_path):
    with pytest.raises(AssertionError, match="training started"):
        bench.main(["--datasets", "synthetic", "--seeds", "2", "--root", cache_root, "--methods", "cognac,utu",
                    "--method-params", '{"cognac": {"steps": 3}, "retrain": {}}', "--output", str(tmp_path)])
    assert not any(tmp_path.iterdir())
