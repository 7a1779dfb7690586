"""``solve``: from a Problem to a Trajectory with checkpoints at loss levels and times.

The driver owns what scipy's ``solve_ivp`` loop owns: stop conditions, output levels,
events and statuses. It asks an integrator (``extprec.solvers``) to advance until the next
level and lands exactly on each level passed. It starts in float64 (Numba) and, when float64
no longer resolves the softmax weights (or its step size reaches the spacing of floats),
hands the exact state to the multiprecision integrator, which raises its precision as sigma
grows. Along the way it passes restart points, where the integrator continues from its own
exact snapshot and where a checkpoint file may be written (:mod:`extprec.resume`).
"""

from __future__ import annotations

import math
import numbers
import os
import time
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np

from . import resume as checkpoint_files
from . import verification
from .levels import LandingError, LossLevel, TimeLevel, default_loss_levels
from .problem import Problem
from .solvers.float64_integrator import HISTORY_CHUNK, Float64Integrator, single_threaded_blas
from .solvers.multiprecision_integrator import MultiprecisionIntegrator, bits_for
from .trajectory import (
    STATUS_LANDING, STATUS_MAX_STEPS, STATUS_NOT_FINITE, STATUS_PRECISION, STATUS_REACHED,
    STATUS_STEP_TOO_SMALL, STATUS_TIME_LIMIT, Trajectory,
)

DEFAULT_RTOL = 1e-10
DEFAULT_MAX_STEPS = 1_000_000
# Accepted range of rtol. Looser than 1e-3 leaves fewer than 2 digits; tighter than 1e-13 runs
# in multiprecision from the start, with a step count that grows roughly like rtol^(-1/4)
# (two_points to log10 L = -5: 1e-13 1700 float64 steps in 0.07 s, 1e-14 about 4000 arb steps
# in 11 s, 1e-20 about 125000 arb steps in 400 s), so 1e-40 is a hard floor, not a practical one.
MIN_RTOL = 1e-40
MAX_RTOL = 1e-3
MIN_FLOAT64_RTOL = 1e-13  # tighter tolerances start in multiprecision
BACKENDS = ("auto", "arb")
FIRST_STEP = 1e-3
CONTROL_STEP_BUDGET = 10  # a control run may take this many times max_steps
# Accepted steps between progress reports: the float64 integrator restarts its kernel every
# HISTORY_CHUNK steps anyway, so reporting at multiples of it leaves the steps unchanged.
PROGRESS_STEPS = {"float64": HISTORY_CHUNK, "arb": 4}
# Multiprecision steps between restart points (extprec.resume; float64 has one after every
# kernel call). A restart costs one model evaluation, and a step tens of them.
RESTART_STEPS = 4

STATUS = {
    "max steps": STATUS_MAX_STEPS,
    "step too small": STATUS_STEP_TOO_SMALL,
    "not finite": STATUS_NOT_FINITE,
    "precision exhausted": STATUS_PRECISION,
}


