"""The float64 integrator: Radau IIA Numba kernel plus history, event landing and States.

The driver talks to an integrator through a small interface, the same for every precision
backend:

* ``advance(sigma_level, time_level, max_steps)`` integrates until the first step that
  passes one of the levels (``extprec.levels``) and returns a status string: "event",
  "precision exhausted", "max steps", "step too small" or "not finite";
* ``passed(level)`` says whether the current state is at or beyond a level;
* ``land(level)`` returns ``(ell, y)`` on the level, from an exact integration step
  started at the stored step that brackets it;
* ``make_state(ell, y)`` builds a :class:`~extprec.trajectory.State`; ``state_at(level)``
  lands and builds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading

import numpy as np
from scipy.optimize import brentq

from ..backends.float64 import EPS, LOG_S, SIGMA
from ..model import log_weights, model_constants
from ..levels import LandingError
from ..trajectory import State, state_context
from . import radau_float64 as kernel

KERNEL_STATUS = {
    kernel.SIGMA_EVENT: "event",
    kernel.TIME_EVENT: "event",
    kernel.BOUND: "event",
    kernel.PRECISION: "precision exhausted",
    kernel.MAX_STEPS: "max steps",
    kernel.STEP_TOO_SMALL: "step too small",
    kernel.NOT_FINITE: "not finite",
}
# float64 is used while the relative rounding noise of the softmax weights (the rounding
# resolution of the margins) stays below sqrt(rtol). The noise is confined to the stiff
# directions, which the L-stable method damps, so the slow variables see it only at second
# order (benchmarks/bench_float64.py: float64 Radau stays within 1e-11 of the arb reference
# up to sigma = 1e10 at rtol 1e-10); the time clock gets a tolerance of ten times the noise.
HISTORY_CHUNK = 2048  # accepted steps stored per kernel call
FIRST_STEP = 1e-3  # initial step in the clock ell (dimensionless; the controller adapts it)
# Steps allowed for one landing integration: normally 1, but 128 were measured near the
# float64 precision floor (sigma = 5e10, alpha = 3e19, N = 11), where 64 ended the run.
LANDING_MAX_STEPS = 1024
LANDING_NEWTON_ITER = 6  # corrections of the landing point
STATE_CONTEXT_BITS = 64  # mpmath precision used to present float64 states (exact for floats)
_BLAS = []  # the BLAS libraries of the process (threadpoolctl), found at first use
_BLAS_LIMIT = {"depth": 0, "limiter": None}  # nesting of single_threaded_blas contexts
_BLAS_LOCK = threading.Lock()


@contextlib.contextmanager
def single_threaded_blas():
    """A context in which the BLAS libraries (numpy's and scipy's, which Numba's ``np.dot``
    calls) use one thread, so that results do not depend on the thread count: OpenBLAS's
    dgemm (the kernel matrix) gives different low bits with 1 and 2 threads (measured at
    N = 200, d = 512). Setting the limit costs about 25 microseconds; nested contexts (the
    driver holds one for a whole run, every kernel call enters one) cost nothing."""
    with _BLAS_LOCK:
        if _BLAS_LIMIT["depth"] == 0:
            if not _BLAS:
                import scipy.linalg.cython_blas  # noqa: F401 (load the library Numba calls)
                from threadpoolctl import ThreadpoolController

                _BLAS.append(ThreadpoolController().select(user_api="blas"))
            _BLAS_LIMIT["limiter"] = _BLAS[0].limit(limits=1)
        _BLAS_LIMIT["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_LIMIT["depth"] -= 1
            if _BLAS_LIMIT["depth"] == 0:
                _BLAS_LIMIT.pop("limiter").restore_original_limits()


@contextlib.contextmanager
def kernel_call():
    """The context of every call of a Numba kernel: :func:`single_threaded_blas`, and a
    Ctrl-C during the call raised as the KeyboardInterrupt it is (Numba reports the pending
    interrupt as a SystemError "returned a result with an exception set", caused by it)."""
    with single_threaded_blas():
        try:
            yield
        except SystemError as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):
                raise exc.__cause__ from None
            raise


class Float64Integrator:
    """Float64 Radau IIA integration of the reduced dynamics of ``problem``."""

    backend = "float64"
    precision_bits = 53

    def __init__(self, problem, rtol: float):
        self.problem = problem
        self.rtol = float(rtol)
        self.constants = mc = model_constants(problem)
        self._model = (mc.signed_X, mc.log_u_plus, mc.log_u_minus, mc.balanced, mc.depth,
                       mc.loss_code, mc.float_params)
        n = problem.n_samples
        self.n = n
        with kernel_call():
            ok, *_, sc, _ = kernel.evaluate_state(np.zeros(n + 1), *self._model, -math.inf)
        if not ok:
            raise FloatingPointError(
                "the initial state is outside the float64 range (initial margins overflow); "
                "such problems need the multiprecision backend")
        self.sigma0 = float(sc[SIGMA])
        # With the ell clock anchored at sigma0 the initial state must evaluate, and float64
        # must resolve it by the kernel's own criterion (margins of 1e89 from an unbalanced
        # alpha = 1e22 do not, and the clock sigma - sigma0 is then rounding noise).
        with kernel_call():
            ok, *_, resolution = kernel.evaluate_state(np.zeros(n + 1), *self._model,
                                                       self.sigma0)
        if not ok or not resolution <= math.sqrt(self.rtol):
            raise FloatingPointError(
                f"float64 does not resolve the initial state (log L(0) = {self.sigma0:.3g}, "
                f"relative rounding noise of the softmax weights {resolution:.1e} > "
                f"sqrt(rtol)); such problems need the multiprecision backend")
        self.y = np.zeros(n + 1)
        self.ell = 0.0
        self.h = FIRST_STEP
        self.counters = np.zeros(5, dtype=np.int64)
        self.hist_ell: list[np.ndarray] = []
        self.hist_h: list[np.ndarray] = []
        self.hist_y: list[np.ndarray] = []
        self.hist_q: list[np.ndarray] = []
        self.n_steps = 0
        self.last_resolution = 0.0

    # -- evaluation ------------------------------------------------------------------------
    def _evaluate(self, y):
        with kernel_call():
            return kernel.evaluate_state(np.ascontiguousarray(y), *self._model, self.sigma0)

    def sigma_of(self, y) -> float:
        ok, *_, sc, _ = self._evaluate(y)
        return float(sc[SIGMA]) if ok else math.nan

    def log_t_of(self, y) -> float:
        """``log t = log c + log theta - log S`` (``extprec.model``); -inf at t = 0."""
        ok, *_, sc, _ = self._evaluate(y)
        if not ok:
            return math.nan
        theta = y[self.n]
        if theta <= 0.0:
            return -math.inf
        return self.constants.log_c + math.log(theta) - float(sc[LOG_S])

    def resolution(self, y) -> float:
        """Float64 rounding error of the margins at ``y`` (``rounding_resolution``)."""
        return float(self._evaluate(y)[-1])

    # -- integration -----------------------------------------------------------------------
    def _run_kernel(self, y0, ell0, h0, ell_bound, sigma_stop, log_t_stop, max_steps,
                    record=True, fixed_step=0.0):
        cap = max(1, min(max_steps, HISTORY_CHUNK) if record else max_steps)
        n1 = self.n + 1
        buffers = (np.empty(cap), np.empty(cap), np.empty((cap, n1)), np.empty((cap, n1, 3)))
        with kernel_call():
            out = kernel.radau_integrate(
                np.ascontiguousarray(y0, dtype=np.float64), float(ell0), float(h0),
                float(ell_bound), float(sigma_stop), float(log_t_stop), cap, self.rtol,
                math.sqrt(self.rtol), float(fixed_step), *self._model, self.sigma0,
                self.constants.log_c, *buffers, self.counters)
        status, n_acc, y, ell, h = out
        if record and n_acc:
            for store, buf in zip((self.hist_ell, self.hist_h, self.hist_y, self.hist_q), buffers):
                store.append(buf[:n_acc].copy())
        return int(status), int(n_acc), y, float(ell), float(h)

    def advance(self, sigma_level, time_level, max_steps: int) -> str:
        """Integrate until a level is passed ("event") or the kernel stops for another reason
        ("precision exhausted", "max steps", "step too small", "not finite")."""
        sigma_stop = sigma_level.sigma_float() if sigma_level is not None else math.inf
        log_t_stop = time_level.log_t_float() if time_level is not None else math.inf
        budget = max_steps
        while True:
            status, n_acc, y, ell, h = self._run_kernel(
                self.y, self.ell, self.h, math.inf, sigma_stop, log_t_stop, budget)
            self.y, self.ell, self.h = y, ell, h
            self.n_steps += n_acc
            budget -= n_acc
            if status != kernel.MAX_STEPS or budget <= 0:
                if status == kernel.PRECISION:
                    self.last_resolution = self.resolution(self.y)
                return KERNEL_STATUS[status]

    def ell_now(self):
        return self.ell

    def y_now(self):
        return self.y

    def passed(self, level) -> bool:
        if hasattr(level, "sigma_float"):
            return self.sigma_of(self.y) >= level.sigma_float()
        return self.log_t_of(self.y) >= level.log_t_float()

    def amplification(self) -> float:
        """Rounding amplification at the current state: resolution / unit roundoff."""
        return self.resolution(self.y) / EPS

    # -- events ----------------------------------------------------------------------------
    def _steps(self):
        ell = np.concatenate(self.hist_ell) if self.hist_ell else np.empty(0)
        return ell, np.concatenate(self.hist_h), np.concatenate(self.hist_y), np.concatenate(
            self.hist_q)

    def land(self, level):
        """``(ell, y)`` where the level (loss or time) is reached.

        The level is bracketed by a stored step; the dense output locates it, then an exact
        Radau step from the start of that step lands on it, corrected by a few secant
        iterations on the landing point until the quantity matches the level to rounding.
        """
        if hasattr(level, "sigma_float"):
            fn, value = self.sigma_of, level.sigma_float()
        else:
            fn, value = self.log_t_of, level.log_t_float()
        return self._land(fn, value)

    def _land(self, fn, level: float):
        ells, hs, ys, qs = self._steps()
        ends = ells + hs
        j = self._bracketing_step(fn, ells, hs, ys, qs, level)
        ell_j, h_j, y_j, q_j = ells[j], hs[j], ys[j], qs[j]

        def dense(s):
            return y_j + q_j @ np.array([s, s * s, s * s * s])

        self.landing_digits = self.digits()
        f_lo = fn(y_j) - level
        if f_lo >= 0.0:
            return ell_j, y_j.copy()
        f_hi = fn(dense(1.0)) - level
        s_star = 1.0 if f_hi <= 0.0 else brentq(lambda s: fn(dense(s)) - level, 0.0, 1.0,
                                                 xtol=4 * EPS, rtol=4 * EPS)
        tol = 16 * EPS * max(1.0, abs(level))
        target = ell_j + s_star * h_j
        prev = None
        best = (math.inf, None, None)  # (|residual|, ell, y) of the closest landing
        for _ in range(LANDING_NEWTON_ITER):
            target = min(max(target, ell_j), ends[j])
            if target == ell_j:
                y_land = y_j.copy()
            else:
                status, _, y_land, _, _ = self._run_kernel(
                    y_j, ell_j, target - ell_j, target, math.inf, math.inf, LANDING_MAX_STEPS,
                    record=False)
                if status not in (kernel.BOUND, kernel.PRECISION):
                    raise LandingError(f"float64 landing step stopped with kernel status {status}")
            resid = fn(y_land) - level
            if abs(resid) < best[0]:
                best = (abs(resid), target, y_land)
            if abs(resid) <= tol:
                break
            if prev is None:
                # slope from the dense output
                ds = 1e-6
                slope = (fn(dense(min(1.0, s_star + ds))) - fn(dense(max(0.0, s_star - ds)))) / (
                    (min(1.0, s_star + ds) - max(0.0, s_star - ds)) * h_j)
            else:
                slope = (resid - prev[1]) / (target - prev[0]) if target != prev[0] else 0.0
            if not (slope > 0.0 and math.isfinite(slope)):
                break
            prev = (target, resid)
            target = target - resid / slope
        best_resid, ell_land, y_land = best
        # The State reports the quantities of the landed point itself; its digits cannot
        # exceed those to which the landing matched the requested level (the secant iterates
        # stall at the error of the landing step, about 1e-11 relative near sigma = 1e7).
        relative = best_resid / max(1.0, abs(level))
        self.landing_digits = (self.digits() if relative <= 10.0 ** -self.digits()
                               else int(math.floor(-math.log10(relative))))
        if self.landing_digits < 1:
            raise LandingError(f"landing on the level {level!r} did not converge (residual "
                               f"{best_resid:.3g} after {LANDING_NEWTON_ITER} corrections)")
        return ell_land, y_land

    def _bracketing_step(self, fn, ells, hs, ys, qs, level) -> int:
        """Index of the first stored step whose end reaches ``level``."""
        lo, hi = 0, len(ells) - 1
        end_value = lambda k: fn(ys[k] + qs[k].sum(axis=1))  # noqa: E731 (y at step end)
        if end_value(hi) < level:
            raise ValueError("level outside the integrated range")
        while lo < hi:
            mid = (lo + hi) // 2
            if end_value(mid) >= level:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def fixed_steps(self, ell0: float, y0, ell_end: float, n_steps: int):
        """State at ``ell_end`` after ``n_steps`` equal Radau steps from ``(ell0, y0)`` (no
        error control; for measuring the order of convergence). Returns ``(ell, y)``."""
        h = (ell_end - ell0) / n_steps
        status, n_acc, y, ell, _ = self._run_kernel(
            y0, ell0, h, ell_end + 4 * EPS * abs(ell_end), math.inf, math.inf, n_steps,
            record=False, fixed_step=h)
        if n_acc != n_steps:
            raise RuntimeError(f"fixed-step integration stopped after {n_acc} steps "
                               f"(kernel status {status})")
        return ell, y

    # -- states ----------------------------------------------------------------------------
    def digits(self) -> int:
        """Digits vouched for: one less than the tolerance (global error is a small multiple
        of the local tolerance for this contractive flow; checked in tests/test_references)."""
        return max(0, int(math.floor(-math.log10(self.rtol))) - 1)

    def make_state(self, ell, y) -> State:
        ok, x, beta, log_abs_beta, _, _, _, sc, _ = self._evaluate(y)
        if not ok:
            raise FloatingPointError("state outside the float64 range")
        mc = self.constants
        ctx = state_context(STATE_CONTEXT_BITS)
        mpf = ctx.mpf
        c = ctx.exp(mpf(mc.log_c))
        ln10 = ctx.ln10
        signs = np.where(np.signbit(beta), -1, 1)
        beta_mp = np.array([ctx.zero if not math.isfinite(lb) else s * ctx.exp(mpf(lb))
                            for s, lb in zip(signs, log_abs_beta)], dtype=object)
        scaled, log_top = _scaled_margins(mc.signed_X, signs, log_abs_beta)
        top = ctx.exp(mpf(log_top)) if log_top is not None else ctx.zero
        margins = np.array([mpf(m) * top for m in scaled], dtype=object)
        min_margin = min(margins)
        if mc.depth == 1:
            alpha = ctx.exp(mpf(mc.log_alpha))
            w_plus = np.array([alpha * ctx.exp(mpf(lu)) + mpf(xi)
                               for lu, xi in zip(mc.log_u_plus, x)], dtype=object)
            w_minus = np.array([alpha * ctx.exp(mpf(lu)) - mpf(xi)
                                for lu, xi in zip(mc.log_u_minus, x)], dtype=object)
        else:
            lwp, lwm = log_weights(mc, x)
            w_plus = np.array([ctx.exp(mpf(v)) for v in lwp], dtype=object)
            w_minus = np.array([ctx.exp(mpf(v)) for v in lwm], dtype=object)
        sigma = mpf(float(sc[SIGMA]))
        theta = float(y[self.n])
        if theta > 0.0:
            log10_t = (mpf(mc.log_c) + ctx.log(mpf(theta)) - mpf(float(sc[LOG_S]))) / ln10
        else:
            log10_t = ctx.ninf
        nu_hat = y[: self.n]
        return State(
            log10_loss=-sigma / ln10,
            sigma=sigma,
            tau=c * ctx.fsum(mpf(float(v)) for v in nu_hat),
            log10_t=log10_t,
            nu=np.array([c * mpf(float(v)) for v in nu_hat], dtype=object),
            beta=beta_mp,
            w_plus=w_plus,
            w_minus=w_minus,
            margins=margins,
            min_margin=min_margin,
            beta_normalized=np.array([b / min_margin for b in beta_mp], dtype=object)
            if min_margin != 0 else np.array([ctx.nan] * len(beta_mp), dtype=object),
            digits=self.digits(),
            precision_bits=self.precision_bits,
            backend=self.backend,
            ell=float(ell),
        )

    def state_at(self, level):
        state = self.make_state(*self.land(level))
        if self.landing_digits < state.digits:
            state = dataclasses.replace(state, digits=self.landing_digits)
        return state

    # -- snapshots (extprec.resume) --------------------------------------------------------
    def snapshot(self) -> dict:
        """What the integration continues from between two kernel calls (each call starts
        afresh from ``(y, ell, h)``: Jacobian, controller memory and predictor are rebuilt),
        as floats and ints in new containers, with the last stored step (where a level not
        yet passed may be bracketed), the step count and counters. :meth:`restore` continues
        from it; :mod:`extprec.resume` writes it to files."""
        history = []
        if self.hist_ell:
            history = [(float(self.hist_ell[-1][-1]), float(self.hist_h[-1][-1]),
                        self.hist_y[-1][-1].copy(), self.hist_q[-1][-1].copy())]
        return {"sigma0": self.sigma0, "y": self.y.copy(), "ell": self.ell, "h": self.h,
                "n_steps": self.n_steps, "counters": [int(c) for c in self.counters],
                "last_resolution": self.last_resolution, "history": history}

    def restore(self, snapshot: dict) -> None:
        """Continue from ``snapshot`` (:meth:`snapshot`); an empty history, as in a resumed
        run, starts with the snapshot's last step."""
        if snapshot["sigma0"] != self.sigma0:
            raise ValueError(f"the snapshot starts at sigma_0 = {snapshot['sigma0']!r}, this "
                             f"problem at {self.sigma0!r}: it belongs to another problem")
        self.y = np.array(snapshot["y"], dtype=np.float64)
        self.ell, self.h = float(snapshot["ell"]), float(snapshot["h"])
        self.n_steps = int(snapshot["n_steps"])
        self.counters = np.array(snapshot["counters"], dtype=np.int64)
        self.last_resolution = float(snapshot["last_resolution"])
        if not self.hist_ell:
            for ell, h, y, q in snapshot["history"]:
                for store, value in zip((self.hist_ell, self.hist_h, self.hist_y, self.hist_q),
                                        (ell, h, y, q)):
                    store.append(np.array([value], dtype=np.float64))

    @classmethod
    def resumed(cls, problem, rtol: float, snapshot: dict) -> "Float64Integrator":
        """An integrator continuing from ``snapshot`` in a new process."""
        integrator = cls(problem, rtol)
        integrator.restore(snapshot)
        return integrator


def _scaled_margins(signed_X, signs, log_abs_beta):
    """``(X~ beta / max|beta|, log max|beta|)`` from ``beta = signs exp(log_abs_beta)``: the
    scaled margins as floats (``([0.0, ...], None)`` when beta = 0).

    Each margin is the correctly rounded sum (``math.fsum``) of the float64 products, so its
    error is a few units of ``eps sum_i |x~_i beta_i|`` whatever d (a 64-bit mpmath sum costs
    about 40 s at N = 400, d = 2000), and it does not depend on the BLAS or its threads.
    """
    finite = np.isfinite(log_abs_beta)
    if not finite.any():
        return [0.0] * signed_X.shape[0], None
    top = float(np.max(log_abs_beta[finite]))
    scaled = np.where(finite, signs * np.exp(np.where(finite, log_abs_beta, top) - top), 0.0)
    return [math.fsum(row * scaled) for row in signed_X], top
