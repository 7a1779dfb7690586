"""The engine against independent references (theory.md section 6, checks 1 and 3).

* N = 1 closed form (check 3): one sample has ``nu = tau`` and ``beta = beta(x~ tau)``; the
  reference (``reference_flows.SingleSampleReference``) solves ``m(tau) = margin(level)`` and
  integrates ``t(tau) = int_0^tau dtau'/g(m(tau'))`` in mpmath at 170 bits (about 50 digits).
* The original (w+, w-) gradient flow (check 1), integrated in original time by scipy
  (``reference_flows.WeightFlowReference``), compared at the same original times.

Tolerances are stated in units of what the engine vouches for: ``10**-state.digits``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import extprec
from reference_flows import (
    SingleSampleReference, WeightFlowReference, planted_problem_data, relative_gap, to_ctx,
)

X1 = np.array([1.0, -0.5, 2.0])  # the single sample (label +1) of the N = 1 tests
LEVELS = [-1, -10, -100, -500]  # log10 loss levels of the N = 1 tests
UNBALANCED = (np.array([1.5, 0.7, 1.0]), np.array([0.5, 1.2, 1.3]))


# ---------------------------------------------------------------------------------------
# The reference itself
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["exp", "logistic"])
def test_reference_time_quadrature_matches_depth1_closed_form(loss):
    """Self-check of the N = 1 reference's time integral (not of the engine).

    For D = 1 the margin is affine in tau, ``m = a + b tau`` with ``a = x~.alpha(u+ - u-)``,
    ``b = 2 ||x~||^2``, so ``int_0^tau e^m = e^a (e^{b tau} - 1)/b`` exactly, plus ``tau`` for the
    logistic loss (1/g = 1 + e^m). The quadrature-based ``log t`` must agree to 1e-40 relative
    (the reference carries about 50 digits).
    """
    ref = SingleSampleReference(X1, 1, 1, "0.7", *UNBALANCED, loss=loss)
    ctx = ref.ctx
    a = ref.margin(ctx.zero)
    b = 2 * ctx.fsum(v * v for v in ref.xt)
    for level in LEVELS:
        tau = ref.tau_at_sigma(-level * ctx.ln10)
        exact = ctx.exp(a) * ctx.expm1(b * tau) / b + (tau if loss == "logistic" else 0)
        got = ref.log_t_at_tau(tau)
        assert abs(got - ctx.log(exact)) <= ctx.mpf("1e-40") * max(1, abs(got)), level
        # and the level itself is met: sigma(m(tau)) = level
        assert abs(ref.sigma_of_margin(ref.margin(tau)) + level * ctx.ln10) <= ctx.mpf("1e-40")


def test_reference_weight_flow_matches_single_sample_closed_form():
    """Self-check of the two references against each other (not of the engine): for N = 1,
    D = 2, the scipy (w+, w-) flow integrated to the original time t(tau) of the mpmath
    reference (at sigma = 5) reproduces the closed form ``w+- = alpha u+- e^{+-2 x~ tau}`` to
    1e-9 relative, and the scipy accuracy estimate is below 1e-9."""
    ref1 = SingleSampleReference(X1, 1, 2, 1.0, loss="exp")
    ctx = ref1.ctx
    flow = WeightFlowReference(X1[None, :], 2, 1.0, np.ones(3), np.ones(3), "exp", "sum")
    tau = ref1.tau_at_sigma(ctx.mpf(5))
    t = float(ctx.exp(ref1.log_t_at_tau(tau)))
    (w,), acc = flow.reference([t])
    wp, wm = ref1.weights(tau)
    expected = np.array([float(v) for v in wp + wm])
    assert acc < 1e-9
    assert relative_gap(w, expected, np.abs(expected)) < 1e-9


# ---------------------------------------------------------------------------------------
# N = 1 closed form
# ---------------------------------------------------------------------------------------
def _float64_can_lose_track(depth, alpha):
    """D > 2 with tiny alpha: the rich-side gap (alpha u)^(2-D) - D(D-2) rho cancels in the
    dual variable the float64 engine carries (theory.md s.4), so float64 is exhausted early;
    the run continues in multiprecision, or (without it) stops with "precision exhausted",
    and then the states it returns are still checked."""
    return depth > 2 and alpha < 0.01


def _states_of(traj):
    """Checkpoints, plus the final (last resolved) state of a run that stopped early."""
    states = list(traj.checkpoints)
    if traj.status != "reached":
        states.append(traj.final)
    return states


def _compare_single_sample(states, ref):
    ctx = ref.ctx
    assert states, "no state to compare"
    for state in states:
        tol = ctx.mpf(10) ** -state.digits
        r = ref.state_at_sigma(to_ctx(ctx, state.sigma))
        where = f"log10 L = {float(state.log10_loss):.6g}"
        assert abs(to_ctx(ctx, state.tau) - r["tau"]) <= tol * r["tau"], where
        assert abs(to_ctx(ctx, state.nu[0]) - r["tau"]) <= tol * r["tau"], where
        for got, want in zip(state.beta, r["beta"]):
            assert abs(to_ctx(ctx, got) - want) <= tol * abs(want), where
        for got, want in zip(state.beta_normalized, r["beta_normalized"]):
            assert abs(to_ctx(ctx, got) - want) <= tol * abs(want), where
        assert abs(to_ctx(ctx, state.margins[0]) - r["margin"]) <= tol * abs(r["margin"]), where
        assert abs(to_ctx(ctx, state.min_margin) - r["margin"]) <= tol * abs(r["margin"]), where
        # D = 1 weights alpha u -+ rho may cancel: measure them against alpha u + |rho|
        for side, want_all in (("w_plus", r["w_plus"]), ("w_minus", r["w_minus"])):
            for i, (got, want) in enumerate(zip(getattr(state, side), want_all)):
                scale = abs(want)
                if ref.depth == 1:
                    u = ref.u_plus[i] if side == "w_plus" else ref.u_minus[i]
                    scale = ref.alpha * u + abs(ref.xt[i]) * r["tau"]
                assert abs(to_ctx(ctx, got) - want) <= tol * scale, (where, side, i)
        got_t = to_ctx(ctx, state.log10_t)
        assert abs(got_t - r["log10_t"]) <= tol * max(1, abs(r["log10_t"])), where
    return states


@pytest.mark.parametrize("alpha", [1e-3, 1.0, 10.0])
@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_single_sample_matches_closed_form(depth, loss, alpha):
    """N = 1 (theory.md s.6 item 3): ``nu = tau`` and ``beta = beta(x~ tau)`` exactly.

    At log10 L in {-1, -10, -100, -500}: ``tau``, ``nu``, every ``beta_i``,
    ``beta_normalized_i``, the margin and min margin agree with the 50-digit reference to
    relative ``10**-digits``; ``w+-_i`` to ``10**-digits`` relative (D = 1: relative to
    ``alpha u_i + |rho_i|``, the scale of the possibly cancelling ``alpha u -+ rho``);
    ``log10 t`` to absolute ``10**-digits * max(1, |log10 t|)``. Runs that stop with
    "precision exhausted" (only allowed for D > 2 with alpha = 1e-3) are compared at every
    checkpoint they reached and at their final (last resolved) state.
    """
    problem = extprec.datasets.single_sample(X1, depth=depth, alpha=alpha, loss=loss)
    ref = SingleSampleReference(X1, 1, depth, alpha, loss=loss)
    traj = extprec.solve(problem, log10_loss=LEVELS[-1], checkpoints=LEVELS)
    if _float64_can_lose_track(depth, alpha):
        assert traj.status in ("reached", "precision exhausted"), traj.message
    else:
        assert traj.status == "reached", traj.message
        assert [round(float(s.log10_loss), 9) for s in traj.checkpoints] == LEVELS
    _compare_single_sample(_states_of(traj), ref)


@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_single_sample_unbalanced_shape_matches_closed_form(depth, loss):
    """N = 1 with an unbalanced initialization ``u+ != u-`` (so ``beta(0) != 0``), alpha = 0.8:
    same closed form and tolerances as :func:`test_single_sample_matches_closed_form`, at the
    levels below the starting loss (levels at or above it are skipped, the first kept level
    must exist)."""
    alpha = 0.8
    problem = extprec.datasets.single_sample(X1, depth=depth, alpha=alpha, loss=loss,
                                             shape=np.array(UNBALANCED))
    ref = SingleSampleReference(X1, 1, depth, alpha, *UNBALANCED, loss=loss)
    start = float(ref.sigma0) / math.log(10)
    levels = [lv for lv in LEVELS if lv < -start]
    assert levels
    traj = extprec.solve(problem, log10_loss=levels[-1], checkpoints=levels)
    assert traj.status == "reached", traj.message
    assert len(_compare_single_sample(_states_of(traj), ref)) == len(levels)


def test_single_sample_state_at_matches_closed_form():
    """``Trajectory.state_at`` (dense output + landing) at 25 levels between log10 L = -0.5 and
    -300 (D = 2, alpha = 0.05, logistic) and at 5 original times: every state matches the
    closed form to the tolerances of :func:`test_single_sample_matches_closed_form`, and the
    time-located states have ``log10 t`` equal to the requested time to ``10**-digits``
    relative."""
    problem = extprec.datasets.single_sample(X1, depth=2, alpha=0.05, loss="logistic")
    ref = SingleSampleReference(X1, 1, 2, 0.05, loss="logistic")
    traj = extprec.solve(problem, log10_loss=-300)
    assert traj.status == "reached", traj.message
    levels = -np.logspace(math.log10(0.5), math.log10(300), 25)
    states = [traj.state_at(log10_loss=float(lv)) for lv in levels]
    for lv, s in zip(levels, states):
        assert abs(float(s.log10_loss) - lv) <= 10.0 ** -s.digits * abs(lv)
    times = ["1e2", "1e10", "3.5e50", "1e150", "1e290"]
    tstates = [traj.state_at(t=t) for t in times]
    for t, s in zip(times, tstates):
        want = math.log10(float(t))
        assert abs(float(s.log10_t) - want) <= 10.0 ** -s.digits * want
    assert len(_compare_single_sample(states + tstates, ref)) == 30


# ---------------------------------------------------------------------------------------
# Direct integration of the original (w+, w-) flow
# ---------------------------------------------------------------------------------------
FLOW_TIMES = {  # original times; the last one brings the loss to about 1e-4
    1: [1.0, 10.0, 100.0, 1e3, 1e4],
    2: [0.5, 5.0, 50.0, 500.0],
    3: [0.1, 1.0, 10.0, 100.0],
}


def _flow_problem(shape_kind, depth, alpha, loss, reduction):
    X, y, _ = planted_problem_data(4, 5, seed=1)
    rng = np.random.default_rng(5)
    u = rng.uniform(0.5, 1.5, 5)
    pair = np.array([rng.uniform(0.5, 1.5, 5), rng.uniform(0.5, 1.5, 5)])
    shape = {"ones": None, "shape": u, "unbalanced": pair}[shape_kind]
    return extprec.Problem(X, y, depth=depth, alpha=alpha, shape=shape, loss=loss,
                           reduction=reduction)


def _check_against_weight_flow(problem, times):
    ref = WeightFlowReference(problem.signed_X, problem.depth, problem.alpha, problem.u_plus,
                              problem.u_minus, problem.loss, problem.reduction)
    W, acc = ref.reference(times)
    assert acc < 1e-9, f"reference not accurate enough ({acc:.2g})"
    assert ref.loss_value(W[-1]) < 1e-3, "the flow did not get anywhere"
    traj = extprec.solve(problem, t=times[-1], checkpoints=[], checkpoint_times=times[:-1])
    assert traj.status == "reached", traj.message
    assert len(traj.checkpoints) == len(times)
    worst = 0.0
    for state, w, t in zip(traj.checkpoints, W, times):
        tol = max(10.0 ** -state.digits, 10 * acc)
        assert abs(float(state.log10_t) - math.log10(t)) <= tol * max(1.0, abs(math.log10(t)))
        wp = np.array([float(v) for v in state.w_plus])
        wm = np.array([float(v) for v in state.w_minus])
        beta = np.array([float(v) for v in state.beta])
        d = problem.n_features
        scale_w = np.abs(w) if problem.depth > 1 else np.abs(w) + np.abs(np.r_[w[d:], w[:d]])
        gaps = (relative_gap(np.r_[wp, wm], w, scale_w),
                relative_gap(beta, ref.beta(w), ref.beta_scale(w)),
                abs(float(state.log10_loss) - math.log10(ref.loss_value(w)))
                / max(1.0, abs(math.log10(ref.loss_value(w)))))
        assert max(gaps) <= tol, (t, gaps, tol)
        worst = max(worst, *gaps)
    return worst


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("shape_kind", ["ones", "shape", "unbalanced"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_matches_direct_weight_flow(depth, shape_kind, loss, reduction):
    """Closed-form reduced dynamics = original gradient flow (theory.md s.6 item 1).

    The (w+, w-) flow ``dw+-/dt = -grad_{w+-} L`` integrated by scipy (DOP853, rtol 1e-13;
    accuracy ``acc`` estimated against LSODA with the analytic Jacobian, required < 1e-9) on a
    planted 4 x 5 problem, alpha = 1. At 4-5 original times up to loss ~1e-4: ``w+``, ``w-``
    (relative per entry; D = 1 relative to ``|w+| + |w-|``), ``beta`` (relative to
    ``|w+|^D + |w-|^D``), ``log10 L`` and ``log10 t`` (relative to ``max(1, |.|)``) agree within
    ``max(10**-digits, 10 acc)``.
    """
    problem = _flow_problem(shape_kind, depth, 1.0, loss, reduction)
    _check_against_weight_flow(problem, FLOW_TIMES[depth])


@pytest.mark.parametrize("alpha", [0.3, 3.0])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_matches_direct_weight_flow_other_scales(depth, alpha):
    """As :func:`test_matches_direct_weight_flow` at initialization scales alpha = 0.3 and 3
    (non-uniform shape u, logistic mean loss; times scaled so the loss still falls to ~1e-3 or
    below): same tolerance ``max(10**-digits, 10 acc)``."""
    problem = _flow_problem("shape", depth, alpha, "logistic", "mean")
    factor = {0.3: 30.0 if depth == 3 else 3.0, 3.0: 1.0}[alpha]
    _check_against_weight_flow(problem, [factor * t for t in FLOW_TIMES[depth]])


# ---------------------------------------------------------------------------------------
# N = 1 beyond the float64 range (the run continues in multiprecision)
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth,loss", [
    (1, "exp"),
    (2, "exp"),
    (3, "exp"),
    (4, "exp"),
    pytest.param(1, "logistic", marks=pytest.mark.slow),
    pytest.param(2, "logistic", marks=pytest.mark.slow),
    pytest.param(3, "logistic", marks=pytest.mark.slow),
    pytest.param(4, "logistic", marks=pytest.mark.slow),
])
def test_single_sample_closed_form_beyond_float64(depth, loss):
    """N = 1 closed form (theory.md s.6 item 3: "any epsilon, any precision") down to
    log10 L = -1e12, far beyond where float64 stops, at every default checkpoint (each decade
    of log10(1/L): -1, -10, ..., -1e12): same quantities and tolerances as
    :func:`test_single_sample_matches_closed_form` (relative ``10**-digits``; ``log10 t``
    absolute ``10**-digits * max(1, |log10 t|)``). x = (1, -0.5, 2), alpha = 1.
    """
    problem = extprec.datasets.single_sample(X1, depth=depth, alpha=1.0, loss=loss)
    ref = SingleSampleReference(X1, 1, depth, 1.0, loss=loss)
    traj = extprec.solve(problem, log10_loss="-1e12")
    assert traj.status == "reached", traj.message
    assert traj.final.backend != "float64"  # the range beyond float64 is really exercised
    assert len(traj.checkpoints) == 13
    _compare_single_sample(_states_of(traj), ref)


def test_single_sample_log_t_beyond_float64_at_tight_rtol():
    """N = 1, D = 3, exp, alpha = 1, x = (1, -0.5, 2) at log10 L = -1e12 with rtol = 1e-12
    (digits = 11): ``log10 t`` equals the closed form 999999999982.3621 to absolute
    ``10**-digits * |log10 t|`` (= 10)."""
    problem = extprec.datasets.single_sample(X1, depth=3, alpha=1.0, loss="exp")
    ref = SingleSampleReference(X1, 1, 3, 1.0, loss="exp")
    traj = extprec.solve(problem, log10_loss="-1e12", checkpoints=[], rtol=1e-12)
    assert traj.status == "reached", traj.message
    _compare_single_sample([traj.final], ref)


@pytest.mark.slow
@pytest.mark.parametrize("level", ["-1e40", "-1e50"])
def test_single_sample_d3_extreme_levels(level):
    """N = 1, D = 3, exp, alpha = 1, x = (1, -0.5, 2), default checkpoints, at log10 L =
    -1e40 and -1e50: the run reaches the level, the final state is on it (``log10_loss`` equal
    to the level to relative ``10**-digits``) and every state matches the closed form
    (tolerances of :func:`test_single_sample_matches_closed_form`)."""
    problem = extprec.datasets.single_sample(X1, depth=3, alpha=1.0, loss="exp")
    ref = SingleSampleReference(X1, 1, 3, 1.0, loss="exp")
    traj = extprec.solve(problem, log10_loss=level)
    assert traj.status == "reached", traj.message
    want = float(level)
    assert abs(float(traj.final.log10_loss) - want) <= 10.0 ** -traj.final.digits * abs(want)
    _compare_single_sample(_states_of(traj), ref)
