"""Limit diagnostics of a :class:`~extprec.trajectory.State` (theory.md sections 3 and 5).

Every State of a :class:`~extprec.trajectory.Trajectory` knows its problem and exposes, computed
on first access and cached:

* ``gamma_l1 = min_n m_n / sum_i w_i |beta_i|`` and ``gamma_l2 = min_n m_n / (sum_i beta_i^2 /
  k_i)^(1/2)``, the normalized margins in the norms of the rich and kernel references (w and k
  as in :mod:`extprec.limits.programs`: ``w = u^(2-D)`` for D > 2 with a balanced shape, else 1;
  ``k = (u+^(2D-2) + u-^(2D-2)) / 2``; both 1 for the default shape). They are at most
  ``1 / objective`` of the l1 and l2 max-margin programs.
* ``mu = alpha^D / min_n m_n``: the gradient-flow iterate has the primal-recovery form
  ``beta_normalized = mu u^D h_D(u^(D-2) X~^T lambda)``, ``lambda = c_D alpha^(D-2) nu``
  (theory.md s.2 and s.5), so ``beta_normalized`` is compared with ``argmin Q_mu`` at this mu.
* ``distance``: a mapping ``"l1"``, ``"l2"``, ``"q_mu"`` -> ``||beta_normalized - r||_2 /
  ||r||_2`` for the reference r (l1: weighted l1 max margin with the weights w above, the rich
  limit; l2: the kernel limit; q_mu: ``argmin Q_mu`` at the State's mu, one Q_mu solve per State).
  Each entry is computed when first read.
* ``regime`` (``"kernel"``, ``"intermediate"``, ``"rich"`` or None) with its
  :class:`RegimeEvidence` (see :data:`REGIME_DELTA` and :meth:`StateDiagnostics.evidence`).
* ``support_vectors`` and ``active_coordinates`` (see :data:`SUPPORT_WEIGHT_RATIO`,
  :data:`ACTIVE_RATIO`).

Precision. A State vouches for ``digits`` significant digits of ``beta_normalized`` and of its
margins. Diagnostics are computed at ``digits`` + guard digits against references verified to at
least as many, then rounded: gamma_l1, gamma_l2 and mu to ``digits`` significant digits, the
distances to an absolute resolution of ``10^-digits`` (a distance of 3e-7 from a 9-digit State
carries 3 digits; one below ``10^-digits`` is at the noise level of the State).

The references of a problem are computed once and shared by all its States, including the
States of trajectories loaded with :func:`extprec.load` (:meth:`LimitReferences.of`).

Regimes (the rule is :meth:`StateDiagnostics.evidence`). Depth D = 1 is the linear model: its
tangent kernel is constant, so there is one limit, the l2 max margin (Soudry et al. 2018), and
every separated State is reported as ``"kernel"``; ``mu = alpha / min margin`` is reported but
carries no regime information, and there is no Q_mu program (``distance`` has no ``"q_mu"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property

import mpmath
import numpy as np

from .programs import (
    _l1_weights,
    _l2_weights,
    l1_max_margin,
    l2_max_margin,
    q_mu,
)

__all__ = [
    "ACTIVE_RATIO",
    "REGIME_DELTA",
    "REGIMES",
    "SUPPORT_WEIGHT_RATIO",
    "LimitReferences",
    "LimitUnavailable",
    "RegimeEvidence",
    "LimitDistances",
    "StateDiagnostics",
    "diagnostics_of",
    "relative_distance",
]

REGIMES = ("kernel", "intermediate", "rich")
# A State is in the kernel (rich) regime when its relative distance to the kernel (rich)
# reference is at most this (and it is the nearer one); the default delta of kick_in as well.
REGIME_DELTA = "0.05"
# Support vectors: samples whose per-sample gradient weight exp(-m_n) is at least this fraction
# of the largest one (the samples the flow still pushes on), i.e. m_n - min m <= log(1e6).
SUPPORT_WEIGHT_RATIO = "1e-6"
# Active coordinates: |beta_i| at least this fraction of max |beta|.
ACTIVE_RATIO = "1e-6"
# Guard digits of the diagnostics' working precision and the least digits asked of references.
_GUARD_DIGITS = 10
_MIN_REFERENCE_DIGITS = 30
_CACHE_KEY = "limit_references"


class LimitUnavailable(KeyError):
    """A reference is not defined for this problem or State; the message says why."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def relative_distance(beta, reference):
    """``||beta - reference||_2 / ||reference||_2`` at the current mpmath precision."""
    diff = mpmath.fsum((mpmath.mpf(b) - r) ** 2 for b, r in zip(beta, reference))
    return mpmath.sqrt(diff / mpmath.fsum(r**2 for r in reference))


