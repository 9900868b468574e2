r"""One-vs-rest L2-regularised logistic regression with objective perturbation (tensor kernels).

Per class :math:`c` with labels :math:`y_{ic} \in \{\pm 1\}` (Guo et al., "Certified Data Removal
from Machine Learning Models", ICML 2020; Chien et al., "Certified Graph Unlearning", 2022):

.. math::
    L_c(w) = \sum_i \ell(y_{ic} w^\top z_i) + \tfrac{\lambda n}{2}\lVert w\rVert^2 + b_c^\top w,
    \qquad \ell(t) = -\log\sigma(t),

gradient :math:`\nabla L_c = Z^\top((\sigma(m_c) - 1) \odot y_c) + \lambda n w + b_c`
(:math:`m_c = y_c \odot Z w`) and Hessian :math:`H_c = Z^\top \mathrm{diag}(s_c) Z + \lambda n I`
with :math:`s_c = \sigma(m_c)(1 - \sigma(m_c))`. All classes are handled at once: weights are
``[d, C]`` and per-class quantities ``[C]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: the constant of the data-dependent residual bound (Guo et al., Cor. 1: gamma = 1/4 for the
#: logistic loss; it dominates Lip(l'')/2 = 1/(12 sqrt 3) that the Taylor remainder needs)
GAMMA = 0.25


def ovr_targets(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """``[n, C]`` one-vs-rest targets: +1 for the node's class, -1 elsewhere."""
    return F.one_hot(y.long(), num_classes).to(dtype) * 2 - 1


def t_matmul(z: Tensor, a: Tensor) -> Tensor:
    r""":math:`Z^\top A` computed as :math:`(A^\top Z)^\top` (the same product): for a tall
    :math:`Z` and an :math:`A` with few columns, MKL's CPU kernel runs the second form about 5x
    faster (measured: 141k x 128 times 141k x 5, float64, one thread)."""
    return (a.t() @ z).t()


def gradient(w: Tensor, z: Tensor, y: Tensor, lam_n: float) -> Tensor:
    r"""``[d, C]``: :math:`Z^\top((\sigma(m) - 1) \odot y) + \lambda n w` (without :math:`b`)."""
    m = y * (z @ w)
    return t_matmul(z, (torch.sigmoid(m) - 1) * y) + lam_n * w


def objective(w: Tensor, z: Tensor, y: Tensor, lam_n: float, b: Tensor) -> Tensor:
    """``[C]``: the perturbed loss of every class."""
    m = y * (z @ w)
    return F.softplus(-m).sum(0) + 0.5 * lam_n * w.pow(2).sum(0) + (b * w).sum(0)


def curvature(w: Tensor, z: Tensor, y: Tensor) -> Tensor:
    r"""``[n, C]``: :math:`s = \sigma(m)(1 - \sigma(m))`, the loss' second derivatives."""
    p = torch.sigmoid(y * (z @ w))
    return p * (1 - p)


def hvp(z: Tensor, s: Tensor, lam_n: float, v: Tensor) -> Tensor:
    r"""``[d, C]``: :math:`H_c v_c = Z^\top(s_c \odot Z v_c) + \lambda n v_c`, :math:`O(ndC)`."""
    return t_matmul(z, s * (z @ v)) + lam_n * v


def solve_direct(z: Tensor, s: Tensor, lam_n: float, v: Tensor) -> Tensor:
    r"""``[d, C]``: :math:`H_c^{-1} v_c` by Cholesky.

    With fewer rows than features (:math:`n < d`, e.g. Cora's 140 training nodes and 1433 words)
    the Woodbury form :math:`H^{-1}v = (v - Z^\top S^{1/2}(\lambda n I + S^{1/2} Z Z^\top
    S^{1/2})^{-1} S^{1/2} Z v) / \lambda n` solves an :math:`n \times n` system instead of
    :math:`d \times d`."""
    n, d = z.shape
    out = torch.empty_like(v)
    if d <= n:
        eye = torch.eye(d, dtype=z.dtype, device=z.device)
        for c in range(v.size(1)):      # one d x d system per class
            h = z.t() @ (s[:, c:c + 1] * z) + lam_n * eye
            out[:, c] = torch.cholesky_solve(v[:, c:c + 1], torch.linalg.cholesky(h)).view(-1)
        return out
    gram = z @ z.t()
    eye = torch.eye(n, dtype=z.dtype, device=z.device)
    for c in range(v.size(1)):
        root = s[:, c].sqrt()
        a = lam_n * eye + root.unsqueeze(1) * gram * root.unsqueeze(0)
        u = root * (z @ v[:, c])
        t = torch.cholesky_solve(u.unsqueeze(1), torch.linalg.cholesky(a)).view(-1)
        out[:, c] = (v[:, c] - t_matmul(z, (root * t).unsqueeze(1)).view(-1)) / lam_n
    return out