def solve(problem: Problem, log10_loss=None, *, t=None, checkpoints=None, checkpoint_times=None,
          rtol: float = DEFAULT_RTOL, max_steps: int = DEFAULT_MAX_STEPS,
          multiprecision: bool = True, backend: str = "auto", verify: bool = True,
          progress=None, checkpoint_path=None, resume=None,
          checkpoint_seconds: float = checkpoint_files.DEFAULT_CHECKPOINT_SECONDS,
          max_seconds=None) -> Trajectory:
    """Follow the gradient flow of ``problem`` down to a training-loss level or a time.

    Parameters
    ----------
    problem : Problem
    log10_loss : int, float, mpf or str, optional
        Stop level: log10 of the training loss (``"-1e100"`` means L = 10^(-10^100); strings
        are exact).
    t : number or str, optional
        Stop at this original gradient-flow time instead (``"1e1000"`` allowed).
        Give at most one of ``log10_loss`` and ``t``; with neither, the run ends at the last
        checkpoint (or checkpoint time), so at least one of them is then required.
    checkpoints : sequence, optional
        log10-loss levels at which to record States (a list, not a single string); each must
        lie below the starting loss ``log10 L(0)`` (and above the infimum of the loss for data
        that are not linearly separable). Levels beyond the stop are ignored. Default: every
        decade of log10(1/L), ``log10 L = -1, -10, -100, ...``, up to the stop (below the
        infimum for non-separable data), thinned to about 100 levels beyond 10^-(10^120)
        (:func:`extprec.levels.default_loss_levels`); none when there is no stop.
    checkpoint_times : sequence, optional
        Original times > 0 at which to record States.
    rtol : float
        Relative tolerance of the integration (local error per step), in
        ``[MIN_RTOL, MAX_RTOL] = [1e-40, 1e-3]``; the digits a State vouches for follow from it.
        Below ``MIN_FLOAT64_RTOL = 1e-13`` the run is multiprecision from the start, and the
        step count grows quickly (roughly like rtol^(-1/4)): 1e-20 is already slow.
    max_steps : int
        Budget of accepted steps (a positive int).
    multiprecision : bool
        Continue in multiprecision when float64 is exhausted (default). With False the run
        stops there with status "precision exhausted".
    backend : {"auto", "arb"}
        "auto" starts in float64 when the tolerance allows it; "arb" integrates in
        multiprecision from the start (an independent check of a float64 run).
    verify : bool
        Check every State's ``digits`` with a control run (default): the problem is
        integrated again at ``rtol / 100`` and landed on the same levels, and each State
        claims only the digits on which the two runs agree (with a safety factor of 10;
        :mod:`extprec.verification`). This roughly doubles the cost, except below
        ``rtol = 1e-11``, where the control run is multiprecision from the start and can
        cost a hundred times the float64 main run. With False the digits are the
        tolerance's promise, unchecked (``state.evidence.verified`` is False).
    progress : callable, optional
        ``progress(sigma, bits, steps)``, called at every checkpoint and every
        :data:`PROGRESS_STEPS` accepted steps of the backend in use, with the current ``sigma``
        (an mpf at 53 bits), the working precision in bits and the accepted steps so far. The
        trajectory is the same with and without it (the float64 chunks are whole kernel calls,
        see ``HISTORY_CHUNK``). If the callable has an attribute ``control``, that is called
        the same way during the control run of ``verify``. :mod:`extprec.progress` has a
        progress bar and a cost log.
    checkpoint_path : str or path, optional
        Keep a checkpoint file here, updated as the run goes: a results file
        (:func:`extprec.load` reads it; status "in progress" until the run ends, then the
        trajectory) with the data to continue the run. It is written after every checkpoint
        State of the main and the control run and at least every ``checkpoint_seconds``, at
        the restart points of the run (every float64 kernel call, every
        :data:`RESTART_STEPS` multiprecision steps, every landing), atomically (a killed run
        leaves the last complete write), with writes spaced to take a few percent of the
        run time at most; on KeyboardInterrupt the latest restart point is written before the
        exception propagates. See :mod:`extprec.resume`.
    resume : str or path, optional
        Continue the run saved in this checkpoint file (written with ``checkpoint_path``);
        ``problem`` and the other arguments must be those of that run (a mismatch is a
        ``ValueError`` naming what differs). A finished run is returned from the file without
        computing. The result is identical to the uninterrupted run's, States bit for bit:
        every run, with or without a file, continues from its own exact snapshot at each
        restart point, and a resumed run continues from the same snapshot read back
        (:mod:`extprec.resume`). ``Trajectory.state_at`` of a resumed run lands only after
        the resume point. Pass ``checkpoint_path`` too (usually the same path) to keep
        saving progress.
    checkpoint_seconds : float
        Longest wall time between two writes of the checkpoint file during long stretches
        without checkpoint States (default 60 s; a write waits for the next restart point).
    max_seconds : float, optional
        Wall-clock budget of this call (main and control run). When it runs out, the run
        stops at its next step boundary with status ``"time limit"``: the final State is
        where it stopped, the States not reached by the control run keep the tolerance's
        digits marked unchecked, and a ``checkpoint_path`` file is left unfinished, so that
        ``resume=`` continues the run (to the same result as an uninterrupted one).

    Returns
    -------
    Trajectory
        ``status == "reached"`` when the stop was reached; otherwise the status says why the
        run stopped and the final State is the last one the engine vouches for.

    Raises
    ------
    TypeError, ValueError
        Before any integration, for every invalid argument (see :func:`check_arguments`); the
        message names the problem and the fix. ``FileNotFoundError`` when ``resume`` names
        no file.
    KeyboardInterrupt
        Propagated after the checkpoint file (if any) was brought up to date.
    """
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(sigma, bits, steps) or None; got "
                        f"{type(progress).__name__}; see extprec.progress.ProgressBar")
    args = check_arguments(problem, log10_loss, t=t, checkpoints=checkpoints,
                           checkpoint_times=checkpoint_times, rtol=rtol, max_steps=max_steps,
                           multiprecision=multiprecision, backend=backend, verify=verify,
                           max_seconds=max_seconds)
    deadline = None if max_seconds is None else time.monotonic() + float(max_seconds)
    _check_checkpoint_options(checkpoint_path, resume, checkpoint_seconds)
    header = None
    if checkpoint_path is not None or resume is not None:
        # only then: the header holds the problem in its file form, a string per entry of X
        # (about 80 bytes each; 3 GB at N = 2000, d = 20000)
        header = checkpoint_files.Header.of(problem, checkpoint_files.run_arguments(
            args, rtol=rtol, max_steps=max_steps, multiprecision=multiprecision,
            backend=backend, verify=verify),
            {"restart_steps": RESTART_STEPS, "float64_restart_steps": HISTORY_CHUNK})
    saved = checkpoint_files.read(resume, header) if resume is not None else None
    writer = None
    if checkpoint_path is not None:
        checkpoint_files.check_overwrite(checkpoint_path, resume)
        writer = checkpoint_files.CheckpointWriter(checkpoint_path, header, checkpoint_seconds,
                                                   _stats)
    if saved is not None and saved.phase == "finished":
        if writer is not None and not checkpoint_files.same_file(checkpoint_path, resume):
            writer.finish(saved.trajectory)
        return saved.trajectory
    try:
        with single_threaded_blas():  # once for the run, not per kernel call
            return _solve(problem, args, rtol, int(max_steps), multiprecision, backend, verify,
                          progress, saved, writer, deadline)
    except KeyboardInterrupt:
        if writer is not None:
            writer.write_latest()
        raise


