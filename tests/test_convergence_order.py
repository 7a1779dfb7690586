"""Order of convergence of the Radau IIA integrator and proportionality of the adaptive error.

* Fixed steps (``Float64Integrator.fixed_steps``): the global error after n equal steps over a
  fixed interval of the clock ell behaves like ``C h^5`` (Radau IIA with three stages has
  classical order 2s - 1 = 5). The error is measured against the same integrator with many
  more steps, whose own error (checked) is far below the fitted errors.
* Adaptive steps: the error at a fixed point of the flow, measured against independent
  references (the N = 1 closed form, and the scipy integration of the (w+, w-) flow), decreases
  with rtol and stays below ``10 rtol``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import extprec
from extprec.levels import LossLevel
from reference_flows import SingleSampleReference, WeightFlowReference, planted_problem_data

STEP_COUNTS = [4, 8, 16, 32, 64]  # candidates; those above the floor are fitted
REFERENCE_STEPS = 1024


def _land_on_sigma(integrator, sigma):
    """``(ell, y)`` where sigma = log(1/L) equals ``sigma`` (the integrator's landing)."""
    return integrator.land(LossLevel(Fraction(sigma), "sigma"))


def _start_point(problem, sigma_start):
    traj = extprec.solve(problem, log10_loss=-10)
    assert traj.status == "reached", traj.message
    integrator = traj._integrator
    assert integrator.backend == "float64"
    ell0, y0 = _land_on_sigma(integrator, sigma_start)
    assert abs(integrator.sigma_of(y0) - sigma_start) < 1e-9 * sigma_start
    return integrator, ell0, np.array(y0)


@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth,alpha,interval", [
    (1, 1.0, 2.0), (2, 1.0, 1.0), (2, 0.2, 1.0), (3, 1.0, 1.0), (4, 2.0, 1.0)])
