"""Checkpoint files: a long run writes its progress as it goes and continues from it.

``solve(problem, ..., checkpoint_path=PATH)`` (``extprec run --out PATH``) keeps PATH up to
date with the progress of the run, and ``solve(problem, ..., resume=PATH)``
(``extprec run --resume PATH``) continues from it. A resumed run ends with exactly the States
(every mpf, digits, evidence, status, message, step counts) of an uninterrupted run with the
same arguments; a finished run is returned from the file without computing anything.

Restart points (why the results are identical). Every run, with or without a file, passes
through restart points: after every float64 kernel call (at most ``HISTORY_CHUNK`` accepted
steps; each call starts afresh from ``(y, ell, h)`` anyway), every
``extprec.driver.RESTART_STEPS`` accepted multiprecision steps, and after the levels passed by
a step are landed on. At each one the driver takes the integrator's ``snapshot()`` (exact
values: floats, ball midpoints, ints) and continues from it through ``restore()``, the same
method a resumed run continues through after reading the snapshot back from the file
(:func:`encode_snapshot` / :func:`decode_snapshot` round-trip every value exactly). From a
restart point on, the computation is a function of the snapshot alone, so it is the same
whether the snapshot came from memory or from a file. The snapshot holds everything an
integrator carries from one step to the next (state, step size, controller memory, stage
predictor, precision and its schedule, the stored steps a later landing reads), so a restart
changes no number of the uninterrupted computation either; it costs one model evaluation
(the radii of the few balls kept, which only measure the rounding of one evaluation, are
dropped). Files are written at restart points only, and which of them are written (which
depends on the clock) never changes the computation.

When the file is written: at a restart point where a State was recorded since the last write
(so after every checkpoint State of the main run and of the control run) or where
``checkpoint_seconds`` have passed since the last write, provided ``WRITE_SPACING`` times the
duration of the last write has passed since it ended; a State whose write was held back is
written at the next restart point that allows it. (The file holds every State so far: on the
default problem to log10 L = -1e100, writing it at each of the 203 restart points that
follow a State took 10 % of the run; spaced, 32 writes took 2.6 %.) On KeyboardInterrupt the
run writes its latest restart point and re-raises. Writes are atomic (a temporary file in the same
directory, fsync, ``os.replace``): whenever the process is killed, PATH holds the last
complete write, never a partial one. A run killed at any moment so loses at most the work
since its last write.

The file is an ``extprec-results`` file (:mod:`extprec.results_io`; ``extprec.load`` reads it:
the checkpoints so far, status ``"in progress"``, or the finished trajectory) with one more
entry, ``"resume"``::

    {"format": "extprec-resume", "format_version": 1,
     "fingerprint": SHA-256 of the problem, the arguments and the restart rule,
     "arguments": {"log10_loss": LEVEL, "t": null, "checkpoints": null, "checkpoint_times": [],
                   "rtol": "0x1.b7cdfd9d7bdbbp-34", "max_steps": 1000000,
                   "multiprecision": true, "backend": "auto", "verify": true},
     "algorithm": {"restart_steps": 4, "float64_restart_steps": 2048},
     "phase": "main" | "control" | "finished",
     "main": LOOP (phase main) or RUN (phase control),  "control": LOOP (phase control),
     "checksum": SHA-256 of the whole document with this value empty}
    LOOP = {"records": [{"level": LEVEL, "checkpoint": INDEX} (main run) or
                        {"level": LEVEL, "state": STATE} (control run), ...],
            "pending_loss": [LEVEL], "pending_time": [LEVEL], "remaining": STEPS,
            "rtol": FLOAT, "segments": [SEGMENT], "integrator": SNAPSHOT}
    RUN = {"records": [...], "final_on_record": bool, "status": str, "segments": [SEGMENT]}
    LEVEL = {"kind": "log10_loss" | "sigma" | "t", "numerator": "-0x64", "denominator": "0x1"}

A SNAPSHOT stores floats as ``float.hex`` and arb midpoints exactly as ``[-]0x<MAN>p<EXP>``
(the notation of results files); SEGMENT summarizes a finished integration segment (backend,
steps, counters, precision schedule). Reading a file checks its format, version, checksum, the
versions of extprec and the numerical libraries, and that it belongs to the same problem and
arguments, with an error naming what differs and what to do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
from fractions import Fraction

import mpmath
import numpy as np
from flint import arb

from . import results_io
from .levels import LossLevel, TimeLevel
from .solvers.float64_integrator import Float64Integrator
from .solvers.multiprecision_integrator import MultiprecisionIntegrator
from .solvers.radau import Step
from .trajectory import Trajectory

FORMAT_NAME = "extprec-resume"
FORMAT_VERSION = 1
STATUS_IN_PROGRESS = "in progress"
DEFAULT_CHECKPOINT_SECONDS = 60.0
WRITE_SPACING = 50.0  # a write waits until this many times the last write's duration passed
PHASES = ("main", "control", "finished")
_PLACEHOLDER = re.compile(r'"@@state:([0-9]+)@@"')
_CHECKSUM_SLOT = b'"checksum":""'
_COMPARE_CONTEXT = mpmath.MPContext()
_COMPARE_CONTEXT.prec = 80  # the precision of LossLevel.sort_key


class ResumeError(ValueError):
    """A file that cannot be resumed from; the message says why and what to do."""


class _Invalid(Exception):
    """Internal: the resume data are malformed at ``where``."""


# -- exact numbers ---------------------------------------------------------------------------

def _encode_float(value) -> str:
    return float(value).hex()


def _decode_float(text, where) -> float:
    if not isinstance(text, str):
        raise _Invalid(f"{where} must be a float.hex() string; got {_kind(text)}")
    try:
        return float.fromhex(text)
    except (ValueError, OverflowError):
        raise _Invalid(f"{where} is {_short(text)}, not a float.hex() string") from None


def _encode_arb(value: arb) -> str:
    """The exact midpoint of ``value``, as results files write an mpf."""
    mid = value.mid()
    if not mid.is_finite():
        return "nan" if mid.is_nan() else ("inf" if mid > 0 else "-inf")
    man, exp = mid.man_exp()
    man = int(man)
    return results_io._mpf_to_str((int(man < 0), abs(man), int(exp), abs(man).bit_length()))


def _decode_arb(text, where) -> arb:
    if not isinstance(text, str):
        raise _Invalid(f"{where} must be an exact number string; got {_kind(text)}")
    special = {"inf": arb.pos_inf, "-inf": arb.neg_inf, "nan": arb.nan}.get(text)
    if special is not None:
        return special()
    try:
        sign, man, exp, _ = results_io._parse_mpf(text, where)
    except results_io._Invalid as exc:
        raise _Invalid(exc.what) from None
    return arb((-int(man) if sign else int(man), int(exp)))  # exact at any precision


def _encode_int(value: int) -> str:
    """An int of any size as hex (decimal strings of more than 4300 digits are refused)."""
    return ("-" if value < 0 else "") + f"0x{abs(int(value)):x}"


def _decode_int_text(text, where) -> int:
    if not isinstance(text, str) or not re.fullmatch(r"-?0x[0-9a-f]+", text):
        raise _Invalid(f"{where} is {_short(text)}, not a hexadecimal integer such as '-0x64'")
    return int(text, 16)


def _encode_level(level) -> dict:
    if isinstance(level, TimeLevel):
        kind, value = "t", level.t
    else:
        kind, value = level.kind, level.value
    return {"kind": kind, "numerator": _encode_int(value.numerator),
            "denominator": _encode_int(value.denominator)}


def _decode_level(doc, where):
    doc = _object(doc, where)
    kind = _get(doc, "kind", str, where)
    denominator = _decode_int_text(_get(doc, "denominator", str, where), f"{where}.denominator")
    if denominator <= 0:
        raise _Invalid(f"{where}.denominator must be positive; got {denominator}")
    value = Fraction(_decode_int_text(_get(doc, "numerator", str, where), f"{where}.numerator"),
                     denominator)
    if kind == "t":
        return TimeLevel(value)
    if kind in ("log10_loss", "sigma"):
        return LossLevel(value, kind)
    raise _Invalid(f"{where}.kind is {_short(kind)}, not 'log10_loss', 'sigma' or 't'")


def _level_text(doc) -> str:
    """A level of the arguments in words (for mismatch messages)."""
    if doc is None:
        return "none"
    if isinstance(doc, list):
        return "[" + ", ".join(_level_text(d) for d in doc) + "]"
    return str(_decode_level(doc, "level"))


# -- snapshots of the integrators --------------------------------------------------------------

def encode_snapshot(backend: str, snapshot: dict) -> dict:
    """The JSON form of an integrator's ``snapshot()`` (exact)."""
    if backend == "float64":
        return {
            "backend": "float64",
            "sigma0": _encode_float(snapshot["sigma0"]),
            "y": [_encode_float(v) for v in snapshot["y"]],
            "ell": _encode_float(snapshot["ell"]),
            "h": _encode_float(snapshot["h"]),
            "n_steps": int(snapshot["n_steps"]),
            "counters": [int(c) for c in snapshot["counters"]],
            "last_resolution": _encode_float(snapshot["last_resolution"]),
            "history": [{"ell": _encode_float(ell), "h": _encode_float(h),
                         "y": [_encode_float(v) for v in y],
                         "q": [[_encode_float(v) for v in row] for row in q]}
                        for ell, h, y, q in snapshot["history"]],
        }
    sigma0 = snapshot["sigma0"]
    return {
        "backend": "arb",
        "bits": int(snapshot["bits"]),
        "sigma0": ({"float": _encode_float(sigma0)} if isinstance(sigma0, float)
                   else {"arb": _encode_arb(sigma0)}),
        "y": [_encode_arb(a) for a in snapshot["y"]],
        "tau": _encode_arb(snapshot["tau"]),
        "h_abs": _encode_arb(snapshot["h_abs"]),
        "h_abs_old": (None if snapshot["h_abs_old"] is None
                      else _encode_arb(snapshot["h_abs_old"])),
        "err_old": None if snapshot["err_old"] is None else _encode_float(snapshot["err_old"]),
        "last_step": _encode_step(snapshot["last_step"]),
        "float64_inverse_failed": bool(snapshot["float64_inverse_failed"]),
        "history": [_encode_step(step) for step in snapshot["history"]],
        "history_ends": [[_encode_arb(a) for a in ends] for ends in snapshot["history_ends"]],
        "n_steps": int(snapshot["n_steps"]),
        "counters": [int(c) for c in snapshot["counters"]],
        "bits_used": [[str(sigma), int(bits)] for sigma, bits in snapshot["bits_used"]],
    }