def _solve(problem, args, rtol, max_steps, multiprecision, backend, verify, progress, saved,
           writer, deadline=None) -> Trajectory:
    """:func:`solve` after its checks: the main run, the control run, the trajectory (from
    the start, or from the checkpoint file read into ``saved``)."""
    stop, stop_time = args.stop, args.stop_time
    if saved is None:
        integrator = _first_integrator(problem, rtol, multiprecision, backend)
        sigma0 = integrator.sigma0 if isinstance(integrator.sigma0, float) else float(
            integrator.sigma0.mid())
        _check_reachable(problem, sigma0, args.named_loss_levels())
        if args.checkpoints is not None:
            loss_levels = [level for _, level in args.checkpoints]
        else:  # every decade up to the stop (and short of the infimum); none without a stop
            loss_levels = (default_loss_levels(sigma0, stop, -problem.infimum_log_loss())
                           if stop is not None or stop_time is not None else [])
        time_levels = sorted(args.checkpoint_times, key=TimeLevel.sort_key)
        loss_levels = sorted((lv for lv in loss_levels
                              if stop is None or lv.sort_key() < stop.sort_key()),
                             key=LossLevel.sort_key)
        if stop_time is not None:
            time_levels = [lv for lv in time_levels if lv.sort_key() < stop_time.sort_key()]
        main = _Loop([integrator], loss_levels, time_levels, [], max_steps)
    if saved is None or saved.phase == "main":
        main = main if saved is None else _Loop(**saved.loop)
        run = _integrate(problem, main, stop, stop_time, multiprecision, progress,
                         _restart_hook(writer, "main"), deadline)
        control = None
    else:
        run, control = _Run(**saved.main_run), _Loop(**saved.loop)
    records = run.records
    status = run.status
    if verify and status != STATUS_TIME_LIMIT:
        records, control_status = _verify(problem, run, rtol, max_steps, backend,
                                          getattr(progress, "control", None), control,
                                          _restart_hook(writer, "control", run), deadline)
        if control_status == STATUS_TIME_LIMIT:
            status = STATUS_TIME_LIMIT
    else:
        note = ("time limit: the control run did not run, digits from the tolerance alone, "
                "unchecked" if verify else None)
        records = [(level, verification.unverified(state, rtol, note))
                   for level, state in records]
    final = records[-1][1]
    # a run that stopped early ends with its last resolved state, which is no checkpoint
    recorded = records if run.final_on_record else records[:-1]
    states = sorted((state for _, state in recorded), key=lambda s: s.ell)
    message = _message(status, final, run.segments[-1], stop, stop_time)
    if status != run.status:  # the main run finished, its control run did not
        message = (f"{_message(run.status, final, run.segments[-1], stop, stop_time)}; but the "
                   "control run stopped at the time limit (max_seconds) before checking every "
                   "State (those it did not reach keep the tolerance's digits, unchecked): "
                   "raise max_seconds, or continue with resume=PATH if the run kept a "
                   "checkpoint_path")
    trajectory = Trajectory(
        problem=problem,
        checkpoints=states,
        final=final,
        status=status,
        message=message,
        n_steps=sum(seg.n_steps for seg in run.segments),
        stats=_stats(run.segments),
        rtol=float(rtol),
        _segments=run.segments if saved is None else [saved.boundary] + run.segments,
    )
    if writer is not None:
        if status == STATUS_TIME_LIMIT:  # left unfinished: resume= continues the run
            writer.write_latest()
        else:
            writer.finish(trajectory)
    return trajectory


