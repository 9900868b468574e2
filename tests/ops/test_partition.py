import math

import pytest
import torch

from gnn_unlearn.data import synthetic_graph
from gnn_unlearn.ops.partition import (balanced_kmeans, balanced_lpa, capacity_assign, colour_fair_moves,
                                       colour_swap_refine, fair_partition,
                                       graph_balance, graph_fairness, metis_partition, neighbour_counts,
                                       random_partition, shard_capacity)


@pytest.fixture(scope="module")
def planted():
    return synthetic_graph(num_nodes=400, num_classes=4, avg_degree=8, homophily=0.9, num_features=16,
                           features_per_node=3, seed=0)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def intra(edge_index, a):
    return float((a[edge_index[0]] == a[edge_index[1]]).float().mean())


def test_random_partition_is_balanced_and_seeded():
    a = random_partition(103, 10, gen())
    sizes = torch.bincount(a, minlength=10)
    assert int(sizes.max() - sizes.min()) <= 1 and int(sizes.sum()) == 103
    assert torch.equal(a, random_partition(103, 10, gen()))
    assert not torch.equal(a, random_partition(103, 10, gen(1)))


def test_neighbour_counts_match_a_loop():
    ei = torch.tensor([[0, 1, 1, 2, 3, 3], [1, 0, 2, 1, 0, 2]])
    a = torch.tensor([0, 1, 1, 0])
    counts = neighbour_counts(ei, a, 2)
    expected = torch.zeros(4, 2, dtype=torch.long)
    for s, d in ei.t().tolist():
        expected[d, a[s]] += 1
    assert torch.equal(counts, expected)


def test_balanced_lpa_keeps_the_cap_and_beats_random(planted):
    n, k, delta = planted.num_nodes, 8, 0.05
    a = balanced_lpa(planted.edge_index, n, k, delta=delta, generator=gen())
    assert int(torch.bincount(a, minlength=k).max()) <= shard_capacity(n, k, delta)
    assert torch.equal(a, balanced_lpa(planted.edge_index, n, k, delta=delta, generator=gen()))
    # label propagation keeps many more edges inside shards than a random split (1/k)
    assert intra(planted.edge_index, a) > 2 * intra(planted.edge_index, random_partition(n, k, gen()))


def test_capacity_assign_respects_capacities_and_prefers_cheap_bins():
    cost = torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [5.0, 0.0]])
    a = capacity_assign(cost, 2)
    # bin 0 is the first choice of nodes 0-2 but has room for two: the two cheapest get it
    assert a.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="total capacity"):
        capacity_assign(cost, 1)


def test_balanced_kmeans_is_balanced_and_separates_clusters():
    g = gen()
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = centres.repeat_interleave(30, 0) + 0.1 * torch.randn(90, 2, generator=g)
    a = balanced_kmeans(x, 3, generator=gen())
    assert torch.bincount(a, minlength=3).tolist() == [30, 30, 30]
    # each true cluster lands in one shard
    for c in range(3):
        assert torch.unique(a[c * 30:(c + 1) * 30]).numel() == 1
    with pytest.raises(ValueError, match="embeddings must be"):
        balanced_kmeans(torch.zeros(5), 2)


def test_fair_partition_balances_sizes_and_colours(planted):
    n, k = planted.num_nodes, 5
    colours = planted.y
    a = fair_partition(planted.edge_index, n, k, colours, generator=gen())
    assert int(torch.bincount(a, minlength=k).max()) <= math.ceil(n / k)
    assert (a >= 0).all()
    assert torch.equal(a, fair_partition(planted.edge_index, n, k, colours, generator=gen()))
    assert graph_balance(a, k) < 0.01
    with pytest.raises(ValueError, match="colours must be"):
        fair_partition(planted.edge_index, n, k, colours.float())