def _encode_step(step):
    if step is None:
        return None
    return {"tau": _encode_arb(step.tau), "h": _encode_arb(step.h),
            "y": [_encode_arb(a) for a in step.y],
            "Q": [[_encode_arb(a) for a in q] for q in step.Q],
            "log_s0": _encode_arb(step.log_s0), "q0": _encode_arb(step.q0)}


def decode_snapshot(doc, n_samples: int, where: str = "snapshot"):
    """``(backend, snapshot)`` from :func:`encode_snapshot`'s form, for a problem with
    ``n_samples`` samples; raises :class:`ResumeError` when malformed."""
    try:
        return _decode_snapshot(doc, n_samples, where)
    except _Invalid as exc:
        raise ResumeError(f"the snapshot is malformed: {exc}") from None


def _decode_snapshot(doc, n_samples, where):
    doc = _object(doc, where)
    backend = _get(doc, "backend", str, where)
    size = n_samples + 1
    n_steps = _get_int(doc, "n_steps", where)
    counters = _int_list(_get(doc, "counters", list, where), f"{where}.counters", 5)
    if backend == "float64":
        def floats(key):
            return _float_list(_get(doc, key, list, where), f"{where}.{key}", size)

        history = []
        for i, entry in enumerate(_get(doc, "history", list, where)):
            at = f"{where}.history[{i}]"
            entry = _object(entry, at)
            rows = _get(entry, "q", list, at)
            if len(rows) != size:
                raise _Invalid(f"{at}.q has {len(rows)} rows; expected {size}")
            history.append((_decode_float(_get(entry, "ell", str, at), f"{at}.ell"),
                            _decode_float(_get(entry, "h", str, at), f"{at}.h"),
                            np.array(_float_list(_get(entry, "y", list, at), f"{at}.y", size)),
                            np.array([_float_list(row, f"{at}.q[{k}]", 3)
                                      for k, row in enumerate(rows)])))
        return "float64", {
            "sigma0": _decode_float(_get(doc, "sigma0", str, where), f"{where}.sigma0"),
            "y": np.array(floats("y")),
            "ell": _decode_float(_get(doc, "ell", str, where), f"{where}.ell"),
            "h": _decode_float(_get(doc, "h", str, where), f"{where}.h"),
            "n_steps": n_steps, "counters": counters,
            "last_resolution": _decode_float(_get(doc, "last_resolution", str, where),
                                             f"{where}.last_resolution"),
            "history": history,
        }
    if backend != "arb":
        raise _Invalid(f"{where}.backend is {_short(backend)}, not 'float64' or 'arb'")
    sigma0_doc = _object(_get(doc, "sigma0", dict, where), f"{where}.sigma0")
    if set(sigma0_doc) == {"float"}:
        sigma0 = _decode_float(sigma0_doc["float"], f"{where}.sigma0.float")
    elif set(sigma0_doc) == {"arb"}:
        sigma0 = _decode_arb(sigma0_doc["arb"], f"{where}.sigma0.arb")
    else:
        raise _Invalid(f"{where}.sigma0 must be {{'float': ...}} or {{'arb': ...}}")
    optional = lambda key, decode: (None if doc.get(key) is None  # noqa: E731
                                    else decode(doc[key], f"{where}.{key}"))
    inverse_failed = _get(doc, "float64_inverse_failed", bool, where)
    bits_used = []
    for i, entry in enumerate(_get(doc, "bits_used", list, where)):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and _is_int(entry[1])):
            raise _Invalid(f"{where}.bits_used[{i}] must be [sigma text, bits]")
        bits_used.append((entry[0], entry[1]))
    history = [_decode_step(step, f"{where}.history[{i}]", size)
               for i, step in enumerate(_get(doc, "history", list, where))]
    ends = []
    for i, entry in enumerate(_get(doc, "history_ends", list, where)):
        if not (isinstance(entry, list) and len(entry) == 2):
            raise _Invalid(f"{where}.history_ends[{i}] must be [sigma, log t]")
        ends.append(tuple(_decode_arb(v, f"{where}.history_ends[{i}]") for v in entry))
    if len(ends) != len(history):
        raise _Invalid(f"{where} has {len(history)} stored steps but {len(ends)} end values")
    return "arb", {
        "bits": _get_int(doc, "bits", where),
        "sigma0": sigma0,
        "y": _arb_list(_get(doc, "y", list, where), f"{where}.y", size),
        "tau": _decode_arb(_get(doc, "tau", str, where), f"{where}.tau"),
        "h_abs": _decode_arb(_get(doc, "h_abs", str, where), f"{where}.h_abs"),
        "h_abs_old": optional("h_abs_old", _decode_arb),
        "err_old": optional("err_old", _decode_float),
        "last_step": (None if doc.get("last_step") is None
                      else _decode_step(doc["last_step"], f"{where}.last_step", size)),
        "float64_inverse_failed": inverse_failed,
        "history": history, "history_ends": ends,
        "n_steps": n_steps, "counters": counters, "bits_used": bits_used,
    }


