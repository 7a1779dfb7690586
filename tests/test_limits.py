"""Tests of extprec.limits: the reference predictors of theory.md section 5.

Every test states the mathematical property it checks and its tolerance in units of the precision
in force: ``10**-digits`` for the mpmath-polished results, float64 solver tolerances (about 1e-9
relative for HiGHS/SLSQP) for the independent float formulations used as references.
"""

import dataclasses

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import optimize

import extprec
from extprec import limits

DIGITS = 40
EPS40 = mpmath.mpf(10) ** -35  # KKT tolerance required at digits=40


def ulp(digits):
    """One unit of the verified precision: 10**-digits (as an mpf built from integers)."""
    return mpmath.mpf(10) ** (-digits)


def random_problem(seed, n_samples, n_features, depth=2, shape=None):
    """Separable data from a random teacher: y = sign(X w*), margins |X w*| >= 0.1."""
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal(n_features)
    rows = []
    while len(rows) < n_samples:
        x = rng.standard_normal(n_features)
        if abs(x @ teacher) >= 0.1:
            rows.append(x)
    X = np.array(rows)
    return extprec.Problem(X, np.sign(X @ teacher), depth=depth, shape=shape)


@st.composite
def separable_integer_problems(draw):
    """Small integer data (N <= 8, d <= 6; often degenerate LPs) labelled by an integer teacher."""
    n_samples = draw(st.integers(1, 8))
    n_features = draw(st.integers(1, 6))
    X = draw(arrays(np.int64, (n_samples, n_features), elements=st.integers(-3, 3)))
    teacher = draw(arrays(np.int64, n_features, elements=st.integers(-3, 3)))
    margins = X @ teacher
    assume(np.all(margins != 0))
    return extprec.Problem(X.astype(float), np.sign(margins).astype(float))


def l1_dual_lp(problem):
    """Independent formulation: max 1^T lam s.t. lam >= 0, |X~^T lam|_i <= 1 (HiGHS).

    Returns the dual value and the primal beta read off the dual program's marginals."""
    Xs = problem.signed_X
    n_samples, d = Xs.shape
    res = optimize.linprog(
        -np.ones(n_samples),
        A_ub=np.vstack([Xs.T, -Xs.T]),
        b_ub=np.ones(2 * d),
        bounds=(0, None),
        method="highs",
    )
    assert res.status == 0
    marg = res.ineqlin.marginals
    beta = -marg[:d] + marg[d:]
    return -res.fun, beta


def as_float(values):
    return np.array([float(v) for v in values])


# --- l1 -------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(separable_integer_problems())
def test_l1_primal_lp_equals_dual_lp(problem):
    """LP duality: min ||beta||_1 (primal, polished) = max 1^T lam (an independently solved dual
    LP); the dual LP's marginals give a feasible beta of the same l1 norm. Tolerance: 1e-8
    relative (HiGHS float64 tolerance of the reference); the polished result's own KKT residual is
    below 10^-digits."""
    result = limits.l1_max_margin(problem, digits=30)
    dual_value, beta_dual = l1_dual_lp(problem)
    objective = float(result.objective)
    assert objective == pytest.approx(dual_value, rel=1e-8)
    assert np.abs(beta_dual).sum() == pytest.approx(objective, rel=1e-8)
    assert (problem.signed_X @ beta_dual).min() >= 1 - 1e-8
    assert result.kkt_residual <= ulp(30) * 100
    with mpmath.workdps(40):
        # unit margin, exact to the working precision
        assert abs(min(result.margins) - 1) <= ulp(30)
        # the polished dual certifies optimality: 1^T lam equals the l1 norm
        assert abs(mpmath.fsum(result.lam) - result.objective) <= ulp(30) * (1 + result.objective)


def test_l1_weighted_equals_rescaled_plain_l1():
    """Change of variables gamma = w * beta: min sum w_i |beta_i| s.t. X~ beta >= 1 equals plain
    l1 on the data X~ diag(1/w). With weights="shape" (D = 3, w = u^{2-D} = 1/u) this is data
    X~ diag(u). Tolerance: 10^-digits relative."""
    u = np.array([0.5, 1.0, 2.0, 4.0])
    problem = random_problem(3, 5, 4, depth=3, shape=u)
    weighted = limits.l1_max_margin(problem, digits=DIGITS, weights="shape")
    rescaled = extprec.Problem(problem.signed_X * u, np.ones(problem.n_samples))
    plain = limits.l1_max_margin(rescaled, digits=DIGITS)
    with mpmath.workdps(DIGITS + 5):
        assert abs(weighted.objective - plain.objective) <= ulp(DIGITS) * plain.objective
        for i in range(4):  # gamma_i = beta_i / u_i
            assert abs(weighted.beta[i] - plain.beta[i] * mpmath.mpf(float(u[i]))) <= ulp(DIGITS)


