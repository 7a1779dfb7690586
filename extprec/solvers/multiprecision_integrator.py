"""The multiprecision integrator: Radau IIA on arb, with a precision schedule.

It continues exactly from any state (the float64 handover state is a vector of floats,
hence exact), and keeps the working precision just above what the flow needs. Two
rounding effects grow with sigma:

* the rounding resolution of the margins (``ArbModel.log2_resolution``, about sigma times
  the unit roundoff), i.e. the noise of one evaluation of the flow;
* the noise floor of the Newton iteration of the implicit stages, which amplifies that
  noise once more by a factor that grows like the stiffness w (about sigma) times the step
  h in tau_hat: measured on the default problem (h about 1), the softmax corrections stall
  at about ``resolution * 2e-8 * w`` (sigma = 4e14, 4e17 and 2e21, at three precisions
  each). Below that floor the iteration cannot meet its tolerance and every step fails, so
  the precision must cover ``resolution * (1 + NEWTON_NOISE_GAIN * w * max(1, h)) /
  newton_tol``, with a gain 50 times the measured one and h the last accepted step. The
  factor h: the non-stiff part of a Newton correction is h times the noise of f, and K
  turns it into margin noise. Measured with N = 4, D = 4, alpha = 2e15 and an unbalanced
  shape, where margins of -1e62 rise at w = 333 with steps of 1e54: without h the schedule
  chose 331 bits, the corrections stalled at 0.01 to 0.1 of the Newton tolerance, and the
  steps stayed at 1e54 until the time limit (thousands of steps for 0.3 % of the way). From
  449 bits on, the run reaches its level in 330 steps; with h the schedule raises the
  precision to 511 bits.

Whenever that bound would exceed ``rtol`` / 2^8 the precision is raised to
``log2(amplification / rtol) + GUARD_BITS + HEADROOM_BITS``. The state carries over
without rounding (states are exact ball midpoints). Interface: see
``extprec.solvers.float64_integrator``.
"""

from __future__ import annotations

import math

import numpy as np
from flint import arb, ctx

from ..backends.multiprecision import ArbModel, arb_of_float
from ..levels import LandingError
from ..trajectory import State, state_context
from .radau import RadauSolver, Step, _dense

GUARD_BITS = 32  # bits kept beyond log2(amplification / rtol)
HEADROOM_BITS = 64  # extra bits added at each raise, so raises are rare
RESOLUTION_MARGIN = 2.0**-8  # raise precision when resolution exceeds rtol times this
MIN_BITS = 96
NEWTON_NOISE_GAIN = 1e-6  # Newton noise floor / (resolution * w * max(1, h)); measured 2e-8
LANDING_ITER = 32  # Newton corrections, or Illinois steps where Newton leaves the bracket
LANDING_DENSE_ITER = 60  # safeguarded Newton iterations on the dense output
LANDING_DENSE_TOL = 1e-9  # in fractions of the step
LANDING_SLACK = 1e-12  # relative to the landing step
LANDING_GUESSES = ("dense", "extrapolate")  # see MultiprecisionIntegrator.land
LANDING_SHORTFALL = 1e-6  # of the bracketing step; the dense output is off by about 1e-9
# stored steps kept by a snapshot: the bracketing step of the next level and the one before it
SNAPSHOT_HISTORY = 2


MAX_START_RAISES = 16  # precision raises (each at least doubling or to the need) at t = 0


def bits_for(amplification: float, rtol: float) -> int:
    """Working precision for a rounding amplification factor and a tolerance."""
    return bits_for_log2(math.log2(max(amplification, 1.0)), rtol)


def bits_for_log2(log2_amplification: float, rtol: float) -> int:
    """:func:`bits_for` from log2 of the amplification (which leaves the float64 range
    beyond about 1000 bits)."""
    return max(MIN_BITS, int(math.ceil(max(log2_amplification, 0.0) - math.log2(rtol)))
               + GUARD_BITS + HEADROOM_BITS)


