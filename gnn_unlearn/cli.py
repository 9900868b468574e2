"""The ``gnn-unlearn`` command: demo, train, unlearn, audit, evaluate, benchmark, pretrain-influence."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from gnn_unlearn.io import atomic_write_text
from gnn_unlearn.models.predictors import num_hops

#: ``--where`` choices: GNNDelete's regions, random, and the worst-case forget sets
WHERE_CHOICES = ["in", "out", "random", "worst", "worst:confidence", "worst:high_degree",
                 "worst:low_degree", "worst:influence"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the request, training and the attacks")
    p.add_argument("--root", default=None, help="dataset cache (default $GNN_UNLEARN_CACHE or ~/.cache/gnn_unlearn)")
    p.add_argument("--mirror", default=None, help="folder of raw dataset files (default $GNN_UNLEARN_MIRROR)")


def _request_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("deletion request (sampled unless --nodes/--node-class is given)")
    g.add_argument("--df-size", type=float, default=0.025, help="fraction of training edges to delete")
    g.add_argument("--where", choices=WHERE_CHOICES, default="in",
                   help="'in': within 2 hops of test edges (hard case), 'out': outside, 'worst[:criterion]': "
                        "the edges the checkpoint's model finds hardest to forget (gnn_unlearn.metrics.forget_sets; "
                        "'worst' alone: by confidence)")
    g.add_argument("--region", choices=["library", "gnndelete"], default="library",
                   help="definition of 'in'/'out': the library's (both edge directions) or the "
                        "GNNDelete code's (one direction; reproduces the published protocol)")
    g.add_argument("--nodes", default=None, help="comma-separated node ids to delete")
    g.add_argument("--node-class", type=int, default=None, help="delete every node of this class")
    g.add_argument("--users", type=int, default=None,
                   help="user-item graphs: delete all interactions of this many sampled users "
                        "(otherwise --df-size of the interactions)")


def _write_report(report, output: str | None, stem: str) -> None:
    print(report.to_markdown())
    if output:
        os.makedirs(output, exist_ok=True)
        atomic_write_text(os.path.join(output, f"{stem}.json"), report.to_json())
        atomic_write_text(os.path.join(output, f"{stem}.md"), report.to_markdown() + "\n")
        print(f"\nwrote {os.path.join(output, stem)}.json and .md")


def cmd_demo(a: argparse.Namespace) -> None:
    from gnn_unlearn.experiment import run_link_experiment
    from gnn_unlearn.training import TrainConfig
    opts = {} if a.dataset.lower() != "synthetic" else {"num_nodes": a.num_nodes, "seed": a.seed}
    report = run_link_experiment(
        dataset=a.dataset, encoder=a.encoder, df_size=a.df_size, where=a.where, region=a.region,
        methods=a.methods.split(",") if a.methods else [], seed=a.seed, device=a.device,
        root=a.root, mirror=a.mirror, dataset_options=opts,
        train_config=TrainConfig(seed=a.seed, epochs=a.epochs, progress=a.progress), mia=not a.no_mia,
        log=lambda s: print(s, file=sys.stderr))
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in report.meta["steps"].items())
    print(f"# {a.dataset}, {a.encoder}, Df {a.df_size:g} '{a.where}' ({a.region} region), seed {a.seed}\n")
    _write_report(report, a.output, "demo")
    print(f"\nsteps: {steps}\nhardware: {report.meta['hardware']}\ncode: {report.meta['code']}")


def _load_graph(a, split=None):
    from gnn_unlearn.data import link_split, load_dataset, node_split
    from gnn_unlearn.io import apply_split
    if getattr(a, "graph", None):        # a user's own graph: through prepare_data, the one way in
        from gnn_unlearn.data import prepare_data
        from gnn_unlearn.io import load_graph_file
        from gnn_unlearn.io import graph_content_sha256
        raw = load_graph_file(a.graph)
        a.graph_sha256, expected = graph_content_sha256(raw), getattr(a, "expected_graph_sha256", None)
        if expected is not None and a.graph_sha256 != expected:
            raise ValueError(f"the graph in {a.graph!r} is not the one this checkpoint was trained on "
                             "(its nodes, features, labels or edges differ); pass the original file")
        seed = a.seed if getattr(a, "graph_seed", None) is None else a.graph_seed
        data = prepare_data(raw, task=a.task, seed=seed)
        return data if split is None else apply_split(data, split)
    opts = {"num_nodes": a.num_nodes, "seed": 0} if a.dataset.lower() == "synthetic" else {}
    data = load_dataset(a.dataset, root=a.root, mirror=a.mirror, **opts)
    if split is not None:
        return apply_split(data, split)
    if a.task == "rec":   # user-item graphs come with their own train/val/test interactions
        return data
    return link_split(data, seed=a.seed) if a.task == "link" else node_split(data, seed=a.seed)


#: The command-line options of each model family other than a plain GNN, with their defaults.
SHARDED_OPTIONS = {"num_shards": 10, "shard_method": "graph_eraser", "partition": None, "aggregation": None,
                   "repair": None, "workers": 1}
CERTIFIED_OPTIONS = {"lam": 1e-2, "noise_std": 1e-2, "epsilon": 1.0, "delta": 1e-4, "num_hops": 2,
                     "alpha": 0.5, "rmax": None, "solver": "direct", "features": "sgc", "wavelets": 3,
                     "scattering_order": 1, "lam_grid": None, "noise_std_grid": None,
                     "expected_request": "node:0.01", "expected_requests": 1, "validation": "auto",
                     "holdout": 0.2, "select_fallback": "raise"}
#: The certified options that only ``--lam auto`` / ``--noise-std auto`` (selection) use.
SELECTION_OPTIONS = ("lam_grid", "noise_std_grid", "expected_request", "expected_requests", "validation",
                     "holdout", "select_fallback")
#: The certified options that belong to one feature map (``--features``) only.
FEATURE_OPTIONS = {"sgc": ("num_hops", "alpha", "rmax"), "scattering": ("wavelets", "scattering_order")}
#: The unlearning methods that serve each family's checkpoints.
FAMILY_METHODS = {"sharded": ("graph_eraser", "guide", "retrain"),
                  "certified": ("cgu", "ceu", "scalegun", "gst", "retrain")}


def _family_options(a: argparse.Namespace) -> None:
    """Refuses options of another family; fills the defaults of the chosen one's."""
    explicit = {k for k in CERTIFIED_OPTIONS if hasattr(a, k)}     # unset options are absent
    for family, options in (("sharded", SHARDED_OPTIONS), ("certified", CERTIFIED_OPTIONS)):
        given = [k for k in options if hasattr(a, k)]
        if a.family != family and given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(f"{flags} {'is' if len(given) == 1 else 'are'} for --family {family}, "
                             f"not --family {a.family}")
        for k, default in options.items():
            if not hasattr(a, k):
                setattr(a, k, default)
    a.task, a.encoder = getattr(a, "task", None), getattr(a, "encoder", None)
    if a.family == "certified":
        if a.task not in (None, "node"):
            raise ValueError(f"certified models are node classifiers; use --task node, not --task {a.task}")
        if a.encoder is not None or a.num_layers is not None:
            raise ValueError("a certified model propagates features (--num-hops) instead of a GNN "
                             "encoder; drop --encoder / --num-layers")
        a.task = "node"
    if a.family != "gnn":
        if a.fanouts:
            raise ValueError(f"--fanouts (mini-batch training) is for --family gnn, not {a.family}")
        if a.task == "rec":
            raise ValueError(f"--family {a.family} serves node or link tasks, not rec")
    a.task = a.task or "link"
    a.encoder = a.encoder or "gcn"
    if a.family == "sharded":        # checked before the graph is loaded
        for flag, value in (("--num-shards", a.num_shards), ("--workers", a.workers)):
            if value < 1:
                raise ValueError(f"{flag} must be >= 1, got {value}")
    if a.family == "certified":      # the model checks its hyperparameters when built
        for features, options in FEATURE_OPTIONS.items():
            wrong = [k for k in options if k in explicit and a.features != features]
            if wrong:
                flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
                raise ValueError(f"{flags} {'is' if len(wrong) == 1 else 'are'} for --features "
                                 f"{features}, not --features {a.features}")
        _selection_options(a, explicit)
        lam = a.lam_grid[0] if a.lam == "auto" else a.lam
        noise_std = a.noise_std_grid[0] if a.noise_std == "auto" else a.noise_std
        if a.features == "scattering":
            from gnn_unlearn.models.scattering import ScatteringLinear
            ScatteringLinear(1, 2, wavelets=a.wavelets, order=a.scattering_order, lam=lam,
                             noise_std=noise_std, epsilon=a.epsilon, delta=a.delta, solver=a.solver)
        else:
            from gnn_unlearn.models.certified import CertifiedLinear
            CertifiedLinear(1, 2, num_hops=a.num_hops, alpha=a.alpha, lam=lam, noise_std=noise_std,
                            epsilon=a.epsilon, delta=a.delta, rmax=a.rmax, solver=a.solver)


