"""benchmarks/worst_case_search.py: method names, the retrain#k noise floor included."""
import pytest

from .conftest import load_benchmark, refused


def load():
    return load_benchmark("worst_case_search")


def test_noise_floor_rows_are_retrains_beside_the_methods():
    m = load()
    assert m.parse_rows(["gnndelete+ref", "retrain#1", "d2dgn", "retrain#12"]) == [
        ("gnndelete", True), ("retrain", False), ("d2dgn", False), ("retrain", False)]
    assert m.parse_rows(["retrain#2"]) == [("retrain", False)]


@pytest.mark.parametrize("names", [["retrain"], ["retrain#0"], ["retrain#x"], ["nope", "retrain#1"]])
def test_other_names_are_refused_before_any_work(names):
    with pytest.raises(ValueError):
        load().parse_rows(names)


@pytest.mark.parametrize("argv", [["--reference-folds", "1"], ["--methods", "retrain"], ["--seeds", "0"],
                                  ["--methods", "gnndelete", "--method-params", '{"d2dgn": {"settle": 6}}'],
                                  ["--methods", "gnndelete", "--method-params", '{"gnndelete": {"settle": -1}}'],
                                  ["--methods", "gnndelete", "--method-params", "{settle: 6}"],
                                  ["--methods", "nope"]])
def test_bad_command_lines_stop_before_any_work(argv, monkeypatch, capsys):
    m = load()
    monkeypatch.setattr(m, "run", lambda a: pytest.fail("work started"))
    with pytest.raises(SystemExit) as stop:
        m.main(argv)
    assert stop.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.fixture()
def wcs(monkeypatch):
    """The script, with any training or search made to fail: a refusal must come before the work."""
    module = load()

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    for name in ("run", "prepare_link", "search_forget_set"):
        monkeypatch.setattr(module, name, refuse)
    return module


@pytest.mark.parametrize("argv, says", [
    (["--methods", "gnndelete,gnndelete"], "--methods: 'gnndelete' is given twice; give each once"),
    (["--methods", "retrain#1,retrain#1"], "--methods: 'retrain#1' is given twice; give each once"),
    (["--methods", "retrain"], "--methods: a retrain is searched as the noise floor: name it retrain#k"),
    (["--methods", "nope"], "--methods: unknown method 'nope'"),
    (["--methods", "cognac"], "--methods: method 'cognac' does not serve link models"),
    (["--methods", "gnndelete", "--method-params", "{settle: 6}"], "--method-params is not JSON"),
    (["--methods", "gnndelete", "--method-params", '{"d2dgn": {"settle": 6}}'],
     "--method-params: method parameters for ['d2dgn'], which this run does not run"),
    (["--methods", "gnndelete", "--method-params", '{"gnndelete": {"settle": "x"}}'],
     "--method-params: gnndelete: hyperparameter settle='x' has type str"),
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--rounds", "-1"], "--rounds must be >= 0, got -1"),
    (["--proposals", "0"], "--proposals must be >= 1, got 0"),
    (["--retrain-seeds", "0"], "--retrain-seeds must be >= 1, got 0"),
    (["--confirm-seeds", "0"], "--confirm-seeds must be >= 1, got 0"),
    (["--reference-folds", "1"], "--reference-folds must be >= 2, got 1"),
    (["--sizes", "0.025,abc"], "--sizes entry 'abc': give shares of the training edges in (0, 1)"),
    (["--sizes", "100"], "--sizes entry '100': give shares of the training edges in (0, 1)"),
    (["--sizes", "0.025,0.0250"], "--sizes: '0.025' and '0.0250' are the same; give each once"),
    (["--starts", "in"], "--starts entry 'in': the search starts from random or worst:<criterion>"),
    (["--starts", "worst"], "--starts entry 'worst': the search starts from random or worst:<criterion>"),
    (["--starts", "worst:nosuch"], "--starts entry 'worst:nosuch'"),
    (["--starts", "random,random"], "--starts: 'random' is given twice; give each once"),
    (["--starts", "worst:influence", "--encoder", "gat"], "--starts worst:influence gates the messages of gcn, gin, "
                                                          "sage encoders only"),
    (["--encoder", "gcx"], "argument --encoder: invalid choice: 'gcx'"),
    (["--name", ""], "--name must not be empty"),
    (["--name", "sub/x"], "--name 'sub/x': give a file name without a folder"),
    (["--mirror", "/no/such/folder"], "--mirror '/no/such/folder' is not a folder"),
    (["--datasets", "nosuch"], "--datasets: unknown dataset 'nosuch'"),
    (["--datasets", "Cora,cora"], "--datasets: 'Cora' and 'cora' are the same; give each once"),
])
def test_bad_options_are_refused_before_any_training(wcs, tmp_path, capsys, argv, says):
    out = tmp_path / "out"
    assert says in refused(wcs.main, argv + ["--output", str(out)], capsys)
    assert not out.exists()


def test_an_output_file_is_refused_before_any_training(wcs, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    assert f"--output {str(taken)!r} is a file; give a folder" in refused(wcs.main, ["--output", str(taken)], capsys)


def test_a_second_dataset_is_refused_before_the_first_is_trained(wcs, mirror, cache_root, monkeypatch, tmp_path,
                                                                  capsys):
    monkeypatch.setenv("GNN_UNLEARN_CACHE", cache_root)
    out = tmp_path / "out"
    assert "--datasets: unknown dataset 'Nosuch'" in refused(wcs.main, ["--datasets", "Cora,Nosuch", "--mirror", mirror, "--output", str(out)], capsys)
    assert not out.exists()