def hessian_cholesky(z: Tensor, s: Tensor, lam_n: float,
                     build_dtype: torch.dtype = torch.float32) -> Tensor:
    r"""``[C, d, d]`` Cholesky factors of the Hessians, built in ``build_dtype`` (single
    precision: ~6x faster for :math:`O(nd^2C)`) and factored in the inputs' precision. Meant as a
    *preconditioner* for :func:`solve_cg`, whose residual is exact whatever this precision."""
    zb = z.to(build_dtype)
    eye = torch.eye(z.size(1), dtype=z.dtype, device=z.device)
    out = []
    for c in range(s.size(1)):
        h = (zb.t() @ (s[:, c:c + 1].to(build_dtype) * zb)).to(z.dtype) + lam_n * eye
        out.append(torch.linalg.cholesky(0.5 * (h + h.t())))
    return torch.stack(out)


def solve_cg(z: Tensor, s: Tensor, lam_n: float, v: Tensor, tol: float | Tensor,
             max_iter: int = 200, precond: Tensor | None = None) -> Tensor:
    r"""``[d, C]``: :math:`H_c^{-1} v_c` by (preconditioned) conjugate gradients with
    Hessian-vector products (:math:`O(ndC)` per iteration, no :math:`d \times d` matrix needed),
    until every column's residual :math:`\lVert H_c x_c - v_c\rVert \le` ``tol`` (a float or a
    ``[C]`` tensor). ``precond``: ``[C, d, d]`` Cholesky factors of an approximate Hessian
    (:func:`hessian_cholesky`), e.g. one cached from training."""
    def apply(r: Tensor) -> Tensor:
        if precond is None:
            return r
        return torch.cholesky_solve(r.t().unsqueeze(-1), precond).squeeze(-1).t()

    tiny = torch.finfo(v.dtype).tiny
    x = torch.zeros_like(v)
    r = v.clone()
    zr = apply(r)
    p = zr.clone()
    rz = (r * zr).sum(0)
    tol = torch.as_tensor(tol, dtype=v.dtype, device=v.device).expand(v.size(1))
    for _ in range(max_iter):
        active = r.norm(dim=0) > tol
        if not bool(active.any()):
            break
        hp = hvp(z, s, lam_n, p)
        alpha = torch.where(active, rz / (p * hp).sum(0).clamp_min(tiny), torch.zeros_like(rz))
        x += alpha * p
        r -= alpha * hp
        zr = apply(r)
        rz_new = (r * zr).sum(0)
        p = zr + (rz_new / rz.clamp_min(tiny)) * p
        rz = rz_new
    return x