def _check_checkpoint_options(checkpoint_path, resume, checkpoint_seconds) -> None:
    for name, value in (("checkpoint_path", checkpoint_path), ("resume", resume)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a file path (str or os.PathLike) or None; got "
                            f"{type(value).__name__}; pass e.g. {name}='run.json'")
    if checkpoint_path is not None:
        path = os.fspath(checkpoint_path)
        if os.path.isdir(path):
            raise ValueError(f"checkpoint_path {path!r} is a directory; give a file name, e.g. "
                             f"{os.path.join(path, 'run.json')!r}")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ValueError(f"checkpoint_path {path!r}: the directory {parent!r} does not "
                             "exist; create it or write somewhere else")
    if (isinstance(checkpoint_seconds, (bool, np.bool_))
            or not isinstance(checkpoint_seconds, numbers.Real)
            or not checkpoint_seconds > 0):
        raise ValueError(f"checkpoint_seconds must be a number of seconds > 0 (got "
                         f"{checkpoint_seconds!r}); pass e.g. checkpoint_seconds=60")


@dataclass
class _Loop:
    """The state of :func:`_integrate` between two steps: the integration segments (the
    integrator in use last), the levels still to land on, the records so far and the step
    budget left."""

    segments: list
    loss_levels: list
    time_levels: list
    records: list
    remaining: int


def _restart_hook(writer, phase, main_run=None):
    """What :func:`_integrate` calls at each restart point: the checkpoint writer's record
    of it (None without a file)."""
    if writer is None:
        return None
    return lambda loop, snapshot: writer.restart_point(phase, loop, snapshot, main_run)


def _restart(loop, notify) -> None:
    """A restart point (:mod:`extprec.resume`): the integrator continues from its own exact
    snapshot, exactly as a run resumed from a file of this point does."""
    integrator = loop.segments[-1]
    snapshot = integrator.snapshot()
    integrator.restore(snapshot)
    if notify is not None:
        notify(loop, snapshot)


def _budget(integrator, remaining, progress) -> int:
    """Steps for one ``advance``: one float64 kernel call, or up to the next multiple of
    RESTART_STEPS multiprecision steps; fewer for progress reports or the budget left."""
    if integrator.backend == "float64":
        steps = HISTORY_CHUNK
    else:
        steps = RESTART_STEPS - integrator.n_steps % RESTART_STEPS
    if progress is not None:
        steps = min(steps, PROGRESS_STEPS[integrator.backend])
    return min(remaining, steps)


