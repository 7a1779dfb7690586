"""The D > 2 rich limit (extprec.limits.rich): restricted l1 and the l_(2/D) KKT check.

Tolerances: 10**-digits of the verified programs; the trajectory tests use the State's
resolution 10**-digits.
"""

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import extprec
from extprec import datasets, limits

DIGITS = 30
ACTIVATED = [0, 1, 2, 23, 45]  # the coordinates the D = 3 default flow activates (see below)


def kkt_residual_here(problem, beta, lam, depth):
    """Stationarity of sum |beta_i|^(2/D) re-evaluated independently: max over nonzero i of
    |(X~^T lam)_i - (2/D)|beta_i|^(2/D-1) sign(beta_i)|."""
    with mpmath.workdps(DIGITS + 10):
        X = [[mpmath.mpf(float(v)) for v in row] for row in problem.signed_X]
        worst = mpmath.mpf(0)
        for i, b in enumerate(beta):
            if b == 0:
                continue
            s = mpmath.fsum(X[n][i] * lam[n] for n in range(len(X)))
            g = 2 * abs(b) ** (mpmath.mpf(2) / depth - 1) * mpmath.sign(b) / depth
            worst = max(worst, abs(s - g))
        return worst


def test_default_problem_depth3_global_l1_is_no_kkt_point():
    """Default problem, D = 3: the global l1 max margin (13 active coordinates) admits no
    nonnegative multipliers for the l_(2/3) stationarity (so gradient flow, whose limit is a KKT
    point by Lyu and Li 2020, cannot converge to it), while the l1 max margin restricted to the 5
    coordinates the flow activates is a KKT point: multipliers >= 0 on its 5 tight samples, and
    the stationarity re-evaluated here holds to 10^-digits."""
    problem = datasets.default_problem(depth=3)
    l1 = limits.l1_max_margin(problem, digits=DIGITS, weights="shape")
    check = limits.l2D_kkt(problem, l1.beta, digits=DIGITS)
    assert not check.is_kkt and check.residuals["stationarity"] > mpmath.mpf("0.1")
    restricted = limits.restricted_l1_max_margin(problem, ACTIVATED, digits=DIGITS)
    assert list(restricted.active) == ACTIVATED and len(restricted.support) == 5
    check = limits.l2D_kkt(problem, restricted.beta, digits=DIGITS)
    assert check.is_kkt, check.reason
    assert all(v >= 0 for v in check.lam) and sum(1 for v in check.lam if v > 0) == 5
    assert kkt_residual_here(problem, restricted.beta, check.lam, 3) <= mpmath.mpf(10) ** -DIGITS
    assert restricted.objective > l1.objective  # the restriction costs l1 norm


@st.composite
def restricted_problems(draw):
    """Random separable data (N <= 6, d <= 5) and a random coordinate set that separates them."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_samples, d = int(rng.integers(1, 7)), int(rng.integers(2, 6))
    X = rng.standard_normal((n_samples, d))
    k = int(rng.integers(1, d + 1))
    coordinates = sorted(rng.choice(d, size=k, replace=False).tolist())
    teacher = np.zeros(d)
    teacher[coordinates] = rng.standard_normal(k)
    margins = X @ teacher
    assume(np.all(np.abs(margins) > 0.05))
    return extprec.Problem(X, np.sign(margins), depth=draw(st.sampled_from([3, 4]))), coordinates


@settings(max_examples=10, deadline=None)
@given(restricted_problems())
def test_restricted_l1_equals_l1_on_the_restricted_data(case):
    """Independent formulation: the restricted program equals the plain l1 program on the data
    X~[:, A] (same objective to 10^-digits, zeros off A), and it is never below the global
    optimum; the result satisfies X~ beta >= 1 with unit minimum margin."""
    problem, coordinates = case
    restricted = limits.restricted_l1_max_margin(problem, coordinates, digits=DIGITS)
    sub = extprec.Problem(problem.X[:, coordinates], problem.y)
    plain = limits.l1_max_margin(sub, digits=DIGITS)
    full = limits.l1_max_margin(problem, digits=DIGITS, weights="shape")
    tol = mpmath.mpf(10) ** -DIGITS
    with mpmath.workdps(DIGITS + 10):
        assert abs(restricted.objective - plain.objective) <= tol * plain.objective
        assert all(restricted.beta[i] == 0 for i in range(problem.n_features)
                   if i not in coordinates)
        assert restricted.objective >= full.objective * (1 - tol)
        margins = [mpmath.fsum(mpmath.mpf(float(a)) * b for a, b in zip(row, restricted.beta))
                   for row in problem.signed_X]
        assert abs(min(margins) - 1) <= tol


def test_kkt_check_errors():
    """D = 2 has no non-convex l_(2/D) program, and a beta of the wrong length is refused."""
    problem = datasets.two_points()
    with pytest.raises(ValueError, match="D > 2"):
        limits.l2D_kkt(problem, [1, 0])
    with pytest.raises(ValueError, match="2 entries"):
        limits.l2D_kkt(datasets.two_points(depth=3), [1, 0, 0])
    with pytest.raises(ValueError, match="do not separate"):
        limits.restricted_l1_max_margin(extprec.Problem([[1.0, 0.0], [-1.0, 1.0]], [1, 1]), [0])


@pytest.mark.slow
def test_default_problem_depth3_flow_reaches_the_restricted_l1():
    """Default problem, D = 3, to log10 L = -1e12 (about 10 s): the flow activates exactly the 5
    coordinates above, its distance to the global l1 levels off at 0.34 (no KKT point there),
    and its distance to l1_active (the restricted program on its active set) falls below 1e-4,
    decreasing from checkpoint to checkpoint; the regime is "rich" with a KKT-certified
    reference."""
    trajectory = extprec.solve(datasets.default_problem(depth=3),
                               checkpoints=["-4e11", "-1e12"])
    first, last = trajectory.checkpoints
    for state in (first, last):
        assert list(state.active_coordinates) == ACTIVATED
        assert state.regime == "rich", state.regime_evidence.reason
        assert state.regime_evidence.rich_kkt.is_kkt
        assert abs(state.distance["l1"] - mpmath.mpf("0.3387")) < mpmath.mpf("1e-3")
    assert last.distance["l1_active"] < first.distance["l1_active"] < mpmath.mpf("1e-4")