def _decode_step(doc, where, size) -> Step:
    doc = _object(doc, where)
    rows = _get(doc, "Q", list, where)
    if len(rows) != 3:
        raise _Invalid(f"{where}.Q has {len(rows)} vectors; expected 3")
    scalar = lambda key: _decode_arb(_get(doc, key, str, where), f"{where}.{key}")  # noqa: E731
    return Step(scalar("tau"), scalar("h"), _arb_list(_get(doc, "y", list, where),
                                                      f"{where}.y", size),
                [_arb_list(q, f"{where}.Q[{k}]", size) for k, q in enumerate(rows)],
                scalar("log_s0"), scalar("q0"))


def _integrator_from(problem, rtol, backend, snapshot):
    """An integrator of ``backend`` continuing from ``snapshot`` in this process."""
    kind = Float64Integrator if backend == "float64" else MultiprecisionIntegrator
    return kind.resumed(problem, rtol, snapshot)


# -- what a resumed run keeps of the part before the resume point -----------------------------

@dataclasses.dataclass
class FinishedSegment:
    """A finished integration segment of a resumed run: its counts (for ``stats`` and the
    message), not its integrator."""

    backend: str
    n_steps: int
    counters: np.ndarray
    bits_used: list
    last_resolution: float
    rtol: float

    @classmethod
    def of(cls, segment) -> "FinishedSegment":
        return cls(segment.backend, int(segment.n_steps),
                   np.array(segment.counters, dtype=np.int64),
                   list(getattr(segment, "bits_used", [])),
                   float(getattr(segment, "last_resolution", 0.0)), float(segment.rtol))

    def passed(self, level) -> bool:
        return False  # the ResumeBoundary in front of the segments answers for its range

    def encode(self) -> dict:
        return {"backend": self.backend, "n_steps": self.n_steps,
                "counters": [int(c) for c in self.counters],
                "bits_used": [[str(s), int(b)] for s, b in self.bits_used],
                "last_resolution": _encode_float(self.last_resolution),
                "rtol": _encode_float(self.rtol)}

    @classmethod
    def decode(cls, doc, where) -> "FinishedSegment":
        doc = _object(doc, where)
        bits_used = [tuple(entry) for entry in _get(doc, "bits_used", list, where)]
        return cls(_get(doc, "backend", str, where), _get_int(doc, "n_steps", where),
                   np.array(_int_list(_get(doc, "counters", list, where), f"{where}.counters", 5),
                            dtype=np.int64),
                   bits_used,
                   _decode_float(_get(doc, "last_resolution", str, where),
                                 f"{where}.last_resolution"),
                   _decode_float(_get(doc, "rtol", str, where), f"{where}.rtol"))


