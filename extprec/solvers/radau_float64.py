"""Radau IIA (order 5, three stages) as a float64 Numba kernel that takes many steps per call.

The method, its constants, the simplified Newton iteration on the eigen-decomposed
collocation system, the error estimate and the step-size predictor follow Hairer & Wanner,
*Solving Ordinary Differential Equations II*, section IV.8 (RADAU5), in the form used by
``scipy.integrate._ivp.radau``. Radau IIA is L-stable and stiffly accurate, so steps are
limited by accuracy, not by the stiff eigenvalues (about -sigma, theory.md s.4).

What differs from a general-purpose solver (derived for this model):

* the error norm also measures the induced error of beta, ``beta' (X~^T delta)``, against
  ``rtol (max|beta| + max beta' (1 + |x|))``, so that beta stays relatively accurate where
  it is most sensitive (the gaps at the D > 2 barrier);
* theta (which carries log t) is controlled relatively, so that log t has absolute
  accuracy rtol, but never below ten times the rounding noise it inherits from the margins;
* after every accepted step the kernel checks that float64 still resolves the margins
  (``rounding_resolution`` against ``precision_tol``) and stops *before* a step it cannot
  vouch for, with the last resolved state;
* it stops right after the step that crosses a requested loss level or time, so the
  driver can land on the event exactly.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..backends.float64 import (
    CLOCK_RATE, EPS, LOG_S, SIGMA, evaluate, jacobian, kernel_matrix, model_workspace,
    rounding_resolution, vec_mat,
)

_JIT = dict(cache=True, nogil=True, error_model="numpy")

S6 = 6 ** 0.5
C = np.array([(4 - S6) / 10, (4 + S6) / 10, 1.0])
E = np.array([-13 - 7 * S6, -13 + 7 * S6, -1.0]) / 3
MU_REAL = 3 + 3 ** (2 / 3) - 3 ** (1 / 3)
MU_COMPLEX = (3 + 0.5 * (3 ** (1 / 3) - 3 ** (2 / 3))) - 0.5j * (3 ** (5 / 6) + 3 ** (7 / 6))
T = np.array([
    [0.09443876248897524, -0.14125529502095421, 0.03002919410514742],
    [0.25021312296533332, 0.20412935229379994, -0.38294211275726192],
    [1.0, 1.0, 0.0]])
TI = np.array([
    [4.17871859155190428, 0.32768282076106237, 0.52337644549944951],
    [-4.17871859155190428, -0.32768282076106237, 0.47662355450055044],
    [0.50287263494578682, -2.57192694985560522, 0.59603920482822492]])
P = np.array([
    [13 / 3 + 7 * S6 / 3, -23 / 3 - 22 * S6 / 3, 10 / 3 + 5 * S6],
    [13 / 3 - 7 * S6 / 3, -23 / 3 + 22 * S6 / 3, 10 / 3 - 5 * S6],
    [1 / 3, -8 / 3, 10 / 3]])

NEWTON_MAXITER = 6  # Newton iterations per attempt
NEWTON_MAXITER_FIXED = 60
NEWTON_NOISE_CAP = 0.3  # largest Newton tolerance granted to rounding noise
# the gaps to the D > 2 barrier carry their rounding error into beta for good (it is not
# damped like the softmax noise): float64 stops when it reaches this fraction of rtol
GAP_NOISE_FRACTION = 0.1  # with fixed steps the iteration must converge at any step size
MIN_FACTOR = 0.2  # smallest step-size decrease
MAX_FACTOR = 10.0  # largest step-size increase

# Kernel statuses (messages: ``extprec.driver.STATUS_MESSAGES``).
BOUND, SIGMA_EVENT, TIME_EVENT, PRECISION, MAX_STEPS, STEP_TOO_SMALL, NOT_FINITE = range(7)


@njit(**_JIT)
def lu_factor(A):
    """LU factorization with partial pivoting (real or complex), returns (LU, pivots)."""
    n = A.shape[0]
    lu = A.copy()
    piv = np.empty(n, dtype=np.int64)
    for k in range(n):
        p = k
        amax = abs(lu[k, k])
        for i in range(k + 1, n):
            if abs(lu[i, k]) > amax:
                amax = abs(lu[i, k])
                p = i
        piv[k] = p
        if p != k:
            for j in range(n):
                tmp = lu[k, j]
                lu[k, j] = lu[p, j]
                lu[p, j] = tmp
        pivot = lu[k, k]
        if pivot == 0:
            continue
        for i in range(k + 1, n):
            lik = lu[i, k] / pivot
            lu[i, k] = lik
            if lik != 0:
                for j in range(k + 1, n):
                    lu[i, j] -= lik * lu[k, j]
    return lu, piv


@njit(**_JIT)
def lu_solve(lu, piv, b, x):
    """Solve ``A x = b`` from ``lu_factor(A)`` into ``x`` (which may be ``b``)."""
    n = lu.shape[0]
    if x is not b:
        x[:] = b
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = x[k]
            x[k] = x[p]
            x[p] = tmp
    for i in range(n):
        acc = x[i]
        for j in range(i):
            acc -= lu[i, j] * x[j]
        x[i] = acc
    for i in range(n - 1, -1, -1):
        acc = x[i]
        for j in range(i + 1, n):
            acc -= lu[i, j] * x[j]
        x[i] = acc / lu[i, i]


@njit(**_JIT)
def error_norm(vec, scale, Xt, jac1, beta_scale, work):
    """max(RMS of vec/scale, max_i |induced error of beta_i| / beta_scale).

    The second term keeps beta (hence beta_normalized) relatively accurate where
    ``dbeta/dx`` is large, such as the gaps at the D > 2 barrier (theory.md s.4).
    ``work`` is a workspace of d entries.
    """
    total = 0.0
    for i in range(vec.shape[0]):
        ratio = vec[i] / scale[i]
        total += ratio * ratio
    rms = math.sqrt(total / vec.shape[0])
    if beta_scale == 0.0:  # beta and beta' underflow (saddle phase at tiny alpha)
        return rms
    vec_mat(vec, Xt, work)  # vec[:n] @ X~ (vec_mat reads the first N entries)
    induced = 0.0
    for i in range(work.shape[0]):
        induced = max(induced, abs(jac1[i] * work[i]))
    return max(rms, induced / beta_scale)


@njit(**_JIT)
def predict_factor(h_abs, h_abs_old, err, err_old):
    """Gustafsson's predictive step-size factor (Hairer & Wanner II, eq. IV.8.25)."""
    if err_old < 0.0 or h_abs_old < 0.0 or err == 0.0:
        multiplier = 1.0
    else:
        multiplier = h_abs / h_abs_old * (err_old / err) ** 0.25
    if err == 0.0:
        return MAX_FACTOR
    return min(1.0, multiplier) * err ** -0.25