def _at_restart_point(integrator) -> bool:
    return integrator.backend == "float64" or integrator.n_steps % RESTART_STEPS == 0


@dataclass
class _Run:
    """What :func:`_integrate` produced: ``records`` are ``(level, State)`` in the order they
    were landed on, the final State last; ``final_on_record`` says whether the final State
    is a checkpoint (the stop, or the last checkpoint when there is no stop) rather than
    the last resolved state of a run that stopped early."""

    records: list
    final_on_record: bool
    status: str
    segments: list


def _integrate(problem, loop, stop, stop_time, multiprecision, progress=None,
               notify=None, deadline=None) -> _Run:
    """The driver loop on ``loop`` (a :class:`_Loop`, updated in place): advance, land on every
    level passed, hand float64 over to multiprecision when it is exhausted, restart at every
    restart point (and tell ``notify(loop, snapshot)``); report to ``progress`` (see
    :func:`solve`); stop with status "time limit" once ``time.monotonic()`` passes
    ``deadline`` (after one pass at least: the state at t = 0 has beta = 0, where
    beta_normalized is undefined)."""
    segments, records = loop.segments, loop.records
    loss_levels, time_levels = loop.loss_levels, loop.time_levels
    _restart(loop, notify)
    first_pass = True
    while True:
        integrator = segments[-1]
        if not first_pass and deadline is not None and time.monotonic() >= deadline:
            return _last_state(records, integrator, STATUS_TIME_LIMIT, segments)
        first_pass = False
        next_loss = loss_levels[0] if loss_levels else stop
        next_time = time_levels[0] if time_levels else stop_time
        before = integrator.n_steps
        outcome = integrator.advance(next_loss, next_time,
                                     _budget(integrator, loop.remaining, progress))
        loop.remaining -= integrator.n_steps - before
        if progress is not None:
            progress(_current_sigma(integrator), integrator.precision_bits,
                     sum(seg.n_steps for seg in segments))
        if outcome == "max steps" and loop.remaining > 0:
            if _at_restart_point(integrator):
                _restart(loop, notify)
            continue
        if outcome == "event":
            try:
                for pending in (loss_levels, time_levels):
                    while pending and integrator.passed(pending[0]):
                        records.append((pending[0], integrator.state_at(pending[0])))
                        pending.pop(0)
                reached = next((lv for lv in (stop, stop_time)
                                if lv is not None and integrator.passed(lv)), None)
                if reached is not None:
                    records.append((reached, integrator.state_at(reached)))
                    return _Run(records, True, STATUS_REACHED, segments)
            except LandingError:
                return _last_state(records, integrator, STATUS_LANDING, segments)
            if not loss_levels and not time_levels and stop is None and stop_time is None:
                records.sort(key=lambda record: record[1].ell)
                return _Run(records, True, STATUS_REACHED, segments)
            if loop.remaining <= 0:
                return _last_state(records, integrator, STATUS_MAX_STEPS, segments)
            _restart(loop, notify)
            continue
        if (outcome in ("precision exhausted", "step too small") and multiprecision
                and isinstance(integrator, Float64Integrator)):
            segments.append(MultiprecisionIntegrator(
                problem, integrator.rtol, [float(v) for v in integrator.y], integrator.h,
                integrator.sigma0, bits_for(integrator.amplification(), integrator.rtol)))
            continue
        return _last_state(records, integrator, STATUS[outcome], segments)


def _last_state(records, integrator, status, segments) -> _Run:
    """A run that stopped before its stop: its last resolved state ends the records, on the
    exact loss level it has (so a control run can land there too)."""
    state = integrator.make_state(integrator.ell_now(), integrator.y_now())
    return _Run(records + [(LossLevel(_exact_fraction(state.log10_loss)), state)], False,
                status, segments)


def _exact_fraction(value) -> Fraction:
    """The exact rational value of a finite mpf."""
    sign, man, exp, _ = value._mpf_
    man = -int(man) if sign else int(man)
    return Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)


