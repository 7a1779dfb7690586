"""Problems found by fuzzing (``tests/test_fuzz.py``, ``benchmarks/fuzz_long.py``), kept as
regression tests. Those marked ``xfail(strict=True)`` are open bugs: each states the call, what
it does today and what it should do, and turns into a failure (to be unmarked) once fixed.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import extprec
from extprec.solvers.float64_integrator import Float64Integrator
from test_fuzz import FuzzCase, run_case

DOCUMENTED = ("reached", "precision exhausted", "max steps", "step too small", "not finite")


def _unresolvable_start():
    """Unbalanced shape at alpha = 1e22, D = 4: beta(0) ~ alpha^4 (u+^4 - u-^4) gives initial
    margins of about 1e89, far beyond what float64 resolves."""
    return extprec.datasets.two_points(depth=4, alpha="1e22", shape=([1.0, 1.0], [0.5, 2.0]))


def test_float64_landing_near_the_precision_floor():
    """Landing on sigma = 5.4e10 needed 128 kernel steps from the bracketing step, and the
    budget of 64 ended the solve with RuntimeError; now the case is confirmed by arb or
    stops with a documented status."""
    case = FuzzCase(11, 25, 2, 19.529, "ones", "exp", "sum", "planted", -0.733, 20.74,
                    1611244081)
    outcome = run_case(case, reference=False)
    assert outcome.kind in ("unconfirmed", "stopped"), outcome.detail  # no reference asked


def _zero_sample():
    """A sample x = 0: its margin is 0 for every beta (not separable, infimum attained in the
    limit), so the minimum margin of every State is exactly 0."""
    return extprec.Problem([[1.0, 0.0], [0.0, 0.0]], [1, 1])


def test_float64_refuses_an_initial_state_it_cannot_resolve():
    """Margins of 1e89 at t = 0: float64 rounding noise in the softmax weights exceeds
    sqrt(rtol) (the kernel's own criterion), so the float64 integrator refuses to start
    (before: it started, the ell clock sigma - sigma0 was rounding noise, and solve raised
    FloatingPointError building the final State); with multiprecision=False the argument
    check says so and names the fix."""
    problem = _unresolvable_start()
    assert math.isfinite(problem.initial_log_loss()) and problem.initial_log_loss() > 1e80
    with pytest.raises(FloatingPointError, match="does not resolve the initial state"):
        Float64Integrator(problem, 1e-10)
    with pytest.raises(ValueError, match="multiprecision=False.*allow multiprecision=True"):
        extprec.solve(problem, log10_loss=-10, multiprecision=False)


@pytest.mark.xfail(strict=True, reason="driver._first_integrator starts arb at bits_for(1, rtol) "
                   "whatever the initial margins: sigma0 of a 1e89 loss is NaN at that "
                   "precision, and _check_reachable raises 'cannot convert float NaN to integer'")
def test_multiprecision_start_with_huge_initial_margins():
    """Should reach log10 L = -10 (or stop with a documented status); today ValueError."""
    traj = extprec.solve(_unresolvable_start(), log10_loss=-10)
    assert traj.status in DOCUMENTED


def test_zero_minimum_margin_float64_states():
    """float64 States of data with a zero sample: everything but beta_normalized is finite and
    the minimum margin is exactly 0; beta_normalized = beta / 0 is NaN (the State has no
    convention for an undefined unit-margin predictor yet: see the next test)."""
    traj = extprec.solve(_zero_sample(), t=10)
    assert traj.status == "reached"
    final = traj.final
    assert final.min_margin == 0
    for name in ("log10_loss", "sigma", "tau", "log10_t"):
        assert mpmath.isfinite(getattr(final, name)), name
    for name in ("nu", "beta", "w_plus", "w_minus", "margins"):
        assert all(mpmath.isfinite(v) for v in getattr(final, name)), name


@pytest.mark.xfail(strict=True, reason="State.beta_normalized = beta / min_margin is NaN when "
                   "the minimum margin is 0 (float64 make_state); NaN should never reach a "
                   "result: the State needs a convention for an undefined unit-margin predictor")
def test_zero_minimum_margin_has_no_nan():
    final = extprec.solve(_zero_sample(), t=10).final
    assert all(mpmath.isfinite(v) for v in final.beta_normalized)


def test_zero_minimum_margin_arb_states():
    """The same problem with backend="arb" ends like the float64 run: everything finite but
    beta_normalized = beta / 0, NaN as in float64 (make_state raised ValueError 'man_exp
    requires an exact, finite value' converting it, before non-finite midpoints became NaN
    or infinities)."""
    traj = extprec.solve(_zero_sample(), t=10, backend="arb")
    assert traj.status == "reached"
    final = traj.final
    assert final.backend == "arb" and final.min_margin == 0
    for name in ("log10_loss", "sigma", "tau", "log10_t"):
        assert mpmath.isfinite(getattr(final, name)), name
    for name in ("nu", "beta", "w_plus", "w_minus", "margins"):
        assert all(mpmath.isfinite(v) for v in getattr(final, name)), name
    assert all(mpmath.isnan(v) for v in final.beta_normalized)


def test_arb_from_the_start_at_large_alpha_depth_3():
    """alpha = 1e23, D = 3 from the start in arb: the D > 2 terms in log1p form (y ~ 1e-69
    rounded 1 +- y to 1, beta to 0 and the minimum margin to 0; make_state then raised)."""
    problem = extprec.datasets.orthogonal(3, depth=3, alpha="1e23")
    assert extprec.solve(problem, log10_loss=-3).status == "reached"
    assert extprec.solve(problem, log10_loss=-3, backend="arb").status == "reached"


def test_arb_shifted_matrix_of_a_duplicated_sample():
    """Found by the long fuzz campaign (N = 5, d = 21, D = 5, alpha = 2e11, logistic sum,
    a repeated sample and a zero feature): the run goes float64 -> arb and must be confirmed
    or stop with a documented status (acb_mat.inv raised ZeroDivisionError 'matrix is
    singular' before the D > 2 terms took log1p form)."""
    case = FuzzCase(5, 21, 5, 11.307, "balanced", "logistic", "sum", "degenerate", 0.886,
                    15.761, 580235070)
    outcome = run_case(case, reference=False)
    assert outcome.kind not in ("failure", "known bug"), outcome.detail


LANDING_CASE = FuzzCase(1, 13, 2, 12.669, "unbalanced", "logistic", "mean", "planted", 0.916,
                        27.823, 493631901)
LSTSQ_CASE = FuzzCase(7, 5, 1, 12.877, "unbalanced", "logistic", "sum", "degenerate", 1.641,
                      16.842, 1698905551)


@pytest.mark.parametrize("case", [
    pytest.param(LANDING_CASE, id="landing", marks=pytest.mark.xfail(strict=True, reason=(
        "MultiprecisionIntegrator._exact_step raises RuntimeError 'landing step failed' while "
        "landing on a checkpoint (N = 1, D = 2, alpha = 4.7e12, unbalanced shape, logistic "
        "mean loss)"))),
    pytest.param(LSTSQ_CASE, id="lstsq", marks=pytest.mark.xfail(strict=True, reason=(
        "radau.RadauSolver._project: np.linalg.lstsq on the float64 projection matrix raises "
        "LinAlgError 'SVD did not converge in Linear Least Squares' (N = 7, D = 1, alpha = "
        "7.5e12, unbalanced shape, logistic sum loss, repeated sample)"))),
])
def test_multiprecision_path_of_large_alpha_cases(case):
    """Found by the long fuzz campaign: should be confirmed or stop with a documented status;
    today the solve raises."""
    outcome = run_case(case, reference=False)
    assert outcome.kind not in ("failure", "known bug"), outcome.detail
