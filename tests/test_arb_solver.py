"""Step-size rules of the multiprecision Radau solver (``extprec.solvers.radau``), each
against a closed form or an exact property of the flow.

* The predictive controller ignores its memory where an error norm was floored: the
  factor is then the plain ERROR_FLOOR^(-1/4) whatever the ratio of the last two steps.
* The entry cap is the time for the log-probability gap of the next sample to reach the
  edge of the support, which for D = 1 (margins linear in nu) is the closed form
  (m_j - m_top - PROJECTION_CUT) / (2 x~_top . (x~_top - x~_j)) while p is one-hot.
* Below sigma = -1 no accepted step carries sigma across zero (a fuzz case whose margins
  start at -1.9e62).
"""

from __future__ import annotations

import pytest
from flint import arb, ctx

import extprec
from extprec.backends.multiprecision import ArbModel
from extprec.solvers import radau
from test_fuzz import FuzzCase

BITS = 256


def _two_samples_far_below_zero():
    """D = 1, alpha = 1e20, unbalanced shape: beta(0) = alpha (u+ - u-) = (-1e20, -2e20),
    margins (-1.5e20, -2.5e20); sample 1 (the lower margin) has p = 1 - e^(-1e20). The
    entries of X are binary fractions, so the closed forms below hold exactly."""
    return extprec.Problem([[1.0, 0.25], [0.5, 1.0]], [1, 1], depth=1, alpha="1e20",
                           shape=([1.0, 1.0], [2.0, 3.0]))


def _solver(problem):
    model = ArbModel(problem, BITS)
    with ctx.workprec(BITS):
        return radau.RadauSolver(model, [arb(0)] * (problem.n_samples + 1), arb(0), 1.0,
                                 1e-8)


def test_floored_errors_leave_the_controller_without_memory():
    """After a step of 1e30 with a floored error, a step of 1e-10 with a floored error
    proposes ERROR_FLOOR^(-1/4) times itself, not that times the ratio 1e-40 of the steps
    (which, repeated, cut every later step by 1e-40 again)."""
    solver = _solver(_two_samples_far_below_zero())
    solver.h_abs_old, solver.err_old = arb("1e30"), 1e-120
    factor = solver._predict_factor(arb("1e-10"), 1e-200)
    assert factor == pytest.approx(radau.ERROR_FLOOR ** -0.25, rel=1e-15)
    # with errors above the floor the predictive term acts (h / h_old) (err_old / err)^(1/4)
    solver.err_old = 1e-2
    factor = solver._predict_factor(arb("1e-10"), 1e-4)
    assert factor == pytest.approx(1e-40 * 100**0.25 * 1e-4 ** -0.25, rel=1e-12)


def test_entry_cap_is_the_time_for_the_gap_to_reach_the_cut():
    """D = 1: dm / d tau_hat = 2 X~ X~^T p, constant while p = e_top, so the gap
    m_0 - m_1 = 1e20 closes at 2 x~_1 . (x~_1 - x~_0) = 2 (1.25 - 0.75) = 1, and the cap
    is (1e20 - PROJECTION_CUT) / 1 to the rounding of 256 bits (the margins to 1e-57)."""
    solver = _solver(_two_samples_far_below_zero())
    with ctx.workprec(BITS):
        cap = solver._entry_cap(solver.ev)
        expected = arb("1e20") - radau.PROJECTION_CUT
        assert abs(float((cap - expected) / expected)) < 1e-60


def test_no_step_carries_sigma_across_zero_from_far_below(monkeypatch):
    """N = 4, D = 4, alpha = 2.1e15, unbalanced shape (a fuzz case): the margins rise from
    -1.9e62, and every accepted step that starts below sigma = -1 ends below zero.
    Without the rule one step went from sigma = -1e62 to +2e60, past the checkpoints near
    zero, and the run stopped with "landing failed"; with it the run reaches its level."""
    steps = []
    original = radau.RadauSolver.step

    def recording(self, tau_bound=None, predictor=None):
        start = self.ev.sigma
        accepted = original(self, tau_bound=tau_bound, predictor=predictor)
        if accepted:
            steps.append((float(start.mid()), float(self.ev.sigma.mid())))
        return accepted

    monkeypatch.setattr(radau.RadauSolver, "step", recording)
    case = FuzzCase(4, 20, 4, 15.331, "unbalanced", "exp", "sum", "random", -0.64, 22.495,
                    2769680640)
    problem = case.problem()
    traj = extprec.solve(problem, **case.stop(problem), checkpoints=case.checkpoints(problem),
                         rtol=1e-6, verify=False)
    assert traj.status == "reached"
    far_below = [(a, b) for a, b in steps if a < -1]
    assert len(far_below) >= 62  # |sigma| from 1.9e62 to 1 falls tenfold per step at most
    assert all(b < 0 for a, b in far_below), [s for s in far_below if s[1] >= 0]
