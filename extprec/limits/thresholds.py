"""Where a limit kicks in: the loss level at which a trajectory first comes within delta of it.

theory.md s.5 ("limit behaviours only kick in at ridiculous training accuracies"): for a problem,
a limit (a key of ``State.distance``) and a tolerance delta, :func:`kick_in` returns the log10
loss level at which the relative distance of ``beta_normalized`` to the limit first falls below
delta.

Method. The flow is solved to deeper and deeper stops ``log10 L = -10^e``, e = 2, 3, 4, 5, 7,
9, 12, ... (growing by STOP_GROWTH = 1.25, at least by one; each solve starts afresh: the step
count grows like log sigma, so the restarts cost at most about five times the last solve, and
the last solve overshoots the answer by at most a factor 1.25 in log10 log10(1/L), which keeps
the expensive multiprecision part short), in multiprecision where float64 no longer resolves
it. The
distance is read at the grid ``log10 L = -10^(k / GRID_PER_DECADE)`` in order; between the last
grid level with ``distance >= delta`` and the first with ``distance < delta`` the level is
bisected (geometrically in log10(1/L)) on the dense output (``Trajectory.state_at``) until the
bracket is ``10^-level_digits`` wide relative to the level. "First" is first on that grid: a
dip below delta and back between two grid levels a quarter decade apart is not seen.

The search stops at ``deepest_log10_loss`` (default ``-1e100``; the default problem reaches it
in about 35 s) with :class:`KickInNotReached`, which reports the smallest distance met and the
distance at the deepest level.
"""

from __future__ import annotations

import dataclasses
import math

import mpmath

from .diagnostics import REFERENCE_NAMES, REGIME_DELTA, LimitReferences, LimitUnavailable

__all__ = ["GRID_PER_DECADE", "KickIn", "KickInNotReached", "kick_in", "kick_in_report"]

# Grid levels per decade of log10(1/L).
GRID_PER_DECADE = 4
# Successive stops are log10 L = -10^e with e growing by this factor (and at least by one).
STOP_GROWTH = 1.25
DEFAULT_DEEPEST = "-1e100"
_LEVEL_CTX = mpmath.MPContext()
_LEVEL_CTX.prec = 100


class KickInNotReached(RuntimeError):
    """The distance did not fall below delta down to the deepest level searched."""


@dataclasses.dataclass(frozen=True, eq=False)
class KickIn:
    """Outcome of :func:`kick_in_report`.

    Attributes
    ----------
    log10_loss : mpf
        The first level found with ``distance < delta`` (the lower end of the bracket).
    bracket : tuple of mpf
        ``(above, log10_loss)``: at ``above`` the distance is still >= delta, and
        ``|above / log10_loss - 1| <= 10^-level_digits`` (or ``above`` is None when the first
        grid level is already within delta).
    distance : mpf
        The distance at ``log10_loss``.
    state : State
        The State at ``log10_loss``.
    limit, delta :
        As asked.
    trajectory : Trajectory
        The last solve (its stop is at or below ``log10_loss``).
    evaluations : int
        States whose distance was read.
    """

    log10_loss: object
    bracket: tuple
    distance: object
    state: object
    limit: str
    delta: object
    trajectory: object
    evaluations: int


def kick_in(problem, limit="l1", delta=REGIME_DELTA, **options):
    """log10 of the training loss where ``state.distance[limit]`` first falls below ``delta``.

    An mpf (log10 L, possibly far beyond the float range such as -3.1e8); see
    :func:`kick_in_report` for the options and for the bracket and State behind it.
    """
    return kick_in_report(problem, limit, delta, **options).log10_loss