@njit(**_JIT)
def small_product(A, B, out):
    """``out = A @ B`` for a 3 x 3 ``A`` (the Radau transformation matrices)."""
    for i in range(3):
        for k in range(B.shape[1]):
            out[i, k] = A[i, 0] * B[0, k] + A[i, 1] * B[1, k] + A[i, 2] * B[2, k]


@njit(**_JIT)
def radau_integrate(y0, ell0, h0, ell_bound, sigma_stop, logt_stop, max_steps, rtol,
                    precision_tol, fixed_step, Xt, log_up, log_um, balanced, depth, loss_code, fp,
                    sigma0, log_c, hist_ell, hist_h, hist_y, hist_q, counters):
    """Integrate ``dy/d ell`` from ``(ell0, y0)``; stop at the first of the events below.

    Events: ``ell_bound`` reached exactly (BOUND), the step that brings sigma to
    ``sigma_stop`` or beyond (SIGMA_EVENT), the step that brings log t to ``logt_stop``
    or beyond (TIME_EVENT), the tolerance no longer resolvable in float64 (PRECISION, the
    returned state is the last resolved one), ``max_steps`` steps (MAX_STEPS), step size
    below the spacing of floats (STEP_TOO_SMALL), or a state outside the domain of the
    model that step reduction cannot avoid (NOT_FINITE).

    Each accepted step ``j`` is recorded as ``hist_ell[j]`` (start), ``hist_h[j]``,
    ``hist_y[j]`` (start state) and ``hist_q[j]`` (dense-output coefficients:
    ``y(ell + s h) = y + Q @ [s, s^2, s^3]``). ``counters`` accumulates evaluations of f,
    Jacobians, LU factorizations, Newton failures and steps rejected by the error test.

    ``fixed_step > 0`` switches step-size control off: every step has that size and is
    accepted (used to measure the order of the method); a Newton failure then ends the run
    with STEP_TOO_SMALL.

    Returns ``(status, n_accepted, y, ell, h_next)``.
    """
    n = Xt.shape[0]
    d = Xt.shape[1]
    n1 = n + 1
    x, beta, lab, jac1, jac2, margins, p, s, v, kvec, f, sc = model_workspace(n, d)

    y = y0.copy()
    ell = ell0
    if not evaluate(y[:n], y[n], Xt, log_up, log_um, balanced, depth, loss_code, fp, sigma0,
                    x, beta, lab, jac1, jac2, margins, p, s, v, kvec, f, sc):
        return NOT_FINITE, 0, y, ell, h0
    counters[0] += 1
    f_cur = f.copy()
    jac1_cur = jac1.copy()
    beta_cur = beta.copy()
    x_cur = x.copy()
    resolution, _ = rounding_resolution(y[:n], Xt, jac1, beta, lab, p, log_up, log_um,
                                        depth, fp)
    K = kernel_matrix(Xt, jac1)
    J = jacobian(y[:n], y[n], Xt, jac1, jac2, p, s, v, kvec, f, sc, sigma0, K)
    counters[1] += 1
    current_jac = True
    newton_tol = max(10 * EPS / rtol, min(0.03, rtol ** 0.5))
    eye = np.eye(n1)
    eye_c = eye.astype(np.complex128)
    h_abs = fixed_step if fixed_step > 0.0 else h0
    max_iter = NEWTON_MAXITER_FIXED if fixed_step > 0.0 else NEWTON_MAXITER
    h_abs_old = -1.0
    err_old = -1.0
    have_lu = False
    lu_r = np.empty((n1, n1))
    piv_r = np.empty(n1, dtype=np.int64)
    lu_c = np.empty((n1, n1), dtype=np.complex128)
    piv_c = np.empty(n1, dtype=np.int64)
    have_sol = False
    sol_ell = 0.0
    sol_h = 1.0
    sol_y = y.copy()
    sol_q = np.zeros((n1, 3))
    Z = np.zeros((3, n1))
    F = np.empty((3, n1))
    W = np.empty((3, n1))
    # workspaces of the step (the kernel allocates nothing per step: at N = 2 allocation
    # and BLAS call overhead were half of the time)
    yi = np.empty(n1)
    y_new = np.empty(n1)
    scale = np.empty(n1)
    f_real = np.empty(n1)
    dw_r = np.empty(n1)
    f_cplx = np.empty(n1, dtype=np.complex128)
    dw_c = np.empty(n1, dtype=np.complex128)
    dw_part = np.empty(n1)
    ze = np.empty(n1)
    error = np.empty(n1)
    work_d = np.empty(d)
    n_acc = 0

    while n_acc < max_steps:
        min_step = 10.0 * abs(np.nextafter(ell, np.inf) - ell)
        if h_abs < min_step:
            return STEP_TOO_SMALL, n_acc, y, ell, h_abs
        # theta carries log t = log c + log theta - log S: its relative error is the absolute
        # error of log t. Its equilibrium 1/w inherits the rounding noise of the margins, so
        # the tolerance never goes below ten times that noise (at most sqrt(rtol), where the
        # integrator hands over).
        theta_tol = max(rtol, 10.0 * resolution)
        # the Newton iteration cannot resolve the stages below the rounding noise either
        newton_tol_step = max(newton_tol, min(NEWTON_NOISE_CAP, 10.0 * resolution / theta_tol))
        beta_max = 0.0
        induced_max = 0.0
        for i in range(d):
            beta_max = max(beta_max, abs(beta_cur[i]))
            induced_max = max(induced_max, jac1_cur[i] * (1.0 + abs(x_cur[i])))
        beta_scale = rtol * (beta_max + induced_max)
        accepted = False
        rejected = False
        n_iter = 0
        rate = 0.0
        err = 0.0
        while not accepted:
            if h_abs < min_step:
                return STEP_TOO_SMALL, n_acc, y, ell, h_abs
            h = h_abs
            if ell + h > ell_bound:
                h = ell_bound - ell
                h_abs = h
            for k in range(n1):
                scale[k] = rtol * (1.0 + abs(y[k]))
            # theta is controlled relatively; it starts at 0, where its first increment sets
            # the scale
            scale[n] = theta_tol * (abs(y[n]) if y[n] > 0.0 else h * abs(f_cur[n])) + 1e-300
            # predictor from the previous dense output
            if have_sol:
                for i in range(3):
                    sx = (ell + h * C[i] - sol_ell) / sol_h
                    for k in range(n1):
                        Z[i, k] = (sol_y[k] + (sol_q[k, 0] * sx + sol_q[k, 1] * (sx * sx)
                                               + sol_q[k, 2] * (sx * sx * sx))) - y[k]
            else:
                Z[:] = 0.0
            converged = False
            while not converged:
                if not have_lu:
                    lu_r, piv_r = lu_factor(MU_REAL / h * eye - J)
                    lu_c, piv_c = lu_factor(MU_COMPLEX / h * eye_c - J)
                    counters[2] += 1
                    have_lu = True
                # simplified Newton iteration (Hairer & Wanner II, IV.8)
                small_product(TI, Z, W)
                dw_norm_old = -1.0
                converged = False
                finite = True
                for it in range(max_iter):
                    n_iter = it + 1
                    for i in range(3):
                        for k in range(n1):
                            yi[k] = y[k] + Z[i, k]
                        ok = evaluate(yi[:n], yi[n], Xt, log_up, log_um, balanced, depth,
                                      loss_code, fp, sigma0, x, beta, lab, jac1, jac2,
                                      margins, p, s, v, kvec, f, sc)
                        counters[0] += 1
                        if not ok:
                            finite = False
                            break
                        F[i] = f
                    if not finite:
                        break
                    for k in range(n1):
                        f_real[k] = ((F[0, k] * TI[0, 0] + F[1, k] * TI[0, 1]
                                      + F[2, k] * TI[0, 2]) - MU_REAL / h * W[0, k])
                        f_cplx[k] = ((F[0, k] * TI[1, 0] + F[1, k] * TI[1, 1]
                                      + F[2, k] * TI[1, 2])
                                     + 1j * (F[0, k] * TI[2, 0] + F[1, k] * TI[2, 1]
                                             + F[2, k] * TI[2, 2])
                                     - MU_COMPLEX / h * (W[1, k] + 1j * W[2, k]))
                    lu_solve(lu_r, piv_r, f_real, dw_r)
                    lu_solve(lu_c, piv_c, f_cplx, dw_c)
                    dw_norm = error_norm(dw_r, scale, Xt, jac1_cur, beta_scale, work_d)
                    for k in range(n1):
                        dw_part[k] = dw_c[k].real
                    dw_norm = max(dw_norm, error_norm(dw_part, scale, Xt, jac1_cur,
                                                      beta_scale, work_d))
                    for k in range(n1):
                        dw_part[k] = dw_c[k].imag
                    dw_norm = max(dw_norm, error_norm(dw_part, scale, Xt, jac1_cur,
                                                      beta_scale, work_d))
                    if dw_norm_old >= 0.0:
                        rate = dw_norm / dw_norm_old
                        if rate >= 1.0 or (rate ** (max_iter - it) / (1.0 - rate) * dw_norm
                                           > newton_tol_step):
                            break
                    for k in range(n1):
                        W[0, k] += dw_r[k]
                        W[1, k] += dw_c[k].real
                        W[2, k] += dw_c[k].imag
                    small_product(T, W, Z)
                    if dw_norm == 0.0 or (dw_norm_old >= 0.0
                                          and rate / (1.0 - rate) * dw_norm < newton_tol_step):
                        converged = True
                        break
                    dw_norm_old = dw_norm
                if not converged:
                    if current_jac or not finite:
                        break
                    # Newton failed with an old Jacobian: refresh it at the step start
                    evaluate(y[:n], y[n], Xt, log_up, log_um, balanced, depth, loss_code, fp,
                             sigma0, x, beta, lab, jac1, jac2, margins, p, s, v, kvec, f, sc)
                    K = kernel_matrix(Xt, jac1)
                    J = jacobian(y[:n], y[n], Xt, jac1, jac2, p, s, v, kvec, f, sc, sigma0, K)
                    counters[1] += 1
                    current_jac = True
                    have_lu = False
            if not converged:
                if fixed_step > 0.0:
                    return STEP_TOO_SMALL, n_acc, y, ell, h_abs
                h_abs *= 0.5
                have_lu = False
                counters[3] += 1
                continue
            for k in range(n1):
                y_new[k] = y[k] + Z[2, k]
                ze[k] = (Z[0, k] * E[0] + Z[1, k] * E[1] + Z[2, k] * E[2]) / h
                error[k] = f_cur[k] + ze[k]
                scale[k] = rtol * (1.0 + max(abs(y[k]), abs(y_new[k])))
            lu_solve(lu_r, piv_r, error, error)
            scale[n] = theta_tol * max(abs(y[n]), abs(y_new[n])) + 1e-300
            err = error_norm(error, scale, Xt, jac1_cur, beta_scale, work_d)
            if not y_new[n] > 0.0:  # t S / c is positive: a step that says otherwise is wrong
                err = np.inf
            safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
            if rejected and err > 1.0:
                for k in range(n1):
                    yi[k] = y[k] + error[k]
                if evaluate(yi[:n], yi[n], Xt, log_up, log_um, balanced, depth, loss_code, fp,
                            sigma0, x, beta, lab, jac1, jac2, margins, p, s, v, kvec, f, sc):
                    counters[0] += 1
                    for k in range(n1):
                        error[k] = f[k] + ze[k]
                    lu_solve(lu_r, piv_r, error, error)
                    err = error_norm(error, scale, Xt, jac1_cur, beta_scale, work_d)
            if err > 1.0 and fixed_step <= 0.0:
                factor = predict_factor(h_abs, h_abs_old, err, err_old)
                h_abs *= max(MIN_FACTOR, safety * factor)
                have_lu = False
                rejected = True
                counters[4] += 1
            else:
                accepted = True

        # evaluate at the new point: events, precision, next Jacobian
        if not evaluate(y_new[:n], y_new[n], Xt, log_up, log_um, balanced, depth, loss_code,
                        fp, sigma0, x, beta, lab, jac1, jac2, margins, p, s, v, kvec, f, sc):
            return NOT_FINITE, n_acc, y, ell, h_abs
        counters[0] += 1
        resolution, gap_noise = rounding_resolution(y_new[:n], Xt, jac1, beta, lab, p, log_up,
                                                    log_um, depth, fp)
        if resolution > precision_tol or gap_noise > GAP_NOISE_FRACTION * rtol:
            return PRECISION, n_acc, y, ell, h_abs
        hist_ell[n_acc] = ell
        hist_h[n_acc] = h
        hist_y[n_acc] = y
        for k in range(n1):  # dense output Q = Z^T P
            for m in range(3):
                hist_q[n_acc, k, m] = Z[0, k] * P[0, m] + Z[1, k] * P[1, m] + Z[2, k] * P[2, m]
        sol_q[:] = hist_q[n_acc]
        n_acc += 1

        recompute_jac = n_iter > 2 and rate > 1e-3
        factor = predict_factor(h_abs, h_abs_old, err, err_old)
        factor = min(MAX_FACTOR, safety * factor)
        if not recompute_jac and factor < 1.2:
            factor = 1.0
        else:
            have_lu = False
        h_abs_old = h_abs
        err_old = err
        sol_ell = ell
        sol_h = h
        sol_y[:] = y
        have_sol = True
        y[:] = y_new
        ell = ell + h
        h_abs = fixed_step if fixed_step > 0.0 else h_abs * factor
        f_cur[:] = f
        jac1_cur[:] = jac1
        beta_cur[:] = beta
        x_cur[:] = x
        if recompute_jac:
            K = kernel_matrix(Xt, jac1)
            J = jacobian(y[:n], y[n], Xt, jac1, jac2, p, s, v, kvec, f, sc, sigma0, K)
            counters[1] += 1
            current_jac = True
        else:
            current_jac = False
        if ell >= ell_bound:
            return BOUND, n_acc, y, ell, h_abs
        if sc[SIGMA] >= sigma_stop:
            return SIGMA_EVENT, n_acc, y, ell, h_abs
        if y[n] > 0.0 and log_c + math.log(y[n]) - sc[LOG_S] >= logt_stop:
            return TIME_EVENT, n_acc, y, ell, h_abs
    return MAX_STEPS, n_acc, y, ell, h_abs


@njit(**_JIT)
def evaluate_state(y, Xt, log_up, log_um, balanced, depth, loss_code, fp, sigma0):
    """Model quantities at one state for reporting: x, beta, log|beta|, margins, p, scalars,
    and the float64 rounding resolution of the margins."""
    n = Xt.shape[0]
    x, beta, lab, jac1, jac2, margins, p, s, v, kvec, f, sc = model_workspace(n, Xt.shape[1])
    ok = evaluate(y[:n], y[n], Xt, log_up, log_um, balanced, depth, loss_code, fp, sigma0,
                  x, beta, lab, jac1, jac2, margins, p, s, v, kvec, f, sc)
    res = np.inf
    if ok:
        softmax_noise, gap_noise = rounding_resolution(y[:n], Xt, jac1, beta, lab, p, log_up,
                                                       log_um, depth, fp)
        res = max(softmax_noise, gap_noise)
    return ok, x, beta, lab, margins, p, f, sc, res


__all__ = ["radau_integrate", "evaluate_state", "CLOCK_RATE"]
