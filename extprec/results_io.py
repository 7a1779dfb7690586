"""Results files: :func:`save` a :class:`~extprec.Trajectory` to JSON and :func:`load` it back.

Format ``"extprec-results"``, version 1: one UTF-8 JSON object, keys sorted, one-space indent,
no timestamps, so the same trajectory always gives the same bytes (saving a loaded trajectory
again reproduces the file byte for byte in the same environment)::

    {
     "format": "extprec-results",
     "format_version": 1,
     "versions": {"extprec": "0.1.0", "gmpy2": "...", "mpmath": "1.3.0", "numba": "...",
                  "numpy": "...", "python": "3.11.7", "python-flint": "...", "scipy": "..."},
     "problem": {
      "X": [["0x1.0000000000000p+0", "0x1.0000000000000p-1"], ...],   # float.hex, row-major
      "y": ["0x1.0000000000000p+0", ...],
      "depth": 2,
      "alpha": {"numerator": "1", "denominator": "1000...0", "approx": "1.0e-400"},
      "shape": {"u_plus": ["0x1.0000000000000p+0", ...], "u_minus": [...]},
      "loss": "exp", "reduction": "sum"
     },
     "rtol": 1e-10, "status": "reached", "message": "...", "n_steps": 936,
     "stats": {"f_evaluations": 8529, ..., "segments": [["float64", 923], ["arb", 13]], ...},
     "checkpoints": [STATE, ...],
     "final": {"checkpoint": 2}            # final is checkpoints[2]; or {"state": STATE}
    }

    STATE = {
     "backend": "arb", "digits": 9, "precision_bits": 460, "mpmath_prec": 460,
     "ell": 72.90569849968799,
     "exact": {"log10_loss": "-0x1d3f...p-357", "sigma": "0x...p-350", "log10_t": "-inf",
               "nu": ["0x...p-300", ...], "beta": [...], ..., "min_margin": "0x...p-351"},
     "decimal": {"log10_loss": "-1.0e+30", "nu": ["1.23456789e+29", ...], ...},
     "evidence": {"verified": true, "tolerance_digits": 9, "control_rtol": 1e-12,
                  "control_bits": 512, "differences": {"beta_normalized": 2.3e-13, ...},
                  "note": "..."}      # what digits rests on (extprec.verification); optional
    }

Every ``mpmath.mpf`` is stored exactly in ``"exact"`` as ``[-]0x<MAN>p<EXP>``, meaning
``(+-) MAN * 2**EXP`` with the integer mantissa MAN in hexadecimal and the binary exponent EXP
in decimal (that is ``mpf._mpf_``; no rounding, any exponent), or as ``"0"``, ``"inf"``,
``"-inf"``, ``"nan"``. ``"decimal"`` repeats each value with the ``digits`` the state vouches
for (at least 1); it is for people and is ignored by :func:`load`. Loaded values live in an
``mpmath.MPContext`` whose precision is the state's ``mpmath_prec`` (the precision of the
context that produced them), so arithmetic on them behaves as on the originals. The float
``ell`` and ``rtol`` are JSON numbers (exact: Python writes the shortest round-tripping
repr); stats are plain JSON (tuples become lists; ``stats["segments"]`` and
``stats["precision_schedule"]`` entries are turned back into tuples on load).

:func:`load` only parses JSON and decimal/hexadecimal integers: it never unpickles or evaluates
anything, and it raises ``ValueError`` naming the file, what is wrong and what to do for any
file that is not a complete, well-formed results file of a version it understands.
"""

from __future__ import annotations

import decimal
import functools
import json
import math
import os
import platform
import re
import uuid
from fractions import Fraction
from importlib import metadata

import mpmath
import numpy as np
from mpmath import libmp

FORMAT_NAME = "extprec-results"
FORMAT_VERSION = 1

# Distributions whose versions are recorded in every file (besides Python and extprec).
_RECORDED_DISTRIBUTIONS = ("numpy", "scipy", "mpmath", "numba", "python-flint", "gmpy2")
_SCALAR_FIELDS = ("log10_loss", "sigma", "tau", "log10_t", "min_margin")
# Vector fields of a State and the Problem dimension giving their length.
_VECTOR_FIELDS = (("nu", "n_samples"), ("beta", "n_features"), ("w_plus", "n_features"),
                  ("w_minus", "n_features"), ("margins", "n_samples"),
                  ("beta_normalized", "n_features"))
