"""DistributedDataParallel training on CPU: gloo, 2 processes, against one process."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

import gnn_unlearn.distributed as distributed
from gnn_unlearn.distributed import LossStep, Replica, init_from_env, unwrap

WORLD = 2
BATCH = 16          # mini-batch seeds per rank; one process takes WORLD * BATCH
FANOUTS = [64, 64]  # above every in-degree of the test graph: the whole 2-hop neighbourhood


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphs():
    from gnn_unlearn import link_split, node_split
    from gnn_unlearn.data import synthetic_graph
    # full batch: 181 training nodes, shares of 91 and 90 (weighted); mini-batch: 182, no padding
    return {"node": node_split(synthetic_graph(300, seed=0), seed=0),
            "minibatch": node_split(synthetic_graph(302, seed=0), seed=0),
            "link": link_split(synthetic_graph(300, seed=1), seed=0),
            "rec": synthetic_graph(200, bipartite=True, seed=0)}


def _run(name: str, graphs: dict, batch_size: int):
    """One training recipe, the same in the ranks and in the single-process reference."""
    from gnn_unlearn import TrainConfig, train
    from gnn_unlearn.loader import fit_minibatch
    from gnn_unlearn.models import make_model
    from gnn_unlearn.utils import seeded
    if name == "minibatch_node":    # SAGE's mean sees every in-edge of seeds and hop-1 nodes
        data = graphs["minibatch"]
        with seeded(0):
            model = make_model(data, "node", encoder="sage", dropout=0.0)
        return fit_minibatch(model, data, TrainConfig(epochs=4, eval_every=2, seed=0), FANOUTS,
                             batch_size)
    if name == "minibatch_link":    # negatives differ per rank: no single-process twin
        data = graphs["link"]
        with seeded(0):
            model = make_model(data, "link")
        return fit_minibatch(model, data, TrainConfig(epochs=2, eval_every=1, seed=0), [5, 5],
                             4 * batch_size)
    if name == "rec":
        return train(graphs["rec"], "rec", TrainConfig(epochs=10, eval_every=5, batch_size=256))
    return train(graphs[name], name, TrainConfig(epochs=20, eval_every=5, seed=0))


def _retrain(model, graphs):
    from gnn_unlearn import DeletionRequest, unlearn
    task = DeletionRequest.nodes([3, 17, 42]).resolve(graphs["node"])
    return unlearn(model, task, "retrain", epochs=15).model


RUNS = ("node", "link", "rec", "minibatch_node", "minibatch_link")


class CountingDDP(DistributedDataParallel):
    """DistributedDataParallel that counts its forward calls (patched into the library)."""
    forwards = 0

    def forward(self, *args, **kwargs):
        CountingDDP.forwards += 1
        return super().forward(*args, **kwargs)


def _worker(rank: int, port: int, out: str) -> None:
    # the variables torchrun sets; init_from_env reads them
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    replica, device = init_from_env("cpu")
    assert replica == Replica(rank, WORLD) and device == "cpu"
    assert dist.get_backend() == "gloo"
    distributed.DistributedDataParallel = CountingDDP
    graphs = _graphs()
    result = {"indices": [Replica.current().epoch_indices(11, e, 0) for e in (1, 2)]}
    for name in RUNS:
        CountingDDP.forwards = 0
        model, hist = _run(name, graphs, BATCH)
        result[name] = {"state": model.state_dict(), "loss": hist.loss, "val": hist.val,
                        "forwards": CountingDDP.forwards, "type": type(model).__name__}
        if name == "node":
            CountingDDP.forwards = 0
            result["retrain"] = {"state": _retrain(model, graphs).state_dict(),
                                 "forwards": CountingDDP.forwards}
    torch.save(result, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    # fork (where there is one) spares the children importing torch and PyG again: seconds
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True,
                       start_method=method)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.fixture(scope="module")
def single():
    """The same recipes in this process (no process group); mini-batches WORLD times larger."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        graphs = _graphs()
        runs = {name: _run(name, graphs, WORLD * BATCH) for name in RUNS if name != "minibatch_link"}
        runs["retrain"] = (_retrain(runs["node"][0], graphs), None)
    finally:
        torch.set_num_threads(threads)
    return runs


