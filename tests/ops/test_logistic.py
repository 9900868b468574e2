import pytest
import torch

from gnn_unlearn.ops.logistic import (curvature, hessian_cholesky, ovr_targets, solve_cg_bounded,
                                      solve_direct, spectral_norm, step_bound, t_matmul)


@pytest.fixture()
def problem():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(300, 12, generator=g, dtype=torch.float64) / 3
    y = ovr_targets(torch.randint(3, (300,), generator=g), 3)
    w = torch.randn(12, 3, generator=g, dtype=torch.float64)
    v = torch.randn(12, 3, generator=g, dtype=torch.float64)
    return z, y, w, v


def test_t_matmul_is_the_transposed_product(problem):
    z, y, _, _ = problem
    assert torch.allclose(t_matmul(z, y), z.t() @ y, atol=1e-13)


@pytest.mark.parametrize("precondition", [False, True])
def test_bounded_cg_solves_and_reports_the_bound_of_a_recomputation(problem, precondition):
    z, y, w, v = problem
    s = curvature(w, z, y)
    lam_n = 1e-2 * z.size(0)
    pre = hessian_cholesky(z, curvature(0.9 * w, z, y), lam_n) if precondition else None
    z_norm = spectral_norm(z)
    delta, residual, remainder = solve_cg_bounded(z, s, lam_n, v, tol=1e-10, z_norm=z_norm,
                                                  precond=pre)
    assert torch.allclose(delta, solve_direct(z, s, lam_n, v), atol=1e-9)
    measured_residual, measured_remainder = step_bound(z, s, lam_n, v, delta, z_norm)
    assert bool((residual <= 1e-10).all())
    assert torch.allclose(residual, measured_residual, rtol=1e-3, atol=1e-13)
    assert torch.allclose(remainder, measured_remainder, rtol=1e-12)
    # stopped early, it reports the residual it stopped at (charged to the bound), not tol
    step, early, _ = solve_cg_bounded(z, s, lam_n, v, tol=1e-10, z_norm=z_norm, max_iter=1)
    assert bool((early > 1e-10).all())
    assert torch.allclose(early, step_bound(z, s, lam_n, v, step, z_norm)[0], rtol=1e-9)