@dataclasses.dataclass(frozen=True)
class ResumeBoundary:
    """The first segment of a resumed trajectory: levels up to the resume point (all levels,
    when the run was resumed after its main run) were integrated by another process, whose
    integrator is gone, so ``Trajectory.state_at`` cannot land on them."""

    sigma: object  # mpf at the resume point, or None for everything
    log_t: object
    path: str

    def passed(self, level) -> bool:
        if self.sigma is None:
            return True
        if isinstance(level, TimeLevel):
            return level.sort_key() <= self.log_t
        return level.sort_key() <= self.sigma

    def state_at(self, level):
        where = ("the whole main run" if self.sigma is None else
                 f"the part up to sigma = {mpmath.nstr(self.sigma, 6)}")
        raise ValueError(f"{level} lies in a part of the run integrated before it was resumed "
                         f"from {self.path} ({where}), whose integrator is not kept; use "
                         "the checkpoints, or solve again without resume= to land there")


# -- arguments and fingerprint -----------------------------------------------------------------

def run_arguments(checked, *, rtol, max_steps, multiprecision, backend, verify) -> dict:
    """The canonical JSON form of the arguments of a run (``checked`` is the
    :class:`extprec.driver.CheckedArguments` of its levels); checkpoints are sorted, since
    their order does not change the run."""
    checkpoints = None
    if checked.checkpoints is not None:
        checkpoints = [_encode_level(level) for level in
                       sorted((lv for _, lv in checked.checkpoints), key=LossLevel.sort_key)]
    return {
        "log10_loss": None if checked.stop is None else _encode_level(checked.stop),
        "t": None if checked.stop_time is None else _encode_level(checked.stop_time),
        "checkpoints": checkpoints,
        "checkpoint_times": [_encode_level(level) for level in
                             sorted(checked.checkpoint_times, key=TimeLevel.sort_key)],
        "rtol": _encode_float(rtol),
        "max_steps": int(max_steps),
        "multiprecision": bool(multiprecision),
        "backend": str(backend),
        "verify": bool(verify),
    }


def solve_arguments(arguments: dict) -> dict:
    """Keyword arguments of :func:`extprec.solve` (exact Fractions for levels) from
    :func:`run_arguments`'s form."""
    def value(doc):
        level = _decode_level(doc, "arguments")
        return level.t if isinstance(level, TimeLevel) else level.value

    out = {"rtol": float.fromhex(arguments["rtol"]), "max_steps": arguments["max_steps"],
           "multiprecision": arguments["multiprecision"], "backend": arguments["backend"],
           "verify": arguments["verify"]}
    if arguments["log10_loss"] is not None:
        out["log10_loss"] = value(arguments["log10_loss"])
    if arguments["t"] is not None:
        out["t"] = value(arguments["t"])
    if arguments["checkpoints"] is not None:
        out["checkpoints"] = [value(doc) for doc in arguments["checkpoints"]]
    if arguments["checkpoint_times"]:
        out["checkpoint_times"] = [value(doc) for doc in arguments["checkpoint_times"]]
    return out


@dataclasses.dataclass(frozen=True)
class Header:
    """What identifies a run: its problem (results-file form), arguments and the restart rule
    of the driver (which is part of the algorithm)."""

    problem: object
    problem_doc: dict
    arguments: dict
    algorithm: dict

    @classmethod
    def of(cls, problem, arguments: dict, algorithm: dict) -> "Header":
        return cls(problem, results_io._encode_problem(problem), arguments, dict(algorithm))

    @property
    def fingerprint(self) -> str:
        return _sha256({"problem": self.problem_doc, "arguments": self.arguments,
                        "algorithm": self.algorithm})


# -- writing -----------------------------------------------------------------------------------