def _float_list(text: str, flag: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated numbers, e.g. 1e-2,1e-3, got {text!r}") from None
    if not values:
        raise ValueError(f"{flag} is empty")
    return values


def _selection_options(a: argparse.Namespace, explicit: set[str]) -> None:
    """``--lam auto`` / ``--noise-std auto``: checks the selection options and turns them into
    :func:`~gnn_unlearn.methods.certified_select.select_certified` arguments (before any work);
    refuses them without ``auto``."""
    from gnn_unlearn.methods.certified_select import (DEFAULT_LAMS, DEFAULT_NOISE_STDS, check_grid,
                                                      check_request)
    a.select = "auto" in (a.lam, a.noise_std)
    if not a.select:
        given = [k for k in SELECTION_OPTIONS if k in explicit]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(f"{flags} {'is' if len(given) == 1 else 'are'} for hyperparameter "
                             "selection: pass --lam auto and/or --noise-std auto")
        return
    for name, grid, default in (("lam", "lam_grid", DEFAULT_LAMS), ("noise_std", "noise_std_grid",
                                                                    DEFAULT_NOISE_STDS)):
        flag = "--" + grid.replace("_", "-")
        if getattr(a, name) != "auto":
            if grid in explicit:
                raise ValueError(f"{flag} is for --{name.replace('_', '-')} auto; "
                                 f"--{name.replace('_', '-')} is {getattr(a, name)}")
            setattr(a, grid, (getattr(a, name),))
        else:
            setattr(a, grid, default if getattr(a, grid) is None else _float_list(getattr(a, grid), flag))
        check_grid(flag, getattr(a, grid))
    kind, _, size = str(a.expected_request).partition(":")
    try:
        size = float(size) if any(ch in size for ch in ".eE") else int(size)
    except ValueError:
        raise ValueError(f"--expected-request takes KIND:SIZE, e.g. node:0.01 (a fraction of the "
                         f"training nodes) or edge:20 (a count), got {a.expected_request!r}") from None
    a.expected_request = check_request((kind, size))
    if a.expected_requests < 1:
        raise ValueError(f"--expected-requests must be >= 1, got {a.expected_requests}")
    if not 0 < a.holdout < 1:
        raise ValueError(f"--holdout must be a fraction in (0, 1), got {a.holdout}")


def _lam_option(text: str) -> float | str:
    """``--lam`` / ``--noise-std``: a number, or ``auto`` (selected on validation)."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _train_family(a: argparse.Namespace, data, config) -> tuple[object, dict]:
    """A sharded or certified model on ``data`` and what to print about it."""
    if a.family == "sharded":
        from gnn_unlearn.sharding import train_sharded
        model = train_sharded(data, a.task, a.num_shards, a.partition, a.aggregation, a.repair, a.seed,
                              config, a.device, a.shard_method, workers=a.workers, encoder=a.encoder,
                              num_layers=a.num_layers)
        r = model.recipe
        return model, {"num_shards": model.num_shards, "unlearn_with": a.shard_method,
                       "partition": r["partition"], "aggregation": r["aggregation"], "repair": r["repair"],
                       "balance": r["balance"]}
    if a.select:
        return _select_family(a, data)
    if a.features == "scattering":
        from gnn_unlearn.models.scattering import train_scattering
        model = train_scattering(data, wavelets=a.wavelets, order=a.scattering_order, lam=a.lam,
                                 noise_std=a.noise_std, epsilon=a.epsilon, delta=a.delta,
                                 solver=a.solver, seed=a.seed, device=a.device)
        unlearn_with = "gst, cgu, ceu"
    else:
        from gnn_unlearn.models.certified import train_certified
        model = train_certified(data, num_hops=a.num_hops, alpha=a.alpha, lam=a.lam,
                                noise_std=a.noise_std, epsilon=a.epsilon, delta=a.delta, rmax=a.rmax,
                                solver=a.solver, seed=a.seed, device=a.device)
        unlearn_with = "scalegun" if a.rmax is not None else "cgu, ceu"
    cert = model.certificate
    return model, {"features": a.features, "unlearn_with": unlearn_with,
                   "budget": cert.budget, "budget_left": cert.budget_left,
                   "train_gradient_norm": max(model.train_info["train_gradient_norm"])}


def _select_family(a: argparse.Namespace, data) -> tuple[object, dict]:
    """``--lam auto`` / ``--noise-std auto``: the certified model chosen on validation accuracy
    among the candidates that serve the expected requests (``select_certified``)."""
    from gnn_unlearn.methods.certified_select import select_certified
    sel = select_certified(data, lams=a.lam_grid, noise_stds=a.noise_std_grid, epsilon=a.epsilon,
                           delta=a.delta, request=a.expected_request, min_requests=a.expected_requests,
                           validation=a.validation, holdout=a.holdout, fallback=a.select_fallback,
                           features=a.features, num_hops=a.num_hops, alpha=a.alpha, rmax=a.rmax,
                           wavelets=a.wavelets, order=a.scattering_order, solver=a.solver, seed=a.seed,
                           device=a.device)
    print(f"certified hyperparameter selection ({sel.validation}; {a.expected_requests} x "
          f"{sel.request[0]}:{sel.request[1]} requests with {sel.method}):\n{sel.table()}", file=sys.stderr)
    a.selection = sel.to_dict()
    cert = sel.model.certificate
    return sel.model, {"features": a.features, "unlearn_with": sel.method, "lam": sel.lam,
                       "noise_std": sel.noise_std, "constraint_met": sel.constraint_met,
                       "fallback": sel.fallback, "budget": cert.budget, "budget_left": cert.budget_left,
                       "train_gradient_norm": max(sel.model.train_info["train_gradient_norm"]),
                       "selection": a.selection}


def cmd_train(a: argparse.Namespace) -> None:
    from gnn_unlearn.io import save_checkpoint
    from gnn_unlearn.distributed import init_from_env
    from gnn_unlearn.training import TrainConfig, train
    _family_options(a)
    replica, a.device = init_from_env(a.device)     # DistributedDataParallel under torchrun
    if replica.active and a.family != "gnn":
        raise ValueError(f"--family {a.family} trains in one process (sharded: --workers); not under torchrun")
    data = _load_graph(a)
    options = dict(encoder=a.encoder, num_layers=a.num_layers)   # model_config fills defaults
    config = TrainConfig(seed=a.seed, epochs=a.epochs, progress=a.progress, batch_size=a.batch_size,
                         **({"eval_every": 25} if a.task == "rec" else {}))
    if a.family != "gnn":
        model, info = _train_family(a, data, config)
    elif a.fanouts:
        from gnn_unlearn.loader import fit_minibatch
        from gnn_unlearn.models import make_model
        from gnn_unlearn.utils import seeded
        with seeded(config.seed):
            model = make_model(data, a.task, **options)
        try:
            fanouts = [int(f) for f in a.fanouts.split(",")]
        except ValueError as e:
            raise ValueError(f"--fanouts must be comma-separated integers, got {a.fanouts!r}") from e
        model, hist = fit_minibatch(model, data, config, fanouts, a.batch_size, a.device,
                                    a.sampler)
    else:
        model, hist = train(data, a.task, config, device=a.device, **options)
    if a.family == "gnn":
        info = {"epochs": hist.epochs_run, "best_epoch": hist.best_epoch, "best_val": hist.best_val,
                "processes": replica.world_size}
    if replica.rank != 0:       # the ranks hold the same weights; rank 0 writes them
        return
    save_checkpoint(a.output, model, data, extra={
        "dataset": None if a.graph else a.dataset, "task": a.task, "num_nodes_option": a.num_nodes,
        "graph_file": os.path.abspath(a.graph) if a.graph else None,
        "graph_sha256": getattr(a, "graph_sha256", None), "seed": a.seed, "family": a.family,
        **({"selection": a.selection} if getattr(a, "selection", None) else {})})
    print(json.dumps({"checkpoint": a.output, "family": a.family, **info}, indent=2))


def _graph_from_checkpoint(a, payload, state: str = "split"):
    """The graph a checkpoint stands for: the dataset it names with its saved ``split`` (the
    graph its request was resolved on) or, with ``state="retained"``, the retained graph an
    unlearned checkpoint carries (where the next request of a sequence resolves)."""
    extra = payload.get("extra") or {}
    a.graph = getattr(a, "graph", None) or extra.get("graph_file")
    a.graph_seed = extra.get("seed")         # the seed the graph was prepared with at training
    a.expected_graph_sha256 = extra.get("graph_sha256")
    a.dataset = extra.get("dataset") or a.dataset
    a.task = extra.get("task", "link")
    a.num_nodes = extra.get("num_nodes_option", a.num_nodes)
    return _load_graph(a, split=payload.get(state))


def _build_request(a, data, model=None):
    from gnn_unlearn.data import sample_edges
    from gnn_unlearn.requests import DeletionRequest
    if getattr(a, "request", None):
        from gnn_unlearn.request_files import read_request
        if a.nodes or a.node_class is not None or a.users:
            raise ValueError("give the request either as --request FILE or as --nodes/--node-class/--users, "
                             "not both")
        return read_request(a.request, data, kind=a.request_kind, id_map=_id_map_option(a.id_map))
    if a.nodes:
        try:
            ids = [int(v) for v in a.nodes.split(",")]
        except ValueError as e:
            raise ValueError(f"--nodes must be comma-separated integers, got {a.nodes!r}") from e
        return DeletionRequest.nodes(ids)
    if a.node_class is not None:
        return DeletionRequest.node_class(a.node_class)
    if getattr(data, "num_users", None) is not None:
        from gnn_unlearn.data import sample_interactions, sample_users
        if a.users:
            return sample_users(data, a.users, seed=a.seed)
        return sample_interactions(data, a.df_size, seed=a.seed)
    if a.where.startswith("worst"):
        from gnn_unlearn.metrics.forget_sets import forget_request
        return forget_request(data, model, a.df_size, a.where, seed=a.seed)
    return sample_edges(data, a.df_size, where=a.where, seed=a.seed, region=a.region)


def _id_map_option(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    out = {}
    for v in values:
        entity, sep, path = v.partition("=")
        if not sep or not path:
            raise ValueError(f"--id-map takes ENTITY=FILE (user=users.csv, item=items.csv, "
                             f"node=nodes.csv), got {v!r}")
        out[entity.strip()] = path
    return out


def cmd_unlearn(a: argparse.Namespace) -> None:
    from gnn_unlearn.io import (DeletionLedger, deleted_features_of, graph_state, load_checkpoint,
                                model_family, save_checkpoint)
    from gnn_unlearn.distributed import init_from_env
    from gnn_unlearn.methods import get, unlearn
    from gnn_unlearn.methods.base import data_parallel_methods
    replica, a.device = init_from_env(a.device)     # DistributedDataParallel under torchrun
    params = _json_arg(a.params, "--params", '{"lr": 0.001}')
    if replica.active and a.method not in data_parallel_methods():
        raise ValueError(f"under torchrun only --method {' | '.join(data_parallel_methods())} run "
                         f"distributed; run {a.method!r} as a single process")
    if os.path.abspath(a.output) == os.path.abspath(a.checkpoint):
        raise ValueError("--output must differ from --checkpoint: the input checkpoint is kept as it is "
                         "(the ledger fingerprints both)")
    model, payload = load_checkpoint(a.checkpoint)
    family = model_family(model)
    if family in FAMILY_METHODS and a.method not in FAMILY_METHODS[family]:
        raise ValueError(f"{a.checkpoint} holds a {family} model; unlearn it with --method "
                         f"{' | '.join(FAMILY_METHODS[family])}, not {a.method!r}")
    # an unlearned checkpoint carries its retained graph: a second request resolves there
    state = "retained" if payload.get("retained") is not None else "split"
    data = _graph_from_checkpoint(a, payload, state)
    prior_features = deleted_features_of(payload, state)
    request = _build_request(a, data, model)
    # default: the ledger the input checkpoint was recorded in (a sequence stays in one chain)
    ledger = DeletionLedger(a.ledger or (payload.get("extra") or {}).get("ledger")
                            or os.path.splitext(a.output)[0] + ".ledger.jsonl")
    if replica.rank == 0:
        report = ledger.verify(check_files=False)   # refuse a damaged ledger before any work
        if not report.ok:
            raise ValueError(f"ledger {ledger.path!r} is not intact ({report.problem}); run "
                             f"`gnn-unlearn audit {ledger.path}`")
    unlearner = get(a.method, **params)   # hyperparameters and the files they name: checked before work
    task = request.resolve(data, num_hops=num_hops(model))
    result = unlearn(model, task, unlearner, device=a.device)
    if replica.rank != 0:
        return
    deleted = prior_features
    if task.feature_mask is not None:
        now = task.feature_mask.cpu()
        deleted = now if deleted is None else deleted | now
    save_checkpoint(a.output, result.model, data, request=request,
                    split=graph_state(data, prior_features),
                    retained=graph_state(task.retained_data, deleted),
                    extra={**(payload.get("extra") or {}), "method": a.method, "params": params,
                           "seconds": result.seconds, "original": os.path.abspath(a.checkpoint),
                           "request_file": os.path.abspath(a.request) if a.request else None,
                           "ledger": os.path.abspath(ledger.path)})
    entry = ledger.record(task, result, request=request, input_checkpoint=a.checkpoint,
                          output_checkpoint=a.output,
                          request_file=os.path.abspath(a.request) if a.request else None,
                          **_guarantee(result), **_reference_record(params))
    print(json.dumps(entry, indent=2, default=str))


def _reference_record(params: dict) -> dict:
    """The held-out reference file a request was served with, fingerprinted for the ledger."""
    path = params.get("reference")
    if not isinstance(path, str):
        return {}
    from gnn_unlearn.ledger import sha256_file
    return {"reference": {"path": os.path.abspath(path), "sha256": sha256_file(path)}}


def _guarantee(result) -> dict:
    """Ledger fields saying what a guarantee-giving method did: the certificate state after a
    certified removal (budget left, retrains), the shards a sharded model retrained."""
    cert = getattr(result.model, "certificate", None)
    if cert is not None:
        d = cert.to_dict()
        return {"certificate": {k: d[k] for k in ("epsilon", "delta", "budget", "worst_bound", "budget_left",
                                                  "certified", "requests", "retrains", "total_requests")}}
    if "touched_shards" in result.history:
        return {"touched_shards": result.history["touched_shards"],
                "partition": result.history.get("partition")}
    return {}


def cmd_audit(a: argparse.Namespace) -> None:
    from gnn_unlearn.ledger import DeletionLedger, describe
    ledger = DeletionLedger(a.ledger)
    if not os.path.isfile(a.ledger):
        raise FileNotFoundError(f"no ledger at {a.ledger!r}")
    if a.set_aside_torn:
        aside = ledger.set_aside_torn_tail()
        print(f"torn last entry moved to {aside}" if aside else "no torn entry to set aside")
    report = ledger.verify(check_files=not a.no_files)
    for entry in report.entries:
        print(describe(entry))
    if not report.ok:
        raise ValueError(f"ledger {a.ledger!r} fails the audit at {report.problem}")
    checked = "chain" + ("" if a.no_files else " and checkpoint digests")
    print(f"ledger intact: {len(report.entries)} entries, {checked} verified, head {report.head[:16]}")


def cmd_evaluate(a: argparse.Namespace) -> None:
    from gnn_unlearn.io import load_checkpoint, load_request
    from gnn_unlearn.methods import UnlearningResult
    from gnn_unlearn.evaluation import evaluate
    unlearned, up = load_checkpoint(a.unlearned)
    original_path = a.original or (up.get("extra") or {}).get("original")
    if not original_path:
        raise ValueError("--original is required (the unlearned checkpoint does not name it)")
    original, op = load_checkpoint(original_path)
    data = _graph_from_checkpoint(a, up)
    request = load_request(up)
    if request is None:
        raise ValueError(f"{a.unlearned} holds no deletion request; was it written by `gnn-unlearn unlearn`?")
    task = request.resolve(data, num_hops=num_hops(original))
    extra = up.get("extra") or {}
    result = UnlearningResult(model=unlearned, seconds=float(extra.get("seconds", float("nan"))),
                              peak_memory_bytes=0, method=extra.get("method", "unlearned"),
                              params=extra.get("params", {}), original=original)
    report = evaluate(result, task, mia=not a.no_mia, seed=a.seed, attacks=_attack_list(a.attacks),
                      attack_params=_json_arg(a.attack_params, "--attack-params", ATTACK_PARAMS_EXAMPLE),
                      retrain_seeds=a.retrain_seeds)
    _write_report(report, a.output, "evaluate")


def cmd_pretrain_influence(a: argparse.Namespace) -> None:
    from gnn_unlearn.distributed import init_from_env
    from gnn_unlearn.io import load_checkpoint
    from gnn_unlearn.methods.unlearnrec import pretrain_influence_encoder, save_influence_encoder
    from gnn_unlearn.utils import data_to, resolve_device
    replica, a.device = init_from_env(a.device)     # DistributedDataParallel under torchrun
    model, payload = load_checkpoint(a.checkpoint)
    if getattr(model, "task", None) != "rec":
        raise ValueError(f"{a.checkpoint} holds a {getattr(model, 'task', None)!r} model; the influence "
                         "encoder is for recommenders (train one with --task rec)")
    # an unlearned recommender stands for its retained graph
    data = _graph_from_checkpoint(a, payload, "retained" if payload.get("retained") is not None else "split")
    device = resolve_device(a.device)
    encoder, info = pretrain_influence_encoder(model.to(device), data_to(data, device), a.request_size,
                                               a.steps, target=a.target, seed=a.seed)
    if replica.rank != 0:       # the ranks hold the same encoder; rank 0 writes it
        return
    save_influence_encoder(a.output, encoder)
    print(json.dumps({"encoder": a.output, "seconds": info["seconds"], "steps": a.steps,
                      "request_size": info["request_size"], "final_loss": info["loss"][-1]}, indent=2))


def cmd_fit_reference(a: argparse.Namespace) -> None:
    from gnn_unlearn.io import load_checkpoint, model_family
    from gnn_unlearn.methods.reference import HeldOutReference
    from gnn_unlearn.utils import data_to, resolve_device
    if os.path.abspath(a.output) == os.path.abspath(a.checkpoint):
        raise ValueError("--output must differ from --checkpoint: the checkpoint is kept as it is")
    if a.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {a.seed}")
    model, payload = load_checkpoint(a.checkpoint)
    if model_family(model) != "gnn" or getattr(model, "task", None) not in ("link", "rec"):
        raise ValueError(f"{a.checkpoint} holds a {model_family(model)} {getattr(model, 'task', None)!r} model; "
                         "a held-out reference serves GNN link models (gradient_ascent, gnndelete, d2dgn) "
                         "and recommenders (reverse_bpr, unlearnrec)")
    # an unlearned checkpoint stands for its retained graph: the graph its next request resolves on
    data = _graph_from_checkpoint(a, payload, "retained" if payload.get("retained") is not None else "split")
    device = resolve_device(a.device)
    reference = HeldOutReference.fit(model.to(device), data_to(data, device), seed=a.seed, device=device,
                                     folds=a.folds)
    reference.save(a.output)
    print(json.dumps({"reference": os.path.abspath(a.output), "checkpoint": os.path.abspath(a.checkpoint),
                      "seconds": reference.seconds, "training_edges": int(reference.all_keys.numel()),
                      "seed": a.seed, "folds": reference.folds,
                      "use": f"gnn-unlearn unlearn --checkpoint {a.checkpoint} --method gnndelete "
                             f"--params '{{\"reference\": \"{a.output}\"}}' ..."}, indent=2))


def cmd_benchmark(a: argparse.Namespace) -> None:
    from gnn_unlearn.bench import run_grid
    from gnn_unlearn.options import shares
    run_grid(datasets=a.datasets.split(","), encoders=a.encoders.split(","),
             methods=a.methods.split(","), sizes=shares("--sizes", a.sizes, "of the training edges", "0.005,0.025"),
             wheres=a.wheres.split(","), seeds=_seed_range(a.first_seed, a.seeds), device=a.device,
             output=a.output, root=a.root, mirror=a.mirror, epochs=a.epochs, name=a.name,
             region=a.region, normalize_features=a.normalize_features,
             attacks=_attack_list(a.attacks),
             attack_params=_json_arg(a.attack_params, "--attack-params", ATTACK_PARAMS_EXAMPLE),
             retrain_seeds=a.retrain_seeds, reference_folds=a.reference_folds, mia=not a.no_mia,
             method_params=_json_arg(a.method_params, "--method-params", '{"gnndelete": {"settle": 6}}'))


def _seed_range(first: int, count: int) -> list[int]:
    if first < 0 or count < 1:
        raise ValueError(f"--first-seed must be >= 0 and --seeds >= 1, got {first} and {count}")
    return list(range(first, first + count))


def _attack_list(text: str | None) -> list[str]:
    return [t for t in (text or "").split(",") if t]


ATTACK_PARAMS_EXAMPLE = '{"lira": {"shadows": 8}}'


def _json_arg(text: str | None, flag: str, example: str) -> dict:
    """A JSON-object option (``{}`` when absent), refused with an example when it is not one."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{flag} must be JSON, e.g. '{example}': {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object, e.g. '{example}', got {text!r}")
    return value


