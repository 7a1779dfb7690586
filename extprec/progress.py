"""Progress of long runs: a terminal progress bar and a log of precision and cost.

Both are callbacks for ``extprec.solve(..., progress=...)``, which calls them as
``progress(sigma, bits, steps)`` at every checkpoint and every few accepted steps (see
:data:`extprec.driver.PROGRESS_STEPS`)::

    bar = ProgressBar(target_log10_loss="-1e100")   # silent unless stderr is a terminal
    log = CostLog()
    with bar:
        traj = extprec.solve(problem, log10_loss="-1e100", progress=chain(bar, log))
    traj.stats["cost"] = log.as_dict()               # saved with the results file

Progress is measured in decades of sigma = log(1/L): the bar runs from sigma = 1 to the
target sigma in units of log10(sigma) (theory.md s.4: the step count of the implicit method
grows like log sigma, so decades of sigma are the natural unit of work).

The time estimate is a lower bound, and says so: it is the remaining decades times the
seconds the latest decade took. The cost of a decade only grows along a run (float64 hands
over to multiprecision, whose working precision, and so the cost of each step, grows like
2 log2(sigma) bits, README "Precision"), so the true remaining time is at least about that.
"""

from __future__ import annotations

import math
import sys
import time

import mpmath

# The estimate uses the pace over at least this many of the latest decades of sigma.
PACE_WINDOW_DECADES = 1.0
_CONTEXT = mpmath.MPContext()  # 53 bits, never changed


def log10_sigma(sigma) -> float:
    """log10(sigma) as a float for sigma >= 1, and 0 below (sigma may exceed the float range)."""
    sigma = _CONTEXT.mpf(sigma)
    return float(_CONTEXT.log10(sigma)) if sigma > 1 else 0.0


def target_log10_sigma(log10_loss) -> float:
    """log10 of the sigma = -log10_loss * ln 10 of a log10-loss level (a number or string)."""
    level = _CONTEXT.mpf(log10_loss) if not isinstance(log10_loss, str) else _CONTEXT.mpf(
        log10_loss.strip())
    return log10_sigma(-level * _CONTEXT.ln10)


def chain(*callbacks):
    """One progress callback that calls each of ``callbacks`` (None entries are skipped),
    and their ``control`` methods during the control run of ``solve(verify=True)``."""
    active = [c for c in callbacks if c is not None]

    def progress(sigma, bits, steps):
        for callback in active:
            callback(sigma, bits, steps)

    def control(sigma, bits, steps):
        for callback in active:
            getattr(callback, "control", lambda *args: None)(sigma, bits, steps)

    progress.control = control
    return progress


class CostLog:
    """Records ``(log10 sigma, bits, steps, seconds)`` at every progress call.

    ``seconds`` is wall-clock time since the log was created (or since the first call when
    ``start`` is None). :meth:`as_dict` gives plain lists for ``Trajectory.stats["cost"]``,
    which results files keep and :func:`extprec.plotting.precision_and_cost` draws.
    """

    def __init__(self, clock=time.perf_counter):
        self._clock = clock
        self._start = clock()
        self.log10_sigma: list[float] = []
        self.bits: list[int] = []
        self.steps: list[int] = []
        self.seconds: list[float] = []
        self._control = None  # the log of the control run, started by its first report

    def __call__(self, sigma, bits, steps):
        self.log10_sigma.append(log10_sigma(sigma))
        self.bits.append(int(bits))
        self.steps.append(int(steps))
        self.seconds.append(self._clock() - self._start)

    def control(self, sigma, bits, steps):
        """A report of the control run (``solve(verify=True)``), kept in its own log whose
        seconds continue this one's."""
        if self._control is None:
            self._control = CostLog(self._clock)
            self._control._start = self._start
        self._control(sigma, bits, steps)

    def as_dict(self) -> dict:
        out = {"log10_sigma": list(self.log10_sigma), "bits": list(self.bits),
               "steps": list(self.steps), "seconds": list(self.seconds)}
        if self._control is not None:
            out["control"] = self._control.as_dict()
        return out


class ProgressBar:
    """A tqdm progress bar over decades of sigma, with the precision, steps and an estimate.

    Parameters
    ----------
    target_log10_loss : number or str, optional
        The stop level; without it (a run to a time) the bar shows the decades done, with no
        total and no estimate.
    stream : file, optional
        Where to draw (default ``sys.stderr``).
    enabled : bool, optional
        Default: only when ``stream`` is a terminal, so redirected output stays clean.
    clock : callable
        Seconds, for the estimate (``time.perf_counter``).
    """

    def __init__(self, target_log10_loss=None, *, stream=None, enabled=None,
                 clock=time.perf_counter):
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = (target_log10_sigma(target_log10_loss)
                      if target_log10_loss is not None else None)
        self._clock = clock
        self._history: list[tuple[float, float]] = []  # (decades done, seconds)
        self._bar = None
        self._control = False  # reporting the control run

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def remaining_seconds(self):
        """Lower-bound estimate of the seconds left (module docstring), or None."""
        if self.total is None or len(self._history) < 2:
            return None
        done, now = self._history[-1]
        earlier = [(x, s) for x, s in self._history if x <= done - PACE_WINDOW_DECADES]
        if not earlier:  # less than a decade done: no pace yet
            return None
        x0, s0 = earlier[-1]
        pace = (now - s0) / (done - x0)  # seconds per decade
        return max(0.0, self.total - done) * pace

    def describe(self, sigma, bits, steps) -> str:
        """The text shown after the bar: sigma, precision, steps and the estimate."""
        text = f"sigma {mpmath.nstr(_CONTEXT.mpf(sigma), 3)}, {bits} bits, {steps} steps"
        left = self.remaining_seconds()
        if left is not None:
            text += f", >= {_duration(left)} left at the pace of the last decade"
        return text

    def control(self, sigma, bits, steps):
        """A report of the control run of ``solve(verify=True)``: the bar starts over,
        labelled as the control run, with a pace of its own."""
        if not self._control:
            self._control = True
            self._history = []
            if self._bar is not None:
                self._bar.set_description_str("control run")
        self(sigma, bits, steps)

    def __call__(self, sigma, bits, steps):
        done = log10_sigma(sigma)
        if self.total is not None:
            done = min(done, self.total)
        self._history.append((done, self._clock()))
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, file=self.stream, unit="decade",
                             dynamic_ncols=True, leave=False,
                             bar_format=("{l_bar}{bar}| {n:.1f}/{total:.1f} decades of sigma"
                                         "{postfix}" if self.total is not None else
                                         "{n:.1f} decades of sigma{postfix}"))
        self._bar.n = done
        self._bar.set_postfix_str(self.describe(sigma, bits, steps), refresh=True)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "forever"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["CostLog", "ProgressBar", "chain", "log10_sigma", "target_log10_sigma"]