def _verify(problem, run, rtol, max_steps, backend, progress=None, loop=None,
            notify=None, deadline=None) -> tuple[list, str]:
    """The records of ``run`` with their digits checked by a control run
    (:mod:`extprec.verification`): the problem integrated again at a tighter tolerance and
    landed on the same levels (continuing ``loop``, the control run of a resumed run, if
    given); and the status of the control run. Levels the control run did not reach before
    ``deadline`` keep the tolerance's digits, unchecked."""
    tight = verification.control_rtol(rtol, MIN_RTOL)
    if loop is None:
        loss = sorted({lv for lv, _ in run.records if isinstance(lv, LossLevel)},
                      key=LossLevel.sort_key)
        times = sorted({lv for lv, _ in run.records if isinstance(lv, TimeLevel)},
                       key=TimeLevel.sort_key)
        loop = _Loop([_first_integrator(problem, tight, True, backend)], loss, times, [],
                     CONTROL_STEP_BUDGET * max_steps)
    control = _integrate(problem, loop, None, None, True, progress, notify, deadline)
    at_level = {level: state for level, state in control.records[: len(control.records)
                                                                  - (not control.final_on_record)]}
    if control.status == STATUS_TIME_LIMIT:
        note = ("time limit: the control run stopped before this level, digits from the "
                "tolerance alone, unchecked")
        return [(level, verification.verified(state, at_level[level], rtol, tight)
                 if level in at_level else verification.unverified(state, rtol, note))
                for level, state in run.records], control.status
    return [(level, verification.verified(state, at_level.get(level), rtol, tight))
            for level, state in run.records], control.status


@dataclass(frozen=True)
class CheckedArguments:
    """The arguments of :func:`solve` after :func:`check_arguments`."""

    stop: LossLevel | None
    stop_time: TimeLevel | None
    checkpoints: list | None  # [(name, LossLevel)], None for the default levels
    checkpoint_times: list  # [TimeLevel]

    def named_loss_levels(self) -> list:
        named = [("log10_loss", self.stop)] if self.stop is not None else []
        return named + list(self.checkpoints or ())


