"""Float64 Numba kernels of the reduced dynamics (formulas: ``extprec.model``).

Every kernel works on the scaled dual ``nu_hat`` and packed parameters:

* ``fp = [log_alpha, log_eta, E, log_norm]`` (``ModelConstants.float_params``),
* ``depth``, ``loss_code`` (0 exp, 1 logistic), ``sigma0`` (sigma at t = 0).

No ``fastmath``; ``error_model="numpy"`` gives IEEE semantics (x/0 is inf, not an exception).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

EPS = np.finfo(np.float64).eps
LOG2 = math.log(2.0)

# Indices into the model workspace returned by ``evaluate``.
SIGMA, LOG_S, R_RATIO, Q_RATE, W_RATE, TAU_HAT, CLOCK_RATE = range(7)
N_SCALARS = 7

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_JIT)
def log_sinhc(a):
    """log(sinh(a)/a) for a >= 0, accurate for tiny and huge a."""
    if a < 1e-4:
        return math.log1p(a * a / 6.0)
    if a < 20.0:
        return math.log(math.sinh(a) / a)
    return a - math.log(2.0 * a) + math.log1p(-math.exp(-2.0 * a))


@njit(**_JIT)
def log_abs_sinh(a):
    a = abs(a)
    if a == 0.0:
        return -np.inf
    return math.log(a) + log_sinhc(a)


@njit(**_JIT)
def log_cosh(a):
    a = abs(a)
    return a + math.log1p(math.exp(-2.0 * a)) - LOG2


@njit(**_JIT)
def log_sinh_cosh(a):
    """``(log sinh(a), log cosh(a))`` for a > 0 from one exponential where possible."""
    if a < 0.5:  # 1 - exp(-2a) cancels: the direct forms are accurate here
        return math.log(a) + log_sinhc(a), math.log1p(2.0 * math.sinh(0.5 * a) ** 2)
    e = math.exp(-2.0 * a)
    return a + math.log1p(-e) - LOG2, a + math.log1p(e) - LOG2


@njit(**_JIT)
def atanh_ratio(y):
    """atanh(y)/y, accurate at y -> 0."""
    if abs(y) < 1e-4:
        return 1.0 + y * y / 3.0
    return math.atanh(y) / y


@njit(**_JIT)
def coordinate_terms_depth2(x, log_up, log_um, balanced, fp, beta, log_abs_beta, jac1, jac2):
    """:func:`coordinate_terms` for D = 2, where ``beta``, ``beta'`` and ``beta''`` share
    ``sinh(psi)`` and ``cosh(psi)`` (``(3D - 4)/D = 2(D - 1)/D = 1``): six transcendental
    functions per coordinate instead of fifteen."""
    log_alpha = fp[0]
    log_eta = fp[1]
    e_const = fp[2]
    eta = math.exp(log_eta)
    eta_exact = eta > 0.0 and np.isfinite(eta)  # else eta x through logarithms
    log_first = e_const + math.log(8.0)  # log(2 D^2)
    log_second = e_const + log_eta + math.log(32.0)  # log(4 D^3 (D - 1))
    for i in range(x.shape[0]):
        xi = x[i]
        ax = abs(xi)
        ex = 0.0
        if xi != 0.0:
            ex = eta * xi if eta_exact else math.copysign(math.exp(log_eta + math.log(ax)), xi)
        lww = log_up[i] + log_um[i]  # log(w+ w-) - 2 log alpha
        psi = log_up[i] - log_um[i] + 4.0 * ex
        a = abs(psi)
        log_sinh, log_cosh_psi = log_sinh_cosh(a) if a > 0.0 else (-np.inf, 0.0)
        if balanced[i] and xi != 0.0 and a < 0.5:
            # psi = 4 eta x is small or underflows: log|sinh(psi)| through sinhc and
            # E = log(alpha^2 eta), exact in the powers of alpha
            sgn = 1.0 if xi > 0.0 else -1.0
            tail = math.log(4.0) + math.log(ax) + log_sinhc(a)
            lab = LOG2 + e_const + lww + tail
            log_sinh = log_eta + tail
        else:
            sgn = 1.0 if psi > 0.0 else (-1.0 if psi < 0.0 else 0.0)
            lab = LOG2 + 2.0 * log_alpha + lww + log_sinh
        log_abs_beta[i] = lab
        beta[i] = sgn * math.exp(lab)
        jac1[i] = math.exp(log_first + lww + log_cosh_psi)
        jac2[i] = sgn * math.exp(log_second + lww + log_sinh)
    return True


@njit(**_JIT)
def coordinate_terms(x, log_up, log_um, balanced, depth, fp, beta, log_abs_beta, jac1, jac2):
    """beta(x), dbeta/dx and d2beta/dx2 per coordinate (``extprec.model`` formulas; D = 2 in
    :func:`coordinate_terms_depth2`).

    Returns False if some coordinate is outside the domain (D > 2 barrier crossed).
    """
    log_alpha = fp[0]
    log_eta = fp[1]
    e_const = fp[2]
    d = x.shape[0]
    if depth == 1:
        for i in range(d):
            b = math.exp(log_alpha + log_up[i]) - math.exp(log_alpha + log_um[i]) + 2.0 * x[i]
            if balanced[i]:
                b = 2.0 * x[i]
            beta[i] = b
            log_abs_beta[i] = math.log(abs(b)) if b != 0.0 else -np.inf
            jac1[i] = 2.0
            jac2[i] = 0.0
        return True
    if depth == 2:
        return coordinate_terms_depth2(x, log_up, log_um, balanced, fp, beta, log_abs_beta,
                                       jac1, jac2)
    k = depth - 2
    for i in range(d):
        xi = x[i]
        ax = abs(xi)
        ex = 0.0
        if xi != 0.0:
            ex = math.copysign(math.exp(log_eta + math.log(ax)), xi)
        z0 = log_up[i] - log_um[i]
        yp = depth * k * ex * math.exp(k * log_up[i])
        ym = depth * k * ex * math.exp(k * log_um[i])
        if yp >= 1.0 or ym <= -1.0:
            return False
        l1p = math.log1p(-yp)
        l1m = math.log1p(ym)
        lww = log_up[i] + log_um[i] - (l1p + l1m) / k
        if balanced[i]:
            psi = (depth / k) * math.atanh(yp)
            lab = (LOG2 + e_const + (2 * depth - 2) * log_up[i] + math.log(depth * depth)
                   - depth / (2.0 * k) * (l1p + l1m) + math.log(ax)
                   + math.log(atanh_ratio(yp)) + log_sinhc(abs(psi))
                   if xi != 0.0 else -np.inf)
        else:
            psi = 0.5 * depth * z0 + depth / (2.0 * k) * (l1m - l1p)
            lab = LOG2 + depth * log_alpha + 0.5 * depth * lww + log_abs_sinh(psi)
        sgn = 1.0 if psi > 0.0 else (-1.0 if psi < 0.0 else 0.0)
        if balanced[i] and xi != 0.0:
            sgn = 1.0 if xi > 0.0 else -1.0
        log_abs_beta[i] = lab
        beta[i] = sgn * math.exp(lab)
        jac1[i] = math.exp(e_const + math.log(2.0 * depth * depth) + (depth - 1) * lww
                           + log_cosh(2.0 * (depth - 1) * psi / depth))
        jac2[i] = sgn * math.exp(e_const + log_eta + math.log(4.0 * depth ** 3 * (depth - 1))
                                 + 0.5 * (3 * depth - 4) * lww
                                 + log_abs_sinh((3 * depth - 4) * psi / depth))
    return True


SMALL_MATVEC = 4096  # entries of X~ up to which X~ z is a plain loop (no BLAS call overhead)


@njit(**_JIT)
def vec_mat(z, A, out):
    """``out = z @ A`` as a sum of scaled rows: contiguous, as fast as BLAS at every size
    measured (N x d from 2 x 2 to 2000 x 20000) and without its call overhead."""
    out[:] = 0.0
    for j in range(A.shape[0]):
        a = z[j]
        if a != 0.0:
            for i in range(A.shape[1]):
                out[i] += a * A[j, i]


@njit(**_JIT)
def mat_vec(A, a, out, b=None):
    """``out = A @ a`` (or ``A @ (a * b)``): a loop for small A, BLAS beyond
    ``SMALL_MATVEC`` entries (the strict IEEE order of a loop reduction does not vectorize,
    and BLAS is twice as fast there)."""
    n, d = A.shape
    if n * d > SMALL_MATVEC:
        out[:] = np.dot(A, a) if b is None else np.dot(A, a * b)
        return
    for j in range(n):
        acc = 0.0
        if b is None:
            for i in range(d):
                acc += A[j, i] * a[i]
        else:
            for i in range(d):
                acc += A[j, i] * (a[i] * b[i])
        out[j] = acc


@njit(**_JIT)
def log_sum_exp(a):
    amax = np.max(a)
    if not np.isfinite(amax):
        return amax
    total = 0.0
    for value in a:
        total += math.exp(value - amax)
    return amax + math.log(total)


@njit(**_JIT)
def log_softplus_neg(m):
    """log(log(1 + exp(-m))), stable for all m."""
    if m > 30.0:
        u = math.exp(-m)
        ratio = 1.0 - 0.5 * u if u < 1e-8 else math.log1p(u) / u
        return -m + math.log(ratio)
    if m < -30.0:
        return math.log(-m + math.log1p(math.exp(m)))
    return math.log(math.log1p(math.exp(-m)))


@njit(**_JIT)
def softplus(z):
    if z > 30.0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


@njit(**_JIT)
def evaluate(nu_hat, theta, Xt, log_up, log_um, balanced, depth, loss_code, fp, sigma0,
             x, beta, log_abs_beta, jac1, jac2, margins, p, s, v, kvec, f, scalars):
    """Evaluate the model at ``(nu_hat, theta)``; fill the workspaces and ``f = dy/d ell``.

    ``scalars`` receives sigma, log S, r, q = p^T K p, w = (s p)^T K p, tau_hat and the clock
    rate d ell/d tau_hat (indices ``SIGMA`` ...). Returns False when the state is outside the
    domain or not representable in float64 (the caller rejects the step).
    """
    n = nu_hat.shape[0]
    vec_mat(nu_hat, Xt, x)
    if not coordinate_terms(x, log_up, log_um, balanced, depth, fp, beta, log_abs_beta,
                            jac1, jac2):
        return False
    mat_vec(Xt, beta, margins)
    for j in range(n):
        if not np.isfinite(margins[j]):
            return False
    log_norm = fp[3]
    if loss_code == 0:
        for j in range(n):
            p[j] = -margins[j] - log_norm
            s[j] = 1.0
        log_s = log_sum_exp(p)
        sigma = -log_s
        r = 1.0
    else:
        for j in range(n):
            s[j] = log_softplus_neg(margins[j])  # temporarily log of per-sample loss
        sigma = -(log_sum_exp(s) - log_norm)
        for j in range(n):
            p[j] = -softplus(margins[j]) - log_norm
            s[j] = 1.0 / (1.0 + math.exp(-margins[j]))
        log_s = log_sum_exp(p)
        r = math.exp(log_s + sigma)
    for j in range(n):
        p[j] = math.exp(p[j] - log_s)
    vec_mat(p, Xt, v)
    q = 0.0
    for i in range(v.shape[0]):
        q += jac1[i] * v[i] * v[i]
    mat_vec(Xt, jac1, kvec, v)
    w = 0.0
    tau_hat = 0.0
    for j in range(n):
        w += s[j] * p[j] * kvec[j]
        tau_hat += nu_hat[j]
    rate = 1.0 / (1.0 + tau_hat) + r * q / (1.0 + sigma - sigma0)
    for j in range(n):
        f[j] = p[j] / rate
    f[n] = (1.0 - theta * w) / rate
    scalars[SIGMA] = sigma
    scalars[LOG_S] = log_s
    scalars[R_RATIO] = r
    scalars[Q_RATE] = q
    scalars[W_RATE] = w
    scalars[TAU_HAT] = tau_hat
    scalars[CLOCK_RATE] = rate
    return np.isfinite(sigma) and np.isfinite(rate) and rate > 0.0


@njit(**_JIT)
def model_workspace(n, d):
    """Arrays ``evaluate`` fills: x, beta, log|beta|, beta', beta'' (d each), margins, p, s
    (N each), v (d), kvec (N), f (N + 1) and the scalars."""
    return (np.empty(d), np.empty(d), np.empty(d), np.empty(d), np.empty(d), np.empty(n),
            np.empty(n), np.empty(n), np.empty(d), np.empty(n), np.empty(n + 1),
            np.empty(N_SCALARS))


KERNEL_CHUNK = 512  # features per block of the kernel matrix product (bounds its workspace)


@njit(**_JIT)
def kernel_matrix(Xt, jac1):
    """K_hat = X~ diag(dbeta/dx) X~^T = d margins / d nu_hat (N x N).

    Summed over blocks of ``KERNEL_CHUNK`` features, so the workspace is ``N x KERNEL_CHUNK``
    instead of a scaled copy of X~ (320 MB at N = 2000, d = 20000).
    """
    n, d = Xt.shape
    K = np.zeros((n, n))
    for start in range(0, d, KERNEL_CHUNK):
        stop = min(d, start + KERNEL_CHUNK)
        block = np.ascontiguousarray(Xt[:, start:stop])
        K += np.dot(block * jac1[start:stop], block.T)
    return K


@njit(**_JIT)
def _softmax_vjp(p, s, z):
    """(dp/dm)^T z with dp_n/dm_j = -(p_n delta_nj - p_n p_j) s_j."""
    return -s * (p * z - p * np.dot(p, z))


@njit(**_JIT)
def jacobian(nu_hat, theta, Xt, jac1, jac2, p, s, v, kvec, f, scalars, sigma0, K):
    """Analytic Jacobian of ``f = dy/d ell`` at an evaluated state (derived).

    With ``f_tau = (p, 1 - theta w)`` and clock rate ``G``, ``J = (J_tau - f grad(G)^T) / G``,
    where (K = d m/d nu_hat, ``s' = ds/dm = s (1 - s)``, zero for the exponential loss):

    * ``dp/dnu_hat = (dp/dm) K``;
    * ``grad q = 2 K (dp/dm)^T K p + X~ (beta'' v^2)``, ``v = X~^T p``;
    * ``grad w = K [(dp/dm)^T (s K p) + p s' K p] + K (dp/dm)^T K (s p)
      + X~ (beta'' (X~^T s p) v)``;
    * ``grad r = r K (r p - s p)``, ``grad sigma = r K p``, ``sigma' = r q``;
    * ``grad G = -1/(1 + tau_hat)^2 + grad(sigma')/(1 + sigma - sigma0)
      - sigma' grad(sigma)/(1 + sigma - sigma0)^2``.
    """
    n = nu_hat.shape[0]
    sigma = scalars[SIGMA]
    r = scalars[R_RATIO]
    q = scalars[Q_RATE]
    w = scalars[W_RATE]
    tau_hat = scalars[TAU_HAT]
    rate = scalars[CLOCK_RATE]
    dnm = 1.0 + sigma - sigma0
    grad_q = 2.0 * np.dot(K, _softmax_vjp(p, s, kvec)) + np.dot(Xt, jac2 * v * v)
    ps = p * s
    k_ps = np.dot(K, ps)
    v_ps = np.dot(ps, Xt)
    grad_w = (np.dot(K, _softmax_vjp(p, s, s * kvec) + ps * (1.0 - s) * kvec
                     + _softmax_vjp(p, s, k_ps))
              + np.dot(Xt, jac2 * v_ps * v))
    grad_r = r * np.dot(K, r * p - ps)
    grad_rate = (-1.0 / (1.0 + tau_hat) ** 2 + (q * grad_r + r * grad_q) / dnm
                 - (r * q) * r * kvec / dnm ** 2)
    J = np.zeros((n + 1, n + 1))
    col = np.dot(ps, K)  # sum_j p_j s_j K_jm
    for a in range(n):
        for m in range(n):
            J[a, m] = -ps[a] * K[a, m] + p[a] * col[m]
    for m in range(n):
        J[n, m] = -theta * grad_w[m]
    J[n, n] = -w
    for a in range(n + 1):
        for m in range(n):
            J[a, m] -= f[a] * grad_rate[m]
    return J / rate


@njit(**_JIT)
def rounding_resolution(nu_hat, Xt, jac1, beta, log_abs_beta, p, log_up, log_um, depth, fp):
    """First-order float64 rounding errors of the flow: ``(softmax_noise, gap_noise)``.

    * ``softmax_noise``: the margin error that rounding of the state and of beta induces, averaged with the
      softmax weights: ``eps sum_n p_n [|X~| (|beta'| dx + |beta| (1 + |log|beta||))]_n``
      with ``dx = |X~|^T |nu_hat|`` (the softmax, hence the flow, is resolved only while
      this stays small, theory.md s.4);
    * ``gap_noise``, for D > 2: the largest relative rounding error of a gap to the barrier,
      ``eps |y| / (1 - |y|)`` with ``y = D k eta u^k dx`` (``extprec.model``): the gaps lose
      digits to cancellation long before the margins are large (theory.md s.4).
    """
    n, d = Xt.shape
    dx = np.zeros(d)  # |X~|^T |nu_hat|, without forming |X~| (N x d)
    for j in range(n):
        a = abs(nu_hat[j])
        for i in range(d):
            dx[i] += abs(Xt[j, i]) * a
    abs_x = np.abs(np.dot(nu_hat, Xt))
    per_coord = np.empty(d)
    gaps = 0.0
    k = depth - 2
    for i in range(d):
        lb = abs(log_abs_beta[i]) if np.isfinite(log_abs_beta[i]) else 0.0
        per_coord[i] = abs(jac1[i]) * dx[i] + abs(beta[i]) * (1.0 + lb)
        if k > 0 and dx[i] > 0.0:
            for log_u in (log_up[i], log_um[i]):
                scale = depth * k * math.exp(fp[1] + k * log_u)
                gap = 1.0 - scale * abs_x[i]
                if gap <= 0.0:
                    return np.inf, np.inf
                gaps = max(gaps, scale * dx[i] / gap)
    noise = 0.0  # p^T |X~| per_coord
    for j in range(n):
        row = 0.0
        for i in range(d):
            row += abs(Xt[j, i]) * per_coord[i]
        noise += p[j] * row
    return EPS * noise, EPS * gaps
