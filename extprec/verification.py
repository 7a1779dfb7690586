"""Digits the engine vouches for, from a control run (theory.md s.6, check 6).

Every State of :func:`extprec.solve` claims a number of significant digits. The tolerance
alone promises ``floor(-log10 rtol) - 1`` of them; the claim is *checked* by a control run:
the same problem integrated again from t = 0 with the tolerance tightened by
``CONTROL_RTOL_FACTOR`` (hence a higher working precision in multiprecision, which follows
the tolerance) and landed on the same loss levels and times. At each of them the control
State is at least as accurate as the State under test, so their difference bounds the
error of the latter (the standard a posteriori check by tolerance proportionality; Hairer,
Norsett and Wanner, *Solving ODEs I*, II.4, "global error estimation"). The digits are the
tolerance's promise lowered to what the difference supports, with a safety factor:

    digits = min(floor(-log10 rtol) - 1, floor(-log10(SAFETY * difference)))

where ``difference`` is the largest of the relative differences of ``beta_normalized``,
``margins`` and ``nu`` (each relative to its largest entry) and of ``log10_t`` (relative to
``max(1, |log10 t|)``). The evidence stays attached to the State (:class:`DigitsEvidence`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .trajectory import state_context

CONTROL_RTOL_FACTOR = 1e-2  # control tolerance = rtol * this
SAFETY = 10.0  # the difference times this must stay below 10^-digits
COMPARED = ("beta_normalized", "margins", "nu", "log10_t")


@dataclass(frozen=True)
class DigitsEvidence:
    """What a State's ``digits`` rest on.

    Attributes
    ----------
    tolerance_digits : int
        Digits the tolerance promises, ``floor(-log10 rtol) - 1``.
    verified : bool
        True when a control run reached this State's level and was compared with it.
    control_rtol : float or None
        Tolerance of the control run.
    control_bits : int or None
        Working precision of the control State.
    differences : dict
        Relative difference from the control State of each quantity in ``COMPARED``
        (floats; empty when not verified).
    note : str
        How the digits were decided, in words.
    """

    tolerance_digits: int
    verified: bool
    control_rtol: float | None = None
    control_bits: int | None = None
    differences: dict = dataclasses.field(default_factory=dict)
    note: str = ""

    @property
    def difference(self) -> float:
        """The largest relative difference (0 when there is none)."""
        return max(self.differences.values(), default=0.0)


def tolerance_digits(rtol: float) -> int:
    """Digits a tolerance promises: one fewer than its decimal exponent."""
    return max(0, int(math.floor(-math.log10(rtol))) - 1)


def control_rtol(rtol: float, floor: float) -> float:
    """The control run's tolerance (never below ``floor``, the smallest one accepted)."""
    return max(rtol * CONTROL_RTOL_FACTOR, floor)


def differences(state, control) -> dict:
    """Relative differences of the compared quantities of two States at one level."""
    ctx = state_context(max(state.precision_bits, control.precision_bits) + 16)

    def vector(name):
        a = [ctx.mpf(v) for v in getattr(state, name)]
        b = [ctx.mpf(v) for v in getattr(control, name)]
        scale = max((abs(v) for v in b), default=ctx.zero)
        if scale == 0:
            return 0.0 if all(v == 0 for v in a) else math.inf
        return float(max(abs(u - v) for u, v in zip(a, b)) / scale)

    out = {name: vector(name) for name in COMPARED if name != "log10_t"}
    t, tc = ctx.mpf(state.log10_t), ctx.mpf(control.log10_t)
    if ctx.isinf(t) or ctx.isinf(tc):
        out["log10_t"] = 0.0 if t == tc else math.inf
    else:
        out["log10_t"] = float(abs(t - tc) / max(ctx.one, abs(tc)))
    return out


def verified(state, control, rtol: float, control_tolerance: float):
    """``state`` with its digits checked against ``control`` (the control State at the same
    level, or None when the control run did not reach it)."""
    promised = tolerance_digits(rtol)
    if control is None:
        evidence = DigitsEvidence(
            promised, False, control_tolerance,
            note="the control run stopped before this level, so no digit is vouched for")
        return dataclasses.replace(state, digits=0, evidence=evidence)
    diffs = differences(state, control)
    worst = max(diffs.values())
    if worst == 0:
        digits = promised
    elif math.isfinite(worst):
        digits = max(0, min(promised, int(math.floor(-math.log10(SAFETY * worst)))))
    else:
        digits = 0
    note = (f"control run at rtol {control_tolerance:.1e} agrees to {worst:.1e} (relative); "
            f"{digits} of the {promised} digits the tolerance promises are confirmed")
    evidence = DigitsEvidence(promised, True, control_tolerance, control.precision_bits,
                              diffs, note)
    return dataclasses.replace(state, digits=digits, evidence=evidence)


def unverified(state, rtol: float, note: str | None = None):
    """``state`` with the tolerance's digits and evidence saying why no control State checks
    them (by default: verify=False)."""
    evidence = DigitsEvidence(tolerance_digits(rtol), False, note=note or
                              "verify=False: digits from the tolerance alone, unchecked")
    return dataclasses.replace(state, evidence=evidence)