class MultiprecisionIntegrator:
    """Radau IIA integration in arb arithmetic of the reduced dynamics of ``problem``."""

    backend = "arb"

    def __init__(self, problem, rtol: float, y0, h0: float, sigma0, bits: int):
        """Start from ``y0`` (floats or arb) with a first step ``h0`` in the ell clock of
        ``extprec.model`` (converted here to the tau_hat clock the solver integrates in)."""
        self.problem = problem
        self.rtol = float(rtol)
        self.n = problem.n_samples
        self.sigma0 = sigma0
        self.history: list[Step] = []
        # (sigma, log t) at the end of each stored step, for bracketing levels without
        # evaluating the model again
        self.history_ends: list[tuple] = []
        self.n_steps = 0
        self.counters = np.zeros(5, dtype=np.int64)
        self.bits_used = []
        y0 = [arb_of_float(v) if isinstance(v, float) else v for v in y0]
        with ctx.workprec(bits):
            tau0 = sum(y0[: self.n])
        self._start(bits, y0, tau0, h0)
        # d tau_hat = d ell / rate, at the start point
        with ctx.workprec(bits):
            self.solver.h_abs = (arb(h0) / self.solver.ev.rate).mid()

    @classmethod
    def from_rest(cls, problem, rtol: float, h0: float):
        """An integrator starting at t = 0 (nu = 0, theta = 0), at the precision the initial
        state needs: from ``bits_for(1, rtol)``, raised until sigma0 is finite and the rounding
        amplification of the initial margins (about their size: margins of 1e89 need some
        300 bits more) fits (``bits_for_log2``)."""
        n = problem.n_samples
        zeros = [arb(0)] * n
        bits = bits_for(1.0, rtol)
        for _ in range(MAX_START_RAISES):
            with ctx.workprec(bits):
                model = ArbModel(problem, bits, sigma0=arb(0))
                ev = model.evaluate(zeros, arb(0), clock=False)
            if ev is None or not ev.sigma.is_finite():
                bits *= 2
                continue
            needed = bits_for_log2(model.log2_resolution(zeros, ev) + bits, rtol)
            if needed <= bits:
                return cls(problem, rtol, [0.0] * (n + 1), h0, ev.sigma, bits)
            bits = needed
        raise FloatingPointError(f"the initial state is not resolved at {bits} bits")

    def ell_now(self):
        return self.ell_of(self.solver.ev)

    def ell_of(self, ev):
        """The ell clock of ``extprec.model`` (a function of the state)."""
        with ctx.workprec(self.model.bits):
            return ev.tau_hat.log1p() + (ev.sigma - self.model.sigma0).log1p()

    def y_now(self):
        return self.solver.y

    # -- precision -----------------------------------------------------------------------------
    @property
    def precision_bits(self) -> int:
        return self.model.bits

    def _start(self, bits, y, tau, h):
        with ctx.workprec(bits):
            sigma0 = self.sigma0 if not isinstance(self.sigma0, float) else arb(self.sigma0)
        self.model = ArbModel(self.problem, bits, sigma0=sigma0)
        self.solver = RadauSolver(self.model, y, tau, h, self.rtol)
        self.bits_used.append((self.sigma_of_current().str(6, radius=False), bits))

    def log2_amplification(self) -> float:
        """log2 of the rounding amplification of the current state (module docstring):
        the bound on the Newton noise floor, relative to the tolerance of the iteration,
        divided by the unit roundoff."""
        solver = self.solver
        with ctx.workprec(self.model.bits):
            last = solver.last_step
            h = last.h if last is not None and last.h > 1 else arb(1)
            gain = 1 + arb(NEWTON_NOISE_GAIN) * abs(solver.ev.w) * h
            log2_gain = float((gain.log() / arb(2).log()).mid())
        log2_resolution = self.model.log2_resolution(solver.y[: self.n], solver.ev)
        return (log2_resolution + self.model.bits + log2_gain
                - math.log2(solver.newton_tol))

    def _raise_precision(self, log2_amplification):
        old = self.solver
        self._accumulate(old)
        new_bits = max(bits_for_log2(log2_amplification, self.rtol),
                       self.model.bits + HEADROOM_BITS)
        self._start(new_bits, old.y, old.tau, old.h_abs)
        # the last step stays the stage predictor (without it the new solver would start
        # Newton from zero guesses and take steps of 1e-40 before the controller recovers)
        self.solver.last_step = old.last_step
        self.solver.h_abs_old, self.solver.err_old = old.h_abs_old, old.err_old

    def _accumulate(self, solver):
        self.counters += np.array(solver.counters, dtype=np.int64)
        solver.counters = [0] * 5

    def sigma_of_current(self):
        return self.solver.ev.sigma.mid()

    # -- clocks of a state ---------------------------------------------------------------------
    def _ev(self, y):
        return self.model.evaluate(y[: self.n], y[self.n])

    def _target(self, level):
        with ctx.workprec(self.model.bits):
            return level.sigma_arb() if hasattr(level, "sigma_arb") else level.log_t_arb()

    def _value(self, level, y, ev=None):
        """The level's quantity at the state ``y``: sigma, or log t (-inf at t = 0), from the
        evaluation ``ev`` of ``y`` if given; None outside the domain."""
        if ev is not None:
            return self._level_values(y, ev)[0 if hasattr(level, "sigma_arb") else 1]
        values = self.model.loss_values(y[: self.n])
        if values is None:
            return None
        sigma, log_s = values
        return sigma if hasattr(level, "sigma_arb") else self.model.log_t(y[self.n], log_s)

    def _dense_value(self, level, step, s):
        """The level's quantity on the dense output of ``step`` at the fraction ``s``
        (theta from :meth:`Step.theta_at`); None outside the domain."""
        y = [a.mid() for a in _dense(step, arb(s))]
        values = self.model.loss_values(y[: self.n])
        if values is None:
            return None
        sigma, log_s = values
        if hasattr(level, "sigma_arb"):
            return sigma
        return self.model.log_t(step.theta_at(y, log_s), log_s)

    def _level_values(self, y, ev):
        """``(sigma, log t)`` at ``y`` from its evaluation ``ev``."""
        return ev.sigma, self.model.log_t(y[self.n], ev.log_s)

    def _stored(self, level, k):
        """The level's quantity at the end of stored step ``k``."""
        return self.history_ends[k][0 if hasattr(level, "sigma_arb") else 1]

    def passed(self, level) -> bool:
        value = self._value(level, self.solver.y, self.solver.ev)
        with ctx.workprec(self.model.bits):
            return value is not None and (value - self._target(level)).mid() >= 0

    # -- integration ---------------------------------------------------------------------------
    def advance(self, sigma_level, time_level, max_steps: int) -> str:
        """Step until a level is passed (returns "event"), or "max steps", "step too small"."""
        for _ in range(max_steps):
            if not self.solver.step():
                self._accumulate(self.solver)
                return "step too small"
            self.history.append(self.solver.last_step)
            self.history_ends.append(self._level_values(self.solver.y, self.solver.ev))
            self.n_steps += 1
            log2_amplification = self.log2_amplification()
            if (log2_amplification - self.model.bits
                    > math.log2(self.rtol * RESOLUTION_MARGIN)):
                self._raise_precision(log2_amplification)
            if any(lv is not None and self.passed(lv) for lv in (sigma_level, time_level)):
                self._accumulate(self.solver)
                return "event"
        self._accumulate(self.solver)
        return "max steps"

    def _slope(self, level, y, ev):
        """d(sigma)/d tau_hat = r q, or d(log t)/d tau_hat = 1/theta (``extprec.model``), at
        ``y`` with evaluation ``ev``."""
        with ctx.workprec(self.model.bits):
            if hasattr(level, "sigma_arb"):
                return ev.r * ev.q
            return 1 / y[self.n]

    def land(self, level):
        """``(ell, y)`` on ``level``, the quantity matching the level to ``rtol / 2^10``
        relative (:meth:`_land`), trying each of ``LANDING_GUESSES`` in turn: the exact
        steps across the bracketing step guess their stages from its dense output, or only
        the first one does and the others extrapolate their predecessor. Each of the two
        lands cases the other does not (measured on fuzz cases with huge or tiny alpha:
        N = 5, D = 1, alpha = 1e-23 lands only with the first, N = 3, D = 1, alpha = 4e22
        only with the second); raises :class:`LandingError` when neither lands."""
        failure = None
        for guess in LANDING_GUESSES:
            try:
                return self._land(level, guess)
            except LandingError as exc:
                failure = exc
        raise failure

    def _land(self, level, guess):
        """:meth:`land` with one way ``guess`` of guessing the stages of exact steps.

        1. Bracket the level in the stored steps and locate it on the bracketing step's
           dense output (:meth:`_locate_on_dense_output`).
        2. The dense output is only of order 3 (measured: the level quantity off by 1e-11
           to 1e-9 relative), so the state is computed by an exact Radau step from the
           start of the bracketing step, aimed ``LANDING_SHORTFALL`` of the step short of
           the located point so that it stays below the level.
        3. Newton's method on the level quantity then closes the remaining gap with small
           forward steps of the same solver (cheap: their stage guesses are accurate).
           Should it overshoot, the exact step is redone from the start; should it leave
           the bracket known so far, the Illinois point of the bracket is taken instead.
           The bracket holds exact steps only: the same tau_hat reached along another path
           (an exact step plus forward corrections) can differ in sigma by more than the
           tolerance near the D > 2 tau horizon (measured: 3e-8 relative at D = 4,
           alpha = 1e-300, where sigma(tau_hat) is steep), and a bracket mixing the two
           paths stalled with an excess of -2.2e-8.
        """
        bits = self.model.bits
        index = self._bracketing_step(level)
        step = self.history[index]
        with ctx.workprec(bits):
            target = self._target(level)
            tol = arb(self.rtol) * arb(2) ** -10 * (1 + abs(target))
            h = step.h
            start = (self._stored(level, index - 1) if index > 0
                     else self._value(level, step.y))
            if (start - target).mid() >= 0:
                return self.ell_of(self._ev(step.y)), list(step.y)
            s = self._locate_on_dense_output(level, step, target, start,
                                             self._stored(level, index))
            s = (s - LANDING_SHORTFALL) if s > 2 * LANDING_SHORTFALL else s / 2
            solver = self._exact_step(step, s, guess)
            # The level lies between these fractions of the step, with the excesses there in
            # the compressed form asinh(excess / (1 + |target|)): a safeguard for the Newton
            # estimate, which can be far off (N = 1 at alpha = 4.7e12: sigma rises from -50
            # to 2e27 across one step, and Newton proposed s = -102). Outside the bracket
            # the next point is the Illinois (regula falsi) point.
            def compressed(excess):
                return (excess / (1 + abs(target))).asinh()
            lo, f_lo = arb(0), compressed(start - target)
            hi, f_hi = arb(1), compressed(self._stored(level, index) - target)
            side, excess_prev, exact_path = 0, None, True
            for _ in range(LANDING_ITER):
                y_land, ev = solver.y, solver.ev
                excess = (self._value(level, y_land, ev) - target).mid()
                if abs(excess) <= tol:
                    self._accumulate(solver)
                    return self.ell_of(ev), y_land
                reached = ((solver.tau - step.tau) / h).mid()
                f = compressed(excess)
                # Newton is trusted while it at least halves the excess
                newton_works = excess_prev is None or 2 * abs(excess) < abs(excess_prev)
                excess_prev = excess
                if exact_path and excess < 0:
                    lo, f_lo = reached, f
                    if side == -1:
                        f_hi = f_hi / 2
                    side = -1
                elif exact_path:
                    hi, f_hi = reached, f
                    if side == 1:
                        f_lo = f_lo / 2
                    side = 1
                d_tau = self._gap(level, y_land, target, ev)
                s = ((solver.tau + d_tau - step.tau) / h).mid()
                exact_path = True
                if not (newton_works and lo < s < hi):
                    s = (lo - f_lo * (hi - lo) / (f_hi - f_lo)).mid()
                    self._accumulate(solver)
                    solver = self._exact_step(step, s, guess)
                elif d_tau > 0:
                    exact_path = False
                    # one step of exactly d_tau (the bound clips it; the proposal left by
                    # the clipped exact step may be far smaller)
                    if solver.h_abs < 2 * d_tau:
                        solver.h_abs = (2 * d_tau).mid()
                    if not solver.step(tau_bound=solver.tau + d_tau):
                        raise LandingError(f"landing on {level} failed: step too small")
                else:
                    self._accumulate(solver)
                    solver = self._exact_step(step, s, guess)
            self._accumulate(solver)
        raise LandingError(f"landing on {level} did not converge in {LANDING_ITER} corrections "
                           f"(relative excess {float((excess / target).mid()):.1e})")

    def _gap(self, level, y, target, ev):
        """Newton estimate of the tau_hat still to go from ``y`` (evaluation ``ev``) to
        ``target``; for sigma levels on log(sigma), which is nearly linear in tau_hat in the
        rich phase (sigma itself is exponential there, and a plain Newton step would
        overshoot)."""
        value = self._value(level, y, ev)
        slope = self._slope(level, y, ev)
        if hasattr(level, "sigma_arb") and value > 0 and target > 0:
            return ((target / value).log() * value / slope).mid()
        return ((target - value) / slope).mid()

    def _locate_on_dense_output(self, level, step: Step, target, start, end):
        """The fraction s of ``step`` where its dense output meets ``level`` (whose quantity
        is ``start`` and ``end`` at the ends of the step), to
        ``LANDING_DENSE_TOL`` (the dense output itself is only good to about 1e-9):
        Illinois regula falsi on the bracket [0, 1], on log(sigma) for sigma levels. (The
        model's rate at a dense-output point is not the rate along the polynomial, whose
        points are off the slow manifold, so Newton steps converge only linearly.)"""
        log_scale = hasattr(level, "sigma_arb") and target > 0

        def relative(value):
            if log_scale:
                return float((value / target).log().mid()) if value > 0 else -math.inf
            return float((value - target).mid())

        def excess(s):
            return relative(self._dense_value(level, step, s))

        lo, hi = 0.0, 1.0
        f_lo, f_hi = relative(start), relative(end)  # the step's ends, already evaluated
        side = 0
        for _ in range(LANDING_DENSE_ITER):
            if not math.isfinite(f_lo) or f_hi - f_lo <= 0:
                s = 0.5 * (lo + hi)
            else:
                s = lo - f_lo * (hi - lo) / (f_hi - f_lo)
            f = excess(s)
            if f >= 0:
                hi, f_hi = s, f
                if side == 1:
                    f_lo *= 0.5
                side = 1
            else:
                lo, f_lo = s, f
                if side == -1:
                    f_hi *= 0.5
                side = -1
            if hi - lo < LANDING_DENSE_TOL or abs(f) < LANDING_DENSE_TOL * 1e-3:
                return arb(s)
        return arb(hi)

    def _exact_step(self, step: Step, s, guess) -> RadauSolver:
        """A solver advanced to ``step.tau + s step.h`` by Radau steps from the start of
        ``step``, whose dense output guesses the stages of every step (``guess ==
        "dense"``) or of the first one only (``"extrapolate"``)."""
        with ctx.workprec(self.model.bits):
            bound = step.tau + s * step.h
            # rounding of tau + h may leave tau short of the bound by a few ulps; that
            # remainder is not stepped (landing corrects on the level's value anyway)
            slack = arb(LANDING_SLACK) * abs(s * step.h)
        solver = RadauSolver(self.model, step.y, step.tau, (s * step.h).mid(),
                             self.rtol)
        for k in range(64):
            predictor = step if guess == "dense" or k == 0 else None
            if not solver.step(tau_bound=bound, predictor=predictor):
                raise LandingError("landing step failed: step too small")
            with ctx.workprec(self.model.bits):
                if (solver.tau - bound + slack).mid() >= 0:
                    break
        return solver

    def _bracketing_step(self, level) -> int:
        """Index of the first stored step whose end reaches ``level``."""
        with ctx.workprec(self.model.bits):
            target = self._target(level)

            def reached(k):
                return (self._stored(level, k) - target).mid() >= 0

            lo, hi = 0, len(self.history) - 1
            if hi < 0 or not reached(hi):
                raise ValueError("level outside the range integrated in multiprecision")
            while lo < hi:
                mid = (lo + hi) // 2
                if reached(mid):
                    hi = mid
                else:
                    lo = mid + 1
            return lo

    # -- states --------------------------------------------------------------------------------
    def digits(self) -> int:
        return max(0, int(math.floor(-math.log10(self.rtol))) - 1)

    def make_state(self, ell, y) -> State:
        bits = self.model.bits
        model = self.model
        ev = self._ev(y)
        if ev is None:
            raise FloatingPointError("state outside the domain of the model")
        mctx = state_context(bits)
        to_mp = lambda a: _arb_to_mpf(mctx, a)  # noqa: E731
        with ctx.workprec(bits):
            nu = [model.c * a for a in y[: self.n]]
            margins = ev.margins
            min_margin = min(margins, key=lambda a: a.mid())
            if self.problem.depth == 1:
                w_plus = [model.alpha * up + xi for up, xi in zip(model.u_plus, ev.x)]
                w_minus = [model.alpha * um - xi for um, xi in zip(model.u_minus, ev.x)]
            else:
                lwp, lwm = model.log_weights(ev.x)
                w_plus = [a.exp() for a in lwp]
                w_minus = [a.exp() for a in lwm]
            theta = y[self.n]
            log10_t = ((model.log_c + theta.log() - ev.log_s) / arb(10).log()
                       if theta > 0 else None)
            fields = dict(
                log10_loss=to_mp(-ev.sigma / arb(10).log()),
                sigma=to_mp(ev.sigma),
                tau=to_mp(model.c * sum(y[: self.n])),
                log10_t=to_mp(log10_t) if log10_t is not None else mctx.ninf,
                nu=np.array([to_mp(a) for a in nu], dtype=object),
                beta=np.array([to_mp(a) for a in ev.beta], dtype=object),
                w_plus=np.array([to_mp(a) for a in w_plus], dtype=object),
                w_minus=np.array([to_mp(a) for a in w_minus], dtype=object),
                margins=np.array([to_mp(a) for a in margins], dtype=object),
                min_margin=to_mp(min_margin),
                beta_normalized=np.array([to_mp(b / min_margin) for b in ev.beta],
                                         dtype=object),
            )
        return State(**fields, digits=self.digits(), precision_bits=bits, backend=self.backend,
                     ell=float(ell.mid()) if hasattr(ell, "mid") else float(ell))

    def state_at(self, level):
        return self.make_state(*self.land(level))

    # -- snapshots (extprec.resume) ------------------------------------------------------------
    def snapshot(self) -> dict:
        """What the integration continues from, between two steps, as exact values (arb
        midpoints, floats, ints, in new lists): the model's precision and sigma_0, the
        solver's state, clock, step size, controller memory, stage predictor and
        float64-inverse flag, the last ``SNAPSHOT_HISTORY`` stored steps with their end values
        (landing on a level reads the step that brackets it and the end of the one before),
        the step count, counters and the precision schedule. :meth:`restore` continues from
        it; :mod:`extprec.resume` writes it to files."""
        solver = self.solver
        with ctx.workprec(self.model.bits):
            return {
                "bits": self.model.bits,
                "sigma0": self.sigma0 if isinstance(self.sigma0, float) else self.sigma0.mid(),
                "y": [a.mid() for a in solver.y],
                "tau": solver.tau.mid(),
                "h_abs": solver.h_abs.mid(),
                "h_abs_old": None if solver.h_abs_old is None else solver.h_abs_old.mid(),
                "err_old": solver.err_old,
                "last_step": _step_midpoints(solver.last_step),
                "float64_inverse_failed": bool(solver._float64_inverse_failed),
                "history": [_step_midpoints(s) for s in self.history[-SNAPSHOT_HISTORY:]],
                "history_ends": [tuple(a.mid() for a in ends)
                                 for ends in self.history_ends[-SNAPSHOT_HISTORY:]],
                "n_steps": self.n_steps,
                "counters": [int(c) for c in self.counters],
                "bits_used": list(self.bits_used),
            }

    def restore(self, snapshot: dict) -> None:
        """Continue from ``snapshot`` (:meth:`snapshot`): a new Radau solver on its state, with
        its controller memory, predictor and flag; the model is rebuilt only when its
        precision or sigma_0 differ. The last stored steps are replaced by the snapshot's
        (an empty history, as in a resumed run, becomes just those)."""
        bits, sigma0 = snapshot["bits"], snapshot["sigma0"]
        with ctx.workprec(bits):
            sigma0_arb = arb(sigma0) if isinstance(sigma0, float) else sigma0
            if bits != self.model.bits or not sigma0_arb == self.model.sigma0:
                self.model = ArbModel(self.problem, bits, sigma0=sigma0_arb)
        self.sigma0 = sigma0
        solver = RadauSolver(self.model, snapshot["y"], snapshot["tau"], snapshot["h_abs"],
                             self.rtol)
        solver.h_abs_old, solver.err_old = snapshot["h_abs_old"], snapshot["err_old"]
        solver.last_step = snapshot["last_step"]
        solver._float64_inverse_failed = snapshot["float64_inverse_failed"]
        self.solver = solver
        for stored, tail in ((self.history, snapshot["history"]),
                             (self.history_ends, snapshot["history_ends"])):
            del stored[max(0, len(stored) - len(tail)):]
            stored.extend(tail)
        self.n_steps = int(snapshot["n_steps"])
        self.counters = np.array(snapshot["counters"], dtype=np.int64)
        self.bits_used = list(snapshot["bits_used"])

    @classmethod
    def resumed(cls, problem, rtol: float, snapshot: dict) -> "MultiprecisionIntegrator":
        """An integrator continuing from ``snapshot`` in a new process (its history starts
        with the snapshot's last steps)."""
        integrator = cls(problem, rtol, snapshot["y"], 0.0, snapshot["sigma0"],
                         snapshot["bits"])
        integrator.restore(snapshot)
        return integrator


def _step_midpoints(step):
    """``step`` with every number replaced by its exact midpoint (None stays None)."""
    if step is None:
        return None
    mids = lambda values: [a.mid() for a in values]  # noqa: E731
    return Step(step.tau.mid(), step.h.mid(), mids(step.y), [mids(q) for q in step.Q],
                step.log_s0.mid(), step.q0.mid())


def _arb_to_mpf(mctx, a: arb):
    """Exact mpf of the midpoint of ``a`` (nan or an infinity when it is not finite, as
    ``beta / min margin`` at t = 0, where the margins are 0)."""
    mid = a.mid()
    if mid == 0:
        return mctx.zero
    if not mid.is_finite():
        return mctx.nan if mid.is_nan() else (mctx.inf if mid > 0 else mctx.ninf)
    man, exp = mid.man_exp()
    return mctx.mpf((int(man), int(exp)))
