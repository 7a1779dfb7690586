"""The training problem: data, network depth, initialization and loss (theory.md section 1).

A :class:`Problem` is validated once and is immutable afterwards. Besides the inputs it offers
the float64 facts the engine needs before integrating: whether the data are linearly separable
(with a certificate either way), the infimum of the training loss, and the loss and predictor at
initialization, all computed in the logarithmic domain so that extreme scales are safe.

Notation follows Moroshko et al., "Implicit Bias in Deep Linear Classification: Initialization
Scale vs Training Accuracy", NeurIPS 2020 (arXiv 2007.06738): rows ``x~_n = y_n x_n`` of the
signed data matrix ``X~``, margins ``m = X~ beta``, predictor ``beta = w+^D - w-^D`` with
``w+-(0) = alpha u+-``.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import numbers
from fractions import Fraction

import mpmath
import numpy as np
from mpmath import libmp
from scipy import optimize, special

LOSSES = ("exp", "logistic")
REDUCTIONS = ("sum", "mean")

# Data whose Gordan residual min ||X~^T lambda||_inf over the probability simplex is at most
# this times max|X| are treated as not linearly separable. Equivalently (LP duality) the
# l1-normalized margin max_{||beta||_1 <= 1} min_n x~_n . beta must exceed it, relative to max|X|.
SEPARABILITY_RTOL = 1e-9

# HiGHS feasibility tolerances for the separability programs (the LPs are solved on X~ / max|X|).
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
# Beyond this many entries of X the l_inf max margin (a dense LP) is not solved: a cheap
# separating direction certifies separability and gives a lower bound of the margin.
EXACT_MARGIN_MAX_ENTRIES = 200_000
SEPARATOR_MAX_ITER = 500  # L-BFGS iterations of the cheap separating direction
# Allowed shortfall of the primal LP value below the dual one (both in units of max|X|).
_LP_AGREEMENT_SLACK = 1e-7
# Relative gradient norm at which the convex minimization for the loss infimum is accepted.
_INFIMUM_GTOL = 1e-9
# Below this argument log(softplus(z)) equals z to double precision.
_LOG_SOFTPLUS_LINEAR_BELOW = -37.0
# Context used to round log(alpha) to a float; 64 bits leave guard bits over float64.
_LOG_CTX = mpmath.MPContext()
_LOG_CTX.prec = 64
# Largest |decimal exponent| accepted for alpha (1e-1000000 is far beyond any useful scale;
# converting an exponent of 1e9 to an exact Fraction would take hours).
MAX_ALPHA_EXPONENT = 1_000_000
_ALPHA_FIX = (
    "pass the initialization scale as a positive number or a decimal string such as '1e-300' "
    "(strings are read exactly, so scales beyond the float64 range are fine)"
)


@dataclasses.dataclass(frozen=True, eq=False)
class Separability:
    """Outcome of the linear-separability test of :meth:`Problem.separability`.

    Attributes
    ----------
    separable : bool
        True when some ``beta`` gives every sample a positive margin.
    margin : float
        For separable data, ``min_n x~_n . beta`` of the certificate's direction scaled to
        ``||beta||_inf = 1``: the l_inf-normalized max margin ``gamma*`` up to LP tolerance,
        or, for data with more than ``EXACT_MARGIN_MAX_ENTRIES`` entries, the margin of a
        cheaper separating direction (a lower bound of ``gamma*``; the message says so).
        0.0 for data that are not separable.
    certificate : numpy.ndarray
        Separable: a predictor ``beta`` (length d) with ``x~_n . beta >= 1`` for every n.
        Not separable: Gordan weights ``lambda`` (length N), ``lambda >= 0``, ``sum = 1``, with
        ``||X~^T lambda||_inf <= SEPARABILITY_RTOL * max|X|``, so that
        ``sum_n lambda_n m_n(beta) ~ 0`` for every beta and no beta separates the data.
    message : str
        Human-readable summary.
    """

    separable: bool
    margin: float
    certificate: np.ndarray
    message: str


class Problem:
    """A depth-D diagonal linear network trained by gradient flow on a classification loss.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Finite real features, N >= 1 samples and d >= 1 features.
    y : array_like, shape (N,)
        Labels, each exactly +1 or -1.
    depth : int, default 2
        Network depth D >= 1; ``beta = w+^D - w-^D`` (D = 1 is the linear model).
    alpha : int, float, Fraction, Decimal, mpmath.mpf or str, default 1.0
        Initialization scale, finite and > 0. Strings such as ``"1e-5000"`` are read exactly as
        decimals, so scales beyond the float64 range are allowed.
    shape : None, vector or pair of vectors, optional
        Initialization shape: None (all ones), one vector u (``u+ = u- = u``) or a pair
        ``(u_plus, u_minus)``; each vector has length d and finite positive entries.
    loss : {"exp", "logistic"}, default "exp"
        ``l(z) = exp(-z)`` or ``log(1 + exp(-z))`` of the margin z.
    reduction : {"sum", "mean"}, default "sum"
        Whether the training loss sums or averages the per-sample losses.

    Attributes
    ----------
    X, y, signed_X : numpy.ndarray
        Read-only float64 copies of the data and ``signed_X = y[:, None] * X``.
    n_samples, n_features : int
        N and d.
    depth : int
        D.
    alpha_exact : fractions.Fraction
        The exact initialization scale (authoritative, together with :attr:`log_alpha`).
    log_alpha : float
        ``log(alpha)``, correct to float64 accuracy even when alpha is outside the float range.
    u_plus, u_minus : numpy.ndarray
        Read-only float64 shape vectors, length d.
    loss, reduction : str
        The loss and the reduction.
    """

    __slots__ = (
        "X",
        "y",
        "signed_X",
        "n_samples",
        "n_features",
        "depth",
        "alpha_exact",
        "log_alpha",
        "u_plus",
        "u_minus",
        "loss",
        "reduction",
        "_cache",
    )

    def __init__(self, X, y, depth=2, alpha=1.0, shape=None, loss="exp", reduction="sum"):
        X = _real_array(X, "X")
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2-D with shape (n_samples, n_features); got shape {X.shape}; "
                "for a single sample use X.reshape(1, -1), for a single feature X.reshape(-1, 1)"
            )
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(
                f"X must have at least one sample and one feature; got shape {X.shape}; "
                "pass a non-empty (n_samples, n_features) array"
            )
        zero_rows = np.flatnonzero(~X.any(axis=1))
        if zero_rows.size:
            shown = ", ".join(map(str, zero_rows[:10])) + (", ..." if zero_rows.size > 10 else "")
            raise ValueError(
                f"X has {zero_rows.size} all-zero sample(s) (rows {shown}): the margin of such a "
                "sample is 0 for every predictor, so the data are not separable and the "
                "unit-margin predictor beta / min margin is undefined; remove those rows"
            )
        y = _real_array(y, "y")
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(
                f"y must be 1-D with one label per row of X (length {X.shape[0]}); "
                f"got shape {y.shape}; pass a flat vector such as numpy.ravel(y)"
            )
        _check_labels(y)
        alpha_exact = _exact_alpha(alpha)
        u_plus, u_minus = _shape_vectors(shape, X.shape[1])
        signed_X = y[:, None] * X
        signed_X.flags.writeable = False
        values = {
            "X": X,
            "y": y,
            "signed_X": signed_X,
            "n_samples": X.shape[0],
            "n_features": X.shape[1],
            "depth": _check_depth(depth),
            "alpha_exact": alpha_exact,
            "log_alpha": float(_log_fraction(_LOG_CTX, alpha_exact)),
            "u_plus": u_plus,
            "u_minus": u_minus,
            "loss": _check_choice(loss, "loss", LOSSES),
            "reduction": _check_choice(reduction, "reduction", REDUCTIONS),
            "_cache": {},
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(
            f"Problem is immutable; cannot set {name!r}. Build a new Problem instead."
        )

    def __delattr__(self, name):
        raise AttributeError(f"Problem is immutable; cannot delete {name!r}.")

    def __reduce__(self):
        return (
            Problem,
            (
                self.X,
                self.y,
                self.depth,
                self.alpha_exact,
                (self.u_plus, self.u_minus),
                self.loss,
                self.reduction,
            ),
        )

    def __repr__(self):
        if not self.balanced_shape:
            shape = "unbalanced"
        elif np.all(self.u_plus == 1.0):
            shape = "ones"
        else:
            shape = "balanced"
        return (
            f"Problem(n_samples={self.n_samples}, n_features={self.n_features}, "
            f"depth={self.depth}, alpha={_format_alpha(self.alpha_exact, self.log_alpha)}, "
            f"shape={shape}, loss={self.loss!r}, reduction={self.reduction!r})"
        )

    @property
    def alpha(self) -> float:
        """``float(alpha_exact)``: 0.0 or inf when alpha is outside the float64 range.

        Use :attr:`alpha_exact` or :attr:`log_alpha` in computations; they are authoritative.
        """
        try:
            return float(self.alpha_exact)
        except OverflowError:
            return math.inf

    @property
    def balanced_shape(self) -> bool:
        """True when ``u_plus == u_minus`` exactly (then ``beta(0) = 0``)."""
        return bool(np.array_equal(self.u_plus, self.u_minus))

    def log_alpha_mp(self, ctx):
        """``log(alpha)`` at the precision of the mpmath context ``ctx``.

        Computed from the exact rational alpha (see :func:`_log_fraction`), so the result is
        accurate to ``ctx``'s precision for any alpha, including alpha close to 1.
        """
        return _log_fraction(ctx, self.alpha_exact)

    def separability(self) -> Separability:
        """Decide linear separability with a certificate either way (cached).

        Two linear programs are solved with HiGHS on ``Z = X~ / max|X|``:

        * primal, the l_inf-normalized margin ``gamma* = max_{||beta||_inf <= 1} min_n z_n . beta``;
        * Gordan's alternative, ``t* = min_{lambda in simplex} ||Z^T lambda||_inf``, which by LP
          duality is the l1-normalized margin ``max_{||beta||_1 <= 1} min_n z_n . beta``.

        The data are separable iff ``t* > SEPARABILITY_RTOL`` (Gordan's theorem: either some beta
        has all margins > 0 or some lambda in the simplex has ``X~^T lambda = 0``). Since
        ``t* <= gamma*``, the two programs must agree; a disagreement beyond solver tolerance
        raises ``RuntimeError``.

        Returns
        -------
        Separability
        """
        if "separability" not in self._cache:
            self._cache["separability"] = _separability(self.signed_X)
        return self._cache["separability"]

    def infimum_log_loss(self) -> float:
        """Natural log of ``inf_beta L(beta)`` over all predictors (cached).

        -inf for separable data. Otherwise the samples split into a separable part S (samples
        that some direction v gives positive margins while every margin stays >= 0) and a
        non-separable core C; the infimum equals the minimum of the loss restricted to C (the
        losses of S vanish along v), see Ji and Telgarsky, "Risk and parameter convergence of
        logistic regression", 2018. The infimum is attained iff S is empty; otherwise gradient
        flow approaches it while ``||beta||`` diverges. S is found by a linear program, the core
        minimum by L-BFGS on the convex log-sum-exp (exp) or summed softplus (logistic) objective.
        """
        if "infimum_log_loss" not in self._cache:
            if self.separability().separable:
                value, attained = -math.inf, False
            else:
                value, attained = _core_log_loss(self.signed_X, self.loss)
                if self.reduction == "mean":
                    value -= math.log(self.n_samples)
            self._cache["infimum_log_loss"] = value
            self._cache["infimum_attained"] = attained
        return self._cache["infimum_log_loss"]

    def infimum_attained(self) -> bool:
        """True when the loss attains its infimum at a finite ``beta`` (cached).

        This is the case exactly when the data are not linearly separable and no sample can be
        given a positive margin without giving another a negative one (the separable part S of
        :meth:`infimum_log_loss` is empty); gradient flow then converges to a finite minimizer.
        False for separable data (the infimum 0 is approached as ``||beta|| -> inf``) and for
        non-separable data with a separable part (the loss approaches its infimum while
        ``||beta||`` diverges along the separating direction of S).
        """
        self.infimum_log_loss()
        return self._cache["infimum_attained"]

    def flow_outcome(self) -> str:
        """Where gradient flow takes the training loss, in words (for messages)."""
        if self.separability().separable:
            return (
                "the data are linearly separable: the loss tends to 0 as t -> inf while "
                "||beta|| grows without bound"
            )
        inf10 = self.infimum_log_loss() / math.log(10)
        if self.infimum_attained():
            where = "beta converges to a finite minimizer of the loss, where it is attained"
        else:
            where = (
                "||beta|| grows without bound along a direction that separates part of the "
                "samples (the infimum is approached, not attained)"
            )
        return (
            f"gradient flow does not drive the {self.loss} loss to 0 but decreases it towards "
            f"its infimum log10 inf L = {inf10:.6g}, and {where}"
        )

    def initial_beta_log(self):
        """Sign and log-magnitude of ``beta(0) = (alpha u+)^D - (alpha u-)^D``.

        Uses ``log|beta_i| = D log(alpha max(u+_i, u-_i)) + log(1 - exp(-|delta_i|))`` with
        ``delta_i = D log(u+_i / u-_i)`` formed without cancellation, so it is accurate for any
        alpha and for nearly balanced shapes.

        Returns
        -------
        sign : numpy.ndarray
            -1, 0 or +1 per coordinate.
        log_abs : numpy.ndarray
            ``log|beta_i(0)|`` (-inf where ``u+_i == u-_i``).
        """
        u_plus, u_minus = self.u_plus, self.u_minus
        diff = u_plus - u_minus
        ratio_minus_one = diff / u_minus
        near = np.abs(ratio_minus_one) <= 0.5
        # log(u+/u-): log1p of the exact difference near 1, a difference of logs elsewhere.
        log_ratio = np.where(
            near,
            np.log1p(np.where(near, ratio_minus_one, 0.0)),
            np.log(u_plus) - np.log(u_minus),
        )
        with np.errstate(divide="ignore"):
            log_gap = np.log(-np.expm1(-self.depth * np.abs(log_ratio)))
        log_abs = self.depth * (self.log_alpha + np.log(np.maximum(u_plus, u_minus))) + log_gap
        return np.sign(diff), log_abs

    def initial_beta(self) -> np.ndarray:
        """``beta(0)`` as float64; entries overflow to +-inf or underflow to 0 for extreme alpha.

        See :meth:`initial_beta_log` for the form that is safe at any scale.
        """
        sign, log_abs = self.initial_beta_log()
        with np.errstate(over="ignore"):
            return sign * np.exp(log_abs)

    def initial_log_loss(self) -> float:
        """Natural log of the training loss at t = 0, evaluated in the log domain.

        For ``u+ == u-`` (so ``beta(0) = 0``) this is ``log N`` (exp, sum), 0 (exp, mean),
        ``log(N log 2)`` (logistic, sum) or ``log(log 2)`` (logistic, mean). Returns +-inf when
        the true value lies outside the float64 range.
        """
        sign, log_abs = self.initial_beta_log()
        finite = np.isfinite(log_abs)
        if not finite.any():
            margins = np.zeros(self.n_samples)
        else:
            top = log_abs[finite].max()
            inner = self.signed_X @ np.where(finite, sign * np.exp(log_abs - top), 0.0)
            with np.errstate(over="ignore"):
                margins = np.where(inner == 0.0, 0.0, inner * np.exp(top))
        return _log_loss(margins, self.loss, self.reduction)


def _real_array(value, name, fix="remove or impute them"):
    """Return ``value`` as a new float64 array of finite numbers, or raise naming ``name``."""
    try:
        array = np.asarray(value)
    except ValueError as exc:
        raise ValueError(
            f"{name} must be a rectangular array of real numbers ({exc}); "
            "give every row the same length"
        ) from None
    if array.dtype.kind == "c":
        raise TypeError(f"{name} must be real; got complex values; pass numpy.real({name})")
    if array.dtype.kind not in "biufO":
        raise TypeError(
            f"{name} must contain real numbers; got dtype {array.dtype}; "
            f"convert it with numpy.asarray({name}, dtype=float)"
        )
    try:
        array = array.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must contain real numbers; some entries are not convertible to float; "
            f"convert it with numpy.asarray({name}, dtype=float)"
        ) from None
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or inf), first at index "
            f"{first if len(first) != 1 else first[0]}; {fix}"
        )
    array.flags.writeable = False
    return array


def _check_labels(y):
    bad = np.unique(y[(y != 1.0) & (y != -1.0)])
    if bad.size:
        shown = ", ".join(f"{v:g}" for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise ValueError(
            f"labels must be +1 or -1; got {{{shown}}}; map your classes to +-1 "
            "(for 0/1 labels use 2*y - 1)"
        )


def _check_depth(depth):
    if isinstance(depth, (bool, np.bool_)) or not isinstance(
        depth, (numbers.Integral, float, np.floating)
    ):
        raise TypeError(
            f"depth must be an integer >= 1; got {depth!r} of type {type(depth).__name__}; "
            "pass an int such as depth=2 (depth=1 is the linear model)"
        )
    if not float(depth).is_integer():
        raise ValueError(f"depth must be an integer >= 1; got {depth!r}; use e.g. depth=2")
    if depth < 1:
        raise ValueError(
            f"depth must be an integer >= 1; got {depth!r}; use depth=1 for the linear model"
        )
    return int(depth)


def _check_choice(value, name, choices):
    try:
        known = isinstance(value, str) and value in choices
    except TypeError:
        known = False
    if not known:
        hint = (
            f"; did you mean {name}={value.strip().lower()!r}?"
            if isinstance(value, str) and value.strip().lower() in choices
            else f"; pass e.g. {name}={choices[0]!r}"
        )
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}{hint}"
        )
    return str(value)


def _exact_alpha(alpha):
    """Return alpha as an exact positive ``Fraction``, or raise naming the accepted forms."""
    accepted = (
        "an int, float, Fraction, Decimal, mpmath.mpf or a decimal string such as '1e-300'"
    )
    if isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha must be {accepted}; got the bool {alpha!r}")
    given = alpha  # shown in messages
    if isinstance(alpha, str):
        try:
            alpha = decimal.Decimal(alpha.strip())
        except decimal.InvalidOperation:
            raise ValueError(
                f"alpha string {alpha!r} is not a decimal number; write it like '0.5' or '1e-300'"
            ) from None
    if isinstance(alpha, decimal.Decimal) and alpha.is_finite() and alpha:
        if abs(alpha.adjusted()) > MAX_ALPHA_EXPONENT:
            raise ValueError(
                f"alpha = {given} has a decimal exponent beyond +-{MAX_ALPHA_EXPONENT}; "
                f"pass a scale between 1e-{MAX_ALPHA_EXPONENT} and 1e{MAX_ALPHA_EXPONENT}"
            )
    if isinstance(alpha, (numbers.Integral, Fraction)):
        value = Fraction(int(alpha.numerator), int(alpha.denominator))  # numpy ints -> int
    elif isinstance(alpha, (float, np.floating)):
        if not math.isfinite(alpha):
            raise ValueError(f"alpha must be finite (got {given!r}); {_ALPHA_FIX}")
        value = Fraction(float(alpha))
    elif isinstance(alpha, decimal.Decimal):
        if not alpha.is_finite():
            raise ValueError(f"alpha must be finite (got {given!r}); {_ALPHA_FIX}")
        value = Fraction(alpha)
    elif hasattr(alpha, "_mpf_"):
        if alpha._mpf_ in (libmp.finf, libmp.fninf, libmp.fnan):
            raise ValueError(f"alpha must be finite (got {given!r}); {_ALPHA_FIX}")
        sign, man, exp, _ = alpha._mpf_
        if man and abs(exp + man.bit_length()) > 4 * MAX_ALPHA_EXPONENT:
            raise ValueError(
                f"alpha = {alpha} has an exponent beyond +-{MAX_ALPHA_EXPONENT} (decimal); "
                f"pass a scale between 1e-{MAX_ALPHA_EXPONENT} and 1e{MAX_ALPHA_EXPONENT}"
            )
        value = Fraction((-1) ** sign * man) * (Fraction(2) ** exp)
    else:
        raise TypeError(
            f"alpha must be {accepted}; got {type(alpha).__name__} {alpha!r}; pass e.g. alpha=1.0 "
            "or alpha='1e-300'"
        )
    if value <= 0:
        shown = given if isinstance(given, (str, decimal.Decimal, Fraction)) else repr(given)
        raise ValueError(f"alpha must be > 0 (got {shown}); {_ALPHA_FIX}")
    return value


def _log_fraction(ctx, q):
    """Natural log of a positive ``Fraction`` q to the precision of mpmath context ``ctx``.

    Writes ``q = 2^k (1 + r)`` with the integer k chosen exactly (k = 0 when 1/2 <= q <= 2) and
    ``r`` a rounded quotient of exact integers, then returns ``log1p(r) + k log 2``; the two terms
    never cancel by more than a factor of about 3, and ``log1p`` keeps q near 1 accurate.
    """
    num, den = q.numerator, q.denominator
    shift = 0 if Fraction(1, 2) <= q <= 2 else num.bit_length() - den.bit_length()
    if shift >= 0:
        den <<= shift
    else:
        num <<= -shift
    return ctx.log1p(ctx.mpf(num - den) / den) + shift * ctx.ln2


def _shape_vectors(shape, n_features):
    """Return read-only ``(u_plus, u_minus)`` float64 vectors from the ``shape`` argument."""
    if shape is None:
        ones = np.ones(n_features)
        ones.flags.writeable = False
        return ones, ones
    expected = (
        f"shape must be None, one vector of length d={n_features}, or a pair (u_plus, u_minus) "
        f"of such vectors"
    )
    array = _real_array(
        shape, "shape", fix="the shape vectors need finite positive entries (or pass shape=None)"
    )
    if array.ndim == 1 and array.shape[0] == n_features:
        u_plus = u_minus = array
    elif array.ndim == 2 and array.shape == (2, n_features):
        u_plus, u_minus = array[0], array[1]
    else:
        raise ValueError(
            f"{expected}; got an array of shape {array.shape}; pass shape=None for all ones"
        )
    if not (array > 0).all():
        raise ValueError(
            f"shape entries must be > 0; got minimum {array.min():g}; the initialization "
            "w+-(0) = alpha u+- needs positive u (use alpha for the overall scale)"
        )
    return u_plus, u_minus


def _format_alpha(alpha_exact, log_alpha):
    value = float(alpha_exact) if -700 < log_alpha < 700 else 0.0
    if value:
        return f"{value:.6g}"
    log10 = log_alpha / math.log(10)
    exponent = math.floor(log10)
    return f"{10 ** (log10 - exponent):.6g}e{exponent}"


def _log_softplus(z):
    """``log(log(1 + exp(z)))`` elementwise without underflow (equals z for very negative z)."""
    with np.errstate(divide="ignore"):
        return np.where(
            z < _LOG_SOFTPLUS_LINEAR_BELOW,
            z,
            np.log(np.logaddexp(0.0, np.maximum(z, _LOG_SOFTPLUS_LINEAR_BELOW))),
        )


def _log_loss(margins, loss, reduction):
    """Natural log of the training loss at the given margins (float64, log domain)."""
    log_terms = -margins if loss == "exp" else _log_softplus(-margins)
    value = float(special.logsumexp(log_terms))
    if reduction == "mean":
        value -= math.log(margins.shape[0])
    return value


def _solve_lp(c, **kwargs):
    result = optimize.linprog(c, method="highs", options=_LP_OPTIONS, **kwargs)
    if result.status != 0:
        raise RuntimeError(f"separability linear program failed: {result.message}")
    return result.x


def _separability(signed_X):
    """Linear separability with a certificate either way (see :meth:`Problem.separability`).

    The l_inf-margin LP is a dense HiGHS program on ``N x d`` whose time grows faster than
    ``N d`` (0.07 s at 100 x 500, 7 to 20 s at 400 x 2000, hours at 2000 x 20000), so data
    with more than ``EXACT_MARGIN_MAX_ENTRIES`` entries first try the
    cheap certificate of :func:`_separating_direction` and report its margin, a lower bound of
    ``gamma*``. Either way a separating predictor is accepted only when its margins are
    proven positive beyond the rounding of ``X~ beta`` (:func:`_proven_margin`), and
    Gordan's program is solved only when no such predictor clears ``SEPARABILITY_RTOL``.
    """
    scale = float(np.abs(signed_X).max()) or 1.0
    Z = signed_X / scale
    exact = Z.size <= EXACT_MARGIN_MAX_ENTRIES
    beta = _l_inf_max_margin_direction(Z) if exact else _separating_direction(Z)
    # l1-normalized margin of beta: a lower bound of Gordan's t*, which decides separability
    margin_l1 = _proven_margin(Z, beta) / max(float(np.abs(beta).sum()), 1e-300)
    if margin_l1 > SEPARABILITY_RTOL:
        return _separable(signed_X, beta, exact)
    if not exact:  # the cheap direction did not separate: decide with the exact programs
        beta = _l_inf_max_margin_direction(Z)
        exact = True
    weights, residual = _gordan_weights(Z)
    if residual > SEPARABILITY_RTOL and _proven_margin(Z, beta) > 0.0:
        return _separable(signed_X, beta, exact)  # separable near the tolerance
    gamma = float((Z @ beta).min())
    if gamma < residual - _LP_AGREEMENT_SLACK or residual > SEPARABILITY_RTOL:
        raise RuntimeError(
            f"the separability linear programs disagree (l_inf margin {gamma:.3g}, Gordan "
            f"residual {residual:.3g}, both relative to max|X|); the data lie within solver "
            "tolerance of the separable/non-separable boundary; rescale or perturb the features"
        )
    support = np.flatnonzero(weights > 1e-12)
    shown = ", ".join(map(str, support[:10])) + (", ..." if support.size > 10 else "")
    message = (
        f"data are not linearly separable: the convex combination lambda (support n = {shown})"
        f" of the signed samples is 0 (||X~^T lambda||_inf = {residual * scale:.2g}); no "
        "predictor gives every sample a positive margin, so the loss has a positive infimum "
        "(see Problem.infimum_log_loss) and gradient flow decreases it towards that infimum "
        "instead of driving it to 0"
    )
    weights.flags.writeable = False
    return Separability(False, 0.0, weights, message)


def _separable(signed_X, beta, exact) -> Separability:
    """The separable outcome for a predictor ``beta`` with proven positive margins."""
    margins = signed_X @ beta
    certificate = beta / margins.min()
    certificate.flags.writeable = False
    margin = float(margins.min()) / float(np.abs(beta).max())
    bound = "" if exact else (
        f"at least (the max-margin program is skipped beyond {EXACT_MARGIN_MAX_ENTRIES} "
        "entries of X) ")
    return Separability(True, margin, certificate, (
        f"data are linearly separable with l_inf-normalized margin {bound}{margin:.6g} "
        "(the certificate beta has every margin >= 1)"))


def _l_inf_max_margin_direction(Z):
    """``argmax_{||beta||_inf <= 1} min_n z_n . beta`` (HiGHS): maximize gamma subject to
    ``Z beta >= gamma``, ``|beta_i| <= 1``."""
    n_samples, n_features = Z.shape
    solution = _solve_lp(
        np.r_[np.zeros(n_features), -1.0],
        A_ub=np.c_[-Z, np.ones(n_samples)],
        b_ub=np.zeros(n_samples),
        bounds=[(-1.0, 1.0)] * n_features + [(0.0, None)],
    )
    return np.clip(solution[:n_features], -1.0, 1.0)


def _gordan_weights(Z):
    """Gordan's alternative ``min_{lambda in simplex} ||Z^T lambda||_inf`` (HiGHS): the weights
    and the residual (the l1-normalized margin, by LP duality)."""
    n_samples, n_features = Z.shape
    identity_column = -np.ones((n_features, 1))
    solution = _solve_lp(
        np.r_[np.zeros(n_samples), 1.0],
        A_ub=np.block([[Z.T, identity_column], [-Z.T, identity_column]]),
        b_ub=np.zeros(2 * n_features),
        A_eq=np.r_[np.ones(n_samples), 0.0][None, :],
        b_eq=[1.0],
        bounds=[(0.0, None)] * (n_samples + 1),
    )
    weights = np.maximum(solution[:n_samples], 0.0)
    weights /= weights.sum()
    return weights, float(np.abs(Z.T @ weights).max())


def _proven_margin(Z, beta) -> float:
    """``min_n z_n . beta`` minus a bound on its float64 rounding error, so that a positive
    value proves every margin positive (Higham, *Accuracy and Stability of Numerical
    Algorithms*, eq. 3.5: ``|fl(x . y) - x . y| <= gamma_d |x| . |y|``, ``gamma_d ~ d eps``)."""
    rounding = 2.0 * Z.shape[1] * np.finfo(np.float64).eps * (np.abs(Z) @ np.abs(beta))
    return float((Z @ beta - rounding).min())


def _separating_direction(Z):
    """A cheap candidate separator for large data: L-BFGS on the convex ``log sum exp(-Z beta)``
    (the exponential loss, which any separator drives to -inf), started from ``Z^T 1`` and
    stopped at the first iterate whose margins are all positive (proven by
    :func:`_proven_margin`); the last iterate if none is found (the caller then solves the
    exact programs). Each iteration costs two products with Z."""
    found = []

    def objective(beta):
        margins = Z @ beta
        if margins.min() > 0.0 and _proven_margin(Z, beta) > 0.0:
            found.append(beta.copy())
            raise StopIteration
        return special.logsumexp(-margins), -(Z.T @ special.softmax(-margins))

    start = Z.sum(axis=0)
    start /= max(float(np.abs(start).max()), 1e-300)
    try:
        result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                                   options={"maxiter": SEPARATOR_MAX_ITER})
    except StopIteration:
        return found[0]
    return result.x


def _core_log_loss(signed_X, loss):
    """Log of the minimal summed loss over the non-separable core of the samples, and whether
    the core is all of the samples (then the minimum is attained at a finite beta).

    See :meth:`Problem.infimum_log_loss`. The core is the complement of the largest set S that
    some direction v separates with ``Z v >= 0`` (maximize ``sum s`` s.t. ``Z v >= s``,
    ``0 <= s <= 1``: at the optimum s is the indicator of S).
    """
    n_samples, n_features = signed_X.shape
    Z = signed_X / (float(np.abs(signed_X).max()) or 1.0)
    solution = _solve_lp(
        np.r_[np.zeros(n_features), -np.ones(n_samples)],
        A_ub=np.c_[-Z, np.eye(n_samples)],
        b_ub=np.zeros(n_samples),
        bounds=[(None, None)] * n_features + [(0.0, 1.0)] * n_samples,
    )
    in_core = solution[n_features:] < 0.5
    core = Z[in_core]

    def objective(beta):
        margins = core @ beta
        if loss == "exp":
            value = special.logsumexp(-margins)
            weights = special.softmax(-margins)
        else:
            value = np.logaddexp(0.0, -margins).sum()
            weights = special.expit(-margins)
        return value, -(core.T @ weights)

    result = optimize.minimize(
        objective,
        np.zeros(n_features),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-13, "ftol": 1e-15, "maxiter": 10_000},
    )
    gradient_norm = float(np.abs(objective(result.x)[1]).max())
    if gradient_norm > _INFIMUM_GTOL:
        raise RuntimeError(
            f"minimizing the loss over the non-separable samples stopped with gradient "
            f"{gradient_norm:.2g} ({result.message}); the problem is badly conditioned, "
            "rescale the features"
        )
    return _log_loss(core @ result.x, loss, "sum"), bool(in_core.all())
