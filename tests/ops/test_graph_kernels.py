import math
import torch

from gnn_unlearn.data import synthetic_graph
from gnn_unlearn.ops.graph_kernels import (_cell_counts, _intersection, normalised_pyramid_match,
                                           pyramid_histograms, pyramid_match, spectral_vertex_embedding)


def test_spectral_embedding_matches_dense_eigenvectors_and_repeats():
    g = synthetic_graph(num_nodes=60, num_classes=3, avg_degree=6, num_features=6, features_per_node=2, seed=0)
    emb = spectral_vertex_embedding(g.edge_index, 60, dim=3, iters=300)
    assert torch.equal(emb, spectral_vertex_embedding(g.edge_index, 60, dim=3, iters=300))
    a = torch.zeros(60, 60, dtype=torch.float64)
    a[g.edge_index[0], g.edge_index[1]] = 1
    lam, vec = torch.linalg.eigh(a)
    top = vec[:, torch.argsort(lam.abs(), descending=True)[:1]].abs().float()
    assert torch.allclose(emb[:, :1], top, atol=1e-4)


def test_histogram_intersection_matches_brute_force():
    e1 = torch.tensor([[0.1, 0.1], [0.6, 0.2], [0.6, 0.3], [0.9, 0.9]])
    e2 = torch.tensor([[0.1, 0.2], [0.7, 0.1], [0.2, 0.8]])
    for level in range(3):
        cells = 2 ** level
        brute = {}
        for e, side in ((e1, 0), (e2, 1)):
            for row in (e * cells).long().clamp(max=cells - 1).tolist():
                brute.setdefault(tuple(row), [0, 0])[side] += 1
        expected = sum(min(a, b) for a, b in brute.values())
        assert _intersection(_cell_counts(e1, level), _cell_counts(e2, level)) == expected


def test_pyramid_match_normalised_is_one_on_itself_and_smaller_otherwise():
    e1 = torch.rand(50, 4, generator=torch.Generator().manual_seed(0))
    e2 = torch.rand(30, 4, generator=torch.Generator().manual_seed(1))
    assert normalised_pyramid_match(e1, e1) == 1.0
    assert 0 < normalised_pyramid_match(e1, e2) < 1
    assert pyramid_match(e1, e2) == pyramid_match(e2, e1)


def test_self_match_is_the_vertex_count_so_normalising_needs_no_self_match():
    e1 = torch.rand(50, 4, generator=torch.Generator().manual_seed(0))
    e2 = torch.rand(30, 4, generator=torch.Generator().manual_seed(1))
    assert pyramid_match(e1, e1) == 50.0 and pyramid_match(e2, e2, levels=6) == 30.0
    by_definition = pyramid_match(e1, e2) / math.sqrt(pyramid_match(e1, e1) * pyramid_match(e2, e2))
    assert normalised_pyramid_match(e1, e2) == by_definition
    assert normalised_pyramid_match(e1, e2, histograms1=pyramid_histograms(e1)) == by_definition
