import torch

from gnn_unlearn.ops.scattering import (lazy_random_walk, scattering_features, scattering_moments,
                                        wavelet_bank)


def dense_walk(edge_index, n):
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1]] = 1
    a[edge_index[1], edge_index[0]] = 1
    a.fill_diagonal_(0)
    deg = a.sum(0)
    return 0.5 * (torch.eye(n, dtype=torch.float64) + a / deg.clamp(min=1))   # column j / d_j


def test_wavelets_match_the_dense_definition_and_telescope():
    g = torch.Generator().manual_seed(0)
    n = 9
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 0], [1, 2, 3, 4, 5, 6, 7, 7]])   # node 8 isolated
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    p = dense_walk(ei, n)
    walk = lazy_random_walk(ei, n)
    bank = wavelet_bank(walk, x, 4)
    power = lambda k: torch.linalg.matrix_power(p, k)
    expected = [(torch.eye(n, dtype=torch.float64) - p) @ x] + \
               [(power(2 ** (j - 1)) - power(2 ** j)) @ x for j in range(1, 4)]
    for got, want in zip(bank, expected):
        assert torch.allclose(got, want, atol=1e-12)
    assert torch.allclose(sum(bank), x - power(8) @ x, atol=1e-12)     # the bank telescopes
    assert torch.allclose(bank[0][8], 0.5 * x[8])                       # isolated: P = I/2


def test_features_layout_and_moments():
    ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
    x = torch.rand(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    f = scattering_features(x, ei, wavelets=3, order=2)
    assert f.shape == (4, (1 + 3 + 9) * 2)
    assert torch.equal(f[:, :2], x) and bool((f[:, 2:] >= 0).all())
    second = f[:, 2 + 6:2 + 6 + 2]       # path (0, 0): |Psi_0 |Psi_0 x||
    walk = lazy_random_walk(ei, 4)
    assert torch.allclose(second, wavelet_bank(walk, wavelet_bank(walk, x, 3)[0].abs(), 3)[0].abs())
    m = scattering_moments(f, 4)
    assert m.shape == (4 * f.size(1),) and torch.allclose(m[: f.size(1)], f.abs().mean(0))