def _context(digits):
    """An mpmath context holding ``digits`` significant decimal digits (cached)."""
    ctx = _CONTEXTS.get(digits)
    if ctx is None:
        ctx = _CONTEXTS[digits] = mpmath.MPContext()
        ctx.prec = max(2, math.ceil(digits * math.log2(10)) + 1)
    return ctx


_CONTEXTS: dict = {}


def _significant(value, digits):
    """``value`` rounded to ``digits`` significant digits (an mpf of that precision)."""
    return _context(max(1, digits)).mpf(value)


def _absolute(value, digits):
    """``value`` rounded to the digits above ``10^-digits`` (at least one significant digit)."""
    if not value:
        return _significant(value, digits)
    leading = int(mpmath.floor(mpmath.log10(abs(value))))
    return _significant(value, digits + leading + 1)


class LimitReferences:
    """The reference predictors of one problem, computed once and shared by all its States.

    Use :meth:`of` (not the constructor) to get the shared instance of a problem. Results are
    kept at the most digits asked for so far; a request for fewer digits reuses them.
    """

    def __init__(self, problem):
        self.problem = problem
        self._results = {}
        self._unavailable = {}
        depth = problem.depth
        if depth > 2 and not problem.balanced_shape:
            self._unavailable["l1"] = (
                "the D > 2 rich limit is a weighted l1 program with weights u^(2-D) (theory.md "
                "s.5), defined here for balanced shapes (u+ == u-) only")
        if depth == 1:
            self._unavailable["q_mu"] = (
                "depth 1 is the linear model: there is no Q_mu program (its only limit is the "
                "l2 max margin)")
        elif not problem.balanced_shape:
            self._unavailable["q_mu"] = "Q_mu needs a balanced shape (u+ == u-)"

    @classmethod
    def of(cls, problem) -> LimitReferences:
        """The shared references of ``problem`` (kept in the problem's cache)."""
        cache = problem._cache
        references = cache.get(_CACHE_KEY)
        if references is None:
            references = cache[_CACHE_KEY] = cls(problem)
        return references

    @property
    def names(self) -> tuple:
        """The references defined for this problem, among ``"l1"``, ``"l2"``, ``"q_mu"``."""
        return tuple(n for n in ("l1", "l2", "q_mu") if n not in self._unavailable)

    def unavailable_reason(self, name):
        """Why ``name`` is not defined for this problem (None when it is)."""
        if name not in ("l1", "l2", "q_mu"):
            return f"unknown reference {name!r}; the references are 'l1', 'l2' and 'q_mu'"
        return self._unavailable.get(name)

    def separable(self) -> bool:
        return self.problem.separability().separable

    def get(self, name, digits):
        """The verified ``"l1"`` or ``"l2"`` max-margin result with at least ``digits`` digits."""
        reason = self.unavailable_reason(name)
        if reason is not None or name == "q_mu":
            raise LimitUnavailable(reason or "q_mu depends on mu: use LimitReferences.q_mu")
        if not self.separable():
            raise LimitUnavailable(f"{name}: the data are not linearly separable")
        digits = max(int(digits), _MIN_REFERENCE_DIGITS)
        result = self._results.get(name)
        if result is None or result.digits < digits:
            if name == "l1":
                weights = "shape" if self.problem.depth > 2 else None
                result = l1_max_margin(self.problem, digits=digits, weights=weights)
            else:
                result = l2_max_margin(self.problem, digits=digits)
            self._results[name] = result
        return result

    def q_mu(self, mu, digits):
        """``argmin Q_mu`` at ``mu`` to ``digits`` digits (not cached: every State has its own mu)."""
        reason = self.unavailable_reason("q_mu")
        if reason is not None:
            raise LimitUnavailable(reason)
        try:
            return q_mu(self.problem, mu, digits=max(5, int(digits)))
        except ValueError as exc:  # mu outside the supported range (the message says which)
            raise LimitUnavailable(f"q_mu at mu = {mpmath.nstr(mu, 6)}: {exc}") from None

    def weights(self):
        """``(w, k)``: the l1 and l2 weights as mpf vectors at the current precision."""
        problem = self.problem
        l1_shape = "shape" if problem.depth > 2 and problem.balanced_shape else None
        return _l1_weights(problem, l1_shape)[1](), _l2_weights(problem, None)[1]()

    def mu_scales(self, digits):
        """``(mu_kernel, mu_rich)``: the scales of mu at which Q_mu turns into its limits.

        With ``z_i = beta_i / (mu u_i^D)`` the potential q_D is quadratic for ``|z| << 1`` (Q_mu
        is the l2 program, theory.md s.5) and linear (D > 2) or ``|z| log |z|`` (D = 2) for
        ``|z| >> 1`` (the l1 program). ``mu_kernel = max_i |beta_l2_i| / u_i^D`` (above it every
        z of the kernel limit is below 1) and ``mu_rich = min_{i active} |beta_l1_i| / u_i^D``
        (below it every nonzero z of the rich limit is above 1). None for D = 1.
        """
        if self.problem.depth == 1 or "l1" in self._unavailable:
            return None, None
        l1, l2 = self.get("l1", digits), self.get("l2", digits)
        u_depth = [mpmath.mpf(float(v)) ** self.problem.depth for v in self.problem.u_plus]
        mu_kernel = max(abs(b) / s for b, s in zip(l2.beta, u_depth))
        mu_rich = min(abs(l1.beta[i]) / u_depth[i] for i in l1.active)
        return mu_kernel, mu_rich


