"""``solve``: from a Problem to a Trajectory with checkpoints at loss levels and times.

The driver owns what scipy's ``solve_ivp`` loop owns: stop conditions, output levels,
events and statuses. It asks an integrator (``extprec.solvers``) to advance until the next
level, lands exactly on each level crossed, and stops cleanly, with a status and the last
resolved state, when the integrator cannot go on.
"""

from __future__ import annotations

import decimal
import math
import numbers
from fractions import Fraction

import mpmath
import numpy as np

from .problem import Problem
from .solvers import radau_float64 as kernel
from .solvers.float64_integrator import Float64Integrator
from .trajectory import (
    STATUS_MAX_STEPS, STATUS_NOT_FINITE, STATUS_PRECISION, STATUS_REACHED,
    STATUS_STEP_TOO_SMALL, Trajectory,
)

LN10 = math.log(10.0)
DEFAULT_RTOL = 1e-10
DEFAULT_MAX_STEPS = 1_000_000
MIN_RTOL = 1e-14  # below this float64 cannot resolve even the first steps
MAX_RTOL = 1e-3
DECADE_LIMIT = 300  # default checkpoints go up to sigma and log10(1/L) = 1e300

KERNEL_STATUS = {
    kernel.PRECISION: STATUS_PRECISION,
    kernel.MAX_STEPS: STATUS_MAX_STEPS,
    kernel.STEP_TOO_SMALL: STATUS_STEP_TOO_SMALL,
    kernel.NOT_FINITE: STATUS_NOT_FINITE,
}


# -- parsing of levels ---------------------------------------------------------------------
def exact_number(value, name: str) -> Fraction:
    """Exact rational value of an int, float, Fraction, Decimal, mpf or decimal string."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a decimal string, not a bool")
    try:
        if isinstance(value, str):
            result = Fraction(decimal.Decimal(value.strip()))
        elif isinstance(value, mpmath.mpf) or hasattr(value, "_mpf_"):
            sign, man, exp, _ = value._mpf_
            if not man and exp:
                raise ValueError
            man = -man if sign else man
            result = Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)
        elif isinstance(value, (numbers.Rational, decimal.Decimal, numbers.Real)):
            result = Fraction(value)
        else:
            raise TypeError(f"{name} must be a number or a decimal string; got {type(value).__name__}")
    except (ValueError, decimal.InvalidOperation, OverflowError):
        raise ValueError(f"{name} must be a finite number or decimal string such as '-1e100'; "
                         f"got {value!r}") from None
    return result


def _to_float(q: Fraction) -> float:
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def parse_level(log10_loss) -> float:
    """sigma = log(1/L) of a log10 loss level (float64 value; levels beyond it are inf)."""
    return -_to_float(exact_number(log10_loss, "log10_loss")) * LN10


def parse_time(t) -> float:
    """log t of an original time t > 0 given as a number or a decimal string ("1e1000")."""
    q = exact_number(t, "t")
    if q <= 0:
        raise ValueError(f"the time t must be positive; got {t!r}")
    return math.log(q.numerator) - math.log(q.denominator)


def default_sigma_levels(sigma0: float, sigma_stop: float) -> list[float]:
    """Every decade of log10(1/L) and of sigma strictly between sigma0 and sigma_stop."""
    levels = set()
    for k in range(DECADE_LIMIT + 1):
        for sigma in (10.0**k, 10.0**k * LN10):
            if sigma0 < sigma < sigma_stop:
                levels.add(sigma)
    return sorted(levels)


# -- solve ---------------------------------------------------------------------------------
def solve(problem: Problem, log10_loss=None, *, t=None, checkpoints=None, checkpoint_times=None,
          rtol: float = DEFAULT_RTOL, max_steps: int = DEFAULT_MAX_STEPS) -> Trajectory:
    """Follow the gradient flow of ``problem`` down to a training-loss level or a time.

    Parameters
    ----------
    problem : Problem
    log10_loss : int, float, mpf or str, optional
        Stop level: log10 of the training loss (``"-1e100"`` means L = 10^(-10^100); strings
        are exact).
    t : number or str, optional
        Stop at this original gradient-flow time instead (``"1e1000"`` allowed).
    checkpoints : sequence, optional
        log10-loss levels at which to record States. Default: every decade of log10(1/L)
        and of sigma = log(1/L) up to the stop.
    checkpoint_times : sequence, optional
        Original times at which to record States.
    rtol : float
        Relative tolerance of the integration (local error per step); the digits a State
        vouches for follow from it.
    max_steps : int
        Budget of accepted steps.

    Returns
    -------
    Trajectory
        With ``status == "reached"`` when the stop was reached. Otherwise the status says
        why the run stopped (``"precision exhausted"``: float64 no longer resolves the
        margins to ``rtol``; the final State is the last resolved one).
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"solve expects an extprec.Problem; got {type(problem).__name__}")
    if log10_loss is not None and t is not None:
        raise ValueError("give either log10_loss=... or t=... as the stop, not both")
    if log10_loss is None and t is None and not checkpoints and not checkpoint_times:
        raise ValueError("nothing to compute: give a stop, log10_loss=... (e.g. '-1e100') "
                         "or t=..., or checkpoints=[...]")
    if not (isinstance(rtol, numbers.Real) and MIN_RTOL <= rtol <= MAX_RTOL):
        raise ValueError(f"rtol must be a number in [{MIN_RTOL:g}, {MAX_RTOL:g}]; got {rtol!r}")
    if not (isinstance(max_steps, numbers.Integral) and max_steps >= 1):
        raise ValueError(f"max_steps must be a positive integer; got {max_steps!r}")

    integrator = Float64Integrator(problem, rtol)
    sigma0 = integrator.sigma0
    sigma_stop = parse_level(log10_loss) if log10_loss is not None else math.inf
    log_t_stop = parse_time(t) if t is not None else math.inf
    sigma_levels = ([parse_level(v) for v in checkpoints] if checkpoints is not None
                    else default_sigma_levels(sigma0, sigma_stop))
    time_levels = [parse_time(v) for v in (checkpoint_times or ())]
    _check_reachable(problem, sigma0, ([sigma_stop] if log10_loss is not None else []) + sigma_levels)
    sigma_levels = sorted(s for s in sigma_levels if s < sigma_stop)
    time_levels = sorted(lt for lt in time_levels if lt < log_t_stop)

    states = []
    final = None
    status = None
    remaining = int(max_steps)
    while True:
        next_sigma = min(sigma_levels[:1] + [sigma_stop])
        next_log_t = min(time_levels[:1] + [log_t_stop])
        steps_before = integrator.n_steps
        code = integrator.advance(next_sigma, next_log_t, remaining)
        remaining -= integrator.n_steps - steps_before
        if code in (kernel.SIGMA_EVENT, kernel.TIME_EVENT):
            sigma_now = integrator.sigma_of(integrator.y)
            log_t_now = integrator.log_t_of(integrator.y)
            while sigma_levels and sigma_levels[0] <= sigma_now:
                states.append(integrator.make_state(*integrator.land("sigma", sigma_levels.pop(0))))
            while time_levels and time_levels[0] <= log_t_now:
                states.append(integrator.make_state(*integrator.land("log_t", time_levels.pop(0))))
            if sigma_now >= sigma_stop or log_t_now >= log_t_stop:
                quantity, level = (("sigma", sigma_stop) if sigma_now >= sigma_stop
                                   else ("log_t", log_t_stop))
                final = integrator.make_state(*integrator.land(quantity, level))
                states.append(final)
                status = STATUS_REACHED
                break
            if not sigma_levels and not time_levels and math.isinf(sigma_stop) and math.isinf(
                    log_t_stop):
                final = states[-1]
                status = STATUS_REACHED
                break
            if remaining <= 0:
                status = STATUS_MAX_STEPS
                break
            continue
        status = KERNEL_STATUS[code]
        break
    if final is None:
        final = integrator.make_state(integrator.ell, integrator.y)
    states.sort(key=lambda s: s.ell)
    return Trajectory(
        problem=problem,
        checkpoints=states,
        final=final,
        status=status,
        message=_message(status, final, integrator, log10_loss, t),
        n_steps=integrator.n_steps,
        stats=dict(zip(("f_evaluations", "jacobians", "lu_decompositions", "newton_failures",
                        "rejected_steps"), (int(c) for c in integrator.counters))),
        rtol=float(rtol),
        _integrator=integrator,
    )


