"""The model kernels against independent formulas (theory.md sections 2-3).

* beta, dbeta/dx and d2beta/dx2 from the stable log-domain kernels agree with the naive
  definition ``beta = w+^D - w-^D`` (theory.md s.2) evaluated in 60-digit mpmath, where
  rho = c x and c is the dual scale of ``extprec.model``;
* the analytic Jacobians agree with central differences: float64 (ell clock) and
  multiprecision (tau_hat clock);
* the clock ``ell`` that the integrator advances equals its closed form
  ``log1p(tau_hat) + log1p(sigma - sigma_0)`` along a solved trajectory.
"""

import math

import mpmath
import numpy as np
import pytest

import extprec
from extprec.backends.float64 import (
    N_SCALARS, coordinate_terms, evaluate, jacobian, kernel_matrix,
)
from extprec.model import model_constants

EPS = np.finfo(float).eps


def _naive_beta(ctx, depth, alpha, u_plus, u_minus, rho):
    """beta(rho) and its first two rho-derivatives from theory.md s.2, in mpmath."""
    def beta_of(r):
        if depth == 1:
            return (alpha * u_plus + r) - (alpha * u_minus - r)
        if depth == 2:
            return (alpha * u_plus * ctx.exp(2 * r)) ** 2 - (alpha * u_minus * ctx.exp(-2 * r)) ** 2
        k = depth - 2
        wp = ((alpha * u_plus) ** (-k) - depth * k * r) ** (ctx.mpf(-1) / k)
        wm = ((alpha * u_minus) ** (-k) + depth * k * r) ** (ctx.mpf(-1) / k)
        return wp**depth - wm**depth
    return beta_of(rho), ctx.diff(beta_of, rho), ctx.diff(beta_of, rho, 2)


CASES = [
    (1, "1", (1.0, 1.0), [-0.7, 0.0, 0.3, 5.0]),
    (2, "1", (1.0, 1.0), [-0.4, 1e-9, 0.2, 3.0]),
    (2, "1e-3", (1.0, 1.0), [-2.0, 0.5, 4.0]),
    (2, "1e3", (1.0, 1.0), [-3e5, 1e-3, 2e6]),
    (2, "1", (0.5, 2.0), [-0.4, 0.0, 0.2, 1.5]),
    (3, "1", (1.0, 1.0), [-0.12, 1e-9, 0.05, 0.16]),
    (3, "1e-2", (1.0, 1.0), [-0.1, 0.02, 0.16]),
    (3, "1e2", (1.0, 1.0), [-3e4, 100.0, 1.6e5]),
    (3, "1", (0.7, 1.3), [-0.2, 0.0, 0.1]),
    (4, "1", (1.0, 1.0), [-0.05, 0.01, 0.06]),
    (5, "2", (1.5, 0.8), [-1.0, 0.0, 0.3]),
]


@pytest.mark.parametrize("depth,alpha,shape,xs", CASES)
def test_coordinate_terms_match_naive_definition(depth, alpha, shape, xs):
    """beta, beta', beta'' agree with w+^D - w-^D in 60-digit arithmetic to 1e4 eps relative
    (the log-domain kernels lose at most a few digits to the size of log|beta|)."""
    ctx = mpmath.MPContext()
    ctx.dps = 60
    d = len(xs)
    u_plus, u_minus = np.full(d, shape[0]), np.full(d, shape[1])
    problem = extprec.Problem(np.eye(d), np.ones(d), depth=depth, alpha=alpha,
                              shape=(u_plus, u_minus))
    mc = model_constants(problem)
    x = np.array(xs, dtype=float)
    out = [np.empty(d) for _ in range(4)]
    assert coordinate_terms(x, mc.log_u_plus, mc.log_u_minus, mc.balanced, depth,
                            mc.float_params, *out)
    beta, _, jac1, jac2 = out
    alpha_mp = ctx.mpf(alpha)
    c = ctx.exp(ctx.mpf(mc.log_c))
    for i, xi in enumerate(x):
        b, db, d2b = _naive_beta(ctx, depth, alpha_mp, ctx.mpf(u_plus[i]), ctx.mpf(u_minus[i]),
                                 c * ctx.mpf(xi))
        scale = abs(b) + abs(db * c * ctx.mpf(xi)) + ctx.mpf(10) ** -300
        assert abs(beta[i] - b) <= 1e4 * EPS * scale
        assert abs(jac1[i] - db * c) <= 1e4 * EPS * abs(db * c)
        assert abs(jac2[i] - d2b * c * c) <= 1e4 * EPS * (abs(d2b * c * c) + abs(db * c * c))