@dataclasses.dataclass
class _RestartPoint:
    """What a write at one restart point needs (immutable values and copies)."""

    phase: str
    records: list
    loss_levels: list
    time_levels: list
    remaining: int
    segments: list  # FinishedSegment of each segment before the current one
    backend: str
    snapshot: dict
    current: tuple  # (integrator, ell, y): the current state, built only when needed
    main_run: object  # the finished main run (phase "control"), else None


class CheckpointWriter:
    """Keeps the checkpoint file of one run up to date (module docstring).

    The driver calls :meth:`restart_point` at every restart point, :meth:`write_latest` on
    KeyboardInterrupt and :meth:`finish` with the trajectory. ``stats(segments)`` computes
    the ``stats`` of the results part from segment summaries (``extprec.driver._stats``).
    """

    def __init__(self, path, header: Header, checkpoint_seconds: float, stats,
                 clock=time.monotonic):
        self.path = os.fspath(path)
        self.header = header
        self.checkpoint_seconds = float(checkpoint_seconds)
        self._stats = stats
        self._clock = clock
        self._latest = None
        self._written = None  # the restart point last written
        self._recorded_at_write = -1
        self._last_end = -math.inf
        self._last_duration = 0.0
        self._texts = {}  # id(State) -> (State, text): each State is encoded once

    # -- decisions ---------------------------------------------------------------------------
    def restart_point(self, phase, loop, snapshot, main_run=None) -> None:
        """Record the restart point (``loop`` is the driver's loop state, ``snapshot`` the
        integrator's) and write it when due."""
        integrator = loop.segments[-1]
        self._latest = _RestartPoint(
            phase, list(loop.records), list(loop.loss_levels), list(loop.time_levels),
            int(loop.remaining), [FinishedSegment.of(s) for s in loop.segments[:-1]],
            integrator.backend, snapshot, (integrator, integrator.ell_now(), snapshot["y"]),
            main_run)
        now = self._clock()
        recorded = self._recorded(self._latest)
        due = (recorded > self._recorded_at_write
               or now - self._last_end >= self.checkpoint_seconds)
        if due and now - self._last_end >= WRITE_SPACING * self._last_duration:
            self._write(self._latest)

    def write_latest(self) -> None:
        """Write the latest restart point unless it is already in the file."""
        if self._latest is not None and self._latest is not self._written:
            self._write(self._latest)

    def finish(self, trajectory) -> None:
        """Write the finished trajectory (a resume returns it without computing), and remove
        the temporary files that killed writes to this path left behind."""
        self._write_document(trajectory, {"phase": "finished"}, [])
        directory, name = os.path.split(os.path.abspath(self.path))
        for entry in os.listdir(directory):  # results_io._atomic_write's ".NAME.<hex>.tmp"
            if (entry.startswith(f".{name}.") and entry.endswith(".tmp")
                    and re.fullmatch(r"[0-9a-f]{32}", entry[len(name) + 2:-4])):
                try:
                    os.unlink(os.path.join(directory, entry))
                except FileNotFoundError:
                    pass

    @staticmethod
    def _recorded(point) -> int:
        main = len(point.main_run.records) if point.main_run is not None else 0
        return main + len(point.records)

    # -- documents ---------------------------------------------------------------------------
    def _write(self, point: _RestartPoint) -> None:
        slots = []  # the text of each placeholder, in order
        main_records = point.records if point.main_run is None else point.main_run.records
        states = sorted({id(s): s for _, s in main_records}.values(), key=lambda s: s.ell)
        index = {id(s): i for i, s in enumerate(states)}
        loop = {
            "records": [{"level": _encode_level(level),
                         **({"checkpoint": index[id(state)]} if point.main_run is None
                            else {"state": self._placeholder(state, False, slots)})}
                        for level, state in point.records],
            "pending_loss": [_encode_level(lv) for lv in point.loss_levels],
            "pending_time": [_encode_level(lv) for lv in point.time_levels],
            "remaining": point.remaining,
            "rtol": _encode_float(point.current[0].rtol),
            "segments": [segment.encode() for segment in point.segments],
            "integrator": encode_snapshot(point.backend, point.snapshot),
        }
        if point.main_run is None:
            resume = {"phase": "main", "main": loop}
        else:
            run = point.main_run
            resume = {"phase": "control", "control": loop, "main": {
                "records": [{"level": _encode_level(level), "checkpoint": index[id(state)]}
                            for level, state in run.records],
                "final_on_record": bool(run.final_on_record), "status": str(run.status),
                "segments": [FinishedSegment.of(s).encode() for s in run.segments]}}
        if main_records:
            final = main_records[-1][1]
        else:
            integrator, ell, y = point.current
            final = integrator.make_state(ell, y)
        segments = point.segments + [_summary(point.backend, point.snapshot, point.current[0])]
        all_segments = (segments if point.main_run is None
                        else [FinishedSegment.of(s) for s in point.main_run.segments] + segments)
        what = ("the main run" if point.phase == "main"
                else "the control run that checks the digits")
        trajectory = Trajectory(
            problem=self.header.problem, checkpoints=states, final=final,
            status=STATUS_IN_PROGRESS,
            message=(f"in progress: {what}, {len(main_records)} states recorded so far (digits "
                     f"not yet checked); continue with extprec.solve(problem, ..., "
                     f"resume={self.path!r}) or 'extprec run --resume {self.path}'"),
            n_steps=sum(s.n_steps for s in all_segments), stats=self._stats(all_segments),
            rtol=float.fromhex(self.header.arguments["rtol"]))
        self._write_document(trajectory, resume, slots)
        self._written = point
        self._recorded_at_write = self._recorded(point)

    def _write_document(self, trajectory, resume: dict, slots: list) -> None:
        """Write the results document of ``trajectory`` with the entry ``resume`` (whose
        States are placeholders numbered into ``slots``) and the checksum."""
        start = self._clock()
        document = results_io._document(
            trajectory, lambda state, where: self._placeholder(state, True, slots))
        document["resume"] = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                              "fingerprint": self.header.fingerprint,
                              "arguments": self.header.arguments,
                              "algorithm": self.header.algorithm, **resume, "checksum": ""}
        skeleton = _canonical(document)
        data = _PLACEHOLDER.sub(lambda m: slots[int(m.group(1))], skeleton).encode("utf-8")
        checksum = hashlib.sha256(data).hexdigest()
        data = data.replace(_CHECKSUM_SLOT, f'"checksum":"{checksum}"'.encode(), 1)
        results_io._atomic_write(self.path, data + b"\n")
        end = self._clock()
        self._last_end, self._last_duration = end, end - start

    def _placeholder(self, state, with_decimal, slots) -> str:
        """A placeholder for the entry of ``state``, whose canonical text (encoded once per
        State) is appended to ``slots``."""
        key = (id(state), with_decimal)
        cached = self._texts.get(key)
        if cached is None or cached[0] is not state:
            entry = results_io._encode_state(state, "state")
            if not with_decimal:
                del entry["decimal"]  # for people; the control States are not shown
            cached = self._texts[key] = (state, _canonical(entry))
        slots.append(cached[1])
        return f"@@state:{len(slots) - 1}@@"


