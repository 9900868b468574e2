import pytest
import torch

from gnn_unlearn.ops.scoring import PairDot, chunked_pair_scores, pair_dot


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pair_dot_matches_the_gather_with_duplicates_and_self_pairs(dtype):
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(300, 16, generator=g, dtype=dtype)
    pairs = torch.randint(300, (2, 5000), generator=g)
    pairs[:, :50] = pairs[:, 50:100]          # duplicate pairs
    pairs[1, :20] = pairs[0, :20]             # self pairs: gradient 2 g z_u
    weights = torch.randn(5000, generator=g, dtype=dtype)
    outs = []
    for fn in (lambda z: (z[pairs[0]] * z[pairs[1]]).sum(-1), lambda z: PairDot.apply(z, *pairs)):
        z = z0.clone().requires_grad_()
        s = fn(z)
        (s * weights).sum().backward()
        outs.append((s.detach(), z.grad))
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    assert torch.allclose(outs[0][0], outs[1][0], atol=tol)
    assert torch.allclose(outs[0][1], outs[1][1], atol=tol)


def test_pair_dot_small_and_empty_inputs_take_the_gather():
    z = torch.randn(10, 4)
    pairs = torch.tensor([[0, 1], [2, 3]])
    assert torch.allclose(pair_dot(z, pairs), (z[[0, 1]] * z[[2, 3]]).sum(-1))
    assert pair_dot(z, pairs[:, :0]).shape == (0,)
    assert torch.allclose(pair_dot(z, pairs, min_pairs=1), (z[[0, 1]] * z[[2, 3]]).sum(-1))


def test_chunked_scores_equal_unchunked():
    z = torch.randn(50, 8)
    pairs = torch.randint(50, (2, 1000))
    fn = lambda z, p: (z[p[0]] - z[p[1]]).norm(dim=-1)
    assert torch.allclose(chunked_pair_scores(fn, z, pairs, chunk_size=64), fn(z, pairs))
