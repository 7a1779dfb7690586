"""Limit diagnostics on every State (extprec.limits.diagnostics).

Tolerances are in units of the State's resolution ``10**-digits`` (the digits it vouches for in
``beta_normalized`` and its margins): exact references (closed forms, known answers) must agree
to a small multiple of it, and properties that hold exactly (max-margin bounds) may be violated
by at most that much.
"""

import dataclasses

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import extprec
from extprec import datasets, limits
from extprec.limits import diagnostics


def resolution(state, factor=10):
    """``factor * 10**-digits``: a few units of the State's resolution."""
    return factor * mpmath.mpf(10) ** (-state.digits)


def separated(trajectory):
    return [s for s in trajectory.checkpoints if s.min_margin > 0]


# --- exact references -----------------------------------------------------------------------


@pytest.mark.parametrize("depth, alpha", [(2, "0.1"), (2, "10"), (3, "0.5")])
def test_single_sample_is_exactly_argmin_q_mu(depth, alpha):
    """N = 1: nu = tau exactly (theory.md s.6 check 3), so beta_normalized = mu h_D(c_D
    alpha^(D-2) tau x~) with mu = alpha^D / min margin is argmin Q_mu at that mu (the single
    multiplier lambda = c_D alpha^(D-2) tau only grows): distance["q_mu"] is zero to the State's
    resolution at every checkpoint, and mu equals alpha^D / (x~ . beta) evaluated here."""
    x = np.array([1.0, -0.5, 0.25])
    problem = extprec.Problem(x[None, :], [1], depth=depth, alpha=alpha)
    trajectory = extprec.solve(problem, checkpoints=[-0.5, -2, -8])
    for state in trajectory.checkpoints:
        assert state.distance["q_mu"] <= resolution(state)
        with mpmath.workdps(30):
            margin = mpmath.fsum(mpmath.mpf(float(a)) * b for a, b in zip(x, state.beta))
            expected_mu = mpmath.mpf(alpha) ** depth / margin
            assert abs(state.mu - expected_mu) <= resolution(state) * expected_mu


def test_single_sample_limits_known_answers():
    """N = 1, x~ = (1, -1/2, 1/4): the l2 max margin is x~ / ||x~||^2 and the l1 max margin is
    e_0 (the largest |x~_i|). Along the flow beta_i = 2 alpha^2 sinh(4 tau x~_i) (D = 2), so the
    distance to l1 falls monotonically (like exp(-2 tau) once tau >> 1). Checked: the distances to
    the closed-form references computed here agree with state.distance to the State's resolution,
    and gamma_l1 = min margin / ||beta||_1."""
    x = np.array([1.0, -0.5, 0.25])
    problem = extprec.Problem(x[None, :], [1], alpha="0.1")
    trajectory = extprec.solve(problem, checkpoints=[-1, -3, -10])
    with mpmath.workdps(30):
        xm = [mpmath.mpf(float(v)) for v in x]
        l2 = [v / mpmath.fsum(a * a for a in xm) for v in xm]
        l1 = [mpmath.mpf(1), mpmath.mpf(0), mpmath.mpf(0)]
        for state in trajectory.checkpoints:
            tol = resolution(state)
            assert abs(state.distance["l2"] - limits.relative_distance(state.beta_normalized, l2)) <= tol
            assert abs(state.distance["l1"] - limits.relative_distance(state.beta_normalized, l1)) <= tol
            norm1 = mpmath.fsum(abs(b) for b in state.beta)
            assert abs(state.gamma_l1 - state.min_margin / norm1) <= tol * state.gamma_l1
        distances = [s.distance["l1"] for s in trajectory.checkpoints]
        assert distances == sorted(distances, reverse=True)


@pytest.mark.parametrize("alpha", ["0.01", "10"])
def test_orthogonal_data_sit_on_every_limit(alpha):
    """X = I_3, y = 1 (theory: the coordinates decouple and are identical): beta_normalized =
    (1, 1, 1) at every time, which is also the l1, l2 and Q_mu solution. All distances are zero to
    the resolution, gamma_l1 = 1/3 and gamma_l2 = 1/sqrt(3), every sample is a support vector and
    every coordinate active. The references coincide, so mu decides the regime with
    mu_kernel = mu_rich = 1: kernel iff mu >= 1."""
    problem = datasets.orthogonal(3, alpha=alpha)
    trajectory = extprec.solve(problem, checkpoints=[-0.5, -1, -3, -30])
    for state in separated(trajectory):
        tol = resolution(state)
        for name in ("l1", "l2", "q_mu"):
            assert state.distance[name] <= tol
        assert abs(state.gamma_l1 - mpmath.mpf(1) / 3) <= tol
        assert abs(state.gamma_l2 - 1 / mpmath.sqrt(3)) <= tol
        assert list(state.support_vectors) == [0, 1, 2]
        assert list(state.active_coordinates) == [0, 1, 2]
        evidence = state.regime_evidence
        assert evidence.mu_kernel == 1 and evidence.mu_rich == 1
        assert state.regime == ("kernel" if state.mu >= 1 else "rich"), evidence.reason