# --- known answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3, 6])
def test_orthogonal_data_give_all_ones(d):
    """X = I, y = 1: the constraints decouple into beta_i >= 1, so l1, l2 and every Q_mu (q_D is
    even and increasing in |z|) give beta = (1, ..., 1). Tolerance: 10^-digits."""
    problem = extprec.Problem(np.eye(d), np.ones(d))
    results = [limits.l1_max_margin(problem), limits.l2_max_margin(problem)]
    results += [limits.q_mu(problem, mu, digits=DIGITS) for mu in ("1e-20", 1, "1e20")]
    for result in results:
        assert all(abs(b - 1) <= ulp(result.digits) for b in result.beta)
        assert list(result.support) == list(range(d))
        assert list(result.active) == list(range(d))
    assert results[0].objective == d and results[1].objective == d


def test_two_identical_constraints_hand_derived():
    """x1 = (1, 2), y1 = +1 and x2 = (-1, -2), y2 = -1 give the same constraint b1 + 2 b2 >= 1
    (a degenerate, duplicated support). By hand: l1 -> (0, 1/2), ||.||_1 = 1/2 (the largest
    coefficient wins); l2 -> (1, 2)/5, ||.||^2 = 1/5. Tolerance: 10^-digits."""
    problem = extprec.Problem([[1.0, 2.0], [-1.0, -2.0]], [1, -1])
    l1 = limits.l1_max_margin(problem, digits=DIGITS)
    l2 = limits.l2_max_margin(problem, digits=DIGITS)
    with mpmath.workdps(DIGITS + 5):
        tol = ulp(DIGITS)
        assert abs(l1.beta[0]) <= tol and abs(l1.beta[1] - mpmath.mpf(1) / 2) <= tol
        assert abs(l1.objective - mpmath.mpf(1) / 2) <= tol
        assert abs(l2.beta[0] - mpmath.mpf(1) / 5) <= tol
        assert abs(l2.beta[1] - mpmath.mpf(2) / 5) <= tol
        assert abs(l2.objective - mpmath.mpf(1) / 5) <= tol
    assert list(l1.support) == [0, 1] and list(l2.support) == [0, 1]
    assert list(l1.active) == [1]


def test_symmetric_pair_hand_derived():
    """x~1 = (2, 1), x~2 = (1, 2): by symmetry and the vertex enumeration {(1/3, 1/3), (1, 0),
    (0, 1)} the l1 solution is (1/3, 1/3) with norm 2/3; l2 is (1/3, 1/3) with lam = (1/9, 1/9)
    (beta = X~^T lam). Tolerance: 10^-digits."""
    problem = extprec.Problem([[2.0, 1.0], [1.0, 2.0]], [1, 1])
    l1 = limits.l1_max_margin(problem, digits=DIGITS)
    l2 = limits.l2_max_margin(problem, digits=DIGITS)
    with mpmath.workdps(DIGITS + 5):
        third, ninth = mpmath.mpf(1) / 3, mpmath.mpf(1) / 9
        for result in (l1, l2):
            assert all(abs(b - third) <= ulp(DIGITS) for b in result.beta)
        assert abs(l1.objective - 2 * third) <= ulp(DIGITS)
        assert all(abs(v - ninth) <= ulp(DIGITS) for v in l2.lam)


def test_q_mu_single_constraint_closed_form():
    """One constraint x~ = (1, 2) (D = 2, mu = 1/2): KKT gives beta = mu (2 sinh(l), 2 sinh(2l))
    with l solving 2 mu sinh(l) + 4 mu sinh(2l) = 1 (a scalar equation solved here with
    mpmath.findroot). Tolerance: 10^-digits."""
    problem = extprec.Problem([[1.0, 2.0]], [1])
    result = limits.q_mu(problem, "0.5", digits=DIGITS)
    with mpmath.workdps(DIGITS + 10):
        mu = mpmath.mpf(1) / 2
        lam = mpmath.findroot(lambda t: 2 * mu * mpmath.sinh(t) + 4 * mu * mpmath.sinh(2 * t) - 1,
                             mpmath.mpf(3) / 10)
        expected = [2 * mu * mpmath.sinh(lam), 2 * mu * mpmath.sinh(2 * lam)]
        assert abs(result.lam[0] - lam) <= ulp(DIGITS)
        assert all(abs(b - e) <= ulp(DIGITS) for b, e in zip(result.beta, expected))