def _assert_close(state, ref, atol):
    assert state.keys() == ref.keys()
    for k in ref:
        assert torch.allclose(state[k], ref[k], atol=atol, rtol=1e-4), \
            (k, float((state[k] - ref[k]).abs().max()))


@pytest.mark.parametrize("name", RUNS + ("retrain",))
def test_replicas_are_identical_unwrapped_models_trained_through_ddp(ranks, name):
    r0, r1 = ranks[0][name], ranks[1][name]
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), k       # bitwise, on every rank
    assert r0["forwards"] > 0 and r0["forwards"] == r1["forwards"]   # every step went through DDP
    assert not any(k.startswith(("module.", "model.")) for k in r0["state"])   # the plain model
    if name != "retrain":
        assert r0["type"] in ("NodeClassifier", "LinkPredictor", "LightGCN")
        assert r0["loss"] == r1["loss"] and r0["val"] == r1["val"]   # one history, one decision


@pytest.mark.parametrize("name", ("node", "link", "rec", "retrain"))
def test_full_batch_ddp_equals_single_process_training(ranks, single, name):
    """Each rank's weighted share of the epoch's nodes / pairs / triples: DDP's average
    gradient is the single-process one, so the model is the same up to round-off."""
    _assert_close(ranks[0][name]["state"], single[name][0].state_dict(), atol=1e-4)
    if name != "retrain":
        ref = single[name][1]
        assert torch.allclose(torch.tensor(ranks[0][name]["loss"]), torch.tensor(ref.loss), atol=1e-5)
        assert ref.loss[-1] < ref.loss[0]                            # and it learns


def test_minibatch_ranks_together_take_one_larger_batch(ranks, single):
    """Step k of the two ranks (BATCH seeds each, disjoint) is the single-process step k on
    2 * BATCH seeds: with every neighbour sampled, the weights agree up to round-off."""
    data = _graphs()["minibatch"]
    assert int(data.train_mask.sum()) % WORLD == 0                    # no padding
    assert int(torch.bincount(data.edge_index[1]).max()) < min(FANOUTS)
    _assert_close(ranks[0]["minibatch_node"]["state"], single["minibatch_node"][0].state_dict(),
                  atol=1e-4)
    loss = ranks[0]["minibatch_node"]["loss"]
    assert loss[-1] < loss[0]