def check_arguments(problem, log10_loss=None, *, t=None, checkpoints=None, checkpoint_times=None,
                    rtol=DEFAULT_RTOL, max_steps=DEFAULT_MAX_STEPS, multiprecision=True,
                    backend="auto", verify=True, max_seconds=None) -> CheckedArguments:
    """Validate the arguments of :func:`solve` without integrating anything.

    Raises ``TypeError`` (wrong kind of value) or ``ValueError`` (a value out of range) whose
    message names the problem and the fix. Used by :func:`solve` and by the command line, which
    checks its input before printing anything.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"solve expects an extprec.Problem as its first argument; got "
                        f"{type(problem).__name__}; build one with extprec.Problem(X, y, ...)")
    if log10_loss is not None and t is not None:
        raise ValueError(
            f"give either log10_loss=... or t=... as the stop, not both (got log10_loss="
            f"{log10_loss!r} and t={t!r}); drop one, and to record the other as well pass it in "
            "checkpoints=[...] or checkpoint_times=[...]")
    if not isinstance(multiprecision, (bool, np.bool_)):
        raise TypeError(f"multiprecision must be True or False (got {multiprecision!r}); "
                        "pass multiprecision=False to stop where float64 is exhausted")
    if not isinstance(verify, (bool, np.bool_)):
        raise TypeError(f"verify must be True or False (got {verify!r}); pass verify=False to "
                        "skip the control run that checks the digits (about half the cost)")
    _check_rtol(rtol, multiprecision)
    if max_seconds is not None:
        if isinstance(max_seconds, (bool, np.bool_)) or not isinstance(max_seconds,
                                                                       numbers.Real):
            raise TypeError(f"max_seconds must be a number of seconds or None (got "
                            f"{max_seconds!r}); pass e.g. max_seconds=600")
        if not (math.isfinite(max_seconds) and max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive, finite number of seconds (got "
                             f"{max_seconds!r}); pass e.g. max_seconds=600, or None for no "
                             "time limit")
    if isinstance(max_steps, (bool, np.bool_)) or not isinstance(max_steps, numbers.Integral):
        raise TypeError(f"max_steps must be a positive int (got {max_steps!r} of type "
                        f"{type(max_steps).__name__}); pass e.g. max_steps={DEFAULT_MAX_STEPS}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be a positive int (got {max_steps!r}); pass the "
                         f"budget of accepted steps, e.g. max_steps={DEFAULT_MAX_STEPS}")
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f'backend must be "auto" or "arb" (got {backend!r}); pass '
                         'backend="auto" (float64 first, multiprecision when needed) or '
                         'backend="arb" (multiprecision from the start)')
    if backend == "arb" and not multiprecision:
        raise ValueError('backend="arb" is multiprecision, so it contradicts '
                         'multiprecision=False; drop multiprecision=False, or use '
                         'backend="auto" with multiprecision=False for a float64-only run')
    stop = LossLevel.parse(log10_loss) if log10_loss is not None else None
    stop_time = TimeLevel.parse(t) if t is not None else None
    named = None
    if checkpoints is not None:
        named = [(name, LossLevel.parse(value, name))
                 for name, value in _items(checkpoints, "checkpoints",
                                           "log10-loss levels such as [-1, -10, '-1e100']")]
    times = [TimeLevel.parse(value, name)
             for name, value in _items(checkpoint_times, "checkpoint_times",
                                       "times > 0 such as [1, 100, '1e1000']")]
    if stop is None and stop_time is None and not named and not times:
        raise ValueError("nothing to compute: no stop and no checkpoints; give a stop, "
                         "log10_loss=... (e.g. '-1e100') or t=... (e.g. '1e100'), or "
                         "checkpoints=[...] / checkpoint_times=[...] (the run then ends at the "
                         "last one)")
    if not multiprecision:
        _check_float64_start(problem, rtol)
    args = CheckedArguments(stop, stop_time, named, times)
    initial = problem.initial_log_loss()
    if math.isfinite(initial):  # rechecked against the integrator's sigma(0) in solve
        _check_reachable(problem, -initial, args.named_loss_levels())
    return args


def _check_rtol(rtol, multiprecision) -> None:
    fix = (f"pass a float between {MIN_RTOL:g} and {MAX_RTOL:g} such as rtol=1e-10 (the "
           f"default); below {MIN_FLOAT64_RTOL:g} the run is multiprecision from the start")
    if isinstance(rtol, (bool, np.bool_)) or not isinstance(rtol, numbers.Real):
        raise TypeError(f"rtol must be a number (got {rtol!r} of type "
                        f"{type(rtol).__name__}); {fix}")
    if not MIN_RTOL <= rtol <= MAX_RTOL:  # also rejects NaN
        raise ValueError(f"rtol must be in [{MIN_RTOL:g}, {MAX_RTOL:g}] (got {rtol!r}); {fix}")
    if rtol < MIN_FLOAT64_RTOL and not multiprecision:
        raise ValueError(f"rtol = {rtol:g} is below what float64 can deliver "
                         f"({MIN_FLOAT64_RTOL:g}) and multiprecision=False forbids anything "
                         f"else; allow multiprecision=True or pass rtol >= {MIN_FLOAT64_RTOL:g}")


def _check_float64_start(problem, rtol) -> None:
    """With ``multiprecision=False`` float64 must resolve the initial state (it does not when
    an unbalanced shape at a large alpha gives margins of 1e89 at t = 0)."""
    try:
        Float64Integrator(problem, rtol)
    except FloatingPointError as exc:
        raise ValueError(f"multiprecision=False, but {exc}; allow multiprecision=True") from None


def _items(values, name, kind):
    """``[(f"{name}[i]", value), ...]`` of a sequence argument; a single value is refused."""
    if values is None:
        return []
    fix = f"pass a list of {kind}"
    if isinstance(values, (str, bytes)):
        text = values.decode(errors="replace") if isinstance(values, bytes) else values
        example = [part.strip() for part in text.split(",")]
        raise TypeError(f"{name} must be a list, not a single string (got {values!r}); {fix}, "
                        f"e.g. {name}={example!r}")
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise TypeError(f"{name} must be a flat list (got an array of shape {values.shape}); "
                        f"{fix}")
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a list (got {type(values).__name__} {values!r}); "
                        f"{fix}, e.g. {name}=[{values!r}] for one") from None
    return [(f"{name}[{i}]", value) for i, value in enumerate(items)]


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
    return MultiprecisionIntegrator.from_rest(problem, rtol, FIRST_STEP)


def _current_sigma(integrator):
    """sigma of the integrator's current state as an mpf at 53 bits (for progress reports)."""
    if isinstance(integrator, Float64Integrator):
        return _PROGRESS_CONTEXT.mpf(integrator.sigma_of(integrator.y))
    man, exp = integrator.sigma_of_current().man_exp()
    return _PROGRESS_CONTEXT.mpf((int(man), int(exp)))


