"""``solve``: from a Problem to a Trajectory with checkpoints at loss levels and times.

The driver owns what scipy's ``solve_ivp`` loop owns: stop conditions, output levels,
events and statuses. It asks an integrator (``extprec.solvers``) to advance until the next
level and lands exactly on each level passed. It starts in float64 (Numba) and, when float64
no longer resolves the softmax weights (or its step size reaches the spacing of floats),
hands the exact state to the multiprecision integrator, which raises its precision as sigma
grows.
"""

from __future__ import annotations

import math
import numbers

import mpmath

from .levels import LossLevel, TimeLevel, default_loss_levels
from .problem import Problem
from .solvers.float64_integrator import Float64Integrator
from .solvers.multiprecision_integrator import MultiprecisionIntegrator, bits_for
from .trajectory import (
    STATUS_MAX_STEPS, STATUS_NOT_FINITE, STATUS_PRECISION, STATUS_REACHED,
    STATUS_STEP_TOO_SMALL, Trajectory,
)

DEFAULT_RTOL = 1e-10
DEFAULT_MAX_STEPS = 1_000_000
MIN_RTOL = 1e-40
MAX_RTOL = 1e-3
MIN_FLOAT64_RTOL = 1e-13  # tighter tolerances start in multiprecision
FIRST_STEP = 1e-3

STATUS = {
    "max steps": STATUS_MAX_STEPS,
    "step too small": STATUS_STEP_TOO_SMALL,
    "not finite": STATUS_NOT_FINITE,
    "precision exhausted": STATUS_PRECISION,
}


def solve(problem: Problem, log10_loss=None, *, t=None, checkpoints=None, checkpoint_times=None,
          rtol: float = DEFAULT_RTOL, max_steps: int = DEFAULT_MAX_STEPS,
          multiprecision: bool = True, backend: str = "auto") -> Trajectory:
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
    multiprecision : bool
        Continue in multiprecision when float64 is exhausted (default). With False the run
        stops there with status "precision exhausted".
    backend : {"auto", "arb"}
        "auto" starts in float64 when the tolerance allows it; "arb" integrates in
        multiprecision from the start (an independent check of a float64 run).

    Returns
    -------
    Trajectory
        ``status == "reached"`` when the stop was reached; otherwise the status says why the
        run stopped and the final State is the last one the engine vouches for.
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

    if backend not in ("auto", "arb"):
        raise ValueError(f'backend must be "auto" or "arb"; got {backend!r}')
    if backend == "arb" and not multiprecision:
        raise ValueError('backend="arb" is multiprecision; drop multiprecision=False')
    stop = LossLevel.parse(log10_loss) if log10_loss is not None else None
    stop_time = TimeLevel.parse(t) if t is not None else None
    integrator = _first_integrator(problem, rtol, multiprecision, backend)
    sigma0 = integrator.sigma0 if isinstance(integrator.sigma0, float) else float(
        integrator.sigma0.mid())
    loss_levels = ([LossLevel.parse(v) for v in checkpoints] if checkpoints is not None
                   else default_loss_levels(sigma0, stop))
    time_levels = sorted((TimeLevel.parse(v) for v in (checkpoint_times or ())),
                         key=TimeLevel.sort_key)
    _check_reachable(problem, sigma0, ([stop] if stop else []) + loss_levels)
    loss_levels = sorted((lv for lv in loss_levels
                          if stop is None or lv.sort_key() < stop.sort_key()),
                         key=LossLevel.sort_key)
    if stop_time is not None:
        time_levels = [lv for lv in time_levels if lv.sort_key() < stop_time.sort_key()]

    segments = [integrator]
    states = []
    final = None
    status = None
    remaining = int(max_steps)
    while True:
        next_loss = loss_levels[0] if loss_levels else stop
        next_time = time_levels[0] if time_levels else stop_time
        before = integrator.n_steps
        outcome = integrator.advance(next_loss, next_time, remaining)
        remaining -= integrator.n_steps - before
        if outcome == "event":
            while loss_levels and integrator.passed(loss_levels[0]):
                states.append(integrator.state_at(loss_levels.pop(0)))
            while time_levels and integrator.passed(time_levels[0]):
                states.append(integrator.state_at(time_levels.pop(0)))
            reached = next((lv for lv in (stop, stop_time)
                            if lv is not None and integrator.passed(lv)), None)
            if reached is not None:
                final = integrator.state_at(reached)
                states.append(final)
                status = STATUS_REACHED
                break
            if not loss_levels and not time_levels and stop is None and stop_time is None:
                final = states[-1]
                status = STATUS_REACHED
                break
            if remaining <= 0:
                status = STATUS_MAX_STEPS
                break
            continue
        if (outcome in ("precision exhausted", "step too small") and multiprecision
                and isinstance(integrator, Float64Integrator)):
            integrator = MultiprecisionIntegrator(
                problem, rtol, [float(v) for v in integrator.y], integrator.h,
                integrator.sigma0, bits_for(integrator.amplification(), rtol))
            segments.append(integrator)
            continue
        status = STATUS[outcome]
        break
    if final is None:
        final = integrator.make_state(integrator.ell_now(), integrator.y_now())
    states.sort(key=lambda s: s.ell)
    return Trajectory(
        problem=problem,
        checkpoints=states,
        final=final,
        status=status,
        message=_message(status, final, integrator, stop, stop_time),
        n_steps=sum(seg.n_steps for seg in segments),
        stats=_stats(segments),
        rtol=float(rtol),
        _segments=segments,
    )


