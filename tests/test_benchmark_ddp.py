import pytest
import torch

from .conftest import load_benchmark, refused


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("ddp")


@pytest.fixture()
def no_spawn(bench, monkeypatch):
    """Spawning a worker, training or writing makes the test fail: a refusal must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("a worker was spawned before the options were checked")
    for name in ("launch", "worker", "write"):
        monkeypatch.setattr(bench, name, refuse)
    monkeypatch.setattr(bench.subprocess, "run", refuse)


def gpus(monkeypatch, count: int) -> None:
    """Pretend the machine has ``count`` GPUs (0: no CUDA)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


@pytest.mark.parametrize("argv, says", [
    (["--runs", "1x"], "--runs takes PxT,... (processes x threads), got '1x'"),
    (["--runs", "1x1,0x1"], "--runs takes PxT,... with positive P and T"),
    (["--runs", "2"], "--runs takes PxT,... with positive P and T"),
    (["--device", "tpu"], "--device takes cpu, cuda, cuda:N or auto, got 'tpu'"),
    (["--device", "meta"], "--device takes cpu, cuda, cuda:N or auto, got 'meta'"),
    (["--nodes", "0"], "--nodes must be >= 1, got 0"),
    (["--features", "0"], "--features must be >= 1, got 0"),
    (["--classes", "0"], "--classes must be >= 1, got 0"),
    (["--avg-degree", "0"], "--avg-degree must be a positive number"),
    (["--avg-degree", "nan"], "--avg-degree must be a positive number"),
    (["--nodes", "5", "--classes", "10"], "--classes 10 exceeds --nodes 5"),
    (["--task", "node", "--classes", "1"], "--classes must be >= 2 for the node task"),
    (["--train-ratio", "0.5"], "--train-ratio / --val-ratio set the node split; leave them out with --task link"),
    (["--task", "node", "--train-ratio", "0.9"],
     "--train-ratio / --val-ratio: train_ratio and val_ratio must be in (0, 1) and sum to less than 1"),
    (["--task", "node", "--val-ratio", "-0.1"], "--train-ratio / --val-ratio: train_ratio and val_ratio"),
    (["--fanouts", "10,x"], "--fanouts takes positive ints, one per layer, e.g. 10,10, got '10,x'"),
    (["--fanouts", "10,0"], "--fanouts takes positive ints"),
    (["--fanouts", ""], "--fanouts takes positive ints"),
    (["--fanouts", "10,10", "--layers", "3"], "--layers is for full batch"),
    (["--batch-size", "512"], "--batch-size is for mini-batches; give --fanouts too"),
    (["--fanouts", "10", "--batch-size", "0"], "--batch-size: batch_size must be a positive int"),
    (["--encoder", "gcnn"], "--encoder / --layers: unknown encoder 'gcnn'"),
    (["--layers", "0"], "--encoder / --layers: num_layers must be >= 1"),
    (["--epochs", "0"], "--epochs: TrainConfig.epochs must be a positive int"),
    (["--name", ""], "--name must not be empty"),
])
def test_bad_options_are_refused_before_any_worker(bench, no_spawn, tmp_path, capsys, argv, says):
    out = tmp_path / "out"
    assert says in refused(bench.main, argv + ["--output", str(out)], capsys)
    assert not out.exists()


@pytest.mark.parametrize("count, argv, says", [
    (0, ["--device", "cuda"], "--device cuda: CUDA is not available here; use --device cpu (gloo)"),
    (1, ["--device", "cuda", "--runs", "1x1,2x1"], "this machine has 1 GPU(s) and nccl runs one process per GPU"),
    (2, ["--device", "cuda:2"], "this machine has 2 GPU(s)"),
    (1, ["--device", "auto", "--runs", "2x1"], "this machine has 1 GPU(s)"),
])
def test_more_processes_than_gpus_are_refused(bench, no_spawn, monkeypatch, tmp_path, capsys, count, argv, says):
    gpus(monkeypatch, count)
    assert says in refused(bench.main, argv + ["--output", str(tmp_path / "out")], capsys)


def test_an_output_that_is_a_file_is_refused(bench, no_spawn, tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("keep")
    assert "is a file; give a folder" in refused(bench.main, ["--output", str(target)], capsys)
    assert target.read_text() == "keep"


class Launched(Exception):
    """Raised by the stand-in for launch: main got as far as spawning the first run."""


@pytest.mark.parametrize("count, argv", [
    (0, ["--nodes", "30000", "--task", "link", "--fanouts", "10,10", "--epochs", "1",
         "--runs", "1x1,2x1,1x2,1x1,2x1", "--name", "ddp_cpu", "--note", "a line"]),
    (2, ["--device", "cuda", "--nodes", "2449029", "--avg-degree", "25.3", "--features", "100", "--classes", "47",
         "--train-ratio", "0.08", "--val-ratio", "0.02", "--task", "node", "--encoder", "sage",
         "--fanouts", "15,10,5", "--batch-size", "1024", "--epochs", "1", "--runs", "1x8,2x8",
         "--name", "ddp_products_cuda"]),
])
def test_the_readme_runs_reach_the_launch(bench, no_spawn, monkeypatch, tmp_path, count, argv):
    gpus(monkeypatch, count)

    def launch(args, processes, threads, row_file):
        raise Launched(args.passthrough, processes, threads)
    monkeypatch.setattr(bench, "launch", launch)
    with pytest.raises(Launched) as e:
        bench.main(argv + ["--output", str(tmp_path)])
    passthrough, processes, threads = e.value.args
    assert (processes, threads) == ((1, 1) if count == 0 else (1, 8))
    assert "--runs" not in passthrough and "--name" not in passthrough and "--output" not in passthrough
    assert passthrough[:2] == argv[:2]
