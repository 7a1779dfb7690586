"""Extreme training accuracies, 10^(-10^50) and 10^(-10^100), against exact answers.

* N = 1 closed form (theory.md s.6 check 3) at log10 L = -1e50 for D = 2 and D = 3: the
  state's ``beta_normalized`` and ``log10_t`` against ``reference_flows.SingleSampleReference``
  evaluated at the state's own sigma, with the reference at 700 bits (about 210 digits; near
  the D = 3 barrier the gap (alpha u)^(2-D) - D(D-2) rho is a small difference, and 170 bits
  would leave only about 33 digits of it).
* A problem with two support vectors (``datasets.two_points``) reaches 10^(-10^100) with
  its default checkpoints, and the rich-phase limits of theory.md s.3 and s.5 hold there to
  the digits the engine claims: beta_normalized equals the l1 max-margin predictor,
  d log(sigma) / d tau = 4 / ||beta_K||_1 and L t log t = ||beta_K||_1 / 4.
* Two runs to 10^(-10^100) at rtol 1e-10 and 1e-13 (different steps and precision
  schedules) agree to the digits the first claims.
"""

from __future__ import annotations

from fractions import Fraction
import math

import mpmath
import numpy as np
import pytest

import extprec
from reference_flows import SingleSampleReference, to_ctx

X1 = np.array([1.0, -0.5, 2.0])  # the single sample (label +1), as in test_references.py
REFERENCE_BITS_EXTREME = 700


@pytest.mark.parametrize("depth", [2, 3])
def test_single_sample_closed_form_at_minus_1e50(depth):
    """N = 1, exp loss, alpha = 1 at log10 L = -1e50: the run reaches the level (log10_loss
    equal to -1e50 to relative ``10**-digits``); beta_normalized equals the closed form at the
    state's sigma to 30 significant digits (for N = 1 the dual is nu = tau exactly, so the
    working precision, not rtol, bounds this error) and log10 t to 1e-6 absolute (t is about
    10^(10^50): that is 56 significant digits of log10 t)."""
    problem = extprec.datasets.single_sample(X1, depth=depth, alpha=1.0, loss="exp")
    traj = extprec.solve(problem, log10_loss="-1e50", checkpoints=[])
    assert traj.status == "reached", traj.message
    state = traj.final
    level = mpmath.mpf("-1e50")
    assert abs(state.log10_loss - level) <= mpmath.mpf(10) ** -state.digits * abs(level)

    ref = SingleSampleReference(X1, 1, depth, 1.0, loss="exp", bits=REFERENCE_BITS_EXTREME)
    ctx = ref.ctx
    want = ref.state_at_sigma(to_ctx(ctx, state.sigma))
    for got, exact in zip(state.beta_normalized, want["beta_normalized"]):
        assert abs(to_ctx(ctx, got) - exact) <= ctx.mpf("1e-30") * abs(exact)
    assert abs(to_ctx(ctx, state.log10_t) - want["log10_t"]) <= ctx.mpf("1e-6")


def _l1_limit_of_two_points(problem):
    """The l1 max-margin predictor of ``two_points`` for the float64 data the engine uses
    (0.9 is not 9/10 in binary; with exact 9/10 it is (10/11, 2/11)): both samples are
    support vectors and both coordinates active, so it solves X beta = 1 exactly."""
    (a, b), (c, d) = [[Fraction(float(v)) for v in row] for row in problem.signed_X]
    det = a * d - b * c
    return [(d - b) / det, (a - c) / det]


def _assert_on_default_levels(states, ctx):
    """Every default checkpoint sits on its level, to relative ``10**-digits``: a decade of
    log10(1/L), log10_loss = -10^k, k = 0, 1, 2, ..."""
    for state in states:
        tol = ctx.mpf(10) ** -state.digits
        value = -ctx.mpf(state.log10_loss)
        level = ctx.mpf(10) ** ctx.nint(ctx.log10(value))
        assert abs(value - level) / level <= tol, f"log10 L = {mpmath.nstr(state.log10_loss, 15)}"


def test_default_problem_lands_on_minus_1e12():
    """The default problem (N = 20, d = 50, several support vectors) to log10 L = -1e12,
    beyond where float64 hands over: the final state and every default checkpoint are on
    their levels to relative ``10**-digits`` (the landing closes the gap to the level by
    Newton steps on log sigma and never returns a state off the level)."""
    traj = extprec.solve(extprec.datasets.default_problem(), log10_loss="-1e12")
    assert traj.status == "reached", traj.message
    assert traj.final.backend != "float64"
    ctx = mpmath.mp.clone()
    ctx.prec = 4 * traj.final.precision_bits
    level = ctx.mpf("-1e12")
    assert abs(ctx.mpf(traj.final.log10_loss) - level) <= (
        ctx.mpf(10) ** -traj.final.digits * abs(level))
    _assert_on_default_levels(traj.checkpoints, ctx)


@pytest.fixture(scope="module")
def two_points_to_minus_1e100():
    return extprec.solve(extprec.datasets.two_points(), log10_loss="-1e100")