def test_ranks_take_disjoint_shares_of_each_epoch(ranks):
    for e in range(2):
        a, b = ranks[0]["indices"][e], ranks[1]["indices"][e]
        assert a.numel() == b.numel() == 6                          # 11 padded to 12
        assert set(a.tolist()) | set(b.tolist()) == set(range(11))
        assert len(set(a.tolist()) & set(b.tolist())) <= 1          # only the padding repeats
    assert not torch.equal(ranks[0]["indices"][0], ranks[0]["indices"][1])   # reshuffled


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (7, 3), (2, 3)])
def test_epoch_shares_cover_the_epoch_with_equal_steps(n, world):
    shares = [Replica(r, world).epoch_indices(n, 3, seed=5) for r in range(world)]
    sizes = {s.numel() for s in shares}
    assert sizes == {-(-n // world)}                                  # ceil(n / W) on every rank
    joined = torch.cat(shares)
    assert set(joined.tolist()) == set(range(n))
    assert joined.numel() - n == -(-n // world) * world - n           # repeats = padding only
    steps = {len(Replica(r, world).epoch_batches(n, 2, 3, seed=5)) for r in range(world)}
    assert len(steps) == 1                                            # the same number of steps
    one = Replica().epoch_indices(n, 3, seed=5)
    assert sorted(one.tolist()) == list(range(n))
    if n % world == 0:       # the ranks' k-th positions are the single process's k-th W-block
        assert torch.equal(torch.stack(shares, 1).reshape(-1), one)


def test_single_process_replica_and_loss_weights():
    one = Replica()
    assert not one.active and one.share() == slice(0, None, 1)
    step = one.wrap(torch.nn.Linear(2, 1))
    assert isinstance(step, LossStep) and isinstance(unwrap(step), torch.nn.Linear)
    x = torch.ones(1, 2)
    assert torch.equal(step(lambda m, x: m(x), x), unwrap(step)(x))
    # shares of 3 and 2 of 5 items: the weighted means average to the overall mean
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    w0, w1 = Replica(0, 2).weight(3, 5), Replica(1, 2).weight(2, 5)
    assert (w0 * losses[0::2].mean() + w1 * losses[1::2].mean()) / 2 == pytest.approx(3.0)
    assert Replica(0, 2).generator(5).initial_seed() != Replica(1, 2).generator(5).initial_seed()
    with pytest.raises(ValueError, match="rank"):
        Replica(2, 2)
    Replica(0, 3).check_shares(3, "training nodes")
    with pytest.raises(ValueError, match="2 training nodes cannot be shared by 3 processes"):
        Replica(1, 3).check_shares(2, "training nodes")     # a rank would get none (NaN loss)


def test_init_from_env_without_torchrun_is_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_from_env("cpu") == (Replica(), "cpu")


# -- the fine-tuning methods under DDP ----------------------------------------------------------
# full batch: each rank the loss of its share of Df and of the retained / reference items, so
# the result is the single-process one; mini-batch ("_mb"): each rank its own batches. The
# stopping rules are set so that no run stops before its last epoch (a stop compares scores
# that round-off can move); max_val_drop=1 disables the validation guard.
LINK_STOP = dict(target="non_edges", max_val_drop=1.0)
MB = dict(fanouts=[5, 5], batch_size=8)
METHOD_RUNS = {
    "gradient_ascent": ("link", "gradient_ascent", dict(epochs=4, retain_weight=0.5, **LINK_STOP)),
    "gradient_ascent_node": ("node", "gradient_ascent", dict(epochs=3, retain_weight=0.5,
                                                             max_val_drop=1.0)),
    "gradient_ascent_mb": ("link", "gradient_ascent", dict(epochs=2, retain_weight=0.5, **LINK_STOP, **MB)),
    "gnndelete": ("link", "gnndelete", dict(epochs=4, **LINK_STOP)),
    "gnndelete_dense": ("link", "gnndelete", dict(epochs=3, neighbourhood="all_pairs", space="prob",
                                                  dec_target="non_edges", **LINK_STOP)),
    "gnndelete_mb": ("link", "gnndelete", dict(epochs=2, **LINK_STOP, **MB)),
    "d2dgn": ("link", "d2dgn", dict(epochs=4, **LINK_STOP)),
    "d2dgn_destroyer": ("link", "d2dgn", dict(epochs=3, forget_teacher="destroyer", **LINK_STOP)),
    "d2dgn_node": ("node", "d2dgn", dict(epochs=3, max_val_drop=1.0)),
    "d2dgn_mb": ("link", "d2dgn", dict(epochs=2, **LINK_STOP, **MB)),
    "unlearnrec": ("rec", "unlearnrec", dict(pretrain_steps=6, batch_size=256, finetune_steps=3)),
}
FULL_BATCH = [k for k in METHOD_RUNS if not k.endswith("_mb")]


def _bases(path):
    """Trained models and their requests (one process), saved for the ranks."""
    from gnn_unlearn import DeletionRequest, TrainConfig, train
    from gnn_unlearn.data import sample_edges, sample_interactions
    graphs = _graphs()
    models = {"link": train(graphs["link"], "link", TrainConfig(epochs=30, eval_every=5))[0],
              "node": train(graphs["node"], "node", TrainConfig(epochs=30, eval_every=5))[0],
              "rec": train(graphs["rec"], "rec", TrainConfig(epochs=20, eval_every=5, batch_size=256))[0]}
    requests = {"link": sample_edges(graphs["link"], 0.05, where="in", seed=0),
                "node": DeletionRequest.node_class(0),     # 36 training nodes to forget
                "rec": sample_interactions(graphs["rec"], 0.02, seed=0)}
    torch.save({"models": models, "requests": requests}, path)


def _each_unlearn_run(path):
    """Every METHOD_RUNS run, then a direct influence-encoder pre-training ("pretrain"):
    yields (name, state, history)."""
    from gnn_unlearn import unlearn
    from gnn_unlearn.methods.unlearnrec import pretrain_influence_encoder
    graphs, saved = _graphs(), torch.load(path, weights_only=False)
    for name, (kind, method, params) in METHOD_RUNS.items():
        task = saved["requests"][kind].resolve(graphs[kind])
        result = unlearn(saved["models"][kind], task, method, **params)
        yield name, result.model.state_dict(), result.history
    encoder, info = pretrain_influence_encoder(saved["models"]["rec"], graphs["rec"], steps=6,
                                               steps_per_request=3, batch_size=256)
    yield "pretrain", encoder.state_dict(), {"loss": info["loss"]}


class RecordingReplica(Replica):
    """Replica that records every share it takes (full batch) or shards (mini-batch)."""
    seen: list = []

    def take(self, items, dim=-1):
        out = super().take(items, dim)
        if self.active:
            RecordingReplica.seen.append(("take", items.size(dim), out.size(dim), out))
        return out

    def shard(self, order):
        out = super().shard(order)
        if self.active:
            RecordingReplica.seen.append(("shard", order.numel(), out.numel(), out))
        return out


def _unlearn_worker(rank: int, port: int, out: str, bases: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    init_from_env("cpu")
    distributed.DistributedDataParallel = CountingDDP
    Replica.current = classmethod(lambda cls: RecordingReplica(dist.get_rank(), dist.get_world_size()))
    result = {"results": {}, "forwards": {}, "seen": {}}
    CountingDDP.forwards, RecordingReplica.seen = 0, []
    for name, state, history in _each_unlearn_run(bases):
        result["results"][name] = (state, history)
        result["forwards"][name], result["seen"][name] = CountingDDP.forwards, RecordingReplica.seen
        CountingDDP.forwards, RecordingReplica.seen = 0, []
    torch.save(result, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def method_bases(tmp_path_factory):
    path = tmp_path_factory.mktemp("bases") / "bases.pt"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _bases(path)
    finally:
        torch.set_num_threads(threads)
    return path


@pytest.fixture(scope="module")
def method_ranks(tmp_path_factory, method_bases):
    out = tmp_path_factory.mktemp("ddp_methods")
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_unlearn_worker, args=(_free_port(), str(out), str(method_bases)), nprocs=WORLD,
                       join=True, start_method=method)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.fixture(scope="module")
def method_single(method_bases):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {name: (state, history) for name, state, history in _each_unlearn_run(method_bases)}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", [*METHOD_RUNS, "pretrain"])
def test_unlearning_replicas_are_identical_and_trained_through_ddp(method_ranks, name):
    (s0, h0), (s1, h1) = method_ranks[0]["results"][name], method_ranks[1]["results"][name]
    assert s0.keys() == s1.keys()
    for k in s0:
        assert torch.equal(s0[k], s1[k]), k                          # bitwise, on every rank
    assert h0["loss"] == h1["loss"] and h0.get("stop_reason") == h1.get("stop_reason")
    forwards = [r["forwards"][name] for r in method_ranks]
    assert forwards[0] > 0 and forwards[0] == forwards[1]           # every step went through DDP
    if name != "pretrain":
        expected = METHOD_RUNS[name][2].get("epochs")
        assert h0.get("epochs", expected) == expected                # no run stopped early


@pytest.mark.parametrize("name", [*FULL_BATCH, "pretrain"])
def test_full_batch_unlearning_under_ddp_equals_one_process(method_ranks, method_single, name):
    """Each rank's weighted share of Df and of the retained / reference items: DDP's average
    gradient is the single-process one, so the unlearned model is the same up to round-off."""
    state, hist = method_ranks[0]["results"][name]
    ref, ref_hist = method_single[name]
    _assert_close(state, ref, atol=1e-4)
    assert torch.allclose(torch.tensor(hist["loss"]), torch.tensor(ref_hist["loss"]), atol=1e-4)


@pytest.mark.parametrize("name", [*METHOD_RUNS, "pretrain"])
def test_each_rank_takes_its_own_share(method_ranks, name):
    """Full batch: the two ranks' shares of every split item set partition it; mini-batch: the
    ranks' shards of every epoch's order are disjoint up to the padding and cover it."""
    a, b = method_ranks[0]["seen"][name], method_ranks[1]["seen"][name]
    assert len(a) == len(b) > 0
    mini = name.endswith("_mb")
    assert any(kind == ("shard" if mini else "take") for kind, *_ in a)
    for (kind, n, size, mine), (_, n1, size1, theirs) in zip(a, b):
        assert n == n1
        if kind == "take":
            assert size + size1 == n                                  # positions r, r + 2, ...
            if n > 1 and mine.dtype == torch.long:                 # node ids / pairs, not labels
                assert not torch.equal(mine, theirs)
        else:
            assert size == size1 == -(-n // WORLD)
            assert set(mine.tolist()) | set(theirs.tolist()) == set(range(n))
            assert len(set(mine.tolist()) & set(theirs.tolist())) <= n % WORLD


@pytest.mark.parametrize("name", FULL_BATCH)
def test_the_compared_unlearning_runs_move_the_weights(method_bases, method_single, name):
    """The comparisons above are not of untouched models: the weights each method trains moved
    (GNNDelete: its operators away from the identity)."""
    state = method_single[name][0]
    base = torch.load(method_bases, weights_only=False)["models"][METHOD_RUNS[name][0]].state_dict()
    if METHOD_RUNS[name][1] == "gnndelete":
        ops = [v for k, v in state.items() if k.startswith("operators.weights")]
        moved = max(float((w - torch.eye(w.size(0))).abs().max()) for w in ops)
    else:
        moved = max(float((state[k].float() - base[k].float()).abs().max()) for k in base)
    assert moved > 1e-3


@pytest.mark.slow
def test_cli_train_under_torchrun(tmp_path):
    """The launcher end to end (torchrun starts fresh interpreters: seconds of imports)."""
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun is not installed beside this python")
    out = tmp_path / "m.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "gnn_unlearn.cli",
                           "train", "--dataset", "synthetic", "--num-nodes", "300", "--epochs", "4",
                           "--fanouts", "5,5", "--batch-size", "256", "--output", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists() and '"processes": 2' in proc.stdout


@pytest.mark.slow
def test_cli_unlearn_gnndelete_under_torchrun_equals_one_process(tmp_path):
    """`torchrun --nproc_per_node 2 -m gnn_unlearn.cli unlearn --method gnndelete` writes the
    model one process writes (full batch); rank 0 alone reports."""
    from gnn_unlearn.cli import main
    from gnn_unlearn.io import load_checkpoint
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun is not installed beside this python")
    ckpt = str(tmp_path / "m.pt")
    assert main(["train", "--num-nodes", "300", "--epochs", "30", "--output", ckpt]) == 0
    args = ["unlearn", "--checkpoint", ckpt, "--method", "gnndelete", "--df-size", "0.05",
            "--params", json.dumps({"epochs": 4, **LINK_STOP})]
    one, two = str(tmp_path / "one.pt"), str(tmp_path / "two.pt")
    assert main([*args, "--output", one]) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "gnn_unlearn.cli",
                           *args, "--output", two], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout[proc.stdout.index("{"):])["method"] == "gnndelete"   # rank 0 only
    a, b = load_checkpoint(one)[0].state_dict(), load_checkpoint(two)[0].state_dict()
    _assert_close(b, a, atol=1e-4)
    ops = [v for k, v in a.items() if k.startswith("operators.weights")]
    assert max(float((w - torch.eye(w.size(0))).abs().max()) for w in ops) > 1e-3   # it unlearned


def test_cli_refuses_methods_that_do_not_run_distributed(tmp_path, monkeypatch, capsys):
    from gnn_unlearn.cli import main
    from gnn_unlearn.methods import data_parallel_methods
    assert data_parallel_methods() == ["d2dgn", "gnndelete", "gradient_ascent", "retrain", "unlearnrec"]
    monkeypatch.setattr("gnn_unlearn.distributed.init_from_env", lambda device: (Replica(0, 2), device))
    code = main(["unlearn", "--checkpoint", str(tmp_path / "none.pt"), "--method", "gif",
                 "--output", str(tmp_path / "o.pt")])
    assert code == 2                                   # before the (missing) checkpoint is read
    assert "only --method d2dgn | gnndelete | gradient_ascent | retrain | unlearnrec run " \
           "distributed; run 'gif' as a single process" in capsys.readouterr().err