def _check_reachable(problem: Problem, sigma0: float, sigmas) -> None:
    """Refuse levels at or above the starting loss, and below the infimum for data that are
    not linearly separable."""
    if not sigmas:
        return
    lowest = min(sigmas)
    if lowest <= sigma0:
        raise ValueError(
            f"the requested loss level log10 L = {-lowest / LN10:.6g} is not below the starting "
            f"loss log10 L(0) = {-sigma0 / LN10:.6g}; ask for a smaller loss (a more negative "
            "log10_loss)")
    separability = problem.separability()
    if separability.separable:
        return
    sigma_max = -problem.infimum_log_loss()
    highest = max(sigmas)
    if highest >= sigma_max:
        raise ValueError(
            f"the requested loss level log10 L = {-highest / LN10:.6g} is below what this "
            f"problem can reach, log10 inf L = {-sigma_max / LN10:.6g}: "
            f"{separability.message}. Ask for a level above the infimum.")


def _message(status, final, integrator, log10_loss, t) -> str:
    level = f"log10 loss = {mpmath.nstr(final.log10_loss, 10)}"
    if status == STATUS_REACHED:
        stop = f"log10_loss = {log10_loss}" if log10_loss is not None else (
            f"t = {t}" if t is not None else "the last checkpoint")
        return f"reached {stop} ({level}, log10 t = {mpmath.nstr(final.log10_t, 10)})"
    if status == STATUS_PRECISION:
        return (f"precision exhausted: float64 resolves the margins only to about "
                f"{integrator.last_resolution:.1e} beyond sigma = {mpmath.nstr(final.sigma, 6)} "
                f"({level}), coarser than rtol = {integrator.rtol:g}. The final state is the "
                "last one float64 resolves; continue in multiprecision from it or loosen rtol.")
    if status == STATUS_MAX_STEPS:
        return f"stopped after max_steps steps at {level}; raise max_steps to go further"
    if status == STATUS_STEP_TOO_SMALL:
        return (f"step size fell below the spacing of floats at {level}; the flow cannot be "
                "resolved further in float64")
    return f"the state left the float64 range at {level}"


__all__ = ["solve", "parse_level", "parse_time", "exact_number"]