def test_two_support_vectors_reach_minus_1e100(two_points_to_minus_1e100):
    """``two_points`` (N = 2, d = 2, D = 2, alpha = 1, exp sum loss) to log10 L = -1e100 with
    the default checkpoints (every decade of log10(1/L): 101 states). In the
    rich phase (theory.md s.3 and s.5, D = 2), with beta_K the unit-margin l1 max-margin
    predictor:

    * beta_normalized -> beta_K (its distance falls by a factor of about ten per decade of
      log10(1/L) from -10 to -1e10, and at -1e100 it is below ``10**-digits``);
    * (d sigma / d tau) / sigma -> 4 / ||beta_K||_1, checked as the slope of log sigma against
      tau between the last two checkpoints, to relative ``10**-digits``;
    * L t log t -> ||beta_K||_1 / 4, to relative ``10**-digits`` at the final state.
    """
    traj = two_points_to_minus_1e100
    assert traj.status == "reached", traj.message
    assert len(traj.checkpoints) == 101
    final = traj.final
    assert final.backend != "float64"
    ctx = mpmath.mp.clone()
    ctx.prec = 4 * final.precision_bits
    tol = ctx.mpf(10) ** -final.digits
    _assert_on_default_levels(traj.checkpoints, ctx)
    limit = [ctx.mpf(q.numerator) / q.denominator
             for q in _l1_limit_of_two_points(extprec.datasets.two_points())]
    l1_norm = ctx.fsum(abs(v) for v in limit)

    def distance(state):
        return max(abs(ctx.mpf(g) - w) / abs(w) for g, w in zip(state.beta_normalized, limit))

    by_level = {int(round(-float(s.log10_loss))): s for s in traj.checkpoints
                if -1e11 < float(s.log10_loss) < 0}
    decades = [distance(by_level[10 ** k]) for k in range(1, 11)]
    for coarse, fine in zip(decades, decades[1:]):
        assert fine < coarse / 5
    assert distance(final) <= tol

    last, before = traj.checkpoints[-1], traj.checkpoints[-2]
    slope = ((ctx.log(ctx.mpf(last.sigma)) - ctx.log(ctx.mpf(before.sigma)))
             / (ctx.mpf(last.tau) - ctx.mpf(before.tau)))
    assert abs(slope - 4 / l1_norm) <= tol * (4 / l1_norm)

    log_t = ctx.mpf(final.log10_t) * ctx.log(10)
    log_l_t_log_t = -ctx.mpf(final.sigma) + log_t + ctx.log(log_t)
    assert abs(log_l_t_log_t - ctx.log(l1_norm / 4)) <= tol


def test_tighter_run_agrees_at_minus_1e100(two_points_to_minus_1e100):
    """The rtol 1e-10 run and an rtol 1e-13 run (12 digits claimed; its own step sequence and
    precision schedule) agree at log10 L = -1e100 to the 9 digits the first claims: beta_normalized componentwise, and
    log10(L t) = log10_t + log10_loss (log10 t itself is about 1e100, and the two landings may
    differ in sigma by rtol relative, which moves log10 t and log10 L together)."""
    loose = two_points_to_minus_1e100.final
    tight = extprec.solve(extprec.datasets.two_points(), log10_loss="-1e100",
                          checkpoints=[], rtol=1e-13, verify=False).final  # the reference
    assert tight.digits > loose.digits
    ctx = mpmath.mp.clone()
    ctx.prec = 4 * tight.precision_bits
    tol = ctx.mpf(10) ** -loose.digits
    for a, b in zip(loose.beta_normalized, tight.beta_normalized):
        assert abs(ctx.mpf(a) - ctx.mpf(b)) <= tol * abs(ctx.mpf(b))
    lt_loose = ctx.mpf(loose.log10_t) + ctx.mpf(loose.log10_loss)
    lt_tight = ctx.mpf(tight.log10_t) + ctx.mpf(tight.log10_loss)
    assert abs(lt_loose - lt_tight) <= tol * max(1, abs(lt_tight))


@pytest.mark.parametrize("k", [3, 119, 120, 1000, 10**5])
def test_default_checkpoints_every_decade_then_about_a_hundred(k):
    """Default checkpoints for a stop at log10 L = -10^k (sigma = 10^(k + 0.36), so decades
    up to k + 1 = k_max): every decade ``-10^j``, j = 0..k, while k_max <= MAX_EVERY_DECADE;
    beyond, every ceil(k_max / 100)-th decade (50 to 101 levels), evenly spaced in j from
    j = 0 to the last one above the stop."""
    from extprec.levels import MAX_EVERY_DECADE, LossLevel, default_loss_levels

    stop = LossLevel(Fraction(-(10**k)))
    levels = default_loss_levels(0.0, stop)
    # j from the bit length (a decimal string of 10^100000 exceeds Python's limit)
    exponents = [round((-level.value.numerator).bit_length() * math.log10(2) - 0.5)
                 for level in levels]
    assert all(-level.value == 10**j for level, j in zip(levels, exponents))
    assert all(level.sort_key() < stop.sort_key() for level in levels)
    if k + 1 <= MAX_EVERY_DECADE:
        assert exponents == list(range(k))
    else:
        stride = -(-(k + 1) // 100)
        assert exponents == list(range(0, k, stride))
        assert 50 <= len(levels) <= 101