_PROGRESS_CONTEXT = mpmath.MPContext()  # 53 bits, never changed


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


def _check_reachable(problem: Problem, sigma0: float, named_levels) -> None:
    """Refuse levels at or above the starting loss, and at or below the infimum for data that
    are not linearly separable. ``named_levels`` is ``[(argument name, LossLevel), ...]``."""
    if not named_levels:
        return
    start = -sigma0 / math.log(10)
    separable = problem.separability().separable
    sigma_max = -problem.infimum_log_loss()  # inf for separable data
    infimum = -sigma_max / math.log(10)
    if separable:
        # below the start by more than its float64 rounding (beyond 2^53 the levels next to
        # log10 L(0) compare equal to it, and floor(start) - 1 would be refused as well)
        example = min(-10, math.floor(start - 1e-12 * abs(start)) - 1)
        between = f"a log10 loss below {start:.6g}, e.g. {example} or '-1e100'"
    else:
        between = f"a log10 loss between log10 inf L = {infimum:.6g} and log10 L(0) = {start:.6g}"
    name, lowest = min(named_levels, key=lambda item: item[1].sort_key())
    if lowest.sort_key() <= sigma0:
        raise ValueError(
            f"{name}: the requested {lowest} is not below the starting loss, log10 L(0) = "
            f"{start:.6g}, and gradient flow only decreases the loss; ask for {between}")
    if separable:
        return
    name, highest = max(named_levels, key=lambda item: item[1].sort_key())
    if highest.sort_key() >= sigma_max:
        if sigma_max - sigma0 <= 1e-9 * max(1.0, abs(sigma0)):
            fix = ("the flow starts at a minimizer of the loss (L(0) is the infimum), so no "
                   "level below L(0) is ever reached; stop at a time with t=... instead")
        else:
            fix = f"ask for {between}, or stop at a time with t=... to follow the flow"
        raise ValueError(
            f"{name}: the requested {highest} cannot be reached: the data are not linearly "
            f"separable ({_gordan_text(problem)}), so {problem.flow_outcome()}; {fix}")


def _gordan_text(problem: Problem) -> str:
    """The certificate of non-separability in a few words."""
    weights = problem.separability().certificate
    support = np.flatnonzero(weights > 1e-12)
    shown = ", ".join(map(str, support[:10])) + (", ..." if support.size > 10 else "")
    residual = float(np.abs(problem.signed_X.T @ weights).max())
    return (f"certificate: weights lambda >= 0 summing to 1 on samples {shown} with "
            f"||X~^T lambda||_inf = {residual:.2g}, so every predictor gives some sample a "
            "margin <= 0")


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
    if status == STATUS_TIME_LIMIT:
        return (f"stopped at the time limit (max_seconds) at {level}; raise max_seconds, or "
                "continue the run with resume=PATH if it kept a checkpoint_path")
    if status == STATUS_STEP_TOO_SMALL:
        return (f"the step size fell below the spacing of the working precision at {level}; "
                "the flow cannot be resolved further")
    if status == STATUS_LANDING:
        return (f"a checkpoint (or the stop) passed before {level} could not be landed on: "
                "the integration does not resolve its loss (or time) to the landing "
                "tolerance rtol * 2^-10 there (typically where a margin crosses zero within "
                "a step); the States before it are kept, the final State is the last "
                "resolved one, and a smaller rtol may resolve the level")
    return f"the state left the range of the arithmetic at {level}"


__all__ = ["solve"]