_TUPLE_LIST_STATS = ("segments", "precision_schedule")
_MPF_PATTERN = re.compile(r"(-?)0x([0-9a-f]+)p([+-]?[0-9]+)\Z")
_SPECIAL_MPF = {"0": libmp.fzero, "inf": libmp.finf, "-inf": libmp.fninf, "nan": libmp.fnan}
_INT_PATTERN = re.compile(r"-?[0-9]+\Z")
_HINT_CORRUPT = ("the file is damaged or was edited by hand; re-create it with "
                 "extprec.save(trajectory, path) or restore a backup")
_HINT_FOREIGN = "give the path of a file written by extprec.save"


class _Invalid(Exception):
    """Internal: the document is not a valid results file (location, what, hint)."""

    def __init__(self, what, hint=_HINT_CORRUPT):
        super().__init__(what)
        self.what = what
        self.hint = hint


# -- saving ------------------------------------------------------------------------------------

def save(trajectory, path) -> None:
    """Write ``trajectory`` to ``path`` as an ``extprec-results`` version 1 JSON file.

    See the module docstring for the format. Every multiprecision number is stored exactly
    (mantissa and exponent), the problem's arrays as ``float.hex`` strings and alpha as an exact
    fraction, so :func:`load` gives back equal values. The write is atomic: the file is written
    to a temporary file in the same directory and moved onto ``path`` with ``os.replace``, so
    ``path`` holds either the old or the complete new contents, never a partial file.
    """
    _atomic_write(os.fspath(path), dumps(trajectory))


def dumps(trajectory) -> bytes:
    """The bytes :func:`save` writes for ``trajectory`` (UTF-8 JSON, deterministic); for
    stores that keep many results, such as a sweep's (:mod:`extprec.sweep`)."""
    text = json.dumps(_document(trajectory), sort_keys=True, indent=1, separators=(",", ": "),
                      ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _document(trajectory, encode_state=None) -> dict:
    """The JSON document of ``trajectory``; ``encode_state(state, where)`` gives the entry of
    each State (default: :func:`_encode_state`; checkpoint files put cached text there,
    :mod:`extprec.resume`)."""
    from .problem import Problem
    from .trajectory import Trajectory

    if not isinstance(trajectory, Trajectory):
        raise TypeError(f"save expects an extprec.Trajectory; got {type(trajectory).__name__}")
    if not isinstance(trajectory.problem, Problem):
        raise TypeError("the trajectory's problem is not an extprec.Problem; "
                        f"got {type(trajectory.problem).__name__}")
    encode_state = encode_state or _encode_state
    checkpoints = list(trajectory.checkpoints)
    final_index = next((i for i, s in enumerate(checkpoints) if s is trajectory.final), None)
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "problem": _encode_problem(trajectory.problem),
        "rtol": _encode_float(trajectory.rtol, "rtol"),
        "status": str(trajectory.status),
        "message": str(trajectory.message),
        "n_steps": int(trajectory.n_steps),
        "stats": _jsonable(trajectory.stats, "stats"),
        "checkpoints": [encode_state(s, f"checkpoints[{i}]") for i, s in enumerate(checkpoints)],
        "final": ({"checkpoint": final_index} if final_index is not None
                  else {"state": encode_state(trajectory.final, "final")}),
    }


def _versions() -> dict:
    return dict(_installed_versions())


@functools.lru_cache(maxsize=1)
def _installed_versions() -> dict:
    """The recorded versions, read once per process (reading package metadata takes about
    3 ms per package, which checkpoint files written every second would pay each time)."""
    from . import __version__

    versions = {"extprec": __version__, "python": platform.python_version()}
    for name in _RECORDED_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _encode_problem(problem) -> dict:
    alpha = problem.alpha_exact
    approx = libmp.to_str(libmp.from_rational(alpha.numerator, alpha.denominator, 64,
                                              libmp.round_nearest), 17)
    return {
        "X": [[float(v).hex() for v in row] for row in problem.X],
        "y": [float(v).hex() for v in problem.y],
        "depth": int(problem.depth),
        "alpha": {"numerator": _int_to_str(alpha.numerator),
                  "denominator": _int_to_str(alpha.denominator), "approx": approx},
        "shape": {"u_plus": [float(v).hex() for v in problem.u_plus],
                  "u_minus": [float(v).hex() for v in problem.u_minus]},
        "loss": problem.loss,
        "reduction": problem.reduction,
    }