def _summary(backend, snapshot, integrator) -> FinishedSegment:
    """The counts of the current segment at a restart point."""
    return FinishedSegment(backend, int(snapshot["n_steps"]),
                           np.array(snapshot["counters"], dtype=np.int64),
                           list(snapshot.get("bits_used", [])),
                           float(snapshot.get("last_resolution", 0.0)), float(integrator.rtol))


def _canonical(document) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _sha256(document) -> str:
    return hashlib.sha256(_canonical(document).encode("utf-8")).hexdigest()


def update_finished(path, trajectory) -> None:
    """Rewrite the finished checkpoint file at ``path`` with ``trajectory`` (the same run
    with entries added to its ``stats``, as ``extprec run`` adds its cost log), keeping its
    resume entry, so that resuming from it still returns the run without computing."""
    document, source = _read_document(path)
    resume = _resume_entry(document, source)
    if resume.get("phase") != "finished":
        raise ResumeError(f"cannot update {source}: it holds a run in progress, not a "
                          "finished one")
    header = Header(trajectory.problem, document["problem"], resume["arguments"],
                    resume["algorithm"])
    CheckpointWriter(path, header, math.inf, stats=None).finish(trajectory)


def check_overwrite(path, resume=None) -> None:
    """Refuse a ``checkpoint_path`` that holds the progress of an unfinished run (other than
    the one being resumed from): writing there would lose it. Any other file is
    overwritten."""
    path = os.fspath(path)
    if resume is not None and same_file(path, resume):
        return
    if saved_phase(path) in ("main", "control"):
        raise ValueError(
            f"checkpoint_path: {path!r} holds the saved progress of an unfinished run; "
            f"continue it with resume={path!r} ('extprec run --resume {path}'), or delete the "
            "file (or choose another path) to start a new run")


def same_file(path, other) -> bool:
    """Whether two paths name one existing file."""
    return os.path.isfile(path) and os.path.isfile(other) and os.path.samefile(path, other)


def saved_phase(path):
    """The phase ("main", "control", "finished") of the checkpoint file at ``path``, or None
    when there is no such file or it is not a checkpoint file."""
    try:
        with open(os.fspath(path), "rb") as handle:
            return json.loads(handle.read())["resume"]["phase"]
    except (OSError, ValueError, TypeError, KeyError):
        return None


# -- reading -----------------------------------------------------------------------------------

_HINT_DAMAGED = ("checkpoint files are written atomically, so it was damaged or edited after "
                 "it was written: restore a copy, or start the run again (delete the file)")


@dataclasses.dataclass
class Saved:
    """A checkpoint file read back (:func:`read`).

    ``phase`` is "main", "control" or "finished". A finished run has its ``trajectory``; a run
    in progress has ``loop``, the fields of the driver's loop state of that phase (segments
    with the restored integrator last, pending levels, records, remaining steps), and, in the
    control phase, ``main_run`` (records, final_on_record, status, segments of the finished
    main run). ``boundary`` heads the resumed trajectory's segments (:class:`ResumeBoundary`).
    """

    phase: str
    trajectory: object = None
    loop: dict | None = None
    main_run: dict | None = None
    boundary: object = None