# --- properties on random problems ----------------------------------------------------------


@st.composite
def small_problems(draw):
    """Separable data (N <= 5, d <= 4) labelled by a random teacher, D in {2, 3}, alpha in
    [1e-2, 1e2]."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_samples = draw(st.integers(1, 5))
    n_features = draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    teacher = rng.standard_normal(n_features)
    margins = X @ teacher
    assume(np.all(np.abs(margins) > 0.05 * np.linalg.norm(teacher)))
    depth = draw(st.sampled_from([2, 3]))
    alpha = draw(st.sampled_from(["0.01", "0.3", "1", "5", "100"]))
    return extprec.Problem(X, np.sign(margins), depth=depth, alpha=alpha)


@settings(max_examples=8, deadline=None)
@given(small_problems())
def test_diagnostics_properties(problem):
    """On every separated State: gamma_l1 <= 1/||beta_l1||_1 and gamma_l2 <= 1/||beta_l2||_2 (the
    max-margin programs maximize them), up to the State's resolution; distances are >= 0; the
    sample of smallest margin is a support vector and the largest |beta_i| is active; mu =
    alpha^D / min margin; and the regime is the one the documented rule gives for the evidence."""
    trajectory = extprec.solve(problem, checkpoints=[-1, -5, -30])
    l1 = limits.l1_max_margin(problem, weights="shape" if problem.depth > 2 else None)
    l2 = limits.l2_max_margin(problem)
    delta = mpmath.mpf(limits.REGIME_DELTA)
    for state in separated(trajectory):
        tol = resolution(state)
        assert state.gamma_l1 <= (1 + tol) / l1.objective
        assert state.gamma_l2 <= (1 + tol) / mpmath.sqrt(l2.objective)
        assert all(state.distance[name] >= 0 for name in ("l1", "l2"))
        margins = [float(m) for m in state.margins]
        assert int(np.argmin(margins)) in state.support_vectors
        assert int(np.argmax([abs(float(b)) for b in state.beta])) in state.active_coordinates
        with mpmath.workdps(30):
            mu = mpmath.mpf(problem.alpha) ** problem.depth / state.min_margin
            assert abs(state.mu - mu) <= tol * mu
        evidence = state.regime_evidence
        d1, d2 = evidence.distances["l1"], evidence.distances["l2"]
        if d1 > delta and d2 > delta:
            assert state.regime == "intermediate"
        elif (d1 <= delta) != (d2 <= delta):
            assert state.regime == ("rich" if d1 <= delta else "kernel")
        else:
            assert state.regime in limits.REGIMES


# --- regimes on problems with a clear answer ------------------------------------------------


def test_kernel_regime_for_large_alpha():
    """two_points with alpha = 1000 (D = 2): in the kernel window 1 << sigma << alpha^2 = 1e6
    the predictor is the l2 max margin up to O(1/sigma) (margins equalized on the tangent-kernel
    clock, theory.md s.3): regime "kernel" at log10 L = -100 and -1000, with the distance to l2
    shrinking at least 5x per decade of sigma; mu >= mu_kernel there."""
    trajectory = extprec.solve(datasets.two_points(alpha=1000), checkpoints=[-100, -1000])
    near, far = trajectory.checkpoints
    for state in (near, far):
        assert state.regime == "kernel", state.regime_evidence.reason
        assert state.mu >= state.regime_evidence.mu_kernel
    assert far.distance["l2"] <= near.distance["l2"] / 5


def test_rich_regime_for_small_alpha():
    """A sparse teacher (N = 6, d = 4) at alpha = 0.01, D = 2: the l1 max-margin predictor is a
    nondegenerate vertex, so the distance to it falls like a power of 1/sigma once the support is
    found (inactive coordinates decay like (sigma/alpha^2)^-(1-|s_i|)): rich at log10 L = -1e3
    with d_l1 below 1e-3, while d_l2 stays at the separation of the two references."""
    problem = datasets.sparse_teacher(6, 4, 2, seed=1, alpha="0.01")
    state = extprec.solve(problem, checkpoints=[-1000]).checkpoints[0]
    assert state.regime == "rich", state.regime_evidence.reason
    assert state.distance["l1"] < mpmath.mpf("1e-3")
    separation = state.regime_evidence.separation
    assert abs(state.distance["l2"] - separation) <= 2 * state.distance["l1"]


# --- precision, caching, loading, errors ----------------------------------------------------


def test_two_tolerances_agree_to_the_claimed_digits():
    """The diagnostics of rtol 1e-8 (7 digits) and rtol 1e-11 (10 digits) runs agree to the
    coarser State's resolution: the engine claims no digit it has not got."""
    problem = datasets.two_points(alpha="0.1")
    coarse = extprec.solve(problem, checkpoints=[-2, -20], rtol=1e-8)
    fine = extprec.solve(problem, checkpoints=[-2, -20], rtol=1e-11)
    for a, b in zip(coarse.checkpoints, fine.checkpoints):
        assert a.digits == 7 and b.digits == 10
        tol = resolution(a)
        for name in ("l1", "l2", "q_mu"):
            assert abs(a.distance[name] - b.distance[name]) <= tol
        assert abs(a.gamma_l1 - b.gamma_l1) <= tol * b.gamma_l1
        assert abs(a.mu - b.mu) <= tol * b.mu


