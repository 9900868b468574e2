import torch

from gnn_unlearn.data import link_split, synthetic_graph
from gnn_unlearn.ops.graph import edge_keys
from gnn_unlearn.ops.negative import negative_pairs, non_edge_sampler


def test_non_edge_sampler_draws_what_negative_pairs_draws_call_after_call():
    """Sorting the positive keys once changes nothing: a run of draws from one sampler equals
    the same run of negative_pairs calls on the same generator, and avoids every training edge."""
    data = link_split(synthetic_graph(300, avg_degree=20.0, seed=0), seed=0)
    sampler = non_edge_sampler(data)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    train = set(edge_keys(data.train_pos_edge_index, 300).tolist())
    for num in (50, 400, 1):
        once, each = sampler(num, g1), negative_pairs(data, num, g2)
        assert torch.equal(once, each) and once.shape == (2, num)
        assert not train & set(edge_keys(once, 300).tolist())
    assert sampler(0, g1).shape == (2, 0)


def test_non_edge_sampler_keeps_bipartite_sides(lastfm):
    pairs = non_edge_sampler(lastfm)(200, torch.Generator().manual_seed(0))
    nu = int(lastfm.num_users)
    assert bool((pairs[0] < nu).all()) and bool((pairs[1] >= nu).all())