def _attack_args(p: argparse.ArgumentParser) -> None:
    from gnn_unlearn.metrics.attacks import available_attacks
    p.add_argument("--attacks", default="", help="comma-separated attacks to run as well; available: "
                   + (", ".join(available_attacks()) or "none"))
    p.add_argument("--attack-params", default=None,
                   help='attack options as JSON keyed by attack name, e.g. \'{"lira": {"shadows": 8}}\'')
    p.add_argument("--retrain-seeds", type=int, default=1,
                   help="retrain K times (seeds s..s+K-1; 1 or >= 3) and test every row against the "
                        "spread of the K retrains (measures outside [min, max], Df distance with p-value)")


def _family_args(p: argparse.ArgumentParser) -> None:
    from gnn_unlearn.models.certified import SOLVERS
    from gnn_unlearn.models.sharded import AGGREGATIONS
    from gnn_unlearn.sharding import PARTITIONS, PRESETS, REPAIRS
    g = p.add_argument_group("--family sharded (GraphEraser, Chen et al. CCS 2022; GUIDE, Wang et al. "
                             "USENIX Security 2023)")
    g.add_argument("--num-shards", type=int, default=argparse.SUPPRESS, help="K (default 10)")
    g.add_argument("--shard-method", choices=sorted(PRESETS), default=argparse.SUPPRESS,
                   help="the paper's recipe (partition, aggregation, repair) and the method that "
                        "unlearns the model (default graph_eraser)")
    g.add_argument("--partition", choices=PARTITIONS, default=argparse.SUPPRESS, help="default: the recipe's")
    g.add_argument("--aggregation", choices=AGGREGATIONS, default=argparse.SUPPRESS, help="default: the recipe's")
    g.add_argument("--repair", choices=("none",) + REPAIRS, default=argparse.SUPPRESS, help="default: the recipe's")
    g.add_argument("--workers", type=int, default=argparse.SUPPRESS, help="train shards in this many processes (CPU)")
    g = p.add_argument_group("--family certified (CGU, Chien et al. 2022; CEU, Wu et al. KDD 2023; "
                             "ScaleGUN; GST, Pan et al. WWW 2023)")
    g.add_argument("--lam", type=_lam_option, default=argparse.SUPPRESS,
                   help="L2 regulariser lambda (default 0.01); 'auto': chosen on validation accuracy among "
                        "--lam-grid, with the model serving --expected-requests without retraining")
    g.add_argument("--noise-std", type=_lam_option, default=argparse.SUPPRESS,
                   help="sigma of the objective perturbation (default 0.01); 'auto': chosen like --lam auto "
                        "among --noise-std-grid")
    g.add_argument("--lam-grid", default=argparse.SUPPRESS,
                   help="--lam auto: the candidates, comma-separated (default 3e-2,1e-2,3e-3,1e-3,3e-4,1e-4)")
    g.add_argument("--noise-std-grid", default=argparse.SUPPRESS,
                   help="--noise-std auto: the candidates (default 0.1,0.3,1,3)")
    g.add_argument("--expected-request", default=argparse.SUPPRESS,
                   help="selection: the request the model must serve, KIND:SIZE with KIND node | edge | "
                        "feature and SIZE a fraction of the training nodes (edges) or a count "
                        "(default node:0.01)")
    g.add_argument("--expected-requests", type=int, default=argparse.SUPPRESS,
                   help="selection: how many such requests in a row, without retraining (default 1)")
    g.add_argument("--validation", choices=("auto", "val_mask", "holdout"), default=argparse.SUPPRESS,
                   help="selection: score on the split's validation nodes, or on a seeded hold-out of "
                        "the training nodes (then refit on all); auto: val_mask when there is one")
    g.add_argument("--holdout", type=float, default=argparse.SUPPRESS,
                   help="selection: the share of training nodes held out when there is no validation set "
                        "(default 0.2)")
    g.add_argument("--select-fallback", choices=("raise", "accuracy", "requests"), default=argparse.SUPPRESS,
                   help="selection: when no candidate serves the requests, stop with the table (raise, "
                        "default) or take the most accurate / the one serving most (recorded, warned)")
    g.add_argument("--epsilon", type=float, default=argparse.SUPPRESS, help="certificate epsilon (default 1)")
    g.add_argument("--delta", type=float, default=argparse.SUPPRESS, help="certificate delta (default 1e-4)")
    g.add_argument("--num-hops", type=int, default=argparse.SUPPRESS, help="K of P^K X (default 2)")
    g.add_argument("--alpha", type=float, default=argparse.SUPPRESS,
                   help="P = D^-alpha (A+I) D^(alpha-1) (default 0.5: symmetric)")
    g.add_argument("--rmax", type=float, default=argparse.SUPPRESS,
                   help="keep ScaleGUN's push state with this residue threshold (needed by --method "
                        "scalegun; 0: exact)")
    g.add_argument("--solver", choices=SOLVERS, default=argparse.SUPPRESS, help="Newton's linear solver (default direct)")
    g.add_argument("--features", choices=("sgc", "scattering"), default=argparse.SUPPRESS,
                   help="the fixed feature map: sgc, P^K X (CGU, CEU, ScaleGUN; default), or "
                        "scattering, GST's geometric scattering transform (Pan et al., WWW 2023; "
                        "--method gst)")
    g.add_argument("--wavelets", type=int, default=argparse.SUPPRESS,
                   help="--features scattering: J, the diffusion wavelets per layer (default 3)")
    g.add_argument("--scattering-order", type=int, default=argparse.SUPPRESS,
                   help="--features scattering: the highest scattering order, GST's L - 1 "
                        "(default 1); features (1 + J + ... + J^order) d wide")