def _first_integrator(problem, rtol, multiprecision, backend="auto"):
    """Float64 when the tolerance and the initial state allow it, else multiprecision."""
    if rtol >= MIN_FLOAT64_RTOL and backend == "auto":
        try:
            return Float64Integrator(problem, rtol)
        except FloatingPointError:
            if not multiprecision:
                raise
    if not multiprecision:
        raise ValueError(f"rtol = {rtol:g} is below what float64 can deliver "
                         f"({MIN_FLOAT64_RTOL:g}); allow multiprecision=True")
    bits = bits_for(1.0, rtol)
    n = problem.n_samples
    probe = MultiprecisionIntegrator.initial_sigma0(problem, bits)
    return MultiprecisionIntegrator(problem, rtol, [0.0] * (n + 1), FIRST_STEP, probe, bits)


def _stats(segments) -> dict:
    names = ("f_evaluations", "jacobians", "lu_decompositions", "newton_failures",
             "rejected_steps")
    total = [0] * 5
    for seg in segments:
        for i, c in enumerate(seg.counters):
            total[i] += int(c)
    stats = dict(zip(names, total))
    stats["segments"] = [(seg.backend, seg.n_steps) for seg in segments]
    stats["precision_schedule"] = [entry for seg in segments
                                   for entry in getattr(seg, "bits_used", [])]
    return stats


def _check_reachable(problem: Problem, sigma0: float, levels) -> None:
    """Refuse levels at or above the starting loss, and below the infimum for data that are
    not linearly separable."""
    if not levels:
        return
    lowest = min(levels, key=LossLevel.sort_key)
    if lowest.sort_key() <= sigma0:
        raise ValueError(
            f"the requested {lowest} is not below the starting loss, log10 L(0) = "
            f"{-sigma0 / math.log(10):.6g}; ask for a smaller loss (a more negative log10_loss)")
    separability = problem.separability()
    if separability.separable:
        return
    sigma_max = -problem.infimum_log_loss()
    highest = max(levels, key=LossLevel.sort_key)
    if highest.sort_key() >= sigma_max:
        raise ValueError(
            f"the requested {highest} is below what this problem can reach, "
            f"log10 inf L = {-sigma_max / math.log(10):.6g}: {separability.message}. "
            "Ask for a level above the infimum.")


def _message(status, final, integrator, stop, stop_time) -> str:
    level = f"log10 loss = {mpmath.nstr(final.log10_loss, 10)}"
    if status == STATUS_REACHED:
        target = stop or stop_time or "the last checkpoint"
        return (f"reached {target} ({level}, log10 t = {mpmath.nstr(final.log10_t, 10)}, "
                f"{final.backend} at {final.precision_bits} bits)")
    if status == STATUS_PRECISION:
        return (f"precision exhausted: beyond sigma = {mpmath.nstr(final.sigma, 6)} ({level}) "
                f"the float64 rounding noise of the softmax weights (about "
                f"{integrator.last_resolution:.1e} here) exceeds its limit sqrt(rtol) = "
                f"{integrator.rtol ** 0.5:.1e}. The final state is the last one float64 "
                "resolves; allow multiprecision=True to go on from it.")
    if status == STATUS_MAX_STEPS:
        return f"stopped after max_steps steps at {level}; raise max_steps to go further"
    if status == STATUS_STEP_TOO_SMALL:
        return (f"the step size fell below the spacing of the working precision at {level}; "
                "the flow cannot be resolved further")
    return f"the state left the range of the arithmetic at {level}"


__all__ = ["solve"]