class RegimeEvidence:
    """Why a State is in its regime.

    Attributes
    ----------
    regime : str or None
        ``"kernel"``, ``"intermediate"``, ``"rich"``; None before the data are separated.
    reason : str
        The rule that decided, with the numbers.
    nearest : str or None
        ``"l1"`` or ``"l2"``, the nearer of the two limits.
    distances : dict
        ``"l1"``, ``"l2"`` -> relative distance (as in ``State.distance``).
    separation : mpf or None
        Relative distance ``||r_l1 - r_l2|| / ||r_l2||`` of the two references.
    mu, mu_kernel, mu_rich : mpf or None
        The State's mu and the scales of :meth:`LimitReferences.mu_scales`.
    """

    __slots__ = ("regime", "reason", "nearest", "distances", "separation", "mu", "mu_kernel",
                 "mu_rich")

    def __init__(self, regime, reason, nearest=None, distances=None, separation=None, mu=None,
                 mu_kernel=None, mu_rich=None):
        self.regime = regime
        self.reason = reason
        self.nearest = nearest
        self.distances = dict(distances or {})
        self.separation = separation
        self.mu = mu
        self.mu_kernel = mu_kernel
        self.mu_rich = mu_rich

    def __repr__(self):
        return f"RegimeEvidence(regime={self.regime!r}, reason={self.reason!r})"


class LimitDistances(Mapping):
    """``State.distance``: reference name -> relative distance of ``beta_normalized``.

    Keys are the references defined for the problem (:attr:`LimitReferences.names`); each value
    is computed on first access. Reading a reference that cannot be computed for this State (the
    data are not separated yet, or mu is outside the range of :func:`~extprec.limits.q_mu`)
    raises :class:`LimitUnavailable` (a KeyError, so ``.get`` returns None) naming the cause.
    """

    def __init__(self, diagnostics):
        self._diagnostics = diagnostics
        self._values = {}

    def __getitem__(self, name):
        if name not in self._values:
            self._values[name] = self._diagnostics._distance(name)
        return self._values[name]

    def __iter__(self):
        return iter(self._diagnostics.references.names)

    def __len__(self):
        return len(self._diagnostics.references.names)

    def __contains__(self, name):
        return name in self._diagnostics.references.names

    def __repr__(self):
        shown = ", ".join(
            f"{n}={mpmath.nstr(self._values[n], 6)}" if n in self._values else f"{n}=<not read>"
            for n in self)
        return f"LimitDistances({shown})"


