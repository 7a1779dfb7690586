"""Results of :func:`extprec.solve`: :class:`State` snapshots and the :class:`Trajectory`.

Every number a State exposes is an ``mpmath.mpf`` (vectors are numpy object arrays of
``mpf``), so ``mpmath.mpf(value)`` converts it without loss at any working precision and
quantities beyond the float64 range (t ~ 10^(10^100), alpha^D ~ 10^600) are exact in
exponent. ``digits`` is the number of significant digits the engine vouches for in
``beta_normalized``, ``margins`` relative to their scale, ``log10_loss`` and ``log10_t``.

The States of a Trajectory know their problem and carry the limit diagnostics of
:mod:`extprec.limits.diagnostics` (``gamma_l1``, ``gamma_l2``, ``mu``, ``distance``, ``regime``,
``support_vectors``, ``active_coordinates``), computed when first read and cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import mpmath
import numpy as np


@lru_cache(maxsize=None)
def state_context(bits: int) -> mpmath.MPContext:
    """The local mpmath context, at ``bits`` of precision, of the numbers of States computed
    at that precision (one per precision, created once: a context costs about 10 ms to
    build; the global ``mpmath.mp`` is never touched)."""
    context = mpmath.MPContext()
    context.prec = int(bits)
    return context


@dataclass(frozen=True, eq=False)
class State:
    """The network at one instant of the gradient flow.

    Attributes
    ----------
    log10_loss : mpf
        log10 of the training loss L (sum or mean, as the problem says).
    sigma : mpf
        ``log(1/L)``, the accuracy clock.
    tau : mpf
        ``sum_n nu_n``, the clock with ``d tau = (sum_n g_n) dt`` (theory.md s.3).
    log10_t : mpf
        log10 of the original gradient-flow time t (-inf at t = 0).
    nu : ndarray of mpf, shape (N,)
        Per-sample dual ``nu_n = int_0^t g_n``.
    beta, w_plus, w_minus : ndarray of mpf, shape (d,)
        Predictor and the two weight vectors (``beta = w+^D - w-^D``).
    margins : ndarray of mpf, shape (N,)
        ``y_n x_n . beta``.
    min_margin : mpf
    beta_normalized : ndarray of mpf
        ``beta / min_margin`` (the unit-margin predictor).
    digits : int
        Significant digits vouched for (see module docstring), checked by a control run
        (:mod:`extprec.verification`).
    precision_bits : int
        Working precision of the backend that computed the state.
    backend : str
        ``"float64"`` or the multiprecision backend's name.
    ell : float
        Integration clock ``log1p(tau/c) + log1p(sigma - sigma_0)`` (see ``extprec.model``).
    problem : Problem or None
        The problem the State belongs to (set by its Trajectory); the diagnostics need it.
    evidence : DigitsEvidence or None
        What ``digits`` rests on: the control run's tolerance and its relative differences
        from this State (:class:`extprec.verification.DigitsEvidence`).

    Limit diagnostics (read-only, computed on first access; see
    :mod:`extprec.limits.diagnostics` for the definitions and their precision): ``gamma_l1``,
    ``gamma_l2``, ``mu``, ``distance`` (``"l1"``, ``"l2"``, ``"q_mu"`` -> relative distance of
    ``beta_normalized``), ``regime`` (``"kernel"``, ``"intermediate"``, ``"rich"``; None before
    separation), ``regime_evidence``, ``support_vectors``, ``active_coordinates`` and
    ``diagnostics`` (all of them).
    """

    log10_loss: object
    sigma: object
    tau: object
    log10_t: object
    nu: np.ndarray
    beta: np.ndarray
    w_plus: np.ndarray
    w_minus: np.ndarray
    margins: np.ndarray
    min_margin: object
    beta_normalized: np.ndarray
    digits: int
    precision_bits: int
    backend: str
    ell: float = field(repr=False, default=0.0)
    problem: object = field(repr=False, default=None)
    evidence: object = field(repr=False, default=None)

    def _attach(self, problem) -> None:
        """Set the problem of a State built without one (States are otherwise immutable)."""
        if self.problem is None:
            object.__setattr__(self, "problem", problem)

    @property
    def diagnostics(self):
        """The :class:`~extprec.limits.diagnostics.StateDiagnostics` of this State (cached)."""
        cached = self.__dict__.get("_diagnostics")
        if cached is None or cached.problem is not self.problem:
            from .limits.diagnostics import diagnostics_of

            cached = diagnostics_of(self)
            object.__setattr__(self, "_diagnostics", cached)
        return cached

    gamma_l1 = property(lambda self: self.diagnostics.gamma_l1,
                        doc="``min margin / ||beta||_1`` (weighted as the rich reference).")
    gamma_l2 = property(lambda self: self.diagnostics.gamma_l2,
                        doc="``min margin / ||beta||_2`` (weighted as the kernel reference).")
    mu = property(lambda self: self.diagnostics.mu,
                  doc="``alpha^D / min margin`` (None before the data are separated).")
    distance = property(lambda self: self.diagnostics.distance,
                        doc="Mapping ``'l1'``, ``'l2'``, ``'q_mu'`` -> relative "
                            "distance of ``beta_normalized`` to that reference.")
    regime = property(lambda self: self.diagnostics.regime,
                      doc="``'kernel'``, ``'intermediate'``, ``'rich'`` (None before "
                          "separation).")
    regime_evidence = property(lambda self: self.diagnostics.evidence,
                               doc="Why the State is in its regime (RegimeEvidence).")
    support_vectors = property(lambda self: self.diagnostics.support_vectors,
                               doc="Samples the flow still pushes on (indices).")
    active_coordinates = property(lambda self: self.diagnostics.active_coordinates,
                                  doc="Coordinates with non-negligible |beta_i| (indices).")

    def __repr__(self):
        return (f"State(log10_loss={_short(self.log10_loss)}, sigma={_short(self.sigma)}, "
                f"log10_t={_short(self.log10_t)}, min_margin={_short(self.min_margin)}, "
                f"digits={self.digits}, backend={self.backend!r})")


def _short(value) -> str:
    return mpmath.nstr(value, 8)


STATUS_REACHED = "reached"
STATUS_PRECISION = "precision exhausted"
STATUS_MAX_STEPS = "max steps"
STATUS_STEP_TOO_SMALL = "step too small"
STATUS_NOT_FINITE = "not finite"
STATUS_TIME_LIMIT = "time limit"
STATUS_LANDING = "landing failed"  # a level the integration does not resolve (LandingError)


@dataclass(eq=False)
class Trajectory:
    """A solved gradient-flow trajectory.

    Attributes
    ----------
    problem : Problem
    checkpoints : list of State
        States at the requested loss levels and times, in order of increasing accuracy.
    final : State
        Where the run stopped (the stop level when ``status == "reached"``).
    status : str
        ``"reached"``, ``"precision exhausted"``, ``"max steps"``, ``"step too small"``,
        ``"not finite"``, ``"time limit"`` or ``"landing failed"``.
    message : str
        What happened, in words, with the level reached and what to do next.
    n_steps : int
        Accepted integration steps.
    stats : dict
        Evaluation counters (f, Jacobian, LU, Newton failures, rejected steps).
    """

    problem: object
    checkpoints: list
    final: State
    status: str
    message: str
    n_steps: int
    stats: dict
    rtol: float
    _segments: list = field(repr=False, default_factory=list)

    def __post_init__(self):
        for state in (*self.checkpoints, self.final):
            state._attach(self.problem)

    @property
    def _integrator(self):
        """The first integration segment (float64 when the run started there)."""
        return self._segments[0]

    def state_at(self, log10_loss=None, *, t=None) -> State:
        """State at a loss level (or original time ``t``) inside the integrated range.

        Located on the dense output and landed on by an exact integration step from the
        nearest stored step, so it carries the same digits as the checkpoints. Needs the
        integrator, which results files do not keep: a trajectory from
        :func:`extprec.load` has its checkpoints only.
        """
        from .levels import LossLevel, TimeLevel

        if (log10_loss is None) == (t is None):
            raise ValueError("state_at takes exactly one of log10_loss=... or t=...")
        if not self._segments:
            raise ValueError("state_at needs the integrator, which is not kept in results "
                             "files (this trajectory was loaded); use .checkpoints, or "
                             "solve the problem again")
        level = LossLevel.parse(log10_loss) if log10_loss is not None else TimeLevel.parse(t)
        for segment in self._segments:
            if segment.passed(level):
                state = segment.state_at(level)
                state._attach(self.problem)
                return state
        raise ValueError(f"{level} is beyond the integrated range (the run stopped at "
                         f"log10 loss {_short(self.final.log10_loss)})")

    def __repr__(self):
        return (f"Trajectory(status={self.status!r}, checkpoints={len(self.checkpoints)}, "
                f"final={self.final!r})")
