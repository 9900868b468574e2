import os

import pytest
import torch

from gnn_unlearn.data import synthetic_graph
from gnn_unlearn.io import (DeletionLedger, apply_split, atomic_write_bytes, load_checkpoint,
                            load_request, save_checkpoint)
from gnn_unlearn.methods import unlearn


def test_checkpoint_roundtrip(cora_gcn, cora_link, cora_task, tmp_path):
    path = str(tmp_path / "m.pt")
    save_checkpoint(path, cora_gcn, cora_link, request=cora_task.request)
    model, payload = load_checkpoint(path, cora_link)
    for a, b in zip(model.state_dict().values(), cora_gcn.state_dict().values()):
        assert torch.equal(a, b)
    assert model.config == cora_gcn.config and model.train_config == cora_gcn.train_config
    again = load_request(payload).resolve(apply_split(cora_link, payload["split"]))
    assert torch.equal(again.df_mask, cora_task.df_mask)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_checkpoint_for_another_graph_is_refused(cora_gcn, cora_link, tmp_path):
    path = str(tmp_path / "m.pt")
    save_checkpoint(path, cora_gcn, cora_link)
    other = synthetic_graph(num_nodes=100, num_features=1433)
    with pytest.raises(ValueError, match="num_nodes=2708.*num_nodes=100"):
        load_checkpoint(path, other)