def read(path, header: Header) -> Saved:
    """Read the checkpoint file at ``path`` for the run described by ``header``.

    Raises ``FileNotFoundError`` when there is no file, and :class:`ResumeError` (a
    ``ValueError``) when it is not a checkpoint file, is damaged (checksum, structure), was
    written by other versions of extprec or its numerical libraries, or belongs to another
    problem or other arguments; each message says what differs and what to do.
    """
    document, source = _read_document(path)
    resume = _resume_entry(document, source)
    _check_same_run(document, resume, header, source)
    _check_versions(document, source)
    problem = header.problem
    try:
        trajectory = results_io._decode_trajectory(document, problem)
        phase = _get(resume, "phase", str, "resume")
        if phase not in PHASES:
            raise _Invalid(f"resume.phase is {_short(phase)}, not one of {PHASES}")
        if phase == "finished":
            return Saved(phase, trajectory=trajectory)
        states = trajectory.checkpoints
        if phase == "main":
            loop = _decode_loop(_get(resume, "main", dict, "resume"), "resume.main", problem,
                                states, inline=False)
            integrator = loop["segments"][-1]
            here = integrator.make_state(integrator.ell_now(), integrator.y_now())
            ctx = _COMPARE_CONTEXT
            boundary = ResumeBoundary(ctx.mpf(here.sigma), ctx.mpf(here.log10_t) * ctx.ln10,
                                      source)
            return Saved(phase, loop=loop, boundary=boundary)
        main = _object(_get(resume, "main", dict, "resume"), "resume.main")
        main_run = {
            "records": _decode_records(_get(main, "records", list, "resume.main"),
                                       "resume.main.records", problem, states, inline=False),
            "final_on_record": _get(main, "final_on_record", bool, "resume.main"),
            "status": _get(main, "status", str, "resume.main"),
            "segments": [FinishedSegment.decode(s, f"resume.main.segments[{i}]")
                         for i, s in enumerate(_get(main, "segments", list, "resume.main"))],
        }
        loop = _decode_loop(_get(resume, "control", dict, "resume"), "resume.control",
                            problem, states, inline=True)
        return Saved(phase, loop=loop, main_run=main_run,
                     boundary=ResumeBoundary(None, None, source))
    except _Invalid as exc:
        raise ResumeError(f"cannot resume from {source}: {exc}; {_HINT_DAMAGED}") from None
    except results_io._Invalid as exc:
        raise ResumeError(f"cannot resume from {source}: {exc.what}; {_HINT_DAMAGED}") from None
    except IndexError:
        raise ResumeError(f"cannot resume from {source}: a record refers to a checkpoint the "
                          f"file does not have; {_HINT_DAMAGED}") from None


def saved_run(path):
    """``(problem, solve keyword arguments)`` of the run saved at ``path`` (what
    ``extprec run --resume`` continues), after the format and checksum checks."""
    document, source = _read_document(path)
    resume = _resume_entry(document, source)
    try:
        problem = results_io._decode_problem(_get(document, "problem", dict, ""))
    except results_io._Invalid as exc:
        raise ResumeError(f"cannot resume from {source}: {exc.what}; {_HINT_DAMAGED}") from None
    return problem, solve_arguments(resume["arguments"])


def _decode_loop(doc, where, problem, states, inline) -> dict:
    doc = _object(doc, where)
    rtol = _decode_float(_get(doc, "rtol", str, where), f"{where}.rtol")
    backend, snapshot = _decode_snapshot(_get(doc, "integrator", dict, where),
                                         problem.n_samples, f"{where}.integrator")
    segments = [FinishedSegment.decode(s, f"{where}.segments[{i}]")
                for i, s in enumerate(_get(doc, "segments", list, where))]
    try:
        integrator = _integrator_from(problem, rtol, backend, snapshot)
    except (ValueError, FloatingPointError) as exc:
        raise _Invalid(f"{where}.integrator does not continue on this problem ({exc})") from None
    return {
        "segments": segments + [integrator],
        "loss_levels": [_decode_level(lv, f"{where}.pending_loss[{i}]")
                        for i, lv in enumerate(_get(doc, "pending_loss", list, where))],
        "time_levels": [_decode_level(lv, f"{where}.pending_time[{i}]")
                        for i, lv in enumerate(_get(doc, "pending_time", list, where))],
        "records": _decode_records(_get(doc, "records", list, where), f"{where}.records",
                                   problem, states, inline),
        "remaining": _get_int(doc, "remaining", where),
    }


def _decode_records(entries, where, problem, states, inline) -> list:
    records, contexts = [], {}
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        entry = _object(entry, at)
        level = _decode_level(_get(entry, "level", dict, at), f"{at}.level")
        if inline:
            state = results_io._decode_state(_get(entry, "state", dict, at), f"{at}.state",
                                             problem, contexts)
        else:
            state = states[_get_int(entry, "checkpoint", at)]
        records.append((level, state))
    return records


def _read_document(path):
    source = repr(os.fspath(path))
    try:
        with open(os.fspath(path), "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"resume: no such file {source}; pass the checkpoint_path of "
                                "the run to continue (the --out of extprec run), or start a "
                                "new run without resume") from None
    try:
        document = results_io._parse_json(data)
    except results_io._Invalid as exc:
        raise ResumeError(f"cannot resume from {source}: {exc.what}; {_HINT_DAMAGED}") from None
    if not isinstance(document, dict) or document.get("format") != results_io.FORMAT_NAME:
        raise ResumeError(f"cannot resume from {source}: it is not an extprec results file; "
                          "pass the checkpoint_path of a run (extprec run --out PATH)")
    return document, source