def _workspace(n, d):
    """The arrays ``evaluate`` fills (same layout as ``backends.float64.model_workspace``)."""
    return ([np.empty(d) for _ in range(5)] + [np.empty(n) for _ in range(3)]
            + [np.empty(d), np.empty(n), np.empty(n + 1), np.empty(N_SCALARS)])


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_jacobian_matches_central_differences(depth, loss, reduction):
    """The analytic Jacobian of dy/d ell equals central differences to 1e-6 relative
    (the difference quotient itself is accurate to about 1e-8)."""
    rng = np.random.default_rng(depth)
    n, d = 5, 7
    X = rng.standard_normal((n, d))
    problem = extprec.Problem(X, np.sign(X[:, 0] + 0.1), depth=depth, alpha=1.3, loss=loss,
                              reduction=reduction,
                              shape=(np.linspace(0.6, 1.4, d), np.linspace(1.2, 0.8, d)))
    mc = model_constants(problem)
    y = np.abs(rng.standard_normal(n + 1)) * 0.01
    y[n] = 0.3

    def evaluated(yv, sigma0):
        ws = _workspace(n, d)
        ok = evaluate(yv[:n], yv[n], mc.signed_X, mc.log_u_plus, mc.log_u_minus, mc.balanced,
                      depth, mc.loss_code, mc.float_params, sigma0, *ws)
        assert ok
        return ws

    # a sigma_0 just below sigma(y) makes the sigma part of the clock rate dominant
    sigma0 = evaluated(y, -math.inf)[-1][0] - 0.5
    ws = evaluated(y, sigma0)
    x, beta, lab, j1, j2, m, p, s, v, kv, f, sc = ws
    J = jacobian(y[:n], y[n], mc.signed_X, j1, j2, p, s, v, kv, f, sc, sigma0,
                 kernel_matrix(mc.signed_X, j1))
    J_fd = np.empty_like(J)
    for k in range(n + 1):
        step = 1e-6 * max(1.0, abs(y[k]))
        e = np.zeros(n + 1)
        e[k] = step
        J_fd[:, k] = (evaluated(y + e, sigma0)[10] - evaluated(y - e, sigma0)[10]) / (2 * step)
    assert np.max(np.abs(J - J_fd)) <= 1e-6 * np.max(np.abs(J_fd))


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_clock_is_explicit_function_of_state(depth):
    """The integrated clock ell equals log1p(tau_hat) + log1p(sigma - sigma_0) at every
    checkpoint, to 100 rtol (the clock is integrated, not evaluated, by the solver)."""
    problem = extprec.datasets.sparse_teacher(8, 10, 2, seed=3, depth=depth)
    traj = extprec.solve(problem, log10_loss=-50, rtol=1e-10)
    integrator = traj._integrator
    c = math.exp(integrator.constants.log_c)
    for state in traj.checkpoints:
        tau_hat = float(state.tau) / c
        sigma = float(state.sigma)
        expected = math.log1p(tau_hat) + math.log1p(sigma - integrator.sigma0)
        assert abs(state.ell - expected) <= 100 * traj.rtol * max(1.0, expected)


@pytest.mark.parametrize("depth,loss", [(1, "exp"), (2, "exp"), (2, "logistic"), (3, "exp")])
def test_arb_jacobian_matches_central_differences(depth, loss):
    """The multiprecision Jacobian of d y / d tau_hat (``ArbModel.jacobian``) against
    central differences of ``ArbModel.evaluate`` at 200 bits with step 2^-60: the
    truncation error is about 2^-120 relative and the rounding error 2^-140, so the two agree
    to 1e-30 relative to the largest entry."""
    from flint import arb, ctx

    from extprec.backends.multiprecision import ArbModel

    problem = extprec.datasets.sparse_teacher(5, 7, 2, seed=3, depth=depth, loss=loss,
                                              alpha=0.7)
    model = ArbModel(problem, 200)
    n = problem.n_samples
    with ctx.workprec(200):
        y = [arb(0.01 * (j + 1)) for j in range(n)] + [arb("0.3")]
        J = model.jacobian(model.evaluate(y[:n], y[n]), y[n])
        step = arb(2) ** -60
        scale = max(abs(float(J[i, j])) for i in range(n + 1) for j in range(n + 1))
        for m in range(n + 1):
            plus = list(y)
            minus = list(y)
            plus[m] += step
            minus[m] -= step
            f_plus = model.evaluate(plus[:n], plus[n]).f
            f_minus = model.evaluate(minus[:n], minus[n]).f
            for a in range(n + 1):
                fd = (f_plus[a] - f_minus[a]) / (2 * step)
                assert abs(float(fd - J[a, m])) <= 1e-30 * scale


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_arb_stiffness_is_the_probability_weighted_kernel_trace(depth):
    """``ArbModel.stiffness`` = tr(diag(p) K_hat), against the trace of the kernel matrix
    ``ArbModel.kernel_matrix`` weighted by p: the same sum in another order, equal to the
    rounding of 200 bits (1e-50 relative); and it is positive where w = (s p)^T K_hat p may
    cancel."""
    from flint import arb, ctx

    from extprec.backends.multiprecision import ArbModel

    problem = extprec.datasets.sparse_teacher(5, 7, 2, seed=3, depth=depth, alpha=0.7)
    model = ArbModel(problem, 200)
    n = problem.n_samples
    with ctx.workprec(200):
        nu_hat = [arb(0.001 * (j + 1)) for j in range(n)]  # inside the D = 4 barrier
        ev = model.evaluate(nu_hat, arb("0.3"))
        K = model.kernel_matrix(ev.jac1)
        trace = sum(p * K[j, j] for j, p in enumerate(ev.p))
        stiffness = model.stiffness(ev)
        assert stiffness > 0
        assert abs(float((stiffness - trace) / trace)) <= 1e-50