def test_garbage_and_foreign_files_are_refused(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable gnn_unlearn checkpoint"):
        load_checkpoint(str(junk))
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not a gnn_unlearn checkpoint"):
        load_checkpoint(str(foreign))
    with pytest.raises(FileNotFoundError):
        load_checkpoint(str(tmp_path / "missing.pt"))


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(str(path), boom)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_ledger_records_each_deletion(cora_gcn, cora_task, tmp_path):
    ledger = DeletionLedger(str(tmp_path / "ledger.jsonl"))
    result = unlearn(cora_gcn, cora_task, "gradient_ascent", epochs=2)
    ledger.record(cora_task, result, user="alice")
    ledger.record(cora_task, result)
    entries = ledger.entries()
    assert len(entries) == 2 and entries[0]["user"] == "alice"
    assert entries[0]["request"]["deleted_edges"] == int(cora_task.df_mask.sum())


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os
    from gnn_unlearn.io import atomic_write_text
    umask = os.umask(0o022)
    try:
        atomic_write_text(str(tmp_path / "new.txt"), "x")
        assert os.stat(tmp_path / "new.txt").st_mode & 0o777 == 0o644   # not mkstemp's 0o600
        os.chmod(tmp_path / "new.txt", 0o640)
        atomic_write_text(str(tmp_path / "new.txt"), "y")
        assert os.stat(tmp_path / "new.txt").st_mode & 0o777 == 0o640   # an existing mode is kept
    finally:
        os.umask(umask)


def test_checkpoint_records_data_signature_and_refuses_other_splits(tmp_path, cora, cora_gcn, cora_link):
    from gnn_unlearn import link_split
    from gnn_unlearn.data import sample_edges
    from gnn_unlearn.io import load_checkpoint, save_checkpoint
    from gnn_unlearn.methods import unlearn
    path = str(tmp_path / "m.pt")
    save_checkpoint(path, cora_gcn, cora_link)
    model, _ = load_checkpoint(path, cora_link)
    assert model.data_signature == cora_gcn.data_signature
    other = link_split(cora, seed=1)                       # same dataset, another split
    task = sample_edges(other, 5, seed=0).resolve(other)
    with pytest.raises(ValueError, match="other than the one this model was trained on"):
        unlearn(model, task, "gradient_ascent", epochs=1)
    # a sequence: the unlearned model stands for the retained graph, where the next request resolves
    first = sample_edges(cora_link, 5, seed=0).resolve(cora_link)
    result = unlearn(model, first, "gradient_ascent", epochs=1)
    second = sample_edges(first.retained_data, 5, seed=1).resolve(first.retained_data)
    unlearn(result.model, second, "gradient_ascent", epochs=1)
    with pytest.raises(ValueError, match="other than"):
        unlearn(result.model, first, "gradient_ascent", epochs=1)


def test_damaged_checkpoint_fields_are_named(tmp_path, cora_gcn, cora_link):
    import torch
    from gnn_unlearn.io import FORMAT, load_checkpoint, save_checkpoint
    path = str(tmp_path / "m.pt")
    save_checkpoint(path, cora_gcn, cora_link)
    payload = torch.load(path, weights_only=True)
    for damage, match in (({"config": None}, "'config'"), ({"state_dict": 3}, "'state_dict'")):
        broken = str(tmp_path / "b.pt")
        torch.save({**payload, **damage}, broken)
        with pytest.raises(ValueError, match=match):
            load_checkpoint(broken)
    cfg = dict(payload["config"])
    del cfg["in_channels"]
    torch.save({**payload, "config": cfg}, str(tmp_path / "c.pt"))
    with pytest.raises(ValueError, match="in_channels"):
        load_checkpoint(str(tmp_path / "c.pt"))
    assert payload["format"] == FORMAT


# sharded and certified models ------------------------------------------------------------------
def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("method", ["graph_eraser", "guide"])
def test_sharded_round_trip_is_bit_identical_and_unlearns_identically(method, sharding_graph, tmp_path):
    from gnn_unlearn import DeletionRequest
    from gnn_unlearn.models.sharded import ShardedModel
    from gnn_unlearn.sharding import train_sharded

    from .sharding_fixtures import ARCH, FAST
    g = sharding_graph
    model = train_sharded(g, num_shards=3, method=method, seed=1, config=FAST, **ARCH)
    path = str(tmp_path / "s.pt")
    save_checkpoint(path, model, g)
    loaded, payload = load_checkpoint(path, g)
    assert isinstance(loaded, ShardedModel) and payload["family"] == "sharded"
    assert loaded.recipe == model.recipe and loaded.aggregation == model.aggregation
    assert torch.equal(loaded(g.x, g.edge_index), model(g.x, g.edge_index))      # bit-identical
    task = DeletionRequest.nodes(g.train_mask.nonzero().view(-1)[:2]).resolve(g)
    a, b = unlearn(model, task, method), unlearn(loaded, task, method)
    assert a.history["touched_shards"] == b.history["touched_shards"] and _same_state(a.model, b.model)
    # an unlearned model round-trips as well (the next request of a sequence starts from it)
    save_checkpoint(path, b.model, task.retained_data)
    again, _ = load_checkpoint(path)
    r = task.retained_data
    assert torch.equal(again(r.x, r.edge_index), b.model(r.x, r.edge_index))


def test_sharded_link_model_round_trip(sharding_link_graph, tmp_path):
    from gnn_unlearn.sharding import train_sharded

    from .sharding_fixtures import ARCH, FAST
    g = sharding_link_graph
    model = train_sharded(g, "link", num_shards=2, method="guide", seed=0, config=FAST, **ARCH)
    save_checkpoint(str(tmp_path / "l.pt"), model, g)
    loaded, _ = load_checkpoint(str(tmp_path / "l.pt"), g)
    pairs = g.test_pos_edge_index
    assert torch.equal(loaded(g.x, g.edge_index, pairs), model(g.x, g.edge_index, pairs))


@pytest.mark.parametrize("rmax", [None, 0.0, 1e-3])
def test_certified_round_trip_keeps_weights_certificate_and_push_state(rmax, sharding_graph, tmp_path):
    from gnn_unlearn import DeletionRequest
    from gnn_unlearn.models import CertifiedLinear, train_certified
    g = sharding_graph
    method = "cgu" if rmax is None else "scalegun"
    model = train_certified(g, rmax=rmax, noise_std=1.0, seed=2)
    first = DeletionRequest.nodes(g.train_mask.nonzero().view(-1)[:1]).resolve(g, num_hops=model.num_hops)
    model = unlearn(model, first, method).model               # a certificate with a request spent
    g = first.retained_data
    assert model.certificate.requests == 1
    path = str(tmp_path / "c.pt")
    save_checkpoint(path, model, g)
    loaded, payload = load_checkpoint(path, g)
    assert isinstance(loaded, CertifiedLinear) and payload["family"] == "certified"
    assert torch.equal(loaded(g.x, g.edge_index), model(g.x, g.edge_index))      # bit-identical
    assert loaded.certificate == model.certificate and loaded.hparams() == model.hparams()
    assert _same_state(loaded, model) and (loaded.push is None) == (rmax is None)
    second = DeletionRequest.nodes(g.train_mask.nonzero().view(-1)[:2]).resolve(g, num_hops=model.num_hops)
    a, b = unlearn(model, second, method), unlearn(loaded, second, method)
    assert torch.equal(a.model.weight, b.model.weight) and a.model.certificate == b.model.certificate
    if rmax is not None:
        assert torch.equal(a.model.push.features, b.model.push.features)


def test_scattering_round_trip_is_bit_identical_and_unlearns_identically(sharding_graph, tmp_path):
    """GST's ScatteringLinear is a certified checkpoint that comes back as a ScatteringLinear
    (its wavelets and order), with the same predictions, certificate and next Newton step."""
    from gnn_unlearn import DeletionRequest
    from gnn_unlearn.models import ScatteringLinear, train_scattering
    g = sharding_graph
    model = train_scattering(g, wavelets=2, order=2, noise_std=1.0, seed=1)
    first = DeletionRequest.nodes(g.train_mask.nonzero().view(-1)[:1]).resolve(g, num_hops=model.num_hops)
    model = unlearn(model, first, "gst").model
    g = first.retained_data
    path = str(tmp_path / "g.pt")
    save_checkpoint(path, model, g)
    loaded, payload = load_checkpoint(path, g)
    assert isinstance(loaded, ScatteringLinear) and payload["family"] == "certified"
    assert (loaded.wavelets, loaded.order, loaded.num_hops) == (2, 2, model.num_hops)
    assert torch.equal(loaded(g.x, g.edge_index), model(g.x, g.edge_index))      # bit-identical
    assert loaded.certificate == model.certificate and _same_state(loaded, model)
    second = DeletionRequest.nodes(g.train_mask.nonzero().view(-1)[:2]).resolve(g, num_hops=model.num_hops)
    a, b = unlearn(model, second, "gst"), unlearn(loaded, second, "gst")
    assert torch.equal(a.model.weight, b.model.weight) and a.model.certificate == b.model.certificate
    for bad, match in (({**payload["config"], "scattering": None}, "'scattering' dict"),
                       ({**payload["config"], "scattering": {"wavelets": 0}}, "wavelets must be"),
                       ({**payload["config"], "scattering": {"num_hops": 3}}, "keys from")):
        torch.save({**payload, "config": bad}, path)
        with pytest.raises(ValueError, match=match):
            load_checkpoint(path)


def test_damaged_sharded_and_certified_fields_are_named(sharding_graph, tmp_path):
    from gnn_unlearn.models import train_certified
    from gnn_unlearn.sharding import train_sharded

    from .sharding_fixtures import ARCH, FAST
    g = sharding_graph
    cases = []
    sharded = str(tmp_path / "s.pt")
    save_checkpoint(sharded, train_sharded(g, num_shards=2, seed=0, config=FAST, **ARCH), g)
    p = torch.load(sharded, weights_only=True)
    cases += [({**p, "family": "ensemble"}, "unknown family 'ensemble'"),
              ({**p, "sharded": None}, "spec is a dict"),
              ({**p, "sharded": {**p["sharded"], "num_shards": 0}}, "num_shards must be a positive int"),
              ({**p, "sharded": {**p["sharded"], "aggregation": "max"}}, "aggregation must be one of"),
              ({**p, "sharded": {**p["sharded"], "num_shards": 3}}, "weights do not fit"),
              ({**p, "family": "gnn"}, "weights do not fit")]
    certified = str(tmp_path / "c.pt")
    save_checkpoint(certified, train_certified(g, rmax=0.0), g)
    c = torch.load(certified, weights_only=True)
    cases += [({**c, "certified": {**c["certified"], "push": None}}, "push state does not match rmax"),
              ({**c, "certified": {**c["certified"], "certificate": {"epsilon": 1.0}}}, "certificate must have"),
              ({**c, "certified": {k: v for k, v in c["certified"].items() if k != "train_info"}}, "exactly"),
              ({**c, "config": {**c["config"], "certified": None}}, "'certified' dict"),
              ({**c, "family": "sharded"}, "spec is a dict")]
    for i, (payload, match) in enumerate(cases):
        path = str(tmp_path / f"bad{i}.pt")
        torch.save(payload, path)
        with pytest.raises(ValueError, match=match):
            load_checkpoint(path)