def _resume_entry(document, source) -> dict:
    """The checked resume entry: format, version and the checksum of the whole file."""
    resume = document.get("resume")
    if not isinstance(resume, dict):
        raise ResumeError(
            f"cannot resume from {source}: it is a results file without resume data (written "
            "by extprec.save, or by a run without checkpoint_path); runs write resumable "
            "files with solve(..., checkpoint_path=PATH) or extprec run --out PATH")
    if resume.get("format") != FORMAT_NAME:
        raise ResumeError(f"cannot resume from {source}: its resume entry is not of format "
                          f"{FORMAT_NAME!r}; {_HINT_DAMAGED}")
    version = resume.get("format_version")
    if not _is_int(version) or version < 1:
        raise ResumeError(f"cannot resume from {source}: its resume format_version is "
                          f"{_short(version)}; {_HINT_DAMAGED}")
    if version > FORMAT_VERSION:
        raise ResumeError(f"cannot resume from {source}: it was written in resume format "
                          f"version {version}, newer than version {FORMAT_VERSION} that this "
                          "extprec reads; upgrade extprec to continue it")
    stored = resume.get("checksum")
    resume["checksum"] = ""
    computed = _sha256(document)
    resume["checksum"] = stored
    if stored != computed:
        raise ResumeError(f"cannot resume from {source}: its checksum does not match its "
                          f"contents; {_HINT_DAMAGED}")
    for key, kind in (("arguments", dict), ("algorithm", dict), ("fingerprint", str)):
        if not isinstance(resume.get(key), kind):
            raise ResumeError(f"cannot resume from {source}: resume.{key} is missing; "
                              f"{_HINT_DAMAGED}")
    return resume


def _check_same_run(document, resume, header: Header, source) -> None:
    """Refuse a file of another problem, other arguments or another restart rule, naming what
    differs."""
    if resume["fingerprint"] == header.fingerprint:
        return
    differences = []
    stored = document.get("problem") if isinstance(document.get("problem"), dict) else {}
    for key, given in header.problem_doc.items():
        if stored.get(key) != given:
            differences.append(_problem_difference(key, stored.get(key), given))
    for key, given in header.arguments.items():
        saved = resume["arguments"].get(key)
        if saved != given:
            differences.append(f"{key} = {_argument_text(key, saved)} in the file, "
                               f"{_argument_text(key, given)} here")
    if resume["algorithm"] != header.algorithm:
        differences.append(f"the restart rule of the driver is {resume['algorithm']} in the "
                           f"file, {header.algorithm} in this extprec")
    if not differences:
        raise ResumeError(f"cannot resume from {source}: its fingerprint does not match its "
                          f"problem and arguments; {_HINT_DAMAGED}")
    raise ResumeError(
        f"cannot resume from {source}: it holds a run of another problem or other arguments "
        f"({'; '.join(differences)}); pass the problem and arguments of that run "
        f"('extprec run --resume {os.path.basename(source.strip(chr(39)))}' reads them from the "
        "file), or give another checkpoint_path to start a new run")


def _problem_difference(key, stored, given) -> str:
    if key in ("X", "y"):
        shape = lambda v: (f"{len(v)} x {len(v[0])}" if key == "X" and v else  # noqa: E731
                           f"{len(v)} values" if isinstance(v, list) else "missing")
        return f"the data {key} differ (the file's is {shape(stored)}, this one {shape(given)})"
    if key == "alpha":
        shown = lambda v: v.get("approx") if isinstance(v, dict) else v  # noqa: E731
        return f"alpha = {shown(stored)} in the file, {shown(given)} here"
    if key == "shape":
        return "the initialization shapes u+ / u- differ"
    return f"{key} = {stored!r} in the file, {given!r} here"


def _argument_text(key, value) -> str:
    if key in ("log10_loss", "t", "checkpoints", "checkpoint_times"):
        try:
            return _level_text(value)
        except (_Invalid, TypeError, AttributeError):
            return _short(value)
    if key == "rtol" and isinstance(value, str):
        try:
            return repr(float.fromhex(value))
        except ValueError:
            return _short(value)
    return repr(value)


def _check_versions(document, source) -> None:
    """The file's extprec and numerical libraries must be this process's: other versions may
    round differently, and the continued run would not be bit-identical."""
    stored = document.get("versions")
    current = results_io._versions()
    if stored == current:
        return
    stored = stored if isinstance(stored, dict) else {}
    differ = [f"{name} {stored.get(name)} (here {version})"
              for name, version in sorted(current.items()) if stored.get(name) != version]
    raise ResumeError(
        f"cannot resume from {source}: it was written with {', '.join(differ)}; other versions "
        "may round differently, so the continued run would not be bit-identical to an "
        "uninterrupted one; resume in the environment that wrote the file, or start the run "
        "again")


# -- validation helpers ------------------------------------------------------------------------

def _object(value, where) -> dict:
    if not isinstance(value, dict):
        raise _Invalid(f"{where} must be a JSON object; got {_kind(value)}")
    return value


def _get(doc, key, kind, where):
    if key not in doc:
        raise _Invalid(f"{where}.{key} is missing")
    value = doc[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Invalid(f"{where}.{key} must be of type {kind.__name__}; got {_kind(value)}")
    return value


def _get_int(doc, key, where) -> int:
    return _get(doc, key, int, where)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_list(values, where, length) -> list:
    if len(values) != length or not all(_is_int(v) for v in values):
        raise _Invalid(f"{where} must be {length} integers")
    return list(values)


def _float_list(values, where, length) -> list:
    if not isinstance(values, list) or len(values) != length:
        raise _Invalid(f"{where} must be a list of {length} float.hex() strings")
    return [_decode_float(v, f"{where}[{i}]") for i, v in enumerate(values)]


def _arb_list(values, where, length) -> list:
    if not isinstance(values, list) or len(values) != length:
        raise _Invalid(f"{where} must be a list of {length} exact numbers")
    return [_decode_arb(v, f"{where}[{i}]") for i, v in enumerate(values)]


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _short(value, limit=60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["DEFAULT_CHECKPOINT_SECONDS", "FORMAT_NAME", "FORMAT_VERSION", "ResumeError",
           "STATUS_IN_PROGRESS", "read", "saved_run", "update_finished"]
