"""Large-problem code paths checked against independent formulations (bounded sizes).

* The float64 kernel matrix, summed over blocks of features, equals
  ``X~ diag(beta') X~^T`` formed by numpy at once, to the rounding of the product
  (``4 d eps`` of ``|X~| diag(beta') |X~|^T``).
* The float64 rounding resolution, computed without a copy of ``|X~|``, equals its numpy
  definition (``extprec.backends.float64.rounding_resolution``) to 1e-12 relative.
* A float64 State's margins (``math.fsum`` of scaled float products) equal ``X~ beta``
  summed at 200 bits from the State's own beta, to ``8 eps`` of ``|X~| |beta|``.
* Separability beyond ``EXACT_MARGIN_MAX_ENTRIES``: the cheap certificate separates (every
  margin >= 1), its margin is positive and at most the l_inf max margin of the exact LP; data
  that are not separable fall back to the exact programs and get Gordan's certificate.
"""

from __future__ import annotations

import numpy as np
import pytest

import extprec
from extprec import problem as problem_module
from extprec.backends import float64 as backend
from extprec.model import model_constants
from extprec.solvers.float64_integrator import Float64Integrator
from reference_flows import mp_margins, new_context, to_ctx

EPS = np.finfo(np.float64).eps


def _evaluated(problem, seed=0):
    """Model workspace of ``problem`` at a random dual ``nu_hat`` (all entries filled)."""
    mc = model_constants(problem)
    n, d = mc.signed_X.shape
    ws = backend.model_workspace(n, d)
    nu_hat = np.random.default_rng(seed).uniform(0.0, 0.002, n)
    sigma0 = Float64Integrator(problem, 1e-10).sigma0
    ok = backend.evaluate(nu_hat, 0.1, mc.signed_X, mc.log_u_plus, mc.log_u_minus, mc.balanced,
                          mc.depth, mc.loss_code, mc.float_params, sigma0, *ws)
    assert ok
    return mc, nu_hat, ws


def test_blocked_kernel_matrix_equals_the_direct_product():
    d = 3 * backend.KERNEL_CHUNK + 77  # several blocks and a partial one
    problem = extprec.datasets.sparse_teacher(30, d, 3, seed=1)
    mc, _, ws = _evaluated(problem)
    jac1 = ws[3]
    X = mc.signed_X
    got = backend.kernel_matrix(X, jac1)
    want = (X * jac1) @ X.T
    scale = (np.abs(X) * jac1) @ np.abs(X).T
    assert np.all(np.abs(got - want) <= 4 * d * EPS * scale)


def test_rounding_resolution_without_the_absolute_copy():
    problem = extprec.datasets.sparse_teacher(25, 900, 3, seed=2, depth=3, alpha=0.5)
    mc, nu_hat, ws = _evaluated(problem)
    x, beta, lab, jac1 = ws[0], ws[1], ws[2], ws[3]
    p = ws[6]
    got_softmax, got_gap = backend.rounding_resolution(nu_hat, mc.signed_X, jac1, beta, lab, p,
                                                       mc.log_u_plus, mc.log_u_minus,
                                                       mc.depth, mc.float_params)
    aX = np.abs(mc.signed_X)
    dx = np.abs(nu_hat) @ aX
    per_coord = np.abs(jac1) * dx + np.abs(beta) * (1.0 + np.abs(lab))
    want_softmax = EPS * p @ (aX @ per_coord)
    k = mc.depth - 2
    scales = [mc.depth * k * np.exp(mc.log_eta + k * lu) for lu in (mc.log_u_plus,
                                                                      mc.log_u_minus)]
    want_gap = EPS * max(np.max(s * dx / (1.0 - s * np.abs(x))) for s in scales)
    assert got_softmax == pytest.approx(want_softmax, rel=1e-12)
    assert got_gap == pytest.approx(want_gap, rel=1e-12)


def test_float64_state_margins_against_a_200_bit_sum():
    problem = extprec.datasets.sparse_teacher(12, 5000, 3, seed=3)
    state = extprec.solve(problem, log10_loss=-20, checkpoints=[]).final
    assert state.backend == "float64"
    ctx = new_context(200)
    want = mp_margins(ctx, problem.signed_X, state.beta)
    beta = [to_ctx(ctx, b) for b in state.beta]
    for n, row in enumerate(problem.signed_X):
        scale = ctx.fsum(abs(ctx.mpf(float(a)) * b) for a, b in zip(row, beta))
        assert abs(to_ctx(ctx, state.margins[n]) - want[n]) <= 8 * EPS * scale, n


def test_separability_certificate_beyond_the_exact_program():
    n, d = 50, 4100  # 205000 entries, just beyond EXACT_MARGIN_MAX_ENTRIES
    assert n * d > problem_module.EXACT_MARGIN_MAX_ENTRIES
    problem = extprec.datasets.sparse_teacher(n, d, 3, seed=4)
    result = problem.separability()
    assert result.separable
    assert "at least" in result.message
    assert (problem.signed_X @ result.certificate >= 1 - 1e-9).all()
    Z = problem.signed_X / np.abs(problem.signed_X).max()
    exact = problem_module._l_inf_max_margin_direction(Z)
    gamma = (problem.signed_X @ exact).min()
    assert 0 < result.margin <= gamma * (1 + 1e-9)


def test_not_separable_beyond_the_exact_program():
    """A sample and its opposite with the same label: the cheap direction cannot separate,
    the exact programs decide, and Gordan's weights combine the signed samples to 0."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 5200))
    X[1] = -X[0]
    y = np.ones(40)
    problem = extprec.Problem(X, y)
    result = problem.separability()
    assert not result.separable
    weights = result.certificate
    assert weights.min() >= 0 and weights.sum() == pytest.approx(1.0)
    assert np.abs(problem.signed_X.T @ weights).max() <= 1e-9 * np.abs(X).max()


def test_a_solve_allocates_a_few_copies_of_x_at_most():
    """Memory of a float64 solve is linear in N d with a small constant: the tracemalloc peak
    during ``solve`` (the Problem, which keeps X and X~, built before) stays below four
    float64 copies of X. A run without ``checkpoint_path`` or ``resume`` used to encode the
    problem for a checkpoint header anyway, one Python string per entry of X: a peak of 11
    copies at N = 400, d = 4000 (3.4 GB traced at N = 2000, d = 20000)."""
    import math
    import tracemalloc

    n, d = 200, 4000
    problem = extprec.datasets.sparse_teacher(n, d, 3, seed=0)
    problem.separability()  # the separability test has its own copies, before the solve
    tracemalloc.start()
    try:
        traj = extprec.solve(problem, log10_loss=-100 / math.log(10), checkpoints=[],
                             multiprecision=False, max_steps=3, verify=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert traj.status == "max steps"
    assert peak < 4 * 8 * n * d, peak / (8 * n * d)