def kick_in_report(problem, limit="l1", delta=REGIME_DELTA, *,
                   deepest_log10_loss=DEFAULT_DEEPEST, level_digits=3, rtol=1e-10) -> KickIn:
    """Find where ``limit`` kicks in (module docstring) and return the :class:`KickIn`.

    Parameters
    ----------
    problem : Problem
        Separable data.
    limit : str
        A key of ``State.distance``: ``"l1"``, ``"l2"``, ``"q_mu"`` (reads a Q_mu solve per
        State), or ``"l1_active"`` (D > 2: the l1 max margin on the active coordinates, the
        D > 2 rich limit when it is a KKT point of l_(2/D)).
    delta : number or decimal string, default ``REGIME_DELTA`` (0.05)
        Relative distance, in (0, 1).
    deepest_log10_loss : number or decimal string, default ``"-1e100"``
        Do not integrate beyond this level; :class:`KickInNotReached` when the distance is
        still >= delta there.
    level_digits : int, default 3
        Relative width of the final bracket: ``10^-level_digits``.
    rtol : float
        Tolerance of the integration (``extprec.solve``).
    """
    from ..driver import solve

    if limit not in REFERENCE_NAMES:
        raise ValueError(f"limit must be one of {', '.join(map(repr, REFERENCE_NAMES))}; got "
                         f"{limit!r}")
    reason = LimitReferences.of(problem).unavailable_reason(limit)
    if reason is not None:
        raise ValueError(f"limit {limit!r} is not defined for this problem: {reason}")
    if not problem.separability().separable:
        raise ValueError(f"kick_in needs separable data; {problem.separability().message}")
    with mpmath.workdps(30):
        delta_mp = mpmath.mpf(delta)
        deepest = mpmath.mpf(deepest_log10_loss)
    if not 0 < delta_mp < 1:
        raise ValueError(f"delta must be a relative distance in (0, 1); got {delta!r}")
    if not isinstance(level_digits, int) or not 1 <= level_digits <= 30:
        raise ValueError(f"level_digits must be an integer in [1, 30]; got {level_digits!r}")
    start = problem.initial_log_loss() / math.log(10.0)
    if not deepest < min(start, 0):
        raise ValueError(f"deepest_log10_loss must lie below the initial loss log10 L(0) = "
                         f"{start:.6g} and below 0; got {deepest_log10_loss!r}")

    evaluations = 0

    def distance_at(state):
        nonlocal evaluations
        evaluations += 1
        try:
            return state.distance[limit]
        except LimitUnavailable:  # not separated yet, or no reference for this State
            return None

    grid = _grid(start, deepest)
    previous = None  # (level, distance) of the last grid level with distance >= delta
    best = None
    trajectory = None
    stop_exponent = 1
    index = 0
    while index < len(grid):
        stop_exponent = max(stop_exponent + 1, math.ceil(STOP_GROWTH * stop_exponent))
        stop = f"-1e{stop_exponent}" if -_mp(10) ** stop_exponent > deepest else str(
            deepest_log10_loss)
        pending = [level for level in grid[index:] if _mp(level) >= _mp(stop)]
        if not pending:
            continue
        trajectory = solve(problem, log10_loss=stop, checkpoints=pending, rtol=rtol)
        if trajectory.status != "reached":
            raise KickInNotReached(
                f"the integration stopped before log10 L = {mpmath.nstr(stop, 6)} "
                f"({trajectory.status}: {trajectory.message}); the smallest distance to "
                f"{limit} met was {_best_text(best)}")
        for state in trajectory.checkpoints[:len(pending)]:
            value = distance_at(state)
            index += 1
            if value is None:
                continue
            if best is None or value < best[1]:
                best = (state.log10_loss, value)
            if value < delta_mp:
                return _bisect(trajectory, previous, state, value, distance_at, delta_mp,
                               level_digits, limit, lambda: evaluations)
            previous = (state.log10_loss, value)
    last = previous[1] if previous else None
    raise KickInNotReached(
        f"the distance to {limit} stayed >= delta = {mpmath.nstr(delta_mp, 6)} down to "
        f"log10 L = {mpmath.nstr(deepest, 6)} (distance there {_show(last)}; smallest "
        f"{_best_text(best)}); pass a deeper deepest_log10_loss (the run time grows about "
        "like log(sigma) and its precision like log(sigma) bits) or a larger delta"
        + (_D3_HINT if problem.depth > 2 and limit == "l1" else ""))


_D3_HINT = ("; for D > 2 the flow converges to a KKT point of l_(2/D), often the l1 max margin "
            "restricted to the coordinates that activated, not the global l1: try "
            "limit='l1_active'")


def _bisect(trajectory, previous, state, value, distance_at, delta, level_digits, limit,
            evaluations):
    """Bisect between the grid level ``previous`` (distance >= delta) and ``state``."""
    if previous is None:
        return KickIn(state.log10_loss, (None, state.log10_loss), value, state, limit, delta,
                      trajectory, evaluations())
    above = previous[0]
    below, below_state, below_value = state.log10_loss, state, value
    width = _LEVEL_CTX.mpf(10) ** (-level_digits)
    while abs(above / below - 1) > width:
        middle = _level(-_LEVEL_CTX.sqrt(above * below), level_digits + 3)
        if not below < _mp(middle) < above:
            break
        candidate = trajectory.state_at(log10_loss=middle)
        d = distance_at(candidate)
        if d is not None and d < delta:
            below, below_state, below_value = _mp(middle), candidate, d
        else:
            above = _mp(middle)
    return KickIn(below_state.log10_loss, (above, below_state.log10_loss), below_value,
                  below_state, limit, delta, trajectory, evaluations())


def _grid(start, deepest):
    """Levels ``-10^(k / GRID_PER_DECADE)`` (decimal strings, 4 digits) between log10 L(0)
    and ``deepest``."""
    levels = []
    k = -2 * GRID_PER_DECADE
    while True:
        level = _level(-_LEVEL_CTX.mpf(10) ** (_LEVEL_CTX.mpf(k) / GRID_PER_DECADE), 4)
        k += 1
        if _mp(level) < deepest:
            return levels
        if _mp(level) < start:
            levels.append(level)


def _level(value, digits):
    """``value`` rounded to ``digits`` significant decimal digits, as an exact decimal string
    (an mpf level fails in the multiprecision integrator: its Fraction has gmpy2 integers,
    which python-flint's arb does not take)."""
    return mpmath.nstr(value, digits, strip_zeros=True)


def _mp(level):
    return _LEVEL_CTX.mpf(level)


def _show(value):
    return "-" if value is None else mpmath.nstr(value, 4)


def _best_text(best):
    if best is None:
        return "none (no State had separated the data)"
    return f"{mpmath.nstr(best[1], 4)} at log10 L = {mpmath.nstr(best[0], 4)}"
