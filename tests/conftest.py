import os
import os.path as osp

import pytest
import torch

from gnn_unlearn.data import link_split, load_dataset, synthetic_graph

from .sharding_fixtures import sharding_graph, sharding_link_graph  # noqa: F401  (shared fixtures)

_HERE = osp.dirname(osp.abspath(__file__))
_DEFAULT_MIRROR = osp.normpath(osp.join(_HERE, "..", "..", "shared", "datasets"))


def mirror_path() -> str | None:
    path = os.environ.get("GNN_UNLEARN_MIRROR") or _DEFAULT_MIRROR
    return path if osp.isdir(path) else None


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("gnn_unlearn_cache"))


@pytest.fixture(scope="session")
def mirror() -> str:
    path = mirror_path()
    if path is None:
        pytest.skip("dataset mirror not found: set GNN_UNLEARN_MIRROR to the folder of raw files "
                    "(../shared/datasets)")
    return path


@pytest.fixture(scope="session")
def cora(mirror, cache_root):
    return load_dataset("Cora", root=cache_root, mirror=mirror)


@pytest.fixture(scope="session")
def cora_link(cora):
    return link_split(cora, seed=0)


@pytest.fixture(scope="session")
def lastfm(mirror, cache_root):
    return load_dataset("lastfm", root=cache_root, mirror=mirror)


@pytest.fixture()
def small_graph():
    """A 60-node synthetic graph with a link split: fast brute-force comparisons."""
    return link_split(synthetic_graph(num_nodes=60, num_classes=3, avg_degree=4, num_features=12,
                                      features_per_node=3, seed=1), seed=0)


def load_benchmark(name: str, alias: str | None = None):
    """The script ``benchmarks/<name>.py`` as a module (benchmarks are scripts, not a package)."""
    import importlib.util
    script = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(alias or f"{name}_bench", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refused(main, argv: list[str], capsys) -> str:
    """Runs a benchmark script's ``main`` on ``argv``, asserts that it refused (argparse's exit
    status 2) and returns what it wrote to stderr."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    return capsys.readouterr().err


class Checked(Exception):
    """Raised with a benchmark script's ``check_args`` result, to stop its ``main`` right after
    the checks (:func:`stop_main_after_checks`)."""


def stop_main_after_checks(module, monkeypatch) -> None:
    """Makes ``module.main`` stop with :class:`Checked` once its ``check_args`` has passed."""
    check = module.check_args

    def checked(*args):
        raise Checked(check(*args))
    monkeypatch.setattr(module, "check_args", checked)


def param_hash(module: torch.nn.Module) -> int:
    """Hash of every parameter and buffer: detects any in-place change."""
    return hash(tuple(hash(t.detach().cpu().numpy().tobytes()) for t in module.state_dict().values()))


@pytest.fixture(scope="session")
def cora_gcn(cora_link):
    """The original model: a 2-layer GCN link predictor on Cora (seed 0)."""
    from gnn_unlearn.training import TrainConfig, train
    model, history = train(cora_link, "link", TrainConfig(seed=0), encoder="gcn")
    return model


@pytest.fixture(scope="session")
def cora_task(cora_link):
    """2.5 % of Cora's training edges, sampled 'in' (near test edges)."""
    from gnn_unlearn.data import sample_edges
    return sample_edges(cora_link, 0.025, where="in", seed=0).resolve(cora_link, num_hops=2)


@pytest.fixture(scope="session")
def cora_retrained(cora_gcn, cora_task):
    from gnn_unlearn.methods import unlearn
    return unlearn(cora_gcn, cora_task, "retrain")


@pytest.fixture(scope="session")
def lastfm_lightgcn(lastfm):
    """The original recommender: LightGCN (3 layers, 64-d) trained with BPR on lastfm (seed 0)."""
    from gnn_unlearn.training import TrainConfig, train
    model, _ = train(lastfm, "rec", TrainConfig(epochs=150, lr=0.01, batch_size=8192, eval_every=50,
                                                patience=1000, seed=0))
    return model
