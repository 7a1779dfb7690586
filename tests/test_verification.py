"""Digits checked by a control run (extprec.verification; theory.md s.6, check 6).

* The rule itself, on synthetic State pairs with known differences: the digits are the
  tolerance's promise lowered to ``floor(-log10(10 * difference))``.
* On real runs every State carries verified evidence, and its claim holds against an
  independent run at a tolerance 1000 times tighter. (tests/test_references.py and
  tests/test_invariants.py check the same claims against closed forms and conservation laws:
  their tolerances are ``10**-state.digits``, the verified digits.)
* verify=False keeps the tolerance's promise, marked unchecked; results files keep the
  evidence exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import extprec
from extprec import verification
from extprec.trajectory import state_context

X1 = [1.0, -0.5, 2.0]


def _synthetic_state(scale=1):
    ctx = state_context(128)
    vec = np.array([ctx.mpf(v) * scale for v in (3, -1, 2)], dtype=object)
    return extprec.State(
        log10_loss=ctx.mpf(-10), sigma=ctx.mpf(10) * ctx.ln10, tau=ctx.mpf(5),
        log10_t=ctx.mpf(9), nu=vec.copy(), beta=vec.copy(), w_plus=vec.copy(),
        w_minus=vec.copy(), margins=vec.copy(), min_margin=ctx.mpf(1),
        beta_normalized=vec.copy(), digits=9, precision_bits=128, backend="arb")


@pytest.mark.parametrize("relative, expected", [
    (0, 9),            # identical: the tolerance's promise
    ("1e-12", 9),      # 10 * 1e-12 = 1e-11 < 1e-9: the promise stands
    ("3e-10", 8),      # floor(-log10(3e-9)) = 8
    ("2e-6", 4),       # floor(-log10(2e-5)) = 4
    ("0.5", 0),        # no digit survives
])
def test_digits_rule(relative, expected):
    """One entry of beta_normalized off by ``relative`` of its largest entry (3): digits =
    min(9, floor(-log10(10 * relative)))."""
    ctx = state_context(128)
    control = _synthetic_state()
    bn = control.beta_normalized.copy()
    bn[1] = bn[1] + 3 * ctx.mpf(relative)
    state = dataclasses.replace(control, beta_normalized=bn)
    checked = verification.verified(state, control, 1e-10, 1e-12)
    assert checked.digits == expected
    assert checked.evidence.verified
    assert checked.evidence.differences["beta_normalized"] == pytest.approx(
        float(ctx.mpf(relative)), rel=1e-12)
    assert checked.evidence.tolerance_digits == 9


def test_missing_control_vouches_for_nothing():
    state = verification.verified(_synthetic_state(), None, 1e-10, 1e-12)
    assert state.digits == 0 and not state.evidence.verified
    assert "stopped before this level" in state.evidence.note


def test_log10_t_difference_is_relative_to_its_size():
    """log10 t = 9 against 9 + 9e-8: relative difference 1e-8, so digits = 7."""
    ctx = state_context(128)
    control = _synthetic_state()
    state = dataclasses.replace(control, log10_t=ctx.mpf(9) + ctx.mpf("9e-8"))
    assert verification.verified(state, control, 1e-10, 1e-12).digits == 7


@pytest.fixture(scope="module")
def single_sample_run():
    problem = extprec.datasets.single_sample(X1, depth=2, alpha=1.0)
    return problem, extprec.solve(problem, log10_loss="-1e15")


def test_every_state_is_verified(single_sample_run):
    """Float64 and multiprecision States alike carry evidence from the control run at
    rtol/100, and its differences support the digits claimed (10 * difference < 10^-digits)."""
    _, traj = single_sample_run
    assert traj.status == "reached"
    backends = {s.backend for s in traj.checkpoints}
    assert backends == {"float64", "arb"}
    for state in traj.checkpoints:
        evidence = state.evidence
        assert evidence.verified, evidence.note
        assert evidence.control_rtol == pytest.approx(1e-12)
        assert set(evidence.differences) == set(verification.COMPARED)
        assert 0 < state.digits <= evidence.tolerance_digits == 9
        assert 10 * evidence.difference < 10.0 ** -state.digits


def test_claim_holds_against_tighter_run():
    """Two support vectors (two_points) to log10 L = -1e30, through the float64 -> arb
    handover: the verified digits hold against an independent run at rtol 1e-13 (1000 times
    tighter; in multiprecision at more bits beyond float64): relative differences of
    beta_normalized, margins, nu and log10 t below 10^-digits at every checkpoint."""
    problem = extprec.datasets.two_points()
    traj = extprec.solve(problem, log10_loss="-1e30")
    reference = extprec.solve(problem, log10_loss="-1e30", rtol=1e-13, verify=False)
    assert traj.status == reference.status == "reached"
    assert len(traj.checkpoints) == len(reference.checkpoints) == 31
    for state, ref in zip(traj.checkpoints, reference.checkpoints):
        assert state.evidence.verified
        diffs = verification.differences(state, ref)
        assert max(diffs.values()) <= 10.0 ** -state.digits, (state, diffs)


def test_unverified_run_keeps_the_promise_marked():
    problem = extprec.datasets.two_points()
    traj = extprec.solve(problem, log10_loss="-100", verify=False)
    for state in traj.checkpoints:
        assert state.digits == 9
        assert not state.evidence.verified and "verify=False" in state.evidence.note


def test_results_file_keeps_the_evidence(single_sample_run, tmp_path):
    _, traj = single_sample_run
    path = tmp_path / "run.json"
    extprec.save(traj, path)
    loaded = extprec.load(path)
    for a, b in zip(traj.checkpoints, loaded.checkpoints):
        assert a.evidence == b.evidence
        assert a.digits == b.digits


def test_verify_must_be_a_bool():
    with pytest.raises(TypeError, match="verify must be True or False"):
        extprec.solve(extprec.datasets.two_points(), log10_loss=-10, verify="yes")
