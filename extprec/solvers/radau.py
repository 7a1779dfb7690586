"""Radau IIA (order 5) written once against the multiprecision backend.

The method, step-size controller, error estimate and dense output of the float64 Numba
kernel (``extprec.solvers.radau_float64``, where the references are), with every constant
rebuilt from exact expressions at the working precision (nodes, error and interpolation
coefficients are polynomials in sqrt(6); the transformation T diagonalizing the inverse of
the Butcher matrix comes from its eigenvectors). Vectors are Python lists of ``arb``.

Where multiprecision runs (sigma beyond about 1e9, theory.md s.4) the stiffness is extreme,
and three things differ from the float64 kernel, each because measurement showed the
simplified Newton iteration failing without it:

* the independent variable is tau_hat = sum(nu_hat), not the ell clock: the rate of ell
  depends on p, i.e. on the stiff margin differences, and the iteration matrix then couples
  every component to them with weight sigma;
* theta (log t) is not part of the Newton iteration: its collocation equations are linear
  once the nu stages are known and are solved exactly (:meth:`RadauSolver._theta_stages`);
* stage guesses are moved onto the slow manifold before the iteration
  (:meth:`RadauSolver._project`), and Newton corrections are measured on the softmax too,
  since log t inherits the error of p.
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
PROJECTION_MAXITER = 16
# Newton iterations per attempt: more than the float64 kernel's, because corrections are
# measured on the softmax (sum_n p_n |d log p_n| / rtol), which starts far above the tolerance
ARB_NEWTON_MAXITER = 20


@dataclass(frozen=True)
class RadauConstants:
    c: tuple  # nodes
    e: tuple  # error estimator coefficients
    mu_real: arb
    mu_complex: acb
    T: tuple  # 3x3, rows
    TI: tuple  # 3x3, rows
    P: tuple  # 3x3 dense-output coefficients, rows
    A: tuple  # 3x3 Butcher matrix, rows


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
        alpha = 3 + (r3 - r3 * r3) / 2
        beta = (arb(3) ** (arb(5) / 6) + arb(3) ** (arb(7) / 6)) / 2
        # right eigenvectors with last component 1 (scipy's normalization of T)
        v_real = _eigvec(Ai, mu_real)
        v_cplx = _eigvec(acb_mat(Ai), acb(alpha, beta))
        T = arb_mat(3, 3, [v_real[0], v_cplx[0].real, v_cplx[0].imag,
                           v_real[1], v_cplx[1].real, v_cplx[1].imag,
                           arb(1), arb(1), arb(0)])
        TI = T.inv()
        P = ((13 + 7 * s6) / 3, (-23 - 22 * s6) / 3, (10 + 15 * s6) / 3,
             (13 - 7 * s6) / 3, (-23 + 22 * s6) / 3, (10 - 15 * s6) / 3,
             arb(1) / 3, arb(-8) / 3, arb(10) / 3)
        mid = lambda a: a.mid()  # noqa: E731
        return RadauConstants(
            c=tuple(map(mid, c)), e=tuple(map(mid, e)), mu_real=mu_real.mid(),
            mu_complex=acb(alpha.mid(), -beta.mid()),
            T=tuple(tuple(mid(T[i, j]) for j in range(3)) for i in range(3)),
            TI=tuple(tuple(mid(TI[i, j]) for j in range(3)) for i in range(3)),
            P=tuple(tuple(mid(P[3 * i + j]) for j in range(3)) for i in range(3)),
            A=tuple(tuple(mid(A[i, j]) for j in range(3)) for i in range(3)))


def _eigvec(Ai, mu):
    """Solve (Ai - mu I) v = 0 with v[2] = 1 from the first two rows."""
    m00, m01, m10, m11 = Ai[0, 0] - mu, Ai[0, 1], Ai[1, 0], Ai[1, 1] - mu
    rhs0, rhs1 = -Ai[0, 2], -Ai[1, 2]
    det = m00 * m11 - m01 * m10
    return ((rhs0 * m11 - m01 * rhs1) / det, (m00 * rhs1 - m10 * rhs0) / det)


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
    y + sum_k Q[k] s^(k+1))."""

    tau: arb  # tau_hat at the start
    h: float
    y: list
    Q: list  # three vectors


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
        self.h_abs = float(h)
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

    # -- helpers -------------------------------------------------------------------------------
    def _factorize(self, h):
        """Inverses of the two iteration matrices of the nu block (theta is solved apart,
        :meth:`_theta_stages`). The simplified Newton iteration only needs them
        approximately (its residuals are exact), so they are computed in float64 when the
        matrices are representable and well enough conditioned
        (cond * eps < ``FLOAT64_INVERSE_MAX_ERROR``), and in arb otherwise."""
        n = self.n
        if not self._factorize_float64(h):
            with ctx.workprec(self.bits):
                J = arb_mat(n, n, [self.J[i, j] for i in range(n) for j in range(n)])
                mr = self.k.mu_real / arb(h)
                A = arb_mat(n, n)
                for i in range(n):
                    A[i, i] = mr
                self.inv_real = (A - J).inv().mid()
                mc = self.k.mu_complex / arb(h)
                B = acb_mat(n, n)
                for i in range(n):
                    B[i, i] = mc
                self.inv_cplx = (B - acb_mat(J)).inv().mid()
        self.counters[2] += 1

    def _factorize_float64(self, h) -> bool:
        n = self.n
        J = np.array([float(self.J[i, j].mid()) for i in range(n) for j in range(n)])
        if not np.all(np.isfinite(J)):
            return False
        J = J.reshape(n, n)
        eye = np.eye(n)
        m_real = float(self.k.mu_real) / h * eye - J
        m_cplx = complex(float(self.k.mu_complex.real), float(self.k.mu_complex.imag)) / h * eye - J
        for m in (m_real, m_cplx):
            if not np.linalg.cond(m) * EPS64 < FLOAT64_INVERSE_MAX_ERROR:
                return False
        inv_r = np.linalg.inv(m_real)
        inv_c = np.linalg.inv(m_cplx)
        with ctx.workprec(self.bits):
            self.inv_real = arb_mat(n, n, [arb(float(v)) for v in inv_r.ravel()])
            self.inv_cplx = acb_mat(n, n, [acb(float(v.real), float(v.imag))
                                           for v in inv_c.ravel()])
        return True

    def _norm(self, vec, scale, ev_ref, beta_scale, softmax=False):
        """Size of a nu correction in units of the tolerance, as a float: the largest of
        RMS(vec/scale), max_i |beta'_i (X~^T vec)_i| / beta_scale and, with ``softmax``,
        sum_n p_n |d log p_n| / rtol (theta, hence log t, inherits the error of p)."""
        rms = math.sqrt(sum(float((v / s).mid()) ** 2 for v, s in zip(vec, scale)) / len(vec))
        if beta_scale == 0:
            return rms
        dx = entries(self.model.XtT * column(vec[: self.n]))
        db = [j * a for j, a in zip(ev_ref.jac1, dx)]
        out = max(rms, float((max(abs(a) for a in db) / beta_scale).mid()))
        if softmax:
            dlog_g = [-si * dm for si, dm in zip(ev_ref.s, entries(self.model.Xt * column(db)))]
            mean = sum(pi * a for pi, a in zip(ev_ref.p, dlog_g))
            spread = sum(pi * abs(a - mean) for pi, a in zip(ev_ref.p, dlog_g))
            out = max(out, float((spread / self.rtol).mid()))
        return out

    def _theta_stages(self, y, h, evs):
        """theta at the three stages given the nu stages: the collocation equations of
        d theta / d tau_hat = 1 - theta w are linear in theta (``extprec.model``), so they
        are solved exactly (a 3x3 system) instead of by the Newton iteration, where the
        stiffness of w (it follows the margins) would set the convergence."""
        k, n = self.k, self.n
        hh = arb(h)
        M = arb_mat(3, 3, [(1 if i == j else 0) + hh * k.A[i][j] * evs[j].w
                           for i in range(3) for j in range(3)])
        rhs = arb_mat(3, 1, [y[n] + hh * sum(k.A[i]) for i in range(3)])
        return [(a - y[n]).mid() for a in M.solve(rhs).entries()]

    def _evaluate(self, y):
        ev = self.model.evaluate(y[: self.n], y[self.n])
        self.counters[0] += 1
        return ev

    # -- one step ------------------------------------------------------------------------------
    def step(self, tau_bound=None, predictor=None):
        """Take one accepted step (scipy's Radau._step_impl); returns False when the step
        size falls below the spacing of the working precision.

        The Newton iteration runs on the nu stages only; theta follows exactly from them
        (:meth:`_theta_stages`). ``predictor``, if given, is a dense output (a :class:`Step`)
        covering the step, used as the initial guess of the stages instead of the
        extrapolated previous step.
        """
        k, n, rtol = self.k, self.n, self.rtol
        y, ev0 = self.y, self.ev
        with ctx.workprec(self.bits):
            tau_mag = max(1.0, abs(float(self.tau.mid())))
            min_step = 10 * tau_mag * 2.0**-self.bits
            # theta carries log t: its relative error is the absolute error of log t
            theta_tol = rtol
            beta_scale = rtol * (max(abs(b) for b in ev0.beta)
                                 + max(j * (1 + abs(xi)) for j, xi in zip(ev0.jac1, ev0.x)))
            h_abs = self.h_abs
            rejected = False
            while True:
                if h_abs < min_step:
                    return False
                h = h_abs
                if tau_bound is not None and float((self.tau + h - tau_bound).mid()) > 0:
                    h = float((tau_bound - self.tau).mid())
                    h_abs = h
                scale = [rtol * (1 + abs(a)) for a in y[:n]]
                Z = self._predict(h, predictor)
                self._factorize_at(y, Z[1], h)
                converged, n_iter, Z, rate = self._newton(y, h, Z, scale, ev0, beta_scale)
                stage_evs = None
                if converged:
                    stage_evs = [self._evaluate([(a + b).mid() for a, b in zip(y, z)])
                                 for z in Z]
                    converged = all(e is not None for e in stage_evs)
                if not converged:
                    h_abs *= 0.5
                    self.counters[3] += 1
                    continue
                theta = self._theta_stages(y, h, stage_evs)
                Z = [z[:n] + [t] for z, t in zip(Z, theta)]
                y_new = [(a + b).mid() for a, b in zip(y, Z[2])]
                ze = [val / arb(h) for val in _lin(k.e, Z)]
                scale = [rtol * (1 + max(abs(a), abs(b))) for a, b in zip(y[:n], y_new[:n])]
                theta_scale = theta_tol * max(abs(y[n]), abs(y_new[n])) + arb(2) ** -1000
                err = self._error(ev0.f, ze, h, scale, theta_scale, ev0, beta_scale)
                if not all(y[n] + t > 0 for t in theta):  # t S / c is positive
                    err = math.inf
                safety = 0.9 * (2 * ARB_NEWTON_MAXITER + 1) / (2 * ARB_NEWTON_MAXITER + n_iter)
                if rejected and math.isfinite(err) and err > 1:
                    error = self._error_vector(ev0.f, ze, h)
                    ev_t = self._evaluate([a + b for a, b in zip(y, error)])
                    if ev_t is not None:
                        err = self._error(ev_t.f, ze, h, scale, theta_scale, ev0, beta_scale)
                if err > 1:
                    factor = self._predict_factor(h_abs, err)
                    h_abs *= max(MIN_FACTOR, safety * factor)
                    rejected = True
                    self.counters[4] += 1
                    continue
                # the last node is the end point; the stages were evaluated with theta_0
                ev_new = self.model.with_theta(stage_evs[2], y_new[n])
                break
            self.last_step = Step(self.tau, h, list(y), _lin_rows(k.P, Z))
            factor = min(MAX_FACTOR, safety * self._predict_factor(h_abs, err))
            self.h_abs_old = h_abs
            self.err_old = err
            self.y = y_new
            self.tau = self.tau + arb(h)
            self.h_abs = h_abs * factor
            self.ev = ev_new
            return True

    def _factorize_at(self, y, z_mid, h):
        """Jacobian and iteration-matrix inverses for one attempt. Simplified Newton
        contracts by about the relative change of the Jacobian between where it was
        evaluated and the stages; the stiffness grows like sigma along the step, so the
        Jacobian is taken at the middle stage guess (at the start if that is outside the
        domain). The guess changes with every attempt, so nothing is reused across them."""
        n = self.n
        y_mid = [(a + b).mid() for a, b in zip(y, z_mid)]
        ev_mid = self._evaluate(y_mid)
        if ev_mid is None:
            ev_mid, y_mid = self.ev, y
        self.J = self.model.jacobian(ev_mid, y_mid[n])
        self.counters[1] += 1
        self._factorize(h)

    def _error_vector(self, f, ze, h):
        """Radau's embedded error estimate (I/(h gamma) - J)^-1 (f + ZE/h) (scaled as in
        scipy), by blocks: J is block lower triangular (nu does not depend on theta)."""
        n = self.n
        rhs = [a + b for a, b in zip(f, ze)]
        err_nu = entries(self.inv_real * column(rhs[:n]))
        J = self.J
        coupling = sum(J[n, j] * e for j, e in enumerate(err_nu))
        err_theta = (rhs[n] + coupling) / (self.k.mu_real / arb(h) - J[n, n])
        return err_nu + [err_theta]

    def _error(self, f, ze, h, scale, theta_scale, ev_ref, beta_scale):
        error = self._error_vector(f, ze, h)
        return max(self._norm(error[: self.n], scale, ev_ref, beta_scale),
                   abs(float((error[self.n] / theta_scale).mid())))

    def _predict(self, h, dense_output=None):
        """Stage predictor from a dense output (default: the previous step; zero on the first
        step), moved onto the slow manifold (:meth:`_project`)."""
        last = dense_output or self.last_step
        if last is None:
            return [[arb(0)] * (self.n + 1) for _ in range(3)]
        targets = _log_p(self.ev)
        out = []
        for ci in self.k.c:
            val = _dense(last, (self.tau + ci * h - last.tau) / last.h)
            z = [(a - b).mid() for a, b in zip(val, self.y)]
            out.append(self._project(z, targets, ci * arb(h)))
        return out

    def _project(self, z, targets, tau_increment):
        """Move a stage guess ``y + z`` onto the slow manifold (theory.md s.4).

        The stiff directions make the stage equations solvable by Newton's method only from
        guesses whose margins are right to about one unit, while a polynomial extrapolation
        of nu is off by about sigma h^4 in the margins. The log-probabilities log p_n, by
        contrast, are of order one on the support and vary slowly, so they are carried over
        from the start of the step instead; and the collocation solution has
        sum(nu) = tau_hat exactly (sum p = 1), which fixes the common level of the
        margins. The nu of the samples near the support are corrected until both hold
        (Gauss-Newton on the margins: minimum-norm steps in float64 on exactly computed
        residuals).
        """
        n, model = self.n, self.model
        y = [(a + b).mid() for a, b in zip(self.y, z)]
        top = max(range(n), key=lambda j: targets[j])
        rel_target = [max(t - targets[top], -PROJECTION_CUT) for t in targets]
        X = model.problem.signed_X
        with ctx.workprec(self.bits):
            tau_target = sum(self.y[:n]) + tau_increment
            for _ in range(PROJECTION_MAXITER):
                ev = self._evaluate(y)
                if ev is None:
                    break
                rel = [float((a - ev.log_g[top]).mid()) for a in ev.log_g]
                support = [j for j in range(n)
                           if rel_target[j] > -PROJECTION_CUT or rel[j] > -PROJECTION_CUT]
                rows = [j for j in support if j != top]
                residual = [rel[j] - rel_target[j] for j in rows]
                tau_residual = sum(y[:n]) - tau_target
                if (max((abs(r) for r in residual), default=0.0) < PROJECTION_TOL
                        and abs(float((tau_residual / tau_target).mid())) < self.rtol):
                    break
                jmax = max(ev.jac1, key=lambda a: abs(a.mid()))
                jac = np.array([float((a / jmax).mid()) for a in ev.jac1])
                s_w = np.array([float(a.mid()) for a in ev.s])
                K = (X[[top] + rows] * jac) @ X[support].T  # rows of K_hat on the support
                A = -(s_w[rows, None] * K[1:] - s_w[top] * K[0])
                b = [float((arb(r) / jmax).mid()) for r in residual]
                # sum(nu) = tau_hat, scaled like the margin rows
                row_scale = max(float(np.max(np.abs(A))) if A.size else 1.0, 1e-300)
                A = np.vstack([A, np.full(len(support), row_scale)])
                b.append(float((tau_residual * row_scale).mid()))
                step, *_ = np.linalg.lstsq(A, -np.array(b), rcond=1e-13)
                if not np.all(np.isfinite(step)):
                    break
                for j, dj in zip(support, step):
                    y[j] = (y[j] + arb(float(dj))).mid()
        return [(a - b).mid() for a, b in zip(y, self.y)]

    def _newton(self, y, h, Z, scale, ev_ref, beta_scale):
        """Simplified Newton iteration on the transformed collocation system of the nu
        stages (theta is solved afterwards); corrections are measured with the softmax
        term of :meth:`_norm` since log t inherits the error of p."""
        k, n = self.k, self.n
        TI, T = k.TI, k.T
        max_iter = ARB_NEWTON_MAXITER
        Zn = [z[:n] for z in Z]
        W = [_lin(TI[i], Zn) for i in range(3)]
        mr = k.mu_real / arb(h)
        mc = k.mu_complex / arb(h)
        dw_norm_old = None
        rate = 0.0
        n_iter = 0
        for it in range(max_iter):
            n_iter = it + 1
            F = []
            for i in range(3):
                ev = self._evaluate([a + b for a, b in zip(y, Zn[i])] + [y[n]])
                if ev is None:
                    return False, n_iter, Z, rate
                F.append(ev.f[:n])
            f_real = [a - mr * b for a, b in zip(_lin(TI[0], F), W[0])]
            fc_re = _lin(TI[1], F)
            fc_im = _lin(TI[2], F)
            f_cplx = [acb(a, b) - mc * acb(c, d) for a, b, c, d in zip(fc_re, fc_im, W[1], W[2])]
            dw_r = [a.mid() for a in entries(self.inv_real * column(f_real))]
            dw_c = entries(self.inv_cplx * acb_mat(len(f_cplx), 1, f_cplx))
            dw_c_re = [a.real.mid() for a in dw_c]
            dw_c_im = [a.imag.mid() for a in dw_c]
            dw_norm = max(self._norm(v, scale, ev_ref, beta_scale, softmax=True)
                          for v in (dw_r, dw_c_re, dw_c_im))
            if dw_norm_old is not None:
                rate = dw_norm / dw_norm_old
                if rate >= 1 or rate ** (max_iter - it) / (1 - rate) * dw_norm > self.newton_tol:
                    return False, n_iter, Z, rate
            W = [[(a + b).mid() for a, b in zip(W[0], dw_r)],
                 [(a + b).mid() for a, b in zip(W[1], dw_c_re)],
                 [(a + b).mid() for a, b in zip(W[2], dw_c_im)]]
            Zn = [_lin(T[i], W) for i in range(3)]
            Z = [zn + [z[n]] for zn, z in zip(Zn, Z)]
            if dw_norm == 0 or (dw_norm_old is not None
                                and rate / (1 - rate) * dw_norm < self.newton_tol):
                return True, n_iter, Z, rate
            dw_norm_old = dw_norm
        return False, n_iter, Z, rate

    def _predict_factor(self, h_abs, err):
        if self.err_old is None or self.h_abs_old is None or err == 0:
            multiplier = 1.0
        else:
            multiplier = h_abs / self.h_abs_old * (self.err_old / err) ** 0.25
        if err == 0:
            return MAX_FACTOR
        return min(1.0, multiplier) * err**-0.25


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