def test_fixed_step_radau_has_order_five(depth, alpha, interval, loss):
    """Global error of n fixed Radau IIA steps over ``[ell0, ell0 + interval]`` (interval 1,
    or 2 for D = 1 whose errors are small; starting where sigma = log(1/L) = 5, planted 4 x 5
    problem) against n = 1024 steps, for the n in
    {4, 8, 16, 32, 64} whose error exceeds the floor ``max(1e-11, 100 d_ref)``: the
    least-squares slope of log(error) versus log(h) is 5 +- 0.5.

    ``d_ref`` is the reference's distance to n = 512 (a bound on its own error). The 1e-11
    floor sits above the simplified-Newton iteration error that fixed steps accumulate (the
    iteration stops at about 1e-15 relative per step, tied to the integrator's rtol; with
    n = 32 steps it shows up around 1e-12, e.g. D = 1). At least three step counts must be
    fitted and their errors must span at least two decades (so the slope measures the
    method, not the floor)."""
    X, y, _ = planted_problem_data(4, 5, seed=1)
    problem = extprec.Problem(X, y, depth=depth, alpha=alpha, loss=loss)
    integrator, ell0, y0 = _start_point(problem, 5.0)
    ell_end = ell0 + interval
    _, y_ref = integrator.fixed_steps(ell0, y0, ell_end, REFERENCE_STEPS)
    _, y_ref2 = integrator.fixed_steps(ell0, y0, ell_end, REFERENCE_STEPS // 2)
    scale = np.abs(y_ref)

    def err(y):
        return float(np.max(np.abs(y - y_ref) / scale))

    floor = max(1e-11, 100 * err(y_ref2))
    errors = {n: err(integrator.fixed_steps(ell0, y0, ell_end, n)[1]) for n in STEP_COUNTS}
    fitted = {n: e for n, e in errors.items() if e > floor}
    assert len(fitted) >= 3, (floor, errors)
    assert max(fitted.values()) / min(fitted.values()) > 100, (floor, errors)
    hs = interval / np.array(list(fitted))
    slope = np.polyfit(np.log(hs), np.log(list(fitted.values())), 1)[0]
    assert abs(slope - 5.0) <= 0.5, (slope, floor, errors)


RTOLS = [1e-6, 1e-8, 1e-10]


def _check_proportional(errors, floor=0.0):
    """errors[k] at RTOLS[k]: each below 10 rtol, and decreasing (unless already below the
    reference's floor, or already 100 times below its own tolerance: then the step size is
    set by other components and this error need not follow the tolerance)."""
    for rtol, e in zip(RTOLS, errors):
        assert e <= 10 * rtol, (rtol, errors)
    for rtol0, e0, e1 in zip(RTOLS, errors, errors[1:]):
        assert e1 < e0 or e1 <= floor or e0 <= 1e-2 * rtol0, errors


@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_adaptive_error_is_proportional_to_rtol_single_sample(depth, loss):
    """N = 1 (x = (1, -0.5, 2), alpha = 1): the only non-trivial integrated quantity is the
    time clock; the relative error of ``log t`` at log10 L = -100 against the 50-digit closed
    form (``|log10 t - ref| / |ref|``) is below ``10 rtol`` for rtol in {1e-6, 1e-8, 1e-10} and
    decreases with rtol (or is already at the float64 rounding floor, 100 eps)."""
    x = np.array([1.0, -0.5, 2.0])
    ref = SingleSampleReference(x, 1, depth, 1.0, loss=loss)
    want = float(ref.state_at_sigma(100 * ref.ctx.ln10)["log10_t"])
    errors = []
    for rtol in RTOLS:
        problem = extprec.datasets.single_sample(x, depth=depth, alpha=1.0, loss=loss)
        traj = extprec.solve(problem, log10_loss=-100, rtol=rtol)
        assert traj.status == "reached", traj.message
        errors.append(abs(float(traj.final.log10_t) - want) / abs(want))
    _check_proportional(errors, floor=100 * np.finfo(float).eps)


@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth,final_time", [(1, 1e4), (2, 500.0), (3, 100.0)])
def test_adaptive_error_is_proportional_to_rtol_weight_flow(depth, final_time, loss):
    """Planted 4 x 5 problem, alpha = 1: the largest relative error of ``w+-`` (D = 1:
    relative to ``|w+| + |w-|``) and of ``beta`` (relative to ``|w+|^D + |w-|^D``) at original
    times ``T * {1e-3, 1e-2, 0.1, 1}`` against scipy DOP853 at rtol 3e-14 (whose distance to
    DOP853 at rtol 1e-13 must be below 1e-11, the floor) is below ``10 rtol`` for rtol in
    {1e-6, 1e-8, 1e-10} and decreases with rtol."""
    X, y, _ = planted_problem_data(4, 5, seed=1)
    problem = extprec.Problem(X, y, depth=depth, alpha=1.0, loss=loss)
    flow = WeightFlowReference(problem.signed_X, depth, 1.0, problem.u_plus, problem.u_minus,
                               loss, "sum")
    times = list(final_time * np.array([1e-3, 1e-2, 0.1, 1.0]))
    W = flow.integrate(times, "DOP853", rtol=3e-14, atol=1e-18)
    W13 = flow.integrate(times, "DOP853", rtol=1e-13, atol=1e-16)
    d = problem.n_features

    def gap(A, B):
        worst = 0.0
        for a, b in zip(A, B):
            scale_w = np.abs(b) if depth > 1 else np.abs(b) + np.abs(np.r_[b[d:], b[:d]])
            worst = max(worst, float(np.max(np.abs(a - b) / scale_w)),
                        float(np.max(np.abs(flow.beta(a) - flow.beta(b)) / flow.beta_scale(b))))
        return worst

    floor = 1e-11
    assert gap(W13, W) < floor
    errors = []
    for rtol in RTOLS:
        traj = extprec.solve(problem, t=times[-1], checkpoints=[], checkpoint_times=times[:-1],
                             rtol=rtol)
        assert traj.status == "reached" and len(traj.checkpoints) == len(times), traj.message
        got = [np.array([float(v) for v in list(s.w_plus) + list(s.w_minus)])
               for s in traj.checkpoints]
        errors.append(gap(got, W))
    _check_proportional(errors, floor=floor)