def test_references_computed_once_per_problem(monkeypatch):
    """Reading distance["l1"] on every State of a run solves the l1 program once (the references
    are shared through LimitReferences.of(problem)), and a second read does no work."""
    calls = []
    original = diagnostics.l1_max_margin

    def counting(*args, **kwargs):
        calls.append(kwargs.get("digits"))
        return original(*args, **kwargs)

    monkeypatch.setattr(diagnostics, "l1_max_margin", counting)
    trajectory = extprec.solve(datasets.two_points(alpha="0.3"), log10_loss=-100)
    first = [s.distance["l1"] for s in trajectory.checkpoints]
    second = [s.distance["l1"] for s in trajectory.checkpoints]
    assert len(calls) == 1 and first == second
    assert limits.LimitReferences.of(trajectory.problem) is limits.LimitReferences.of(
        trajectory.final.problem)


def test_loaded_trajectory_has_the_same_diagnostics(tmp_path):
    """extprec.load gives States with exactly the same diagnostics (same mpf values)."""
    trajectory = extprec.solve(datasets.two_points(alpha="0.2"), checkpoints=[-1, -10, -100])
    path = tmp_path / "run.json"
    extprec.save(trajectory, path)
    loaded = extprec.load(path)
    for a, b in zip(trajectory.checkpoints, loaded.checkpoints):
        assert b.problem is loaded.problem
        assert (a.gamma_l1, a.gamma_l2, a.mu, a.regime) == (b.gamma_l1, b.gamma_l2, b.mu, b.regime)
        assert dict(a.distance) == dict(b.distance)
        assert list(a.support_vectors) == list(b.support_vectors)
        assert list(a.active_coordinates) == list(b.active_coordinates)


def test_state_at_is_attached():
    """A State from Trajectory.state_at carries diagnostics like the checkpoints."""
    trajectory = extprec.solve(datasets.two_points(alpha="0.2"), log10_loss=-50)
    state = trajectory.state_at(log10_loss=-20)
    assert state.problem is trajectory.problem
    assert state.distance["l1"] >= 0 and state.regime in limits.REGIMES


def test_unseparated_states_and_depth_one():
    """Before the data are separated (min margin <= 0) there is no unit-margin predictor: mu and
    the regime are None and reading a distance raises LimitUnavailable (a KeyError, so .get gives
    None). D = 1 has no Q_mu program and is always "kernel" once separated. A State without a
    problem says how to attach one."""
    problem = extprec.Problem([[1.0, 0.0], [-0.99, 0.01]], [1, 1])
    first = extprec.solve(problem, checkpoints=[0.3, -2]).checkpoints[0]
    assert first.min_margin < 0
    assert first.mu is None and first.regime is None
    with pytest.raises(limits.LimitUnavailable, match="not separated"):
        first.distance["l1"]
    assert first.distance.get("l2") is None

    linear = extprec.solve(datasets.two_points(depth=1), checkpoints=[-5]).checkpoints[0]
    assert "q_mu" not in linear.distance and list(linear.distance) == ["l1", "l2"]
    with pytest.raises(limits.LimitUnavailable, match="linear model"):
        linear.distance["q_mu"]
    assert linear.regime == "kernel"

    detached = dataclasses.replace(linear, problem=None)
    with pytest.raises(ValueError, match="not attached to a problem"):
        detached.gamma_l1
