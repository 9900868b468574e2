"""Data-parallel training on CPU with the gloo backend and 2 processes."""
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gnn_unlearn.distributed import GradientSync, Shard


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from gnn_unlearn import TrainConfig, link_split, train
    from gnn_unlearn.data import synthetic_graph
    data = link_split(synthetic_graph(300, seed=0), seed=0)
    model, hist = train(data, "link", TrainConfig(epochs=30, eval_every=10, seed=0))
    torch.save({"state": model.state_dict(), "val": hist.best_val, "loss": hist.loss}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_shard_splits_supervision_without_overlap():
    pairs = torch.arange(10).view(2, 5)
    parts = [Shard(r, 2).edges(pairs) for r in range(2)]
    assert torch.equal(torch.cat(parts, 1).sort(1)[0], pairs.sort(1)[0])
    mask = torch.tensor([True, False, True, True, False, True])
    a, b = Shard(0, 2).mask(mask), Shard(1, 2).mask(mask)
    assert not (a & b).any() and torch.equal(a | b, mask)
    assert Shard(0, 2).seed(5) == 5 and Shard(1, 2).seed(5) != 5
    model = torch.nn.Linear(2, 1)
    GradientSync(model, Shard())()            # single process: a no-op


def test_two_gloo_processes_train_identical_replicas(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), k     # replicas stay identical
    assert r0["val"] > 0.7                                        # and it learned
    assert r0["loss"][-1] < r0["loss"][0]
    assert r0["loss"] != r1["loss"]                               # on different shards


def test_cli_train_under_torchrun(tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun is not installed beside this python")
    out = tmp_path / "m.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "gnn_unlearn.cli",
                           "train", "--dataset", "synthetic", "--num-nodes", "300", "--epochs", "20",
                           "--output", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists() and '"processes": 2' in proc.stdout