def solve_cg_bounded(z: Tensor, s: Tensor, lam_n: float, v: Tensor, tol: float | Tensor,
                     z_norm: float, max_iter: int = 200, precond: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    r"""The Newton step :math:`\Delta_c = H_c^{-1} v_c` by (preconditioned) CG *and* its bound
    terms (:func:`step_bound`) from the solver's own products: ``(delta, residual, remainder)``.

    CG forms :math:`\Delta = \sum_j \alpha_j p_j` and computes :math:`Z p_j` and
    :math:`H p_j` for every direction; summing them with the same :math:`\alpha_j` gives
    :math:`Z\Delta` and :math:`H\Delta` (equal in exact arithmetic, to round-off in floating
    point, to a recomputation), so the measured solve residual
    :math:`\lVert H\Delta_c - v_c\rVert` and the remainder
    :math:`\gamma\lVert Z\rVert_2\lVert Z\Delta_c\rVert_\infty\lVert Z\Delta_c\rVert_2`
    cost no further pass over :math:`Z` (two per iteration in all). The residual is re-formed
    from :math:`H\Delta` every iteration (no drift between the recursive and the charged one);
    CG stops once every class's is :math:`\le` ``tol``."""
    def apply(r: Tensor) -> Tensor:
        if precond is None:
            return r
        return torch.cholesky_solve(r.t().unsqueeze(-1), precond).squeeze(-1).t()

    tiny = torch.finfo(v.dtype).tiny
    tol = torch.as_tensor(tol, dtype=v.dtype, device=v.device).expand(v.size(1))
    x, hx = torch.zeros_like(v), torch.zeros_like(v)
    zx = v.new_zeros(z.size(0), v.size(1))
    r = v.clone()
    zr = apply(r)
    p = zr.clone()
    rz = (r * zr).sum(0)

    residual = r.norm(dim=0)
    for _ in range(max_iter):
        active = residual > tol
        if not bool(active.any()):
            break
        zp = z @ p
        hp = t_matmul(z, s * zp) + lam_n * p
        alpha = torch.where(active, rz / (p * hp).sum(0).clamp_min(tiny), torch.zeros_like(rz))
        x += alpha * p
        hx += alpha * hp
        zx += alpha * zp
        r = v - hx
        residual = r.norm(dim=0)
        zr = apply(r)
        rz_new = (r * zr).sum(0)
        p = zr + (rz_new / rz.clamp_min(tiny)) * p
        rz = rz_new
    if zx.numel() == 0:
        return x, residual, torch.zeros_like(residual)
    return x, residual, GAMMA * z_norm * zx.abs().amax(0) * zx.norm(dim=0)


def newton_fit(z: Tensor, y: Tensor, lam_n: float, b: Tensor, tol: float,
               max_iter: int = 100, solver: str = "direct") -> tuple[Tensor, Tensor, int]:
    r"""The exact minimiser of the perturbed loss of every class, by damped Newton.

    Starts at :math:`w = 0`; each step solves :math:`H \Delta = -(\nabla L + b)` (``solver``:
    ``"direct"`` Cholesky, ``"cg"``, or ``"pcg"``: CG preconditioned by a single-precision
    Hessian; CG's tolerance is a hundredth of the gradient norm) and
    backtracks until the Armijo condition holds. Stops once every class has
    :math:`\lVert\nabla L_c + b_c\rVert \le` ``tol``.

    Returns ``(w [d, C], gradient norms [C], iterations)``; the caller decides what a missed
    tolerance means (for a certificate: refuse).
    """
    w = torch.zeros_like(b)
    g = gradient(w, z, y, lam_n) + b
    gnorm = g.norm(dim=0)
    f = objective(w, z, y, lam_n, b)
    it = 0
    for it in range(1, max_iter + 1):
        if bool((gnorm <= tol).all()):
            return w, gnorm, it - 1
        s = curvature(w, z, y)
        if solver in ("cg", "pcg"):
            pre = hessian_cholesky(z, s, lam_n) if solver == "pcg" else None
            step = -solve_cg(z, s, lam_n, g, tol=torch.clamp(gnorm * 1e-2, min=tol * 1e-2),
                             precond=pre)
        else:
            step = -solve_direct(z, s, lam_n, g)
        slope = (g * step).sum(0)
        t = torch.ones_like(gnorm)
        todo = gnorm > tol
        for _ in range(40):       # per-class backtracking (vectorised over classes)
            f_new = objective(w + t * step, z, y, lam_n, b)
            ok = (f_new <= f + 1e-4 * t * slope) | ~todo
            # in the last digits the loss cannot resolve a decrease: take the full step
            ok |= (f_new - f).abs() <= 1e-13 * f.abs().clamp_min(1.0)
            if bool(ok.all()):
                break
            t = torch.where(ok, t, t * 0.5)
        w = w + torch.where(todo, t, torch.zeros_like(t)) * step
        f = objective(w, z, y, lam_n, b)
        g = gradient(w, z, y, lam_n) + b
        gnorm = g.norm(dim=0)
    return w, gnorm, it


def spectral_norm(z: Tensor) -> float:
    r""":math:`\lVert Z\rVert_2`, exactly (eigenvalues of the smaller Gram matrix), not by power
    iteration, which approaches the top singular value from below and would under-state a bound."""
    if z.numel() == 0:
        return 0.0
    gram = z.t() @ z if z.size(1) <= z.size(0) else z @ z.t()
    return float(torch.linalg.eigvalsh(gram)[-1].clamp_min(0).sqrt())


def step_bound(z: Tensor, s: Tensor, lam_n: float, v: Tensor, delta: Tensor,
               z_norm: float) -> tuple[Tensor, Tensor]:
    r"""``([C], [C])``: the solve residual :math:`\lVert H\Delta_c - v_c\rVert` (exact, whatever
    solved for :math:`\Delta`) and the bound on the Taylor remainder of the gradient after the
    step, :math:`\gamma \lVert Z\rVert_2 \lVert Z\Delta_c\rVert_\infty \lVert Z\Delta_c\rVert_2`
    (one pass over :math:`Z` for both).

    The remainder is :math:`\int_0^1 (H(w + t\Delta) - H(w))\Delta\,dt = Z^\top D Z\Delta` with
    :math:`|D_{ii}| \le \mathrm{Lip}(\ell'')\,t\,|z_i^\top\Delta|`. Guo et al.'s form has
    :math:`\lVert\Delta\rVert` in place of :math:`\lVert Z\Delta\rVert_\infty`, which is valid
    only for :math:`\lVert z_i\rVert \le 1`; propagated features need not satisfy that."""
    zd = z @ delta
    residual = (t_matmul(z, s * zd) + lam_n * delta - v).norm(dim=0)
    if zd.numel() == 0:
        return residual, torch.zeros_like(residual)
    return residual, GAMMA * z_norm * zd.abs().amax(0) * zd.norm(dim=0)