# --- l2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_l2_kkt_and_slsqp(seed):
    """Hard-margin SVM without bias: KKT (lam >= 0, X~ beta >= 1, lam_n (m_n - 1) = 0,
    beta = diag(k) X~^T lam, sum beta^2/k = 1^T lam) hold to 10^-digits, and beta agrees with the
    primal solved independently by SLSQP to 1e-6 (SLSQP's float64 tolerance). Odd seeds use a
    non-trivial balanced shape u (k = u^{2D-2}, D = 2)."""
    rng = np.random.default_rng(100 + seed)
    n_samples, d = int(rng.integers(2, 8)), int(rng.integers(2, 6))
    shape = rng.uniform(0.5, 2.0, d) if seed % 2 else None
    problem = random_problem(seed, n_samples, d, shape=shape)
    result = limits.l2_max_margin(problem, digits=DIGITS)
    k = problem.u_plus ** 2
    with mpmath.workdps(DIGITS + 10):
        X = [[mpmath.mpf(float(v)) for v in row] for row in problem.signed_X]
        kmp = [mpmath.mpf(float(v)) ** 2 for v in problem.u_plus]
        tol = ulp(DIGITS) * 10
        assert all(v >= 0 for v in result.lam)
        margins = [mpmath.fsum(a * b for a, b in zip(row, result.beta)) for row in X]
        assert min(margins) >= 1 - tol
        assert all(abs(lam * (m - 1)) <= tol for lam, m in zip(result.lam, margins))
        for i in range(d):
            recovered = kmp[i] * mpmath.fsum(X[n][i] * result.lam[n] for n in range(n_samples))
            assert abs(recovered - result.beta[i]) <= tol
        assert abs(result.objective - sum(result.lam)) <= tol * result.objective
    Xs = problem.signed_X
    ref = optimize.minimize(
        lambda b: 0.5 * np.sum(b**2 / k),
        np.asarray(problem.separability().certificate, dtype=float),
        jac=lambda b: b / k,
        constraints=[{"type": "ineq", "fun": lambda b: Xs @ b - 1.0, "jac": lambda b: Xs}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    assert ref.success
    assert np.abs(result.beta_float() - ref.x).max() <= 1e-6 * max(1.0, np.abs(ref.x).max())


# --- q_mu -----------------------------------------------------------------------------------


def _distance(result, reference):
    return max(abs(float(a) - float(b)) for a, b in zip(result.beta, reference.beta))


def test_q_mu_approaches_l2_as_mu_grows():
    """theory.md s.5: mu -> infinity gives the kernel (l2) limit. q_2(z) = z^2/4 - z^4/192 + ...,
    so ||beta_mu - beta_l2|| = O(mu^-2): the distance shrinks monotonically and by about four
    decades per factor 100 in mu. Tolerance: the last distance is below 1e-6 (and 100x smaller
    than the previous one)."""
    problem = random_problem(11, 3, 5)
    l2 = limits.l2_max_margin(problem, digits=30)
    distances = [_distance(limits.q_mu(problem, mu, digits=30), l2) for mu in (1, 10, 100, 1000)]
    assert all(b < a for a, b in zip(distances, distances[1:])), distances
    assert distances[-1] < 1e-6 and distances[-1] < distances[-2] / 50


def test_q_mu_approaches_l1_as_mu_shrinks():
    """theory.md s.5: mu -> 0 gives the rich (l1) limit for D = 2; the distance to the l1
    max-margin predictor shrinks monotonically along mu = 1e-1, 1e-3, 1e-10, 1e-40, 1e-160.
    Tolerance: strictly decreasing, and the last distance at most 1% of the first."""
    problem = random_problem(12, 3, 5)
    l1 = limits.l1_max_margin(problem, digits=30)
    mus = ("1e-1", "1e-3", "1e-10", "1e-40", "1e-160")
    distances = [_distance(limits.q_mu(problem, mu, digits=30), l1) for mu in mus]
    assert all(b < a for a, b in zip(distances, distances[1:])), distances
    assert distances[-1] <= distances[0] / 100


@pytest.mark.parametrize("mu", ["1e-300", "1e-30", "0.001", "1", "1000", "1e30"])
def test_q_mu_kkt_at_40_digits(mu):
    """At digits=40 the KKT conditions of min sum q_2(beta_i/mu) s.t. X~ beta >= 1, re-evaluated
    here independently of the library at 50 digits, hold below 1e-35: lam >= 0, margins >= 1,
    margins = 1 where lam > 0 (complementary slackness), and stationarity
    q_2'(beta_i/mu) = asinh(beta_i / (2 mu)) = (X~^T lam)_i."""
    problem = random_problem(21, 6, 4)
    result = limits.q_mu(problem, mu, digits=DIGITS)
    assert result.kkt_residual < EPS40
    with mpmath.workdps(50):
        mu_mp = mpmath.mpf(mu)
        X = [[mpmath.mpf(float(v)) for v in row] for row in problem.signed_X]
        margins = [mpmath.fsum(a * b for a, b in zip(row, result.beta)) for row in X]
        assert all(v >= 0 for v in result.lam)
        assert min(margins) >= 1 - EPS40
        assert all(abs(m - 1) < EPS40 for m, v in zip(margins, result.lam) if v > 0)
        for i in range(problem.n_features):
            s_i = mpmath.fsum(X[n][i] * result.lam[n] for n in range(problem.n_samples))
            assert abs(mpmath.asinh(result.beta[i] / (2 * mu_mp)) - s_i) <= EPS40 * (1 + abs(s_i))
        assert abs(min(margins) - 1) < EPS40  # unit margin


@pytest.mark.parametrize("mu", ["1e-50", "0.01", "3", "1e8"])
def test_q_mu_strong_duality(mu):
    """Strong duality: sum q_2(beta_i/mu) (primal, closed form 2 - sqrt(4+z^2) + z asinh(z/2)
    evaluated here) equals (1^T lam - mu sum (2 cosh s_i - 2)) / mu (dual, s = X~^T lam) to the
    working precision: relative difference below 10^-(digits-3)."""
    problem = random_problem(31, 5, 3)
    result = limits.q_mu(problem, mu, digits=DIGITS)
    with mpmath.workdps(DIGITS + 40):  # generous: 2 cosh s - 2 cancels for small s
        mu_mp = mpmath.mpf(mu)
        X = problem.signed_X
        primal = mpmath.fsum(
            2 - mpmath.sqrt(4 + z * z) + z * mpmath.asinh(z / 2)
            for z in (b / mu_mp for b in result.beta)
        )
        s = [mpmath.fsum(mpmath.mpf(float(X[n, i])) * result.lam[n] for n in range(len(X)))
             for i in range(X.shape[1])]
        dual = (mpmath.fsum(result.lam) - mu_mp * mpmath.fsum(2 * mpmath.cosh(v) - 2 for v in s)) / mu_mp
        assert abs(primal - dual) <= ulp(DIGITS - 3) * abs(primal)
        assert abs(result.objective - primal) <= ulp(DIGITS - 3) * abs(primal)
        assert abs(result.dual_objective - dual) <= ulp(DIGITS - 3) * abs(primal)


@pytest.mark.parametrize("mu", ["1e-6", "0.1", "10"])
def test_q_mu_depth3_with_shape(mu):
    """D = 3 with shape u: the primal recovery beta_i = mu u_i^3 h_3(u_i s_i),
    h_3(x) = (1-x)^-3 - (1+x)^-3 (theory.md s.2 and s.5), re-evaluated here, together with
    lam >= 0, margins >= 1 and complementary slackness, holds to 1e-35 at digits=40;
    primal and dual objectives agree to 10^-(digits-3)."""
    u = np.array([0.7, 1.0, 1.5, 1.2])
    problem = random_problem(41, 3, 4, depth=3, shape=u)
    result = limits.q_mu(problem, mu, digits=DIGITS)
    assert result.kkt_residual < EPS40
    with mpmath.workdps(50):
        mu_mp = mpmath.mpf(mu)
        X = [[mpmath.mpf(float(v)) for v in row] for row in problem.signed_X]
        for i in range(4):
            ui = mpmath.mpf(float(u[i]))
            x = ui * mpmath.fsum(X[n][i] * result.lam[n] for n in range(3))
            expected = mu_mp * ui**3 * ((1 - x) ** -3 - (1 + x) ** -3)
            assert abs(result.beta[i] - expected) <= EPS40 * (1 + abs(expected))
        margins = [mpmath.fsum(a * b for a, b in zip(row, result.beta)) for row in X]
        assert min(margins) >= 1 - EPS40
        assert all(abs(m - 1) < EPS40 for m, v in zip(margins, result.lam) if v > 0)
        assert abs(result.objective - result.dual_objective) <= ulp(DIGITS - 3) * result.objective


# --- contract and errors --------------------------------------------------------------------


def test_results_are_frozen_mpf_and_precision_untouched():
    """Results hold mpmath.mpf values (convertible by mpmath.mpf), are immutable, and the global
    mpmath precision is unchanged by every call."""
    problem = random_problem(51, 4, 3)
    before = mpmath.mp.prec
    results = [
        limits.l1_max_margin(problem),
        limits.l2_max_margin(problem),
        limits.q_mu(problem, "0.01"),
    ]
    assert mpmath.mp.prec == before
    for result in results:
        assert all(isinstance(mpmath.mpf(b), mpmath.mpf) for b in result.beta)
        assert isinstance(mpmath.mpf(result.objective), mpmath.mpf)
        assert result.kkt_residual <= ulp(limits.DEFAULT_DIGITS)
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.beta = None
        with pytest.raises(ValueError):
            result.beta[0] = 0
    assert len(results[2].lam) == problem.n_samples


def test_errors_are_clear():
    """Non-separable data, depth 1, unbalanced shapes and mu outside the supported range are
    rejected with messages that name the problem."""
    xor = extprec.Problem([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], [1, -1, -1, 1])
    for function in (limits.l1_max_margin, limits.l2_max_margin):
        with pytest.raises(ValueError, match="separable"):
            function(xor)
    with pytest.raises(ValueError, match="separable"):
        limits.q_mu(xor, 1)
    problem = random_problem(61, 3, 3)
    with pytest.raises(ValueError, match="above the supported range"):
        limits.q_mu(problem, "1e400")
    with pytest.raises(ValueError, match="below the supported range"):
        limits.q_mu(problem, "1e-500000")
    with pytest.raises(ValueError, match="mu must be finite and > 0"):
        limits.q_mu(problem, 0)
    with pytest.raises(ValueError, match="depth"):
        limits.q_mu(extprec.Problem(problem.X, problem.y, depth=1), 1)
    unbalanced = extprec.Problem(problem.X, problem.y, shape=[[1.0, 1.0, 1.0], [1.0, 2.0, 1.0]])
    with pytest.raises(ValueError, match="balanced"):
        limits.q_mu(unbalanced, 1)
    deep = random_problem(62, 5, 4, depth=5)
    with pytest.raises(ValueError, match="below the supported range for D = 5"):
        limits.q_mu(deep, "1e-40")


# --- stress: verification never fails on small random problems ------------------------------


@st.composite
def stress_cases(draw):
    """Small integer (often degenerate) or Gaussian separable data, D in {2, 3, 4}, and mu from
    1e-300 (D = 2) or 1e-12 (D > 2) up to 1e200."""
    n_samples, n_features = draw(st.integers(1, 8)), draw(st.integers(1, 6))
    if draw(st.booleans()):
        X = draw(arrays(np.int64, (n_samples, n_features), elements=st.integers(-3, 3)))
        teacher = draw(arrays(np.int64, n_features, elements=st.integers(-3, 3)))
        X, teacher = X.astype(float), teacher.astype(float)
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        X = rng.standard_normal((n_samples, n_features))
        teacher = rng.standard_normal(n_features)
    margins = X @ teacher
    assume(np.all(margins != 0))
    depth = draw(st.sampled_from([2, 3, 4]))
    exponent = draw(st.integers(-300 if depth == 2 else -12, 200))
    mu = f"{draw(st.sampled_from(['1', '3', '7.5']))}e{exponent}"
    return extprec.Problem(X, np.sign(margins), depth=depth), mu


@settings(max_examples=25, deadline=None)
@given(stress_cases())
def test_programs_verify_or_refuse(case):
    """On random small separable problems the three programs either return a verified result
    (KKT residual below 10^-digits) or refuse mu as outside the supported range (ValueError);
    LimitVerificationError (a polish that fails its own checks) must not occur. A local hunt
    of 2700 such cases found one, repeated constraints (test_q_mu_with_repeated_constraints);
    run with --hypothesis-profile=dev and more examples to hunt further."""
    problem, mu = case
    weights = "shape" if problem.depth > 2 else None
    for result in (limits.l1_max_margin(problem, digits=20, weights=weights),
                   limits.l2_max_margin(problem, digits=20)):
        assert result.kkt_residual <= ulp(20) * 10 ** 5
    try:
        result = limits.q_mu(problem, mu, digits=20)
    except ValueError as exc:
        assert "supported range" in str(exc)
    else:
        assert result.kkt_residual <= ulp(20)


@pytest.mark.parametrize("depth, mu", [(2, "0.1"), (2, "3"), (3, "0.2"), (3, "5")])
def test_q_mu_primal_by_slsqp(depth, mu):
    """Independent formulation: the primal min sum q_D(beta_i / mu) s.t. X~ beta >= 1 solved
    directly by SLSQP in float64, with the gradient q_D'(z) / mu = h_D^{-1}(z) / mu evaluated
    here (asinh(z/2) for D = 2; for D = 3 a bracketing root of (1-s)^-3 - (1+s)^-3 = z by
    brentq) and the objective scaled by mu, agrees with the dual-based q_mu to 1e-6 (SLSQP's
    float64 tolerance)."""
    problem = random_problem(71, 4, 3, depth=depth)
    result = limits.q_mu(problem, mu, digits=DIGITS)
    m = float(mu)

    def h_inverse(z):
        if depth == 2:
            return np.arcsinh(z / 2)
        if z == 0:
            return 0.0
        root = optimize.brentq(lambda s: (1 - s) ** -3 - (1 + s) ** -3 - abs(z), 0.0,
                               1 - 1e-15, xtol=1e-16)
        return np.sign(z) * root

    def objective(beta):  # mu sum q_D(beta_i / mu): the same minimizer, better scaled
        z = beta / m
        if depth == 2:
            return m * float(np.sum(2 - np.sqrt(4 + z * z) + z * np.arcsinh(z / 2)))
        s = np.array([h_inverse(v) for v in z])  # q_D(z) = z s - H_D(s) (Fenchel)
        return m * float(np.sum(z * s - 0.5 * ((1 - s) ** -2 + (1 + s) ** -2 - 2)))

    def gradient(beta):
        return np.array([h_inverse(v / m) for v in beta])

    Xs = problem.signed_X
    ref = optimize.minimize(
        objective, result.beta_float() * 1.1, jac=gradient, method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda b: Xs @ b - 1.0, "jac": lambda b: Xs}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert ref.success, ref.message
    assert np.abs(ref.x - result.beta_float()).max() <= 1e-6 * max(1.0, np.abs(ref.x).max())


def test_q_mu_with_repeated_constraints():
    """Found by the stress hunt: five identical rows made the Newton systems of the Q_mu dual
    singular and the polish stalled at a KKT residual of 6e-40 (D = 3, mu = 300). A repeated
    constraint is one constraint: the result is verified to 10^-digits, its multipliers sit on
    one copy, and it equals the result on the data without the repeats."""
    X = [[-1, -1, -1], [-3, -1, -1], [-1, -1, -1], [-1, -1, -1], [-1, -1, -1], [-1, -1, -3],
         [-1, -1, -1], [0, -1, -1]]
    problem = extprec.Problem(np.array(X, dtype=float), -np.ones(8), depth=3)
    result = limits.q_mu(problem, "3e2")
    assert result.kkt_residual <= ulp(limits.DEFAULT_DIGITS)
    assert all(result.lam[n] == 0 for n in (2, 3, 4, 6))
    distinct = extprec.Problem(np.array([X[n] for n in (0, 1, 5, 7)], dtype=float), -np.ones(4),
                               depth=3)
    reference = limits.q_mu(distinct, "3e2")
    with mpmath.workdps(limits.DEFAULT_DIGITS):
        assert all(abs(a - b) <= ulp(limits.DEFAULT_DIGITS - 2) * (1 + abs(b))
                   for a, b in zip(result.beta, reference.beta))