def _encode_state(state, where) -> dict:
    digits = int(state.digits)
    shown = max(1, digits)
    exact, shown_values = {}, {}
    for name in _SCALAR_FIELDS:
        raw = _mpf_tuple(getattr(state, name), f"{where}.{name}")
        exact[name] = _mpf_to_str(raw)
        shown_values[name] = _mpf_to_decimal(raw, shown)
    for name, _ in _VECTOR_FIELDS:
        raws = [_mpf_tuple(v, f"{where}.{name}[{i}]")
                for i, v in enumerate(np.asarray(getattr(state, name), dtype=object).ravel())]
        exact[name] = [_mpf_to_str(r) for r in raws]
        shown_values[name] = [_mpf_to_decimal(r, shown) for r in raws]
    context = getattr(state.sigma, "context", None)
    mpmath_prec = int(getattr(context, "prec", None) or state.precision_bits)
    out = {
        "backend": str(state.backend),
        "digits": digits,
        "precision_bits": int(state.precision_bits),
        "mpmath_prec": mpmath_prec,
        "ell": _encode_float(state.ell, f"{where}.ell"),
        "exact": exact,
        "decimal": shown_values,
    }
    if state.evidence is not None:
        out["evidence"] = _encode_evidence(state.evidence, f"{where}.evidence")
    return out


def _encode_evidence(evidence, where) -> dict:
    """The :class:`~extprec.verification.DigitsEvidence` of a State (floats exact in JSON)."""
    return {
        "tolerance_digits": int(evidence.tolerance_digits),
        "verified": bool(evidence.verified),
        "control_rtol": (None if evidence.control_rtol is None
                         else _encode_float(evidence.control_rtol, f"{where}.control_rtol")),
        "control_bits": None if evidence.control_bits is None else int(evidence.control_bits),
        "differences": {name: _encode_float(value, f"{where}.differences.{name}")
                        for name, value in sorted(evidence.differences.items())},
        "note": str(evidence.note),
    }


def _mpf_tuple(value, where):
    """The exact ``_mpf_`` tuple of an mpf (or of an int or float, converted exactly)."""
    if hasattr(value, "_mpf_"):
        return value._mpf_
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where} is a bool; expected an mpmath.mpf")
    if isinstance(value, (int, np.integer)):
        return libmp.from_int(int(value))
    if isinstance(value, (float, np.floating)):
        return libmp.from_float(float(value))
    raise TypeError(f"{where} must be an mpmath.mpf; got {type(value).__name__}")


def _mpf_to_str(raw) -> str:
    for text, special in _SPECIAL_MPF.items():
        if raw == special:
            return text
    sign, man, exp, _ = raw
    return f"{'-' if sign else ''}0x{int(man):x}p{int(exp)}"


def _mpf_to_decimal(raw, digits) -> str:
    if raw == libmp.fzero:
        return "0.0"
    if raw in (libmp.finf, libmp.fninf, libmp.fnan):
        return _mpf_to_str(raw)
    return libmp.to_str(raw, digits)


def _int_to_str(n: int) -> str:
    # Via Decimal, which is exact and not subject to the int/str digit limit (alpha = 1e-5000).
    return str(decimal.Decimal(int(n)))