class StateDiagnostics:
    """The limit diagnostics of one State (module docstring); each computed once, when read."""

    def __init__(self, state, problem):
        self.state = state
        self.problem = problem
        self.references = LimitReferences.of(problem)
        self.digits = max(1, int(state.digits))
        self.distance = LimitDistances(self)

    def _workdps(self):
        return mpmath.workdps(self.digits + _GUARD_DIGITS)

    @property
    def separated(self) -> bool:
        """True when every margin is positive (``beta_normalized`` is a unit-margin predictor)."""
        return bool(self.state.min_margin > 0)

    @cached_property
    def gamma_l1(self):
        """``min_n m_n / sum_i w_i |beta_i|`` (w: the rich reference's weights)."""
        with self._workdps():
            w, _ = self.references.weights()
            norm = mpmath.fsum(wi * abs(mpmath.mpf(b)) for wi, b in zip(w, self.state.beta))
            return _significant(mpmath.mpf(self.state.min_margin) / norm, self.digits)

    @cached_property
    def gamma_l2(self):
        """``min_n m_n / (sum_i beta_i^2 / k_i)^(1/2)`` (k: the tangent-kernel weights)."""
        with self._workdps():
            _, k = self.references.weights()
            norm = mpmath.sqrt(mpmath.fsum(mpmath.mpf(b) ** 2 / ki
                                           for ki, b in zip(k, self.state.beta)))
            return _significant(mpmath.mpf(self.state.min_margin) / norm, self.digits)

    @cached_property
    def mu(self):
        """``alpha^D / min_n m_n`` (None before the data are separated)."""
        if not self.separated:
            return None
        with self._workdps():
            log_alpha_d = self.problem.depth * self.problem.log_alpha_mp(mpmath.mp)
            return _significant(mpmath.exp(log_alpha_d) / mpmath.mpf(self.state.min_margin),
                                self.digits)

    @cached_property
    def support_vectors(self) -> np.ndarray:
        """Samples with ``m_n - min m <= log(1 / SUPPORT_WEIGHT_RATIO)``: their gradient weight
        ``exp(-m_n)`` is at least SUPPORT_WEIGHT_RATIO of the largest. Margins differences below
        the State's resolution (``10^(1-digits) |min m|``) count as zero."""
        with self._workdps():
            margins = [mpmath.mpf(m) for m in self.state.margins]
            low = min(margins)
            gap = max(-mpmath.log(mpmath.mpf(SUPPORT_WEIGHT_RATIO)),
                      mpmath.mpf(10) ** (1 - self.digits) * abs(low))
            return _indices(n for n, m in enumerate(margins) if m - low <= gap)

    @cached_property
    def active_coordinates(self) -> np.ndarray:
        """Coordinates with ``|beta_i| >= max(ACTIVE_RATIO, 10^(1-digits)) max |beta|``."""
        with self._workdps():
            sizes = [abs(mpmath.mpf(b)) for b in self.state.beta]
            ratio = max(mpmath.mpf(ACTIVE_RATIO), mpmath.mpf(10) ** (1 - self.digits))
            top = max(sizes)
            return _indices(i for i, s in enumerate(sizes) if s and s >= ratio * top)

    def _distance(self, name):
        reason = self.references.unavailable_reason(name)
        if reason is not None:
            raise LimitUnavailable(reason)
        if not self.separated:
            raise LimitUnavailable(
                f"{name}: the State has not separated the data yet (min margin "
                f"{mpmath.nstr(self.state.min_margin, 5)} <= 0), so beta_normalized is not a "
                "unit-margin predictor")
        with self._workdps():
            if name == "q_mu":
                reference = self.references.q_mu(self.mu, self.digits + 3)
            else:
                reference = self.references.get(name, self.digits + 5)
            value = relative_distance(self.state.beta_normalized, reference.beta)
            return _absolute(value, self.digits)

    @property
    def regime(self):
        return self.evidence.regime

    @cached_property
    def evidence(self) -> RegimeEvidence:
        """The regime and why (delta = REGIME_DELTA; d_l1, d_l2 as in ``distance``).

        1. Not separated (min margin <= 0): None.
        2. D = 1: ``"kernel"`` (linear model; the l2 max margin is its only limit).
        3. Neither ``d_l1`` nor ``d_l2`` is at most delta: ``"intermediate"``.
        4. Exactly one is: ``"rich"`` (l1) or ``"kernel"`` (l2).
        5. Both are (the two limits are less than about 2 delta apart, so distances cannot tell
           the regimes apart): mu decides (theory.md s.5: the regime is controlled by mu),
           ``"kernel"`` for ``mu >= mu_kernel``, ``"rich"`` for ``mu <= mu_rich``, and the
           nearer reference in between (:meth:`LimitReferences.mu_scales`).
        """
        delta = mpmath.mpf(REGIME_DELTA)
        if not self.separated:
            return RegimeEvidence(None, "the data are not separated yet (min margin <= 0)")
        distances = {name: self.distance[name] for name in ("l1", "l2") if name in self.distance}
        if self.problem.depth == 1:
            return RegimeEvidence(
                "kernel", "depth 1 is the linear model: constant tangent kernel, one limit (l2)",
                nearest="l2", distances=distances, mu=self.mu)
        if "l1" not in distances:
            raise LimitUnavailable(self.references.unavailable_reason("l1"))
        with self._workdps():
            l1 = self.references.get("l1", self.digits + 5)
            l2 = self.references.get("l2", self.digits + 5)
            separation = _absolute(relative_distance(l1.beta, l2.beta), self.digits)
            mu_kernel, mu_rich = self.references.mu_scales(self.digits + 5)
            d1, d2 = distances["l1"], distances["l2"]
            nearest = "l1" if d1 < d2 else "l2"
            shown = f"d_l1 = {_show(d1)}, d_l2 = {_show(d2)}"
            within = [name for name, d in (("l1", d1), ("l2", d2)) if d <= delta]
            if not within:
                regime = "intermediate"
                reason = f"{shown}: neither limit within delta = {REGIME_DELTA}"
            elif len(within) == 1:
                regime = _REGIME_OF[within[0]]
                reason = f"{shown}: within delta = {REGIME_DELTA} of {within[0]} only"
            else:
                if self.mu >= mu_kernel:
                    regime = "kernel"
                elif self.mu <= mu_rich:
                    regime = "rich"
                else:
                    regime = _REGIME_OF[nearest]
                reason = (f"{shown}: both limits within delta = {REGIME_DELTA} (they are "
                          f"{_show(separation)} apart), so mu decides: mu = {_show(self.mu)}, "
                          f"mu_kernel = {_show(mu_kernel)}, mu_rich = {_show(mu_rich)}")
            return RegimeEvidence(regime, reason, nearest=nearest, distances=distances,
                                  separation=separation, mu=self.mu, mu_kernel=mu_kernel,
                                  mu_rich=mu_rich)


_REGIME_OF = {"l1": "rich", "l2": "kernel"}


def _show(value):
    return mpmath.nstr(value, 4)


def _indices(indices):
    out = np.fromiter(indices, dtype=np.intp)
    out.flags.writeable = False
    return out


def diagnostics_of(state) -> StateDiagnostics:
    """The (cached) diagnostics of a State attached to a problem."""
    if state.problem is None:
        raise ValueError(
            "this State is not attached to a problem, so its limits are unknown; use the States "
            "of a Trajectory (extprec.solve or extprec.load), or dataclasses.replace(state, "
            "problem=problem)")
    return StateDiagnostics(state, state.problem)

