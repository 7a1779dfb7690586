"""Asymptotic expansions (extprec.limits.asymptotics): each holds in its window with an error
that shrinks at its stated order as the window is pushed.

The order is checked by the least-squares slope of log(relative error) against log(window
parameter) over three to four points; the tolerance on the slope is stated per test (the
neglected higher-order terms bend the line by about that much over the fitted range). Errors are
measured on States whose resolution 10**-digits lies well below them.
"""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import extprec
from extprec import datasets
from extprec.limits import asymptotics

LN10 = math.log(10.0)


def slope(xs, errors):
    """Least-squares slope of log(error) against log(x)."""
    x = np.log([float(v) for v in xs])
    y = np.log([float(e) for e in errors])
    return float(np.polyfit(x, y, 1)[0])


def level_of_sigma(sigma):
    """The log10-loss level ``-sigma / ln 10`` as an exact decimal string."""
    with mpmath.workdps(30):
        return mpmath.nstr(-mpmath.mpf(sigma) / mpmath.ln(10), 20)


def relative_error(measured, predicted):
    with mpmath.workdps(30):
        return abs(mpmath.mpf(measured) / predicted - 1)


def loss_times_time(state):
    with mpmath.workdps(30):
        return mpmath.mpf(10) ** (state.log10_loss + state.log10_t)