def _encode_float(value, where):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise TypeError(f"{where} must be a float; got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _jsonable(value, where):
    """Plain-JSON copy of ``value``: numpy scalars to Python, tuples to lists, mpf exact."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _encode_float(value, where)
    if hasattr(value, "_mpf_"):
        return _mpf_to_str(value._mpf_)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    return str(value)


def _atomic_write(path: str, data: bytes) -> None:
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    # 0o666 filtered by the umask, like an ordinary open(path, "w").
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


# -- loading -----------------------------------------------------------------------------------

def load(path):
    """Read a results file written by :func:`save` and return the :class:`~extprec.Trajectory`.

    The problem is rebuilt as a real :class:`~extprec.Problem` (X, y, shape bit for bit, alpha
    exact), every State value is the identical mpf, ``final`` is the same object as the
    checkpoint it was saved as (if it was one), and ``status``, ``message``, ``n_steps``,
    ``stats`` and ``rtol`` are restored. The integrator segments are not stored, so the loaded
    trajectory has ``_segments == []`` and :meth:`Trajectory.state_at` cannot land on new levels:
    it raises ``ValueError`` for every level (use the stored checkpoints, or solve the problem
    again to get states at other levels).

    Only JSON is parsed, nothing is unpickled or evaluated. Raises ``ValueError`` (naming the
    file, what is wrong and what to do) for a file that is not JSON, truncated or corrupted,
    not an ``extprec-results`` file, or written in a newer format version; ``OSError`` when the
    file cannot be read.
    """
    name = os.fspath(path)
    with open(name, "rb") as handle:
        data = handle.read()
    return loads(data, repr(name))


def loads(data: bytes, source: str = "the given bytes", *, problem=None):
    """:func:`load` from the bytes of a results file; ``source`` names them in errors. With
    ``problem`` the trajectory gets that Problem instead of one rebuilt from the file (whose
    problem the caller has checked to be the same, as :mod:`extprec.resume` does)."""
    try:
        return _load_document(data, problem)
    except _Invalid as exc:
        raise ValueError(f"cannot load extprec results from {source}: {exc.what}; "
                         f"{exc.hint}") from None


def _load_document(data, problem=None):
    document = _parse_json(data)
    if not isinstance(document, dict) or "format" not in document:
        raise _Invalid(f"it is JSON ({_json_type(document)}) but not an extprec results file (no "
                       f"\"format\": \"{FORMAT_NAME}\" entry)", _HINT_FOREIGN)
    if document["format"] != FORMAT_NAME:
        raise _Invalid(f"it is a JSON file of format {_short(document['format'])}, not "
                       f"{FORMAT_NAME!r}", _HINT_FOREIGN)
    version = document.get("format_version")
    if not _is_int(version) or version < 1:
        raise _Invalid(f"its format_version is {_short(version)}, expected a positive integer")
    if version > FORMAT_VERSION:
        written_by = document.get("versions")
        written_by = written_by.get("extprec") if isinstance(written_by, dict) else None
        raise _Invalid(
            f"it was written in results format version {version} (by extprec "
            f"{_short(written_by)}), newer than version {FORMAT_VERSION} that this extprec "
            f"reads", "upgrade extprec to load it")
    return _decode_trajectory(document, problem)


def _parse_json(data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"it is not a UTF-8 text file, so not a JSON results file ({exc})",
                       _HINT_FOREIGN) from None
    try:
        return json.loads(text, parse_constant=_reject_constant,
                          object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        if not text.lstrip().startswith(("{", "[")):
            raise _Invalid(f"it is not a JSON file ({exc})", _HINT_FOREIGN) from None
        raise _Invalid(f"it is not valid JSON ({exc}), probably truncated or corrupted",
                       "if the file was being written or copied, wait or copy it again; "
                       "otherwise re-create it with extprec.save(trajectory, path)") from None
    except (ValueError, RecursionError) as exc:
        raise _Invalid(f"it is not valid results JSON ({exc})") from None


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _unique_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _decode_trajectory(doc, problem=None):
    from .trajectory import Trajectory

    if problem is None:
        problem = _decode_problem(_get(doc, "problem", dict, ""))
    contexts = {}
    checkpoints = [_decode_state(s, f"checkpoints[{i}]", problem, contexts)
                   for i, s in enumerate(_get(doc, "checkpoints", list, ""))]
    final_entry = _get(doc, "final", dict, "")
    if set(final_entry) == {"checkpoint"}:
        index = final_entry["checkpoint"]
        if not _is_int(index) or not 0 <= index < len(checkpoints):
            raise _Invalid(f"final.checkpoint is {_short(index)}, not an index of the "
                           f"{len(checkpoints)} checkpoints")
        final = checkpoints[index]
    elif set(final_entry) == {"state"}:
        final = _decode_state(final_entry["state"], "final.state", problem, contexts)
    else:
        raise _Invalid("final must be {\"checkpoint\": INDEX} or {\"state\": STATE}; got keys "
                       f"{sorted(final_entry)}")
    stats = _decode_stats(_get(doc, "stats", dict, ""))
    return Trajectory(
        problem=problem,
        checkpoints=checkpoints,
        final=final,
        status=_get(doc, "status", str, ""),
        message=_get(doc, "message", str, ""),
        n_steps=_get_int(doc, "n_steps", ""),
        stats=stats,
        rtol=_get_float(doc, "rtol", ""),
    )


def _decode_problem(doc):
    from .problem import Problem

    alpha_doc = _get(doc, "alpha", dict, "problem")
    numerator = _parse_int(_get(alpha_doc, "numerator", str, "problem.alpha"),
                           "problem.alpha.numerator")
    denominator = _parse_int(_get(alpha_doc, "denominator", str, "problem.alpha"),
                             "problem.alpha.denominator")
    if denominator <= 0:
        raise _Invalid(f"problem.alpha.denominator must be positive; got {denominator}")
    shape = _get(doc, "shape", dict, "problem")
    rows = [_hex_floats(row, f"problem.X[{i}]")
            for i, row in enumerate(_get(doc, "X", list, "problem"))]
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        raise _Invalid(f"problem.X must be a non-empty list of rows of equal length; got row "
                       f"lengths {[len(row) for row in rows][:10]}")
    X = np.array(rows, dtype=np.float64)
    u_plus = _hex_floats(_get(shape, "u_plus", list, "problem.shape"), "problem.shape.u_plus")
    u_minus = _hex_floats(_get(shape, "u_minus", list, "problem.shape"), "problem.shape.u_minus")
    if len(u_plus) != len(u_minus):
        raise _Invalid(f"problem.shape.u_plus and u_minus have lengths {len(u_plus)} and "
                       f"{len(u_minus)}")
    try:
        return Problem(
            X,
            np.array(_hex_floats(_get(doc, "y", list, "problem"), "problem.y"), dtype=np.float64),
            depth=_get_int(doc, "depth", "problem"),
            alpha=Fraction(numerator, denominator),
            shape=np.array([u_plus, u_minus], dtype=np.float64),
            loss=_get(doc, "loss", str, "problem"),
            reduction=_get(doc, "reduction", str, "problem"),
        )
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"the stored problem is invalid ({exc})") from None


def _decode_state(doc, where, problem, contexts):
    from .trajectory import State

    if not isinstance(doc, dict):
        raise _Invalid(f"{where} must be a JSON object; got {_json_type(doc)}")
    precision_bits = _get_int(doc, "precision_bits", where)
    mpmath_prec = _get_int(doc, "mpmath_prec", where)
    if mpmath_prec < 2:
        raise _Invalid(f"{where}.mpmath_prec must be >= 2; got {mpmath_prec}")
    ctx = contexts.get(mpmath_prec)
    if ctx is None:
        ctx = contexts[mpmath_prec] = mpmath.MPContext()
        ctx.prec = mpmath_prec
    exact = _get(doc, "exact", dict, where)
    fields = {}
    for name in _SCALAR_FIELDS:
        fields[name] = ctx.make_mpf(_parse_mpf(_get(exact, name, str, f"{where}.exact"),
                                               f"{where}.exact.{name}"))
    for name, dimension in _VECTOR_FIELDS:
        values = _get(exact, name, list, f"{where}.exact")
        expected = getattr(problem, dimension)
        if len(values) != expected:
            raise _Invalid(f"{where}.exact.{name} has {len(values)} entries; the problem has "
                           f"{dimension} = {expected}")
        array = np.empty(len(values), dtype=object)
        for i, text in enumerate(values):
            if not isinstance(text, str):
                raise _Invalid(f"{where}.exact.{name}[{i}] must be a string; got "
                               f"{_json_type(text)}")
            array[i] = ctx.make_mpf(_parse_mpf(text, f"{where}.exact.{name}[{i}]"))
        fields[name] = array
    return State(
        **fields,
        digits=_get_int(doc, "digits", where),
        precision_bits=precision_bits,
        backend=_get(doc, "backend", str, where),
        ell=_get_float(doc, "ell", where),
        evidence=_decode_evidence(doc["evidence"], f"{where}.evidence")
        if "evidence" in doc else None,
    )


def _decode_evidence(doc, where):
    from .verification import DigitsEvidence

    if not isinstance(doc, dict):
        raise _Invalid(f"{where} must be a JSON object; got {_json_type(doc)}")
    verified = _get(doc, "verified", bool, where)
    rtol = doc.get("control_rtol")
    bits = doc.get("control_bits")
    differences = _get(doc, "differences", dict, where)
    return DigitsEvidence(
        tolerance_digits=_get_int(doc, "tolerance_digits", where),
        verified=verified,
        control_rtol=None if rtol is None else _get_float(doc, "control_rtol", where),
        control_bits=None if bits is None else _get_int(doc, "control_bits", where),
        differences={name: _get_float(differences, name, f"{where}.differences")
                     for name in differences},
        note=_get(doc, "note", str, where),
    )


def _decode_stats(stats):
    stats = dict(stats)
    for key in _TUPLE_LIST_STATS:
        entries = stats.get(key)
        if isinstance(entries, list):
            stats[key] = [tuple(e) if isinstance(e, list) else e for e in entries]
    return stats


def _parse_mpf(text, where):
    special = _SPECIAL_MPF.get(text)
    if special is not None:
        return special
    match = _MPF_PATTERN.match(text)
    if match is None:
        raise _Invalid(f"{where} is {_short(text)}, not an exact number of the form "
                       "[-]0x<hex mantissa>p<exponent>, 0, inf, -inf or nan")
    man = int(match.group(2), 16)  # base 16 has no digit limit
    exp = _parse_int(match.group(3).lstrip("+"), where)
    if man == 0:
        raise _Invalid(f"{where} has a zero mantissa; zero is written 0")
    trailing = (man & -man).bit_length() - 1  # normalize exactly: odd mantissa
    man >>= trailing
    return (1 if match.group(1) else 0, libmp.MPZ(man), exp + trailing, man.bit_length())


def _parse_int(text, where):
    if not isinstance(text, str) or not _INT_PATTERN.match(text):
        raise _Invalid(f"{where} is {_short(text)}, not a decimal integer string")
    if len(text) < 1000:
        return int(text)
    return int(decimal.Decimal(text))  # exact, and not subject to the int/str digit limit


def _hex_floats(values, where):
    if not isinstance(values, list):
        raise _Invalid(f"{where} must be a list; got {_json_type(values)}")
    result = []
    for i, text in enumerate(values):
        try:
            if not isinstance(text, str):
                raise ValueError
            value = float.fromhex(text)
            if value.hex() != text:  # only the canonical float.hex() form ("10" is not 10.0)
                raise ValueError
        except (ValueError, OverflowError):
            raise _Invalid(f"{where}[{i}] is {_short(text)}, not a float.hex() string such as "
                           "'0x1.8000000000000p+0'") from None
        result.append(value)
    return result


def _get_float(doc, key, where):
    value = _get(doc, key, (int, float, str), where)
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, (bool, str)):
        raise _Invalid(f"{where + '.' if where else ''}{key} must be a number; got "
                       f"{_json_type(value)}")
    return float(value)


def _get(doc, key, kind, where):
    location = f"{where}.{key}" if where else key
    if key not in doc:
        raise _Invalid(f"missing key {location!r}")
    value = doc[key]
    if not isinstance(value, kind):
        raise _Invalid(f"{location} must be a {_KIND_NAMES[kind]}; got {_json_type(value)}")
    return value


def _get_int(doc, key, where):
    value = _get(doc, key, int, where)
    if isinstance(value, bool):
        raise _Invalid(f"{where + '.' if where else ''}{key} must be an integer; got a bool")
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


_KIND_NAMES = {dict: "JSON object", list: "JSON array", str: "string", int: "integer",
               (int, float, str): "number"}


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array", str: "a string", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "dumps", "load", "loads", "save"]