def build_parser() -> argparse.ArgumentParser:
    from gnn_unlearn.data.datasets import available_datasets
    from gnn_unlearn.methods import available
    parser = argparse.ArgumentParser(prog="gnn-unlearn", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter
    datasets = ", ".join(available_datasets())

    p = sub.add_parser("demo", help="train, delete 2.5%% of training edges, unlearn, print the report",
                       formatter_class=fmt)
    p.add_argument("--dataset", default="synthetic", help=f"one of: {datasets}")
    p.add_argument("--num-nodes", type=int, default=2000, help="size of the synthetic graph")
    p.add_argument("--encoder", default="gcn", choices=["gcn", "gat", "gin", "sage"])
    p.add_argument("--methods", default="gradient_ascent",
                   help=f"comma-separated methods besides retrain; available: {', '.join(available())}")
    p.add_argument("--epochs", type=int, default=500, help="max training epochs (early stopping on validation)")
    p.add_argument("--df-size", type=float, default=0.025, help="fraction of training edges to delete")
    p.add_argument("--where", choices=WHERE_CHOICES, default="in",
                   help="'worst[:criterion]': the edges the original model finds hardest to forget "
                        "(gnn_unlearn.metrics.forget_sets)")
    p.add_argument("--region", choices=["library", "gnndelete"], default="library",
                   help="definition of 'in'/'out': the library's (both edge directions) or the "
                        "GNNDelete code's (one direction; reproduces the published protocol)")
    p.add_argument("--no-mia", action="store_true", help="skip the membership-inference attacks")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.add_argument("--output", default=None, help="folder for demo.json and demo.md")
    _common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train an original model and save a checkpoint", formatter_class=fmt)
    p.add_argument("--dataset", default="synthetic", help=f"one of: {datasets}")
    p.add_argument("--num-nodes", type=int, default=2000, help="size of the synthetic graph")
    p.add_argument("--graph", default=None, help="your own graph instead of --dataset: a file written by "
                   "torch.save(data) or torch.save(data.to_dict()) (prepared by gnn_unlearn.data.prepare_data)")
    p.add_argument("--task", choices=["link", "node", "rec"], default=argparse.SUPPRESS,
                   help="default link (node for --family certified); rec: LightGCN with BPR on a "
                        "user-item graph (gowalla, lastfm, ml-1m)")
    p.add_argument("--family", choices=["gnn", "sharded", "certified"], default="gnn",
                   help="gnn: one model; sharded: K shard models (exact unlearning by retraining the "
                        "touched shards: --method graph_eraser | guide); certified: SGC (or, with "
                        "--features scattering, scattering) features + perturbed logistic regression "
                        "((epsilon, delta)-certified removal: --method cgu | ceu | scalegun | gst)")
    p.add_argument("--encoder", default=argparse.SUPPRESS, choices=["gcn", "gat", "gin", "sage", "linear"],
                   help="default gcn; linear: an SGC-style linear GNN (node task; what `projector` "
                        "unlearns); with --family sharded: every shard's encoder")
    p.add_argument("--num-layers", type=int, default=None, help="default 2 (GNNs), 3 (LightGCN)")
    p.add_argument("--batch-size", type=int, default=8192,
                   help="rec: BPR triples per step; with --fanouts: seed nodes/edges per mini-batch")
    p.add_argument("--fanouts", default=None,
                   help="train on neighbour-sampled mini-batches, e.g. 10,10 (one per layer)")
    p.add_argument("--sampler", default="torch", choices=["torch", "pyg"],
                   help="with --fanouts: this library's sampler, or PyG's (needs pyg-lib or "
                        "torch-sparse)")
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--output", required=True, help="checkpoint path (.pt)")
    _family_args(p)
    _common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("unlearn", help="serve a deletion request on a checkpoint", formatter_class=fmt)
    p.add_argument("--checkpoint", required=True, help="checkpoint written by `gnn-unlearn train`")
    p.add_argument("--graph", default=None, help="the graph file the checkpoint was trained on, if it "
                   "moved (default: the one the checkpoint names)")
    p.add_argument("--method", default="gradient_ascent", help=f"one of: {', '.join(available())}")
    p.add_argument("--params", default=None, help='method hyperparameters as JSON, e.g. \'{"lr": 0.001}\'')
    p.add_argument("--output", required=True, help="path of the unlearned checkpoint")
    p.add_argument("--ledger", default=None, help="deletion ledger (JSON lines; default: the input "
                   "checkpoint's ledger if it was unlearned, else beside --output)")
    g = p.add_argument_group("deletion request from a file (instead of sampling)")
    g.add_argument("--request", default=None,
                   help="CSV / JSON lines / Parquet file of IDs to forget, e.g. a CSV with the header "
                        "user,item (see gnn_unlearn.request_files)")
    g.add_argument("--request-kind", default=None,
                   choices=["interactions", "edges", "nodes", "users", "items", "features"],
                   help="what the rows name (default: told by the header)")
    g.add_argument("--id-map", action="append", default=None, metavar="ENTITY=FILE",
                   help="map the file's IDs to graph indices: a CSV original_id,index per entity "
                        "(user, item, node); repeatable. Default: IDs are the indices")
    _request_args(p)
    _common(p)
    p.set_defaults(func=cmd_unlearn, dataset="synthetic", num_nodes=2000, task="link")

    p = sub.add_parser("evaluate", help="report an unlearned checkpoint against original and retrain",
                       formatter_class=fmt)
    p.add_argument("--unlearned", required=True, help="checkpoint written by `gnn-unlearn unlearn`")
    p.add_argument("--original", default=None, help="original checkpoint (default: the one it names)")
    p.add_argument("--graph", default=None, help="the graph file, if it moved (default: the one the "
                   "checkpoint names)")
    p.add_argument("--no-mia", action="store_true")
    p.add_argument("--output", default=None, help="folder for evaluate.json and evaluate.md")
    _attack_args(p)
    _common(p)
    p.set_defaults(func=cmd_evaluate, dataset="synthetic", num_nodes=2000, task="link")

    p = sub.add_parser("audit", help="verify a deletion ledger's hash chain and checkpoint digests",
                       formatter_class=fmt)
    p.add_argument("ledger", help="ledger file written by `gnn-unlearn unlearn`")
    p.add_argument("--no-files", action="store_true", help="check the chain only, not the checkpoints")
    p.add_argument("--set-aside-torn", action="store_true",
                   help="first move a torn last entry (a crash during an append) to LEDGER.torn-TIME")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("fit-reference", formatter_class=fmt,
                       help="fit the held-out reference of a link or recommender checkpoint (per-edge / per-pair "
                            "unlearning targets)")
    p.add_argument("--checkpoint", required=True, help="link model or recommender written by `gnn-unlearn "
                   "train` (or unlearn)")
    p.add_argument("--graph", default=None, help="the graph file the checkpoint was trained on, if it "
                   "moved (default: the one the checkpoint names)")
    p.add_argument("--output", required=True, help="path of the reference (.pt); pass it to unlearn as "
                   '--method gnndelete|d2dgn|gradient_ascent (links) or reverse_bpr|unlearnrec '
                   '(recommenders) --params \'{"reference": "PATH"}\'. It is trained on every training '
                   "edge / interaction: keep it under the original's retention rules")
    p.add_argument("--folds", type=int, default=2, help="reference models, each trained without one "
                   "seeded fold of the training edges (2: two halves; more: closer to the original's data, "
                   "one training each)")
    _common(p)
    p.set_defaults(func=cmd_fit_reference, dataset="synthetic", num_nodes=2000, task="link")

    p = sub.add_parser("pretrain-influence", formatter_class=fmt,
                       help="pre-train UnlearnRec's influence encoder for a recommender checkpoint")
    p.add_argument("--checkpoint", required=True, help="recommender written by `gnn-unlearn train --task rec`")
    p.add_argument("--output", required=True, help="path of the encoder (.pt); pass it to unlearn as "
                   '--method unlearnrec --params \'{"encoder": "PATH"}\'')
    p.add_argument("--request-size", type=float, default=0.01, help="simulated request size (fraction)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--target", choices=["matched", "published"], default="matched",
                   help="unlearning term: 'matched' (removed pairs to the ranks a retrained model gives "
                        "them) or 'published' (the paper's -log sigmoid(-score)); serve with the same target")
    _common(p)
    p.set_defaults(func=cmd_pretrain_influence, dataset="gowalla", num_nodes=0, task="rec")

    p = sub.add_parser("benchmark", help="grid of datasets x encoders x methods x sizes x seeds",
                       formatter_class=fmt)
    p.add_argument("--datasets", default="Cora")
    p.add_argument("--encoders", default="gcn")
    p.add_argument("--methods", default="gradient_ascent")
    p.add_argument("--sizes", default="0.025")
    p.add_argument("--wheres", default="in,out",
                   help=f"comma-separated, each one of: {', '.join(WHERE_CHOICES)}")
    p.add_argument("--region", choices=["library", "gnndelete"], default="library",
                   help="definition of 'in'/'out' (see `gnn-unlearn unlearn --help`)")
    p.add_argument("--normalize-features", action="store_true",
                   help="row-normalise node features (PyG NormalizeFeatures), as the GNNDelete code loads them")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (F..F+N-1, F = --first-seed)")
    p.add_argument("--method-params", default=None,
                   help='hyperparameters per method as JSON, e.g. \'{"gnndelete": {"settle": 6}}\' '
                        '(the m and m+ref rows both take m\'s)')
    p.add_argument("--reference-folds", type=int, default=2, help="folds of the held-out reference of "
                   "'<method>+ref' rows (HeldOutReference.fit's folds)")
    p.add_argument("--first-seed", type=int, default=0, help="the first seed (run more seeds of an earlier "
                   "run and join them with benchmarks/merge_grid.py)")
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--output", default="benchmarks/results")
    p.add_argument("--name", default="grid", help="results file stem: <output>/<name>.md and .json")
    p.add_argument("--no-mia", action="store_true", help="skip the two membership-inference attacks "
                   "(MI ratio, loss attack; each trains a shadow model and classifiers per request)")
    _attack_args(p)
    _common(p)
    p.set_defaults(func=cmd_benchmark)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, TypeError, KeyError, OSError, ImportError) as e:
        print(f"gnn-unlearn {args.command}: error: {e}", file=sys.stderr)
        return 2
    finally:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
