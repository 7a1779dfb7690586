"""Radau IIA (order 5) written once against the multiprecision backend.

The same method, step-size controller, error norm, Newton iteration and dense output as
the float64 Numba kernel (``extprec.solvers.radau_float64``, where the references are), with
every constant rebuilt from exact expressions at the working precision: the nodes and the
error and interpolation coefficients are polynomials in sqrt(6); the transformation T
diagonalizing the inverse of the Butcher matrix is computed from its eigenvectors. Vectors
are Python lists of ``arb``; the two iteration matrices are inverted once per factorization
event, so each Newton iteration costs one matrix-vector product each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from flint import acb, acb_mat, arb, arb_mat, ctx

from ..backends.multiprecision import column, entries
from .radau_float64 import MAX_FACTOR, MIN_FACTOR, NEWTON_MAXITER


EPS64 = float(np.finfo(np.float64).eps)
# largest relative error of a float64 iteration-matrix inverse accepted for the Newton
# iteration (it then contracts by about this factor per iteration more slowly at most)
FLOAT64_INVERSE_MAX_ERROR = 1e-4


@dataclass(frozen=True)
class RadauConstants:
    c: tuple  # nodes
    e: tuple  # error estimator coefficients
    mu_real: arb
    mu_complex: acb
    T: tuple  # 3x3, rows
    TI: tuple  # 3x3, rows
    P: tuple  # 3x3 dense-output coefficients, rows


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
            P=tuple(tuple(mid(P[3 * i + j]) for j in range(3)) for i in range(3)))


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
    """An accepted step: start point, size and dense-output coefficients Q (y(ell + s h) =
    y + sum_k Q[k] s^(k+1))."""

    ell: arb
    h: float
    y: list
    Q: list  # three vectors


class RadauSolver:
    """Adaptive Radau IIA on an :class:`~extprec.backends.multiprecision.ArbModel`."""

    def __init__(self, model, y, ell, h, rtol, unit_roundoff=None,
                 newton_maxiter=NEWTON_MAXITER):
        self.model = model
        self.rtol = float(rtol)
        self.bits = model.bits
        self.k = radau_constants(model.bits)
        self.n = model.n
        self.y = list(y)
        self.ell = ell
        self.h_abs = float(h)
        self.h_abs_old = None
        self.err_old = None
        # scipy's Newton tolerance; ``unit_roundoff`` defaults to that of the working precision
        # (pass 2**-52 to reproduce the float64 kernel step for step)
        u = 2.0**-model.bits if unit_roundoff is None else unit_roundoff
        self.newton_maxiter = newton_maxiter
        self.newton_tol = max(10 * u / self.rtol, min(0.03, self.rtol**0.5))
        self.counters = [0, 0, 0, 0, 0]  # f, jac, factorizations, newton failures, rejections
        self.ev = model.evaluate(self.y[: self.n], self.y[self.n])
        if self.ev is None:
            raise FloatingPointError("state outside the domain of the model")
        self.counters[0] += 1
        self._new_jacobian()
        self.inv_real = None
        self.inv_cplx = None
        self.last_step = None

    # -- helpers -------------------------------------------------------------------------------
    def _new_jacobian(self):
        self.J = self.model.jacobian(self.ev, self.y[self.n])
        self.counters[1] += 1
        self.current_jac = True

    def _factorize(self, h):
        """Inverses of the two iteration matrices. The simplified Newton iteration only
        needs them approximately (its residuals are exact), so they are computed in float64
        when the matrices are representable and well enough conditioned
        (cond * eps < ``FLOAT64_INVERSE_MAX_ERROR``), and in arb otherwise."""
        n1 = self.n + 1
        if self._factorize_float64(h):
            self.counters[2] += 1
            return
        with ctx.workprec(self.bits):
            mr = self.k.mu_real / arb(h)
            A = arb_mat(n1, n1)
            for i in range(n1):
                A[i, i] = mr
            self.inv_real = (A - self.J).inv().mid()
            mc = self.k.mu_complex / arb(h)
            B = acb_mat(n1, n1)
            for i in range(n1):
                B[i, i] = mc
            self.inv_cplx = (B - acb_mat(self.J)).inv().mid()
        self.counters[2] += 1

    def _factorize_float64(self, h) -> bool:
        n1 = self.n + 1
        J = np.array([float(a.mid()) for a in self.J.entries()]).reshape(n1, n1)
        if not np.all(np.isfinite(J)):
            return False
        eye = np.eye(n1)
        m_real = float(self.k.mu_real) / h * eye - J
        m_cplx = complex(float(self.k.mu_complex.real), float(self.k.mu_complex.imag)) / h * eye - J
        for m in (m_real, m_cplx):
            if not np.linalg.cond(m) * EPS64 < FLOAT64_INVERSE_MAX_ERROR:
                return False
        inv_r = np.linalg.inv(m_real)
        inv_c = np.linalg.inv(m_cplx)
        with ctx.workprec(self.bits):
            self.inv_real = arb_mat(n1, n1, [arb(float(v)) for v in inv_r.ravel()])
            self.inv_cplx = acb_mat(n1, n1, [acb(float(v.real), float(v.imag))
                                             for v in inv_c.ravel()])
        return True

    def _norm(self, vec, scale, jac1, beta_scale):
        """max(RMS(vec/scale), max_i |beta'_i (X~^T vec)_i| / beta_scale) as a float."""
        rms = math.sqrt(sum(float((v / s).mid()) ** 2 for v, s in zip(vec, scale)) / len(vec))
        if beta_scale == 0:
            return rms
        dx = entries(self.model.XtT * column(vec[: self.n]))
        db = max(abs(j * a) for j, a in zip(jac1, dx))
        return max(rms, float((db / beta_scale).mid()))

    def _evaluate(self, y):
        ev = self.model.evaluate(y[: self.n], y[self.n])
        self.counters[0] += 1
        return ev

    # -- one step ------------------------------------------------------------------------------
    def step(self, ell_bound=None, fixed_step=0.0, predictor=None):
        """Take one accepted step (scipy's Radau._step_impl); returns False when the step
        size falls below the spacing of the working precision.

        ``predictor``, if given, is a dense output (a :class:`Step`) covering the step, used
        as the initial guess of the stages instead of the extrapolated previous step.
        """
        k, n, rtol = self.k, self.n, self.rtol
        y, ev0 = self.y, self.ev
        with ctx.workprec(self.bits):
            ell_mag = max(1.0, abs(float(self.ell.mid())))
            min_step = 10 * ell_mag * 2.0**-self.bits
            # theta carries log t: its relative error is the absolute error of log t
            theta_tol = rtol
            beta_scale = rtol * (max(abs(b) for b in ev0.beta)
                                 + max(j * (1 + abs(xi)) for j, xi in zip(ev0.jac1, ev0.x)))
            h_abs = fixed_step if fixed_step > 0 else self.h_abs
            rejected = False
            while True:
                if h_abs < min_step:
                    return False
                h = h_abs
                if ell_bound is not None and float((self.ell + h - ell_bound).mid()) > 0:
                    h = float((ell_bound - self.ell).mid())
                    h_abs = h
                scale = [rtol * (1 + abs(a)) for a in y]
                # theta is controlled relatively; at 0 its first increment sets the scale
                scale[n] = theta_tol * (abs(y[n]) if y[n] > 0 else h * abs(ev0.f[n])) \
                    + arb(2) ** -1000
                Z = self._predict(h, predictor)
                converged, n_iter, rate = False, 0, 0.0
                jac_at_end = False
                while True:
                    if self.inv_real is None:
                        self._factorize(h)
                    converged, n_iter, Z_iter, rate = self._newton(y, h, Z, scale, ev0.jac1,
                                                                   beta_scale, fixed_step > 0)
                    if converged:
                        Z = Z_iter
                        break
                    if self.current_jac and jac_at_end:
                        break
                    if self.current_jac:
                        # the stiffness grows along the step (eigenvalues ~ -sigma): retry
                        # once with the Jacobian at the end point of the last iterate
                        ev_end = self._evaluate([(a + b).mid() for a, b in zip(y, Z_iter[2])])
                        if ev_end is None:
                            break
                        self.J = self.model.jacobian(ev_end, (y[n] + Z_iter[2][n]).mid())
                        self.counters[1] += 1
                        jac_at_end = True
                        Z = Z_iter
                    else:
                        self.ev = ev0
                        self._new_jacobian()
                    self.inv_real = None
                if not converged:
                    if fixed_step > 0:
                        return False
                    h_abs *= 0.5
                    self.inv_real = None
                    self.counters[3] += 1
                    continue
                y_new = [(a + b).mid() for a, b in zip(y, Z[2])]
                ze = [val / arb(h) for val in _lin(k.e, Z)]
                rhs = [a + b for a, b in zip(ev0.f, ze)]
                error = entries(self.inv_real * column(rhs))
                scale = [rtol * (1 + max(abs(a), abs(b))) for a, b in zip(y, y_new)]
                scale[n] = theta_tol * max(abs(y[n]), abs(y_new[n])) + arb(2) ** -1000
                err = self._norm(error, scale, ev0.jac1, beta_scale)
                if not y_new[n] > 0:  # t S / c is positive: a step that says otherwise is wrong
                    err = math.inf
                safety = 0.9 * (2 * self.newton_maxiter + 1) / (2 * self.newton_maxiter + n_iter)
                if rejected and err > 1:
                    ev_t = self._evaluate([a + b for a, b in zip(y, error)])
                    if ev_t is not None:
                        error = entries(self.inv_real * column(
                            [a + b for a, b in zip(ev_t.f, ze)]))
                        err = self._norm(error, scale, ev0.jac1, beta_scale)
                if err > 1 and fixed_step <= 0:
                    factor = self._predict_factor(h_abs, err)
                    h_abs *= max(MIN_FACTOR, safety * factor)
                    self.inv_real = None
                    rejected = True
                    self.counters[4] += 1
                    continue
                ev_new = self._evaluate(y_new)
                if ev_new is None:
                    h_abs *= 0.5
                    self.inv_real = None
                    continue
                break
            Q = _lin_rows(k.P, Z)
            self.last_step = Step(self.ell, h, list(y), Q)
            recompute_jac = n_iter > 2 and rate > 1e-3
            factor = min(MAX_FACTOR, safety * self._predict_factor(h_abs, err))
            if not recompute_jac and factor < 1.2:
                factor = 1.0
            else:
                self.inv_real = None
            self.h_abs_old = h_abs
            self.err_old = err
            self.y = y_new
            self.ell = self.ell + arb(h)
            self.h_abs = fixed_step if fixed_step > 0 else h_abs * factor
            self.ev = ev_new
            if recompute_jac:
                self._new_jacobian()
            else:
                self.current_jac = False
            return True

    def _predict(self, h, dense_output=None):
        """Stage predictor from a dense output (default: the previous step; zero on the first
        step)."""
        last = dense_output or self.last_step
        if last is None:
            return [[arb(0)] * (self.n + 1) for _ in range(3)]
        out = []
        for ci in self.k.c:
            s = ((self.ell + ci * h - last.ell) / last.h)
            val = _dense(last, s)
            out.append([(a - b).mid() for a, b in zip(val, self.y)])
        return out

    def _newton(self, y, h, Z, scale, jac1, beta_scale, fixed):
        """Simplified Newton iteration on the transformed collocation system."""
        k = self.k
        TI, T = k.TI, k.T
        max_iter = 60 if fixed else self.newton_maxiter
        W = [_lin(TI[i], Z) for i in range(3)]
        mr = k.mu_real / arb(h)
        mc = k.mu_complex / arb(h)
        dw_norm_old = None
        rate = 0.0
        n_iter = 0
        for it in range(max_iter):
            n_iter = it + 1
            F = []
            for i in range(3):
                ev = self._evaluate([a + b for a, b in zip(y, Z[i])])
                if ev is None:
                    return False, n_iter, Z, rate
                F.append(ev.f)
            f_real = [a - mr * b for a, b in zip(_lin(TI[0], F), W[0])]
            fc_re = _lin(TI[1], F)
            fc_im = _lin(TI[2], F)
            f_cplx = [acb(a, b) - mc * acb(c, d) for a, b, c, d in zip(fc_re, fc_im, W[1], W[2])]
            dw_r = [a.mid() for a in entries(self.inv_real * column(f_real))]
            dw_c = entries(self.inv_cplx * acb_mat(len(f_cplx), 1, f_cplx))
            dw_c_re = [a.real.mid() for a in dw_c]
            dw_c_im = [a.imag.mid() for a in dw_c]
            dw_norm = max(self._norm(dw_r, scale, jac1, beta_scale),
                          self._norm(dw_c_re, scale, jac1, beta_scale),
                          self._norm(dw_c_im, scale, jac1, beta_scale))
            if dw_norm_old is not None:
                rate = dw_norm / dw_norm_old
                if rate >= 1 or rate ** (max_iter - it) / (1 - rate) * dw_norm > self.newton_tol:
                    return False, n_iter, Z, rate
            W = [[(a + b).mid() for a, b in zip(W[0], dw_r)],
                 [(a + b).mid() for a, b in zip(W[1], dw_c_re)],
                 [(a + b).mid() for a, b in zip(W[2], dw_c_im)]]
            Z = [_lin(T[i], W) for i in range(3)]
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

    def log_t_of(self, ev, y):
        """log t = log c + log theta - log S (``extprec.model``)."""
        return self.model.log_c + y[self.n].log() - ev.log_s


def _lin_rows(P, Z):
    """Q[k] = sum_i Z[i] P[i][k] (scipy: Q = Z^T P)."""
    return [_lin([P[i][kk] for i in range(3)], Z) for kk in range(3)]


def _dense(step: Step, s):
    """y(ell + s h) on the step's collocation polynomial."""
    s2 = s * s
    s3 = s2 * s
    return [y + s * q0 + s2 * q1 + s3 * q2
            for y, q0, q1, q2 in zip(step.y, step.Q[0], step.Q[1], step.Q[2])]