def test_colour_shares_then_swaps_make_the_fair_partition_fair_and_cut_less(planted):
    n, k = planted.num_nodes, 5
    colours = planted.y % 2                      # two colours that cut across the communities
    fast = fair_partition(planted.edge_index, n, k, colours, generator=gen(), refine_rounds=0)
    shared = colour_fair_moves(planted.edge_index, fast, colours, k)
    counts = torch.bincount(shared * 2 + colours, minlength=2 * k).view(k, 2)
    per_colour = torch.bincount(colours, minlength=2)
    assert ((counts - per_colour // k) >= 0).all() and ((counts - per_colour // k) <= 1).all()
    sizes = torch.bincount(shared, minlength=k)
    assert int(sizes.max() - sizes.min()) <= 1
    moved = int((shared != fast).sum())
    assert moved <= int((torch.bincount(fast * 2 + colours, minlength=2 * k).view(k, 2)
                         - per_colour // k).clamp(min=0).sum())       # only over-share nodes move
    refined = fair_partition(planted.edge_index, n, k, colours, generator=gen())
    assert torch.equal(refined, colour_swap_refine(planted.edge_index, shared, colours, k))
    assert graph_fairness(refined, colours, k) <= graph_fairness(fast, colours, k)
    assert intra(planted.edge_index, refined) > intra(planted.edge_index, shared) + 0.05
    mix = lambda a: torch.bincount(a * 2 + colours, minlength=2 * k)
    assert torch.equal(mix(refined), mix(shared))                # swaps keep every size and colour mix
    assert torch.equal(colour_swap_refine(planted.edge_index, fast, colours, k, rounds=0), fast)
    scrambled = random_partition(n, k, gen(1))                  # far from a good cut: many swaps pay
    better = colour_swap_refine(planted.edge_index, scrambled, colours, k)
    assert intra(planted.edge_index, better) > intra(planted.edge_index, scrambled) + 0.2
    assert torch.equal(mix(better), mix(scrambled))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="rounds must be"):
            colour_swap_refine(planted.edge_index, fast, colours, k, rounds=bad)
        with pytest.raises(ValueError, match="refine_rounds must be"):
            fair_partition(planted.edge_index, n, k, colours, refine_rounds=bad)
    for refine in (colour_swap_refine, colour_fair_moves):
        with pytest.raises(ValueError, match="shard ids in 0..4"):
            refine(planted.edge_index, fast + 1, colours, k)
        with pytest.raises(ValueError, match="colours must be"):
            refine(planted.edge_index, fast, colours[:-1], k)
        with pytest.raises(ValueError, match="colours must be non-negative"):
            refine(planted.edge_index, fast, colours - 1, k)
        with pytest.raises(ValueError, match="assignment must be an"):
            refine(planted.edge_index, fast.float(), colours, k)


def test_fair_partition_places_isolated_nodes(planted):
    ei = planted.edge_index
    n = planted.num_nodes + 10          # ten extra nodes without edges
    colours = torch.cat([planted.y, torch.zeros(10, dtype=torch.long)])
    a = fair_partition(ei, n, 4, colours, generator=gen())
    assert (a >= 0).all() and int(torch.bincount(a, minlength=4).max()) <= math.ceil(n / 4)
    # the ten isolated nodes spread round-robin over the shards with room, not all into one
    assert torch.unique(a[-10:]).numel() >= 2


def test_balance_and_fairness_scores():
    a = torch.tensor([0, 0, 1, 1])
    assert graph_balance(a, 2) == 0.0
    assert graph_balance(torch.tensor([0, 0, 0, 1]), 2) == pytest.approx(2 / 8)
    assert graph_fairness(a, torch.tensor([0, 1, 0, 1]), 2) == 0.0
    assert graph_fairness(a, torch.tensor([0, 0, 1, 1]), 2) == pytest.approx(0.5)


def test_metis_needs_its_backend():
    import torch_geometric.typing as t
    if t.WITH_METIS or t.WITH_TORCH_SPARSE:
        pytest.skip("a METIS backend is installed")
    with pytest.raises(ImportError, match="torch-sparse or pyg-lib"):
        metis_partition(torch.tensor([[0, 1], [1, 0]]), 2, 2)


def test_bad_shard_counts():
    with pytest.raises(ValueError, match="non-empty shards"):
        random_partition(3, 5)
    with pytest.raises(ValueError, match="positive int"):
        balanced_lpa(torch.zeros(2, 0, dtype=torch.long), 4, 0)
