"""Radau IIA (order 5) written once against the multiprecision backend.

The method, step-size controller, error estimate and dense output of the float64 Numba
kernel (``extprec.solvers.radau_float64``, where the references are), with every constant
rebuilt from exact expressions at the working precision (nodes, error and interpolation
coefficients are polynomials in sqrt(6)). Vectors are Python lists of ``arb``.

Where multiprecision runs (sigma beyond about 1e9, theory.md s.4) the stiffness is extreme,
and four things differ from the float64 kernel, each because measurement showed the
simplified Newton iteration failing without it:

* the independent variable is tau_hat = sum(nu_hat), not the ell clock: the rate of ell
  depends on p, i.e. on the stiff margin differences, and the iteration matrix then couples
  every component to them with weight sigma;
* theta (log t) is not part of the Newton iteration: its collocation equations are linear
  once the nu stages are known and are solved exactly, its homogeneous part through the
  loss itself (:meth:`RadauSolver._theta_adiabatic`);
* stage guesses are moved onto the slow manifold before the iteration
  (:meth:`RadauSolver._project`), and Newton corrections are measured on the softmax too,
  since log t inherits the error of p;
* each stage gets its own scaled Jacobian (:meth:`RadauSolver._factorize_at`), because the
  stiffness grows by a factor exp(h w / sigma) across a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from flint import acb, acb_mat, arb, arb_mat, ctx

from ..backends.multiprecision import column, entries
from .radau_float64 import MAX_FACTOR, MIN_FACTOR


EPS64 = float(np.finfo(np.float64).eps)
# largest relative error of a float64 iteration-matrix inverse accepted for the Newton
# iteration (it then contracts by about this factor per iteration more slowly at most)
FLOAT64_INVERSE_MAX_ERROR = 1e-4
# slow-manifold predictor (RadauSolver._project): samples within PROJECTION_CUT of the
# largest log p are matched to their extrapolated log p to PROJECTION_TOL
PROJECTION_CUT = 30.0
PROJECTION_TOL = 0.1
ENTRY_MARGIN = 10.0  # see RadauSolver._entry_cap
PROJECTION_MAXITER = 16
PROJECTION_REFINEMENTS = 64  # iterative refinements of one Gauss-Newton correction
PROJECTION_REFINE_GAIN = 0.1  # stop refining when a refinement gains less than this
PROJECTION_LINEAR_TOL = 1e-4  # linear residual sought, in log p (margin) units
# Newton iterations per attempt: more than the float64 kernel's, because corrections are
# measured on the softmax (sum_n p_n |d log p_n| / rtol), which starts far above the tolerance
ARB_NEWTON_MAXITER = 20
NEWTON_NEGLIGIBLE = 1e-3  # corrections below this many Newton tolerances end the iteration
ERROR_FLOOR = 1e-8  # error norms below this count as this in the step-size controller
THETA_SPLIT = 2.0  # theta w above which theta's decaying part is split off exactly
MAX_SIGMA_DECADES_PER_STEP = 1.0  # see RadauSolver._growth_cap
ZERO_APPROACH = 0.9  # see RadauSolver._growth_cap


@dataclass(frozen=True)
class RadauConstants:
    c: tuple  # nodes
    e: tuple  # error estimator coefficients
    mu_real: arb  # real eigenvalue of A^-1 (the error estimate's gamma)
    P: tuple  # 3x3 dense-output coefficients, rows
    A: tuple  # 3x3 Butcher matrix, rows
    A_inv: tuple  # its inverse, rows


@lru_cache(maxsize=16)
def radau_constants(bits: int) -> RadauConstants:
    """Radau IIA (s = 3) constants at ``bits`` (Hairer & Wanner II, IV.8; scipy's radau.py)."""
    with ctx.workprec(bits + 20):
        s6 = arb(6).sqrt()
        r3 = arb(3).root(3)
        c = ((4 - s6) / 10, (4 + s6) / 10, arb(1))
        e = ((-13 - 7 * s6) / 3, (-13 + 7 * s6) / 3, arb(-1) / 3)
        A = arb_mat(3, 3, [
            (88 - 7 * s6) / 360, (296 - 169 * s6) / 1800, (-2 + 3 * s6) / 225,
            (296 + 169 * s6) / 1800, (88 + 7 * s6) / 360, (-2 - 3 * s6) / 225,
            (16 - s6) / 36, (16 + s6) / 36, arb(1) / 9])
        Ai = A.inv()
        mu_real = 3 + r3 * r3 - r3
        P = ((13 + 7 * s6) / 3, (-23 - 22 * s6) / 3, (10 + 15 * s6) / 3,
             (13 - 7 * s6) / 3, (-23 + 22 * s6) / 3, (10 - 15 * s6) / 3,
             arb(1) / 3, arb(-8) / 3, arb(10) / 3)
        mid = lambda a: a.mid()  # noqa: E731
        return RadauConstants(
            c=tuple(map(mid, c)), e=tuple(map(mid, e)), mu_real=mu_real.mid(),
            P=tuple(tuple(mid(P[3 * i + j]) for j in range(3)) for i in range(3)),
            A=tuple(tuple(mid(A[i, j]) for j in range(3)) for i in range(3)),
            A_inv=tuple(tuple(mid(Ai[i, j]) for j in range(3)) for i in range(3)))


def _lin(coeffs, vectors):
    """sum_j coeffs[j] * vectors[j] for lists of numbers, as exact ball midpoints.

    Radii are dropped after every vector operation of the solver: carried along an
    iteration they would only grow (the wrapping effect of interval arithmetic), and
    rounding is accounted for by the precision monitor instead.
    """
    out = [coeffs[0] * a for a in vectors[0]]
    for cj, vec in zip(coeffs[1:], vectors[1:]):
        out = [o + cj * a for o, a in zip(out, vec)]
    return [o.mid() for o in out]


@dataclass
class Step:
    """An accepted step: start point, size and dense-output coefficients Q (y(tau + s h) =
    y + sum_k Q[k] s^(k+1)). The theta component of Q is the increment of the adiabatic
    part phi of theta (:meth:`RadauSolver._theta_adiabatic`): theta(s) =
    (theta_0 - q_0) S(s) / S_0 + phi(s) with phi(0) = q_0 and ``log_s0`` = log S_0
    (:meth:`theta_at`)."""

    tau: arb  # tau_hat at the start
    h: arb
    y: list
    Q: list  # three vectors
    log_s0: arb
    q0: arb

    def theta_at(self, dense_y, log_s):
        """theta on the dense output, from the dense state (whose theta slot is
        theta_0 + phi(s) - q_0) and log S there."""
        theta0 = self.y[-1]
        return (dense_y[-1] - theta0 + self.q0
                + (theta0 - self.q0) * (log_s - self.log_s0).exp())


@dataclass(frozen=True)
class _ProjectionSystem:
    """Gauss-Newton system of the slow-manifold projection (:meth:`RadauSolver._project`)."""

    support: tuple
    A: arb_mat  # the system at the working precision
    pinv: np.ndarray  # float64 minimum-norm pseudo-inverse of A / row_scale
    row_scale: arb

    def solve(self, target: list):
        """Minimum-norm solution of ``A step = target`` (arb), or None.

        float64 least squares (the support may have more samples than independent margins)
        with iterative refinement against the arb matrix: a float64 solve alone gains only
        about 13 digits, while the extrapolated stage guess is off by about sigma * rtol in
        the margins. Measured on the default problem: past sigma ~ 1e265 the projection no
        longer reached its tolerance, Newton started 0.1 off in log p and failed, and the
        steps fell from 1.4 to 0.01 in tau_hat; refined, each Gauss-Newton iteration
        converges quadratically.
        """
        step = arb_mat(len(self.support), 1)
        goal = column(target)
        remainder = goal
        last = None
        for _ in range(PROJECTION_REFINEMENTS):
            scale = max(abs(v) for v in remainder.entries())
            if not scale > 0 or (last is not None and not scale < PROJECTION_REFINE_GAIN * last):
                break
            last = scale
            rhs = np.array([float((v / scale).mid()) for v in remainder.entries()])
            delta = self.pinv @ rhs
            if not np.all(np.isfinite(delta)):
                return None
            factor = scale / self.row_scale
            step = (step + column([arb(float(d)) * factor for d in delta])).mid()
            remainder = (goal - self.A * step).mid()
            if max(abs(v) for v in remainder.entries()) < PROJECTION_LINEAR_TOL:
                break
        return step.entries()


class RadauSolver:
    """Adaptive Radau IIA on an :class:`~extprec.backends.multiprecision.ArbModel`."""

    def __init__(self, model, y, tau, h, rtol):
        self.model = model
        self.rtol = float(rtol)
        self.bits = model.bits
        self.k = radau_constants(model.bits)
        self.n = model.n
        self.y = list(y)
        self.tau = tau
        self.h_abs = _exact(h)  # step sizes are arb: near the finite tau horizon of D > 2
        # they fall far below the float64 range
        self.h_abs_old = None
        self.err_old = None
        # scipy's Newton tolerance at the unit roundoff of the working precision
        self.newton_tol = max(10 * 2.0**-model.bits / self.rtol, min(0.03, self.rtol**0.5))
        self.counters = [0, 0, 0, 0, 0]  # f, jac, factorizations, newton failures, rejections
        self.ev = model.evaluate(self.y[: self.n], self.y[self.n])
        if self.ev is None:
            raise FloatingPointError("state outside the domain of the model")
        self.counters[0] += 1
        self.last_step = None
        self._float64_inverse_failed = False
        self._a_inv64 = np.array([[float(v) for v in row] for row in self.k.A_inv])

    # -- helpers -------------------------------------------------------------------------------
    def _shifted_inverse(self, shift):
        """(shift I - J_nu)^-1 for the nu block of the Jacobian (theta is solved apart,
        :meth:`_theta_adiabatic`), as an ``arb_mat`` for a real (``arb``) shift and an
        ``acb_mat`` for a complex (``acb``) one. The Newton iteration only needs it
        approximately (its residuals are exact), so it is computed in float64 when the
        matrix is representable and well enough conditioned (cond * eps <
        ``FLOAT64_INVERSE_MAX_ERROR``), and in arb otherwise; once float64 failed it is not
        tried again by this solver (the stiffness only grows along a run)."""
        n = self.n
        self.counters[2] += 1
        is_complex = isinstance(shift, acb)
        if self.J64 is not None:
            shift64 = (complex(float(shift.real.mid()), float(shift.imag.mid())) if is_complex
                       else float(shift.mid()))
            m = shift64 * np.eye(n) - self.J64 if np.isfinite(shift64) else None
            if m is None or not np.linalg.cond(m) * EPS64 < FLOAT64_INVERSE_MAX_ERROR:
                self._float64_inverse_failed, self.J64 = True, None
            else:
                inv = np.linalg.inv(m)
                with ctx.workprec(self.bits):
                    if is_complex:
                        return acb_mat(n, n, [acb(float(v.real), float(v.imag))
                                              for v in inv.ravel()])
                    return arb_mat(n, n, [arb(float(v)) for v in inv.ravel()])
        with ctx.workprec(self.bits):
            # an approximate (floating-point) inverse: the ball inverse refuses matrices
            # whose ball-arithmetic elimination loses every digit (measured: D = 3 with
            # alpha = 1e300), and Newton needs no error bounds
            kind = acb_mat if is_complex else arb_mat
            A = kind(n, n)
            eye = kind(n, n)
            for i in range(n):
                A[i, i] = shift
                eye[i, i] = 1
            return (A - kind(self.J_nu)).solve(eye, algorithm="approx").mid()

    def _norm(self, vec, scale, ev_ref, beta_scale, softmax=False):
        """Size of a nu correction in units of the tolerance, as a float: the largest of
        RMS(vec/scale), max_i |beta'_i (X~^T vec)_i| / beta_scale and, with ``softmax``,
        sum_n p_n |d log p_n| / rtol (theta, hence log t, inherits the error of p)."""
        rms = _to_float((sum((v / s).mid() ** 2 for v, s in zip(vec, scale))
                         / len(vec)).sqrt())
        if beta_scale == 0:
            return rms
        dx = entries(self.model.XtT * column(vec[: self.n]))
        db = [j * a for j, a in zip(ev_ref.jac1, dx)]
        out = max(rms, _to_float(max(abs(a) for a in db) / beta_scale))
        if softmax:
            dlog_g = [-si * dm for si, dm in zip(ev_ref.s, entries(self.model.Xt * column(db)))]
            mean = sum(pi * a for pi, a in zip(ev_ref.p, dlog_g))
            spread = sum(pi * abs(a - mean) for pi, a in zip(ev_ref.p, dlog_g))
            out = max(out, _to_float(spread / self.rtol))
        return out

    def _theta_adiabatic(self, h, evs, q0):
        """The adiabatic part phi of theta at the three stages, given the nu stages (their
        evaluations ``evs``), from phi = ``q0`` at the start of the step.

        d theta / d tau_hat = 1 - theta w with w = -d log S / d tau_hat (``extprec.model``),
        so theta = (theta_0 - q0) S / S_0 + phi exactly, where S / S_0 follows from the nu
        stages and phi solves the same equation from phi = q0. Only phi is left to the
        collocation method: its equations are linear, solved exactly (a 3x3 system) rather
        than by the Newton iteration. The step takes q0 = theta_0 (all of theta collocated)
        while theta is near its quasi-steady value 1 / w, and q0 = 1 / w_0 when theta is far
        above it (theta w > ``THETA_SPLIT``): theta then decays with the loss while t hardly
        moves, and collocation would damp that part like the L-stable stability function
        instead of like S. Measured with D = 3, alpha = 1e-20: unsplit, the error estimate
        of theta held the steps at 1e-5 of the distance to the tau horizon (2156 steps to
        log10 L = -10). Near 1 / w the split is no good: 1 / w_0 misses the quasi-steady
        value by about (d log w / d tau_hat) / w^2, a transient the steps must resolve.
        None where the 3x3 system is singular (the attempt fails)."""
        k = self.k
        # midpoints: w can be a wide ball where it is a sum with cancellation (logistic
        # loss, or a coordinate at its equilibrium), and the ball solve then refuses the
        # matrix (measured: ZeroDivisionError at N = 9, d = 1, alpha = 1.1e-11)
        M = arb_mat(3, 3, [(1 if i == j else 0) + h * k.A[i][j] * evs[j].w.mid()
                           for i in range(3) for j in range(3)])
        rhs = arb_mat(3, 1, [q0 + h * sum(k.A[i]) for i in range(3)])
        try:
            return [a.mid() for a in M.solve(rhs).entries()]
        except ZeroDivisionError:  # singular at this step size (h w = -1 / eig(A)): None
            return None

    def _evaluate(self, y):
        ev = self.model.evaluate(y[: self.n], y[self.n])
        self.counters[0] += 1
        return ev

    # -- one step ------------------------------------------------------------------------------
    def step(self, tau_bound=None, predictor=None):
        """Take one accepted step (scipy's Radau._step_impl); returns False when the step
        size falls below the spacing of the working precision.

        The Newton iteration runs on the nu stages only; theta follows exactly from them
        (:meth:`_theta_adiabatic`). ``predictor``, if given, is a dense output (a :class:`Step`)
        covering the step, used as the initial guess of the stages instead of the
        extrapolated previous step.
        """
        k, n, rtol = self.k, self.n, self.rtol
        y, ev0 = self.y, self.ev
        with ctx.workprec(self.bits):
            min_step = 10 * max(arb(1), abs(self.tau)) * arb(2) ** -self.bits
            # theta carries log t: its relative error is the absolute error of log t
            theta_tol = rtol
            beta_scale = rtol * (max(abs(b) for b in ev0.beta)
                                 + max(j * (1 + abs(xi)) for j, xi in zip(ev0.jac1, ev0.x)))
            h_abs = self.h_abs
            cap = self._growth_cap(ev0)
            if cap is not None and cap < h_abs:
                h_abs = cap
            cap = self._entry_cap(ev0)
            entry_capped = cap is not None and cap < h_abs  # until the attempt fails
            if entry_capped:
                h_abs = cap
            rejected = False
            while True:
                if h_abs < min_step:
                    return False
                h = h_abs
                if tau_bound is not None and self.tau + h > tau_bound:
                    h = h_abs = (tau_bound - self.tau).mid()
                scale = [rtol * (1 + abs(a)) for a in y[:n]]
                Z, first_evs = self._predict(h, predictor)
                # a shifted matrix singular at this precision (or non-finite) fails the attempt
                converged = self._factorize_at(y, first_evs, h)
                if converged:
                    if any(e is None for e in first_evs):
                        first_evs = None
                    converged, n_iter, Z, rate = self._newton(y, h, Z, scale, ev0,
                                                              beta_scale, first_evs)
                stage_evs = None
                if converged:
                    stage_evs = [self._evaluate([(a + b).mid() for a, b in zip(y, z)])
                                 for z in Z]
                    converged = all(e is not None for e in stage_evs)
                if converged:
                    # theta far above its quasi-steady value 1/w decays with the loss: that
                    # part is propagated exactly (:meth:`_theta_adiabatic`); near it,
                    # collocated whole
                    q0 = (1 / ev0.w).mid() if y[n] * ev0.w > THETA_SPLIT else y[n]
                    phi = self._theta_adiabatic(h, stage_evs, q0)
                    converged = phi is not None
                if not converged:
                    h_abs = (h_abs / 2).mid()
                    self.counters[3] += 1
                    entry_capped = False
                    continue
                theta = [((y[n] - q0) * (e.log_s - ev0.log_s).exp() + p).mid()
                         for e, p in zip(stage_evs, phi)]
                # theta slot: the increments of the adiabatic part
                Z = [z[:n] + [(p - q0).mid()] for z, p in zip(Z, phi)]
                y_new = [(a + b).mid() for a, b in zip(y[:n], Z[2][:n])] + [theta[2]]
                ze = [val / h for val in _lin(k.e, Z)]
                scale = [rtol * (1 + max(abs(a), abs(b))) for a, b in zip(y[:n], y_new[:n])]
                # the floor only matters at theta = 0 (t = 0); theta itself is about 1/sigma
                theta_scale = (theta_tol * max(abs(y[n]), abs(y_new[n]))
                               + arb(2) ** -(2 * self.bits))
                err = self._error(ev0.f[:n], 1 - ev0.w * q0, ze, h, phi[2], scale,
                                  theta_scale, ev0, beta_scale)
                if not all(t > 0 for t in theta):  # t S / c is positive
                    err = math.inf
                safety = 0.9 * (2 * ARB_NEWTON_MAXITER + 1) / (2 * ARB_NEWTON_MAXITER + n_iter)
                if rejected and math.isfinite(err) and err > 1:
                    error = self._error_vector(ev0.f[:n], 1 - ev0.w * q0, ze, h, phi[2])
                    ev_t = self._evaluate([a + b for a, b in zip(y[:n], error[:n])] + [y[n]])
                    if ev_t is not None:
                        err = self._error(ev_t.f[:n], 1 - ev_t.w * (q0 + error[n]), ze, h,
                                          phi[2], scale, theta_scale, ev0, beta_scale)
                if err > 1:
                    factor = self._predict_factor(h_abs, err)
                    h_abs = (h_abs * max(MIN_FACTOR, safety * factor)).mid()
                    rejected = True
                    self.counters[4] += 1
                    entry_capped = False
                    continue
                # the last node is the end point; the stages were evaluated with theta_0
                ev_new = self.model.with_theta(stage_evs[2], y_new[n])
                break
            self.last_step = Step(self.tau, h, list(y), _lin_rows(k.P, Z), ev0.log_s, q0)
            if entry_capped:  # a cut the controller did not choose: no memory of it
                self.h_abs_old = self.err_old = None
            factor = min(MAX_FACTOR, safety * self._predict_factor(h_abs, err))
            self.h_abs_old = h_abs
            self.err_old = err
            self.y = y_new
            self.tau = (self.tau + h).mid()
            self.h_abs = (h_abs * factor).mid()
            self.ev = ev_new
            return True

    def _growth_cap(self, ev):
        """Largest step over which sigma grows by at most MAX_SIGMA_DECADES_PER_STEP at its
        current log-rate (d log sigma / d tau_hat = r q / sigma). Late in the rich phase p
        settles and nu becomes nearly linear in tau_hat, so the error estimate allows steps
        over dozens of decades of sigma, and such a step can cross a change of the support
        set unseen (measured on the default problem: one step from sigma 1e48 to 1e74.5,
        after which the steps collapsed to 1e-77 for minutes). Below sigma = -1 (margins far
        below zero: a huge alpha with an unbalanced shape) it is the step over which |sigma|
        falls by the factor 1 - ZERO_APPROACH, so that no step carries sigma from far below
        zero across it: measured with N = 4, D = 4, alpha = 2e15, one step went from
        sigma = -1e62 to +2e60, past the checkpoints near zero, which could then not be
        landed on. An arb, or None for no cap."""
        with ctx.workprec(self.bits):
            if ev.sigma < -1 and ev.q > 0 and ev.r > 0:
                return (ZERO_APPROACH * -ev.sigma / (ev.r * ev.q)).mid()
            if not (ev.sigma > 0 and ev.q > 0 and ev.r > 0):
                return None
            return (MAX_SIGMA_DECADES_PER_STEP * arb(10).log() * ev.sigma
                    / (ev.r * ev.q)).mid()

    def _entry_cap(self, ev):
        """Largest step before a sample outside the support enters it, at the current rates
        (an arb, or None). Outside the support, log p_j - log p_top < -PROJECTION_CUT
        changes at the rate s_top (K p)_top - s_j (K p)_j (``extprec.model``: dm / d tau_hat
        = K_hat p and d log g / dm = -s), nearly constant while p is. A step ends where the
        first entering sample reaches the cut; across the cut, where the stage projection
        already follows it, a step halves its gap, down to ENTRY_MARGIN (then p_j is
        4.5e-5 p_top and the error control resolves the entry). Without it the steps
        approach an entry like Zeno: each step that crosses it fails Newton (p jumps inside
        the step), is halved until it ends short of it, and the next one tries ten times
        that (measured: N = 11, D = 4, alpha = 2.7e24, margins from -3e102, about 200 steps
        per entry, for entries 1e92 in tau_hat away)."""
        with ctx.workprec(self.bits):
            log_p = [(a - ev.log_s).mid() for a in ev.log_g]
            top = max(range(self.n), key=lambda j: log_p[j])
            rate_top = ev.s[top] * ev.kvec[top]
            cap = None
            for j in range(self.n):
                gap = log_p[top] - log_p[j]
                closing = rate_top - ev.s[j] * ev.kvec[j]  # d(gap)/d tau_hat = -closing
                if not (gap > ENTRY_MARGIN and closing > 0):
                    continue
                # in one step to the edge of the support; across the edge, half the gap
                # per step (then the error control resolves the entry)
                h = ((gap - PROJECTION_CUT if gap > PROJECTION_CUT + ENTRY_MARGIN else gap / 2)
                     / closing).mid()
                if cap is None or h < cap:
                    cap = h
            return cap

    def _factorize_at(self, y, evs, h):
        """Jacobian, stage scaling and shifted inverses for one attempt.

        Simplified Newton with one Jacobian contracts only by about the relative change
        of the stiffness along the step, and the stiffness grows like sigma (by a factor
        exp(h w / sigma) over a step): measured at sigma = 2e21, a rate of 0.25 per
        iteration at h = 0.35 and divergence at h = 0.9. The stages therefore get scaled
        Jacobians s_i J, with J at the middle stage guess and s_i the ratio of the
        stiffness tr(diag(p) K) at the stage guesses to that at the middle one
        (``ArbModel.stiffness``); the rate then is 0.01 at h = 0.35 and 0.07 at h = 2
        (measured with the ratios of w = (s p)^T K p, used before; on the default problem
        to 10^-(10^100) the stiffness ratios take 134 arb steps where those took 131).
        The ratios of w are noise where a coordinate sits at its equilibrium next to the
        D > 2 barrier: measured with D = 4, alpha = 1e-27, they varied by a factor 6 from
        step to step and held the steps at 1e-55. The linear
        system of the three stages,
        (A^-1 / h) dZ - (S (x) J) dZ = rhs, is diagonalized by the eigenvectors of the 3x3
        matrix C = S^-1 A^-1 (float64 suffices: the iteration only needs an approximate
        inverse), leaving one real and one complex n x n inverse as in the classic
        method (Hairer & Wanner II, IV.8). ``evs`` are the evaluations at the stage guesses
        (which are also the first Newton residuals). False when a shifted matrix is singular
        at the working precision (the attempt fails)."""
        n = self.n
        if any(e is None for e in evs):
            ev_mid, scales = self.ev, np.ones(3)
        else:
            ev_mid = evs[1]
            # ratios in arb: the stiffness itself leaves the float64 range (sigma > 1e308,
            # or tiny alpha with D > 2)
            stiffness = [self.model.stiffness(e) for e in evs]
            scales = (np.array([float((a / stiffness[1]).mid()) for a in stiffness])
                      if stiffness[1] > 0 else np.ones(3))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
            scaled = self._a_inv64 / scales[:, None]
        # stage weights not positive, or so far apart that C leaves the float64 range
        if not (np.all(np.isfinite(scales)) and np.all(scales > 0)
                and np.all(np.isfinite(scaled))):
            scales, scaled = np.ones(3), self._a_inv64
        # theta row with theta = 1: it is scaled by the particular part of theta where used
        # (:meth:`_error_vector`)
        self.J = self.model.jacobian(ev_mid, arb(1))
        self.counters[1] += 1
        nu_block = [[self.J[i, j] for j in range(n)] for i in range(n)]
        self.J_nu = arb_mat(nu_block)
        self.J64 = None  # the nu block in float64, while float64 inverses may still do
        if not self._float64_inverse_failed:
            J64 = np.array([[float(a.mid()) for a in row] for row in nu_block])
            if np.all(np.isfinite(J64)):
                self.J64 = J64
        eigvals, U = np.linalg.eig(scaled)
        Q = np.linalg.inv(U) / scales[None, :]  # U^-1 S^-1
        # modes (complex?, U column times its weight, Q row, inverse), coefficients as exact
        # arb / acb once per attempt; a conjugate pair is one mode of weight 2
        modes = []
        try:
            for j in np.argsort(-eigvals.imag):
                lam = eigvals[j]
                if abs(lam.imag) <= 1e-12 * abs(lam):
                    modes.append((False, [arb(float(u)) for u in U[:, j].real],
                                  [arb(float(q)) for q in Q[j].real],
                                  self._shifted_inverse((arb(float(lam.real)) / h).mid())))
                elif lam.imag > 0:
                    modes.append((True, [acb(2 * float(u.real), 2 * float(u.imag))
                                         for u in U[:, j]],
                                  [acb(float(q.real), float(q.imag)) for q in Q[j]],
                                  self._shifted_inverse(
                                      (acb(float(lam.real), float(lam.imag)) / h).mid())))
        except ZeroDivisionError:  # a shifted matrix singular at the working precision
            return False
        self.modes = modes
        self.inv_real = None  # error-estimate inverse, made when first needed
        return True

    def _newton(self, y, h, Z, scale, ev_ref, beta_scale, first_evs=None):
        """Simplified Newton iteration on the collocation system of the nu stages
        (theta is solved afterwards), with the stage-scaled Jacobians of
        :meth:`_factorize_at`: for each mode k, (lambda_k / h - J) dW_k = sum_i Q_ki G_i
        with G = F(Z) - (A^-1 Z) / h, and dZ_i = Re sum_k U_ik dW_k (a conjugate pair
        counted twice). Corrections are measured with the softmax term of :meth:`_norm`
        since log t inherits the error of p."""
        k, n = self.k, self.n
        max_iter = ARB_NEWTON_MAXITER
        Zn = [[a.mid() for a in z[:n]] for z in Z]
        hh = h
        dz_norm_old = None
        rate = 0.0
        n_iter = 0
        for it in range(max_iter):
            n_iter = it + 1
            if it == 0 and first_evs is not None:
                F = [e.f[:n] for e in first_evs]
            else:
                F = [self.model.probabilities([a + b for a, b in zip(y, Zn[i])])
                     for i in range(3)]
                self.counters[0] += 3
            if any(f is None for f in F):
                return False, n_iter, Z, rate
            AZ = [_lin(k.A_inv[i], Zn) for i in range(3)]
            G = [[f - az / hh for f, az in zip(fi, azi)] for fi, azi in zip(F, AZ)]
            dZ = [[arb(0)] * n for _ in range(3)]
            for is_complex, u_col, q_row, inv in self.modes:
                rhs = [sum(q * G[i][a] for i, q in enumerate(q_row)) for a in range(n)]
                if is_complex:
                    dW = entries(inv * acb_mat(n, 1, rhs))
                    for i, u in enumerate(u_col):
                        dZ[i] = [z + (u * w).real for z, w in zip(dZ[i], dW)]
                else:
                    dW = entries(inv * column(rhs))
                    for i, u in enumerate(u_col):
                        dZ[i] = [z + u * w for z, w in zip(dZ[i], dW)]
            dZ = [[a.mid() for a in row] for row in dZ]
            dz_norm = max(self._norm(v, scale, ev_ref, beta_scale, softmax=True) for v in dZ)
            # a correction this far below the tolerance leaves an error below it unless the
            # iteration contracts more slowly than 1 - NEWTON_NEGLIGIBLE; the ratio of two
            # such corrections is rounding noise, and the rate test would fail converged
            # stages (measured: D = 4, alpha = 1e-27, where the stages are exact at the first
            # guess, corrections of 1e-25 tolerances kept the steps at 1e-18)
            negligible = dz_norm < NEWTON_NEGLIGIBLE * self.newton_tol
            if dz_norm_old is not None and not negligible:
                rate = dz_norm / dz_norm_old
                if rate >= 1 or rate ** (max_iter - it) / (1 - rate) * dz_norm > self.newton_tol:
                    return False, n_iter, Z, rate
            Zn = [[(a + b).mid() for a, b in zip(zi, di)] for zi, di in zip(Zn, dZ)]
            Z = [zn + [z[n]] for zn, z in zip(Zn, Z)]
            if negligible or (dz_norm_old is not None
                              and rate / (1 - rate) * dz_norm < self.newton_tol):
                return True, n_iter, Z, rate
            dz_norm_old = dz_norm
        return False, n_iter, Z, rate

    def _error_vector(self, f_nu, f_phi, ze, h, phi):
        """Radau's embedded error estimate (I/(h gamma) - J)^-1 (f + ZE/h) (scaled as in
        scipy), by blocks: J is block lower triangular (nu does not depend on theta). The
        theta component is the estimate for its adiabatic part ``phi`` (end value), whose
        right-hand side at the start is ``f_phi`` (:meth:`_theta_adiabatic`)."""
        n = self.n
        if self.inv_real is None:
            self.inv_real = self._shifted_inverse((self.k.mu_real / h).mid())
        err_nu = entries(self.inv_real * column([a + b for a, b in zip(f_nu, ze)]))
        J = self.J  # theta row at theta = 1
        coupling = phi * sum(J[n, j] * e for j, e in enumerate(err_nu))
        err_theta = (f_phi + ze[n] + coupling) / (self.k.mu_real / h - J[n, n])
        return err_nu + [err_theta]

    def _error(self, f_nu, f_phi, ze, h, phi, scale, theta_scale, ev_ref, beta_scale):
        error = self._error_vector(f_nu, f_phi, ze, h, phi)
        return max(self._norm(error[: self.n], scale, ev_ref, beta_scale),
                   abs(float((error[self.n] / theta_scale).mid())))

    def _predict(self, h, dense_output=None):
        """Stage predictor from a dense output (default: the previous step; zero on the first
        step), moved onto the slow manifold (:meth:`_project`). Returns the stage increments
        and the evaluations at the stage guesses (None where a guess left the domain)."""
        last = dense_output or self.last_step
        if last is None:
            Z = [[arb(0)] * (self.n + 1) for _ in range(3)]
            return Z, [self._evaluate(self.y) for _ in Z]
        targets = _log_p(self.ev)
        # increments of a given dense output from the current tau_hat: after the first of
        # several steps across it (a landing) the state is no longer its value there, and
        # guesses y + (dense - y) would stay that far off however small the step (measured:
        # Newton failed down to the smallest step, N = 7, D = 4, alpha = 2e7)
        base = (self.y if dense_output is None
                else _dense(last, (self.tau - last.tau) / last.h))
        Z, evs = [], []
        for ci in self.k.c:
            val = _dense(last, (self.tau + ci * h - last.tau) / last.h)
            z = [(a - b).mid() for a, b in zip(val, base)]
            z, ev = self._project(z, targets, ci * h)
            Z.append(z)
            evs.append(ev)
        return Z, evs

    def _project(self, z, targets, tau_increment):
        """Move a stage guess ``y + z`` onto the slow manifold (theory.md s.4).

        The stiff directions make the stage equations solvable by Newton's method only from
        guesses whose margins are right to about one unit, while a polynomial extrapolation
        of nu is off by about sigma h^4 in the margins. The log-probabilities log p_n, by
        contrast, are of order one on the support and vary slowly, so they are carried over
        from the start of the step instead; and the collocation solution has
        sum(nu) = tau_hat exactly (sum p = 1), which fixes the common level of the
        margins. The nu of the samples near the support are corrected until both hold
        (Gauss-Newton on the margins, :meth:`_projection_system`). Returns the moved
        increment and the evaluation at ``y + increment`` (None outside the domain).
        """
        n = self.n
        y = [(a + b).mid() for a, b in zip(self.y, z)]
        top = max(range(n), key=lambda j: targets[j])
        rel_target = [max(t - targets[top], -PROJECTION_CUT) for t in targets]
        with ctx.workprec(self.bits):
            tau_target = sum(self.y[:n]) + tau_increment
            ev = None
            for _ in range(PROJECTION_MAXITER):
                ev = self._evaluate(y)
                if ev is None:
                    break
                # in arb: the residuals start near sigma * rtol, and rounding them to float64
                # would limit every Gauss-Newton iteration to 16 digits of progress
                rel = [(a - ev.log_g[top]).mid() for a in ev.log_g]
                support = tuple(j for j in range(n)
                                if rel_target[j] > -PROJECTION_CUT or rel[j] > -PROJECTION_CUT)
                rows = [j for j in support if j != top]
                residual = [(rel[j] - rel_target[j]).mid() for j in rows]
                tau_residual = sum(y[:n]) - tau_target
                size = max((abs(float(r.mid())) for r in residual), default=0.0)
                if size < PROJECTION_TOL and abs(float((tau_residual / tau_target).mid())) < self.rtol:
                    break
                system = self._projection_system(ev, top, rows, support)
                step = None if system is None else system.solve(
                    [-r for r in residual] + [-tau_residual * system.row_scale])
                if step is None:
                    break
                for j, dj in zip(support, step):
                    y[j] = (y[j] + dj).mid()
                ev = None
            if ev is None:
                ev = self._evaluate(y)
        return [(a - b).mid() for a, b in zip(y, self.y)], ev

    def _projection_system(self, ev, top, rows, support):
        """The linear system of one Gauss-Newton correction of :meth:`_project`, or None.

        The margin rows d(log g_j - log g_top) = -(s_j K_j - s_top K_top) . d nu
        (K = X~ diag(beta') X~^T on the support, ``extprec.model``) and the row sum(d nu),
        scaled like them, built in arb at the working precision (rebuilt at every iteration:
        an evaluation costs more than the matrix, and a stale one makes the iteration
        linear).
        """
        K = self.model.kernel_block(ev.jac1, [top] + rows, support)
        s = ev.s
        A = [[-(s[j] * K[1 + a][k] - s[top] * K[0][k]) for k in range(len(support))]
             for a, j in enumerate(rows)]
        row_scale = max((abs(v) for row in A for v in row), default=arb(1))
        if not row_scale > 0:
            return None
        A.append([row_scale] * len(support))
        A64 = np.array([[float((v / row_scale).mid()) for v in row] for row in A])
        if not np.all(np.isfinite(A64)):
            return None
        return _ProjectionSystem(support, arb_mat(A), np.linalg.pinv(A64, rcond=1e-13),
                                 row_scale)

    def _predict_factor(self, h_abs, err):
        """Step factor of scipy's predictive (Gustafsson) controller, with the error norms
        floored at ERROR_FLOOR: in arb a nearly linear stretch of the flow gives error norms
        like 1e-120, and the ratio err_old / err then cut the next step by 1e30 (measured
        near sigma = 1e172, where the steps never recovered)."""
        if (self.err_old is None or self.h_abs_old is None or err <= ERROR_FLOOR
                or self.err_old <= ERROR_FLOOR):
            # the predictive term compares how the error changed with the step; a floored
            # error says nothing about that, and the ratio of the steps alone then cut every
            # step after a sudden small one by the same ratio again (measured: after a
            # step halved from 1e26, twenty steps fell from 1e-6 to 1e-136, with errors
            # of 1e-117 to 1e-230)
            multiplier = 1.0
        else:
            multiplier = float((h_abs / self.h_abs_old).mid()) * (self.err_old / err) ** 0.25
        return min(1.0, multiplier) * max(err, ERROR_FLOOR)**-0.25


def _to_float(value: arb) -> float:
    """The midpoint of a norm as a float: inf beyond the float64 range or when not finite
    (a diverging correction must fail the test it enters, not raise)."""
    value = value.mid()
    if not value.is_finite():
        return math.inf
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _exact(value) -> arb:
    """A float or arb as an exact arb (a ball midpoint)."""
    return value.mid() if isinstance(value, arb) else arb(float(value))


def _lin_rows(P, Z):
    """Q[k] = sum_i Z[i] P[i][k] (scipy: Q = Z^T P)."""
    return [_lin([P[i][kk] for i in range(3)], Z) for kk in range(3)]


def _log_p(ev):
    """log p_n = log g_n - log S as floats (order one on the support)."""
    return [float((a - ev.log_s).mid()) for a in ev.log_g]


def _dense(step: Step, s):
    """y(tau + s h) on the step's collocation polynomial."""
    s2 = s * s
    s3 = s2 * s
    return [y + s * q0 + s2 * q1 + s3 * q2
            for y, q0, q1, q2 in zip(step.y, step.Q[0], step.Q[1], step.Q[2])]
