import pytest
import torch
from torch_geometric.data import Data

from gnn_unlearn.metrics.rec import CandidateScores, pair_ranks, rank_summary, topk_metrics
from gnn_unlearn.ops.graph import symmetrize


def _toy(seed=0, nu=30, ni=25, d=4):
    g = torch.Generator().manual_seed(seed)
    def pairs(k):
        keys = torch.unique(torch.randint(nu * ni, (k,), generator=g))
        return torch.stack([keys // ni, keys % ni + nu])
    train, test = pairs(120), pairs(60)
    test = test[:, ~torch.isin(test[0] * 1000 + test[1], train[0] * 1000 + train[1])]
    data = Data(num_nodes=nu + ni, train_pos_edge_index=train, test_pos_edge_index=test,
                edge_index=symmetrize(train), num_users=nu, num_items=ni)
    return data, torch.randn(nu + ni, d, generator=g)


def test_topk_metrics_match_brute_force():
    data, z = _toy()
    nu, k = 30, 5
    scores = z[:nu] @ z[nu:].t()
    tr = data.train_pos_edge_index
    scores[tr[0], tr[1] - nu] = float("-inf")
    recall, ndcg, users = 0.0, 0.0, 0
    for u in range(nu):
        held = set((data.test_pos_edge_index[1][data.test_pos_edge_index[0] == u] - nu).tolist())
        if not held:
            continue
        top = torch.topk(scores[u], k).indices.tolist()
        hits = [1.0 if i in held else 0.0 for i in top]
        recall += sum(hits) / len(held)
        dcg = sum(h / torch.log2(torch.tensor(r + 2.0)).item() for r, h in enumerate(hits))
        idcg = sum(1 / torch.log2(torch.tensor(r + 2.0)).item() for r in range(min(k, len(held))))
        ndcg += dcg / idcg
        users += 1
    for chunking in (dict(chunk_users=7), dict(max_chunk_scores=3 * 25), {}):  # 3 users a block
        got = topk_metrics(z, data, "test", k=k, **chunking)
        assert abs(got["recall@5"] - recall / users) < 1e-6
        assert abs(got["ndcg@5"] - ndcg / users) < 1e-5


def test_pair_ranks_match_brute_force():
    data, z = _toy(seed=1)
    nu = 30
    pairs = data.test_pos_edge_index[:, :15]
    ranks = pair_ranks(z, data, pairs, chunk_pairs=4)
    assert torch.equal(ranks, pair_ranks(z, data, pairs, max_chunk_scores=100))
    with pytest.raises(ValueError, match="chunk_pairs"):
        pair_ranks(z, data, pairs, chunk_pairs=0)
    with pytest.raises(ValueError, match="chunk_users"):
        topk_metrics(z, data, chunk_users=0)
    tr = data.train_pos_edge_index
    for (u, i), r in zip(pairs.t().tolist(), ranks.tolist()):
        s = z[u] @ z[nu:].t()
        known = set((tr[1][tr[0] == u] - nu).tolist())
        above = sum(1 for j in range(25) if j not in known and s[j] > s[i - nu])
        assert r == above
    summary = rank_summary(ranks, 25, k=20)
    assert 0 <= summary["rank_pct"] <= 1 and 0 <= summary["hit@20"] <= 1


@pytest.fixture(scope="module")
def small_rec():
    """A LightGCN trained on a small synthetic user-item graph and a 5 % interaction request."""
    from gnn_unlearn import TrainConfig, train
    from gnn_unlearn.data import sample_interactions
    from gnn_unlearn.data.synthetic import bipartite_synthetic
    data = bipartite_synthetic(300, 400, avg_degree=15, seed=0)
    model, _ = train(data, "rec", TrainConfig(epochs=150, lr=0.01, batch_size=1024, eval_every=50,
                                              patience=1000, seed=0))
    return model, sample_interactions(data, 0.05, seed=0).resolve(data)


def test_evaluate_places_a_recommender_in_the_retrain_spread(small_rec):
    """evaluate() scores recommenders like link and node models: deletion identification and the
    retrain-spread test. The original, which trained on the removed interactions, scores them
    like retained ones (id AUC near 0.5, below every retrain) and is shifted above the retrains;
    the retrains themselves are not flagged."""
    from gnn_unlearn import evaluate, unlearn
    model, task = small_rec
    report = evaluate(unlearn(model, task, "reverse_bpr"), task, mia=False, retrain_seeds=3)
    assert report.kind == "rec" and "Df id AUC" in report.to_markdown()
    orig, retrains = report.row("original"), [report.row(f"retrain#{i}") for i in (1, 2, 3)]
    assert abs(orig["deleted_id_auc"] - 0.5) < 0.1
    assert orig["deleted_id_auc"] < min(r["deleted_id_auc"] for r in retrains)
    assert orig["df_shift"] > 0 and orig["df_shift_p"] < 0.05
    assert "Df id AUC" in orig["outside_spread"] and "Df shift" in orig["outside_spread"]
    assert all(r["outside_spread"] == "none" for r in retrains)
    assert set(report.meta["retrain_spread"]["measures"]) >= {"recall@20", "deleted_id_auc"}


def test_evaluate_refuses_link_only_options_for_a_recommender(small_rec, monkeypatch):
    from gnn_unlearn import evaluate, unlearn
    import gnn_unlearn.evaluation as report_module
    model, task = small_rec
    result = unlearn(model, task, "reverse_bpr")
    monkeypatch.setattr(report_module, "unlearn", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ValueError, match="df_negatives are non-edges for link tasks; this is a rec task"):
        evaluate(result, task, mia=False, df_negatives=task.df_edge_index)
    with pytest.raises(ValueError, match="attack"):
        evaluate(result, task, mia=False, attacks=["lira"])


def _rank_of_score(z, data, pairs, scores):
    """Brute force: candidate items (not known, not the pair's own) scoring above ``scores``."""
    nu = data.num_users
    full = z[pairs[0]] @ z[nu:].t()
    tr = data.train_pos_edge_index
    known = torch.zeros(nu, data.num_items, dtype=torch.bool)
    known[tr[0], tr[1] - nu] = True
    cand = ~known[pairs[0]]
    cand[torch.arange(pairs.size(1)), pairs[1] - nu] = False
    return ((full > scores.unsqueeze(1)) & cand).sum(1), cand.sum(1)


@pytest.mark.parametrize("head,sample", [(256, 2048), (3, 10)])     # exact; top-3 exact + sampled tail
def test_candidate_scores_rank_pairs_and_invert_the_rank(head, sample):
    data, z = _toy(seed=3)
    pairs = data.test_pos_edge_index
    cand = CandidateScores(z, data, pairs[0], head=head, sample=sample,
                           generator=torch.Generator().manual_seed(0))
    own = pair_ranks(z, data, pairs)
    scores = (z[pairs[0]] * z[pairs[1]]).sum(-1)
    got = cand.ranks(pairs[0], scores)
    others = _rank_of_score(z, data, pairs, torch.full((pairs.size(1),), float("inf")))[1]
    exact = sample + head >= data.num_items
    head_rows = own < head
    assert torch.equal(got[head_rows].long(), own[head_rows])
    if exact:
        assert torch.equal(got.long(), own)
    else:
        assert (got[~head_rows] - own[~head_rows]).abs().mean() < 0.25 * others.float().mean()
    wanted = torch.randint(0, 30, (pairs.size(1),), generator=torch.Generator().manual_seed(1))
    wanted[:5] = 0                                                 # the top, and the bottom
    wanted[5:10] = others[5:10] - 1
    target = cand.scores_at(pairs[0], wanted, own)
    reached = _rank_of_score(z, data, pairs, target)[0]
    want = torch.minimum(wanted, others - 1)
    check = torch.ones_like(want, dtype=torch.bool) if exact else want < head - 1
    assert torch.equal(reached[check], want[check])
    if not exact:
        assert (reached - want).abs().float().mean() < 0.25 * others.float().mean()
    with pytest.raises(ValueError, match="not among the summarised users"):
        cand.ranks(torch.tensor([int(pairs[0].max()) + 1]), scores[:1])
