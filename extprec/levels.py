"""Exact loss levels and times at which the driver stops or records a State.

A level is kept exactly (a ``Fraction``) and converted by each integrator to its own
arithmetic, so that ``log10_loss = "-1e1000"`` or ``t = "1e100000"`` mean exactly that,
far beyond the float64 range.
"""

from __future__ import annotations

import decimal
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import mpmath
from flint import arb

LN10 = math.log(10.0)
_SORT_CONTEXT = mpmath.MPContext()
_SORT_CONTEXT.prec = 80
# Largest |decimal exponent| of a level or time given as a string, Decimal or mpf. Exact
# conversion costs about 0.3 s at 1e6 and grows quadratically beyond (1e9: hours), and
# log10 L = -1e1000000 is already far beyond anything an integration can reach.
MAX_EXPONENT = 1_000_000
_TIME_EXAMPLE = "10 or the exact string '1e1000'"
_EXAMPLES = {"t": _TIME_EXAMPLE, "checkpoint_times": _TIME_EXAMPLE}


class LandingError(RuntimeError):
    """An integrator cannot land on a level: the integration does not resolve the level's
    quantity to the landing tolerance there. The driver ends the run with status
    "landing failed" and keeps the States before it."""


def exact_number(value, name: str) -> Fraction:
    """Exact rational value of an int, float, Fraction, Decimal, mpf or decimal string."""
    base = name.split("[")[0]
    example = _EXAMPLES.get(base, "-100 or the exact string '-1e100'")
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a decimal string, not a bool "
                        f"(got {value!r}); pass e.g. {example}")
    given = value  # shown in messages
    try:
        if isinstance(value, str):
            value = decimal.Decimal(value.strip())
        if isinstance(value, decimal.Decimal):
            if not value.is_finite():
                raise ValueError
            if value and abs(value.adjusted()) > MAX_EXPONENT:
                raise OverflowError
            return Fraction(value)
        if hasattr(value, "_mpf_"):
            sign, man, exp, _ = value._mpf_
            man = int(man)  # gmpy2's mpz under mpmath's gmpy backend; Fraction keeps its type
            if not man and exp:
                raise ValueError
            if man and abs(exp + man.bit_length()) > 4 * MAX_EXPONENT:
                raise OverflowError
            man = -man if sign else man
            return Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)
        if isinstance(value, numbers.Real):
            if not isinstance(value, numbers.Rational) and not math.isfinite(value):
                raise ValueError
            return Fraction(value)
    except OverflowError:
        raise ValueError(f"{name} = {given} has a decimal exponent beyond +-{MAX_EXPONENT}, "
                         f"which no run can reach; pass a value between -1e{MAX_EXPONENT} and "
                         f"1e{MAX_EXPONENT}") from None
    except (ValueError, decimal.InvalidOperation):
        raise ValueError(f"{name} must be a finite number or a decimal string (got {given!r}); "
                         f"pass e.g. {example}") from None
    raise TypeError(f"{name} must be a number or a decimal string; got "
                    f"{type(value).__name__} {value!r}; pass e.g. {example}")


def _fraction_to_float(q: Fraction) -> float:
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


@dataclass(frozen=True)
class LossLevel:
    """A training-loss level, given as log10 of the loss or as sigma = log(1/L)."""

    value: Fraction
    kind: str = "log10_loss"  # or "sigma"

    @classmethod
    def parse(cls, log10_loss, name: str = "log10_loss") -> "LossLevel":
        return cls(exact_number(log10_loss, name))

    def sigma_float(self) -> float:
        """sigma as a float64 (inf beyond the float64 range)."""
        if self.kind == "sigma":
            return _fraction_to_float(self.value)
        return -_fraction_to_float(self.value) * LN10

    def sigma_arb(self) -> arb:
        """sigma at the working precision of python-flint's context."""
        q = arb(self.value.numerator) / arb(self.value.denominator)
        return q if self.kind == "sigma" else -q * arb(10).log()

    def sort_key(self):
        ctx = _SORT_CONTEXT
        q = ctx.mpf(self.value.numerator) / self.value.denominator
        return q if self.kind == "sigma" else -q * ctx.ln10

    def __str__(self):
        text = _compact(self.value)
        return f"log10 loss {text}" if self.kind == "log10_loss" else f"sigma {text}"


@dataclass(frozen=True)
class TimeLevel:
    """An original gradient-flow time t > 0."""

    t: Fraction

    @classmethod
    def parse(cls, t, name: str = "t") -> "TimeLevel":
        q = exact_number(t, name)
        if q <= 0:
            raise ValueError(f"{name} must be a time > 0 (got {t!r}); the flow starts at t = 0, "
                             "pass a positive time such as 10 or '1e1000'")
        return cls(q)

    def log_t_float(self) -> float:
        return math.log(self.t.numerator) - math.log(self.t.denominator)

    def log_t_arb(self) -> arb:
        return arb(self.t.numerator).log() - arb(self.t.denominator).log()

    def sort_key(self):
        ctx = _SORT_CONTEXT
        return ctx.log(self.t.numerator) - ctx.log(self.t.denominator)

    def __str__(self):
        return f"t = {_compact(self.t)}"


def _compact(q: Fraction) -> str:
    if q.denominator == 1 and abs(q.numerator) >= 10**6:
        digits = len(str(abs(q.numerator))) - 1
        if q.numerator == (-1 if q < 0 else 1) * 10**digits:
            return ("-" if q < 0 else "") + f"1e{digits}"
    return str(q) if q.denominator == 1 else str(float(q))


MAX_EVERY_DECADE = 120  # default checkpoints: every decade of log10(1/L) up to this many


def default_loss_levels(sigma0: float, stop: LossLevel | None,
                        sigma_max: float = math.inf) -> list[LossLevel]:
    """Every decade of log10(1/L), ``log10 L = -1, -10, -100, ...``, below the start and
    above the stop (up to 10^-(10^300) without one), and below ``sigma_max``
    (``-log inf L`` for data that are not linearly separable). Beyond
    ``MAX_EVERY_DECADE`` decades, every ``ceil(k / 100)``-th decade (about 100 levels: at
    10^-(10^1000) a State costs about a second)."""
    top = math.inf if stop is None else stop.sort_key()
    if sigma_max < top:
        top = sigma_max
    k_max = 300 if stop is None else max(1, int(_SORT_CONTEXT.log10(max(top, 10))) + 1)
    stride = 1 if k_max <= MAX_EVERY_DECADE else -(-k_max // 100)
    levels = [LossLevel(Fraction(-(10**k))) for k in range(0, k_max + 1, stride)]
    return [level for level in levels if sigma0 < level.sort_key() < top]