@st.composite
def random_problems(draw, depth=2, alpha=1):
    """Separable data (N in 2..4, d in 2..4) from a random teacher with margins >= 0.1."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_samples, n_features = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    X = rng.standard_normal((n_samples, n_features))
    teacher = rng.standard_normal(n_features)
    margins = X @ teacher
    assume(np.all(np.abs(margins) > 0.1 * np.linalg.norm(teacher)))
    return extprec.Problem(X, np.sign(margins), depth=depth, alpha=alpha)


# --- kernel phase ---------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [2, 3])
def test_kernel_clock_drift_term_order(depth):
    """two_points has one l2 support vector, so the equalization term is absent and the error of
    L t -> ||beta_l2||^2 / (2 D^2 alpha^(2D-2)) is the kernel drift O((sigma / alpha^D)^2) (the
    kernel is even in rho). At sigma = alpha^(D/2) that is alpha^(-D): fitted slope -D +- 0.2
    over alpha = 10^2, 10^3, 10^4."""
    alphas = [100, 1000, 10000]
    errors = []
    for alpha in alphas:
        problem = datasets.two_points(alpha=alpha, depth=depth)
        expansion = asymptotics.kernel_clock(problem)
        sigma = mpmath.mpf(alpha) ** (mpmath.mpf(depth) / 2)
        # without the control run (it checks digits only; the values are the same)
        state = extprec.solve(problem, checkpoints=[level_of_sigma(sigma)], rtol=1e-13,
                              verify=False).checkpoints[0]
        errors.append(relative_error(loss_times_time(state), expansion.value))
    assert slope(alphas, errors) == pytest.approx(-depth, abs=0.2), errors


@settings(max_examples=4, deadline=None)
@given(random_problems(alpha=10000))
def test_kernel_clock_equalization_term_order(problem):
    """Random problems at alpha = 1e4 (D = 2), sigma = 10, 100, 1000: the drift term
    (sigma / alpha^2)^2 <= 1e-10 is negligible and the error of L t is the O(1/sigma) of the
    support-vector margin equalization, exponentially small with a single support vector: the
    fitted slope is at most -1 + 0.2, and the error at sigma = 1000 is below 1e-2."""
    expansion = asymptotics.kernel_clock(problem)
    sigmas = [10, 100, 1000]
    trajectory = extprec.solve(problem, checkpoints=[level_of_sigma(s) for s in sigmas])
    errors = [relative_error(loss_times_time(s), expansion.value) for s in trajectory.checkpoints]
    assert errors[-1] < mpmath.mpf("1e-2"), errors
    assert slope(sigmas, errors) <= -0.8, errors


# --- rich phase -----------------------------------------------------------------------------


def test_rich_clock_order_depth2():
    """D = 2, a sparse teacher (N = 6, d = 4) at alpha = 0.01 whose l1 limit is a
    nondegenerate vertex: (tau(10 sigma) - tau(sigma)) / log 10 -> ||beta_K||_1 / 4 with an error
    of order 1/sigma here (slope -1 +- 0.15 over sigma = 1e4 .. 1e7; the inactive-coordinate
    term sigma^-(1-s_max) of the stated order has a negligible prefactor on this path), and
    at most the stated order."""
    problem = datasets.sparse_teacher(6, 4, 2, seed=1, alpha="0.01")
    expansion = asymptotics.rich_clock(problem)
    sigmas = [mpmath.mpf(10) ** k for k in range(4, 9)]
    states = extprec.solve(problem, checkpoints=[level_of_sigma(s) for s in sigmas]).checkpoints
    errors = [relative_error((b.tau - a.tau) / mpmath.log(b.sigma / a.sigma), expansion.value)
              for a, b in zip(states, states[1:])]
    fitted = slope(sigmas[:-1], errors)
    assert fitted == pytest.approx(-1.0, abs=0.15), errors
    assert fitted <= expansion.exponent + 0.15


@pytest.mark.parametrize("depth, seed", [(3, 1), (4, 1)])
def test_tau_horizon_order(depth, seed):
    """D > 2: tau(sigma_2) - tau(sigma_1) = C (sigma_1^-q - sigma_2^-q), q = 1 - 2/D, with C from
    the limit predictor (the l1 max margin restricted to the coordinates the flow activated):
    relative error O(1/sigma) once the active set has settled, slope -1 +- 0.15 over
    sigma = 1e4 .. 1e7."""
    problem = datasets.sparse_teacher(6, 4, 2, seed=seed, alpha=1, depth=depth)
    sigmas = [mpmath.mpf(10) ** k for k in range(4, 9)]
    states = extprec.solve(problem, checkpoints=[level_of_sigma(s) for s in sigmas]).checkpoints
    expansion = asymptotics.tau_horizon(problem, active=states[-1].active_coordinates)
    q = 1 - mpmath.mpf(2) / depth
    errors = [relative_error((b.tau - a.tau) / (a.sigma**-q - b.sigma**-q), expansion.value)
              for a, b in zip(states, states[1:])]
    assert slope(sigmas[:-1], errors) == pytest.approx(-1.0, abs=0.15), errors


# --- saddle escape --------------------------------------------------------------------------


def escape_tau(problem):
    level = math.log10(problem.n_samples) - 1 / LN10  # L = N / e
    return extprec.solve(problem, checkpoints=[level]).checkpoints[0].tau


def test_saddle_escape_depth2_order():
    """D = 2, two_points: the loss falls to N/e at tau = N log(1/alpha^2) / (4 |s_i*|) (1 +
    O(1 / log(1/alpha))): slope -1 +- 0.3 in log(1/alpha) over alpha = 1e-4 .. 1e-32."""
    alphas = ["1e-4", "1e-8", "1e-16", "1e-32"]
    errors, scales = [], []
    for alpha in alphas:
        problem = datasets.two_points(alpha=alpha)
        expansion = asymptotics.saddle_escape(problem)
        errors.append(relative_error(escape_tau(problem), expansion.value))
        scales.append(-problem.log_alpha)
    assert slope(scales, errors) == pytest.approx(-1.0, abs=0.3), errors


@settings(max_examples=4, deadline=None)
@given(random_problems(depth=3), st.sampled_from([3, 4]))
def test_saddle_escape_deep_order(problem, depth):
    """D = 3, 4 on random problems whose escaping coordinate i* separates the data by itself
    (otherwise the loss can stall at a later saddle above N/e): the loss falls to N/e at
    tau = N alpha^(2-D) / (D (D-2) |s_i*|) (1 + O(alpha^(D-2))): slope D - 2 +- 0.25 in alpha
    over alpha = 0.01, 0.003, 0.001 (D = 3) or 0.1, 0.03, 0.01 (D = 4)."""
    s = np.abs(problem.signed_X.sum(axis=0))
    top = np.sort(s)[::-1]
    assume(top[0] > 0.5 and (len(top) == 1 or top[0] > 1.2 * top[1]))
    column = problem.signed_X[:, int(np.argmax(s))]
    assume(np.all(column > 0) or np.all(column < 0))  # i* alone takes the loss below N/e
    alphas = ["0.01", "0.003", "0.001"] if depth == 3 else ["0.1", "0.03", "0.01"]
    errors = []
    for alpha in alphas:
        deep = extprec.Problem(problem.X, problem.y, depth=depth, alpha=alpha)
        expansion = asymptotics.saddle_escape(deep)
        errors.append(relative_error(escape_tau(deep), expansion.value))
    assert slope([float(a) for a in alphas], errors) == pytest.approx(depth - 2, abs=0.25), errors


# --- the alpha^-2 approach to argmin Q_mu ---------------------------------------------------


def q_mu_state(problem, alpha, mu, rtol=1e-10, verify=False):
    """The State at sigma = alpha^2 / mu (where the State's own mu is alpha^2 / min margin,
    i.e. mu up to O(1/sigma)). Without the control run unless ``verify``: it only checks the
    digits, the values are the same."""
    scaled = extprec.Problem(problem.X, problem.y, alpha=alpha)
    sigma = mpmath.mpf(alpha) ** 2 / mpmath.mpf(mu)
    return extprec.solve(scaled, checkpoints=[level_of_sigma(sigma)], rtol=rtol,
                         verify=verify).checkpoints[0]


def q_mu_distance(problem, alpha, mu, rtol=1e-10):
    """distance["q_mu"] of :func:`q_mu_state`."""
    return q_mu_state(problem, alpha, mu, rtol).distance["q_mu"]


def test_monotone_dual_path_gives_alpha_minus_two():
    """theory.md s.5: where the Q_mu dual path is monotone from the kernel side down to mu, the
    flow approaches argmin Q_mu at rate alpha^-2. two_points: path monotone from mu = 100 to
    1e-4; at mu = 0.01 the distance falls with slope -2 +- 0.05 over alpha = 10, 100, 1000."""
    problem = datasets.two_points()
    path = asymptotics.q_mu_dual_path(problem, "100", "1e-4", points_per_decade=2, digits=15)
    assert path.monotone, path.message
    alphas = [10, 100, 1000]
    errors = [q_mu_distance(problem, alpha, "0.01") for alpha in alphas]
    assert slope(alphas, errors) == pytest.approx(-2.0, abs=0.05), errors


def test_non_monotone_dual_path_is_detected_and_the_flow_stays_away():
    """A sparse teacher (N = 6, d = 4, seed 1) whose Q_mu multiplier lambda*_3 decreases between
    mu = 0.03 and 0.01: q_mu_dual_path reports it. Above the violation (mu = 1) the distance still
    falls like alpha^-2 (slope -2 +- 0.05); below it (mu = 0.01) the flow cannot follow and the
    distance stays at about 0.012 for alpha = 10 .. 1000 (changes below 5%)."""
    problem = datasets.sparse_teacher(6, 4, 2, seed=1)
    path = asymptotics.q_mu_dual_path(problem, "100", "1e-4", points_per_decade=2, digits=15)
    assert not path.monotone and "decreases" in path.message
    sample, mu_from, mu_to, _, _ = path.violations[0]
    assert sample == 3 and mpmath.mpf("0.0099") <= mu_to < mu_from <= mpmath.mpf("0.04")
    alphas = [10, 100, 1000]
    above = [q_mu_distance(problem, alpha, "1") for alpha in alphas]
    assert slope(alphas, above) == pytest.approx(-2.0, abs=0.05), above
    below = [q_mu_distance(problem, alpha, "0.01") for alpha in alphas]
    assert min(below) > mpmath.mpf("0.01") and max(below) < min(below) * mpmath.mpf("1.05"), below


def test_alpha_minus_two_in_multiprecision():
    """The alpha^-2 law continues where the run must be multiprecision: two_points at mu = 100,
    alpha = 1e3, 1e5 and 1e6 (sigma = alpha^2 / mu up to 1e10, beyond float64), rtol 1e-13
    (12 digits, resolution 1e-12 against distances down to 1.8e-10): slope -2 +- 0.02, and the
    alpha = 1e6 State comes from the arb backend."""
    problem = datasets.two_points()
    alphas = [1000, 10**5, 10**6]
    state = q_mu_state(problem, alphas[-1], "100", rtol=1e-13, verify=True)
    assert state.backend != "float64" and state.digits == 12
    errors = [q_mu_distance(problem, alpha, "100", rtol=1e-13) for alpha in alphas[:-1]]
    errors.append(state.distance["q_mu"])
    assert errors[-1] > 100 * mpmath.mpf(10) ** -state.digits
    assert slope(alphas, errors) == pytest.approx(-2.0, abs=0.02), errors


def test_expansions_refuse_what_they_do_not_state():
    """Logistic loss, non-default shapes and the wrong depth are refused with the reason."""
    with pytest.raises(ValueError, match="exponential loss"):
        asymptotics.kernel_clock(datasets.two_points(loss="logistic"))
    with pytest.raises(ValueError, match="default shape"):
        asymptotics.saddle_escape(datasets.two_points(shape=[1.0, 2.0]))
    with pytest.raises(ValueError, match="tau_horizon"):
        asymptotics.rich_clock(datasets.two_points(depth=3))
    with pytest.raises(ValueError, match="rich_clock"):
        asymptotics.tau_horizon(datasets.two_points())
