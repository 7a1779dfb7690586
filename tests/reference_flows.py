"""Independent reference solutions for the engine tests (theory.md sections 1-3 and 6).

Nothing here imports ``extprec``: the references are written from the mathematics only.

* :class:`SingleSampleReference`: the exact solution for one sample (N = 1), where the per-sample
  dual equals the clock, ``nu = tau``, so ``beta = beta(x~ tau)`` in closed form and the original
  time is a one-dimensional integral ``t(tau) = int_0^tau dtau' / g(m(tau'))``. Evaluated with
  mpmath in a LOCAL context (170 bits, about 50 digits) by root finding and tanh-sinh quadrature.
* :class:`WeightFlowReference`: the ORIGINAL gradient flow ``dw+-/dt = -grad_{w+-} L`` in the
  2d weights, with ``beta = w+^D - w-^D`` (D = 1: ``w+ - w-``), integrated in original time t by
  ``scipy.integrate.solve_ivp`` with an analytic gradient (and an analytic Jacobian for the
  implicit methods). Its own accuracy is estimated by comparing two different integrators
  (DOP853 at rtol 1e-13, LSODA with the analytic Jacobian at rtol 1e-12).
* :func:`planted_problem_data`: random linearly separable data with a planted teacher and margin.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
from scipy.integrate import solve_ivp

REFERENCE_BITS = 170  # about 51 significant decimal digits


def new_context(bits: int = REFERENCE_BITS):
    """A private mpmath context, so that the global ``mpmath.mp`` precision is never touched."""
    ctx = mpmath.MPContext()
    ctx.prec = bits
    return ctx


def to_ctx(ctx, value):
    """Exact conversion of a float, int, Fraction, decimal string or mpf into ``ctx``."""
    if isinstance(value, Fraction):
        return ctx.mpf(value.numerator) / value.denominator
    if isinstance(value, str):
        return ctx.mpf(value)
    if hasattr(value, "_mpf_"):
        return ctx.mpf(value)  # exact for the 64-bit float64 states; rounded to ctx beyond
    return ctx.mpf(float(value))


# ---------------------------------------------------------------------------------------
# N = 1: exact solution
# ---------------------------------------------------------------------------------------
class SingleSampleReference:
    """Exact gradient flow for one sample ``x~ = y x`` (theory.md s.2 with N = 1).

    With one sample ``nu = tau`` and ``rho = x~ tau``; per coordinate (u+, u- the shape):

    * D = 1: ``w+ = alpha u+ + rho``, ``w- = alpha u- - rho``, ``beta = alpha (u+ - u-) + 2 rho``;
    * D = 2: ``w+ = alpha u+ e^{2 rho}``, ``w- = alpha u- e^{-2 rho}``;
    * D > 2: ``w+ = ((alpha u+)^{2-D} - D(D-2) rho)^{-1/(D-2)}``,
      ``w- = ((alpha u-)^{2-D} + D(D-2) rho)^{-1/(D-2)}``;

    ``beta = w+^D - w-^D``, margin ``m(tau) = x~ . beta(x~ tau)``, strictly increasing in tau
    (``m' = sum_i x~_i^2 dbeta_i/drho_i > 0``). With N = 1 the mean loss equals the sum loss.
    Exponential loss: ``L = e^{-m}``, ``g = e^{-m}``; logistic: ``L = log(1 + e^{-m})``,
    ``g = 1/(1 + e^{m})``. Original time ``t = int_0^tau dtau'/g(m(tau'))``.
    """

    def __init__(self, x, label, depth, alpha, u_plus=None, u_minus=None, loss="exp",
                 bits=REFERENCE_BITS):
        ctx = self.ctx = new_context(bits)
        x = np.asarray(x, dtype=float)
        self.d = x.shape[0]
        self.xt = [ctx.mpf(float(label)) * ctx.mpf(float(v)) for v in x]
        self.depth = int(depth)
        self.alpha = to_ctx(ctx, alpha)
        ones = np.ones(self.d)
        up = ones if u_plus is None else np.asarray(u_plus, dtype=float)
        um = up if u_minus is None else np.asarray(u_minus, dtype=float)
        self.u_plus = [ctx.mpf(float(v)) for v in up]
        self.u_minus = [ctx.mpf(float(v)) for v in um]
        if loss not in ("exp", "logistic"):
            raise ValueError(loss)
        self.loss = loss
        self._log_t_cache = [(ctx.zero, ctx.ninf)]  # (tau, log t) pairs, increasing

    # -- weights and predictor ------------------------------------------------------------
    def weights(self, tau):
        """``(w+, w-)`` lists at clock ``tau`` (closed forms above)."""
        ctx, D = self.ctx, self.depth
        wp, wm = [], []
        for xi, up, um in zip(self.xt, self.u_plus, self.u_minus):
            rho = xi * tau
            a_p, a_m = self.alpha * up, self.alpha * um
            if D == 1:
                wp.append(a_p + rho)
                wm.append(a_m - rho)
            elif D == 2:
                wp.append(a_p * ctx.exp(2 * rho))
                wm.append(a_m * ctx.exp(-2 * rho))
            else:
                k = D - 2
                gp = a_p ** (-k) - D * k * rho
                gm = a_m ** (-k) + D * k * rho
                if gp <= 0 or gm <= 0:
                    raise ValueError("tau beyond the D > 2 barrier")
                wp.append(gp ** (ctx.mpf(-1) / k))
                wm.append(gm ** (ctx.mpf(-1) / k))
        return wp, wm

    def beta(self, tau):
        """``beta(x~ tau)``, the closed form ``w+^D - w-^D`` written per depth with constants
        precomputed: D = 2 ``(alpha u+)^2 e^{4 rho} - (alpha u-)^2 e^{-4 rho}``; D > 2
        ``gap+^{-D/k} - gap-^{-D/k}`` (k = D - 2, integer powers where D/k is an integer)."""
        ctx, D = self.ctx, self.depth
        if not hasattr(self, "_consts"):
            a = self.alpha
            if D == 1:
                self._consts = [(a * (up - um), 2 * xi)
                                for xi, up, um in zip(self.xt, self.u_plus, self.u_minus)]
            elif D == 2:
                self._consts = [((a * up) ** 2, (a * um) ** 2, 4 * xi)
                                for xi, up, um in zip(self.xt, self.u_plus, self.u_minus)]
            else:
                k = D - 2
                self._consts = [((a * up) ** (-k), (a * um) ** (-k), D * k * xi)
                                for xi, up, um in zip(self.xt, self.u_plus, self.u_minus)]
                self._power = -(D // k) if D % k == 0 else -ctx.mpf(D) / k
        if D == 1:
            return [b0 + c * tau for b0, c in self._consts]
        if D == 2:
            out = []
            for ap, am, c in self._consts:
                e = ctx.exp(c * tau)
                out.append(ap * e - am / e)
            return out
        out = []
        for gp0, gm0, c in self._consts:
            gp, gm = gp0 - c * tau, gm0 + c * tau
            if gp <= 0 or gm <= 0:
                raise ValueError("tau beyond the D > 2 barrier")
            out.append(gp ** self._power - gm ** self._power)
        return out

    def margin(self, tau):
        return self.ctx.fsum(xi * b for xi, b in zip(self.xt, self.beta(tau)))

    def tau_max(self):
        """Supremum of the clock: +inf for D <= 2, the first barrier for D > 2."""
        ctx, D = self.ctx, self.depth
        if D <= 2:
            return ctx.inf
        k = D - 2
        bounds = []
        for xi, up, um in zip(self.xt, self.u_plus, self.u_minus):
            if xi > 0:
                bounds.append((self.alpha * up) ** (-k) / (D * k * xi))
            elif xi < 0:
                bounds.append((self.alpha * um) ** (-k) / (D * k * -xi))
        return min(bounds)

    # -- loss ---------------------------------------------------------------------------------
    def sigma_of_margin(self, m):
        """``sigma = log(1/L)``."""
        ctx = self.ctx
        if self.loss == "exp":
            return m
        return -ctx.log(ctx.log1p(ctx.exp(-m)))

    def margin_of_sigma(self, sigma):
        """Inverse of :meth:`sigma_of_margin` (logistic: ``e^{-m} = expm1(e^{-sigma})``)."""
        ctx = self.ctx
        if self.loss == "exp":
            return sigma
        return -ctx.log(ctx.expm1(ctx.exp(-sigma)))

    def log_inverse_g(self, m):
        """``log(1/g(m))``: ``m`` (exp) or ``log(1 + e^m)`` (logistic)."""
        ctx = self.ctx
        if self.loss == "exp":
            return m
        return m + ctx.log1p(ctx.exp(-m)) if m > 0 else ctx.log1p(ctx.exp(m))

    @property
    def sigma0(self):
        return self.sigma_of_margin(self.margin(self.ctx.zero))

    # -- clocks ---------------------------------------------------------------------------------
    def tau_at_sigma(self, sigma):
        """The clock tau at which ``log(1/L) = sigma`` (bracketing + bisection/secant)."""
        ctx = self.ctx
        sigma = to_ctx(ctx, sigma)
        target = self.margin_of_sigma(sigma)
        f = lambda s: self.margin(s) - target  # noqa: E731 (increasing in s)
        if f(ctx.zero) >= 0:
            raise ValueError("level not below the starting loss")
        lo = ctx.zero
        top = self.tau_max()
        if ctx.isinf(top):
            hi = ctx.one
            while f(hi) < 0:
                lo, hi = hi, 2 * hi
        else:
            # approach the barrier geometrically: hi = top (1 - 2^-j)
            j = 1
            hi = top / 2
            while f(hi) < 0:
                lo = hi
                j += 1
                hi = top * (1 - ctx.ldexp(ctx.one, -j))
                if j > ctx.prec:
                    raise ValueError("level not reachable in this precision")
        # Illinois (regula falsi) on the bracket, finished by bisection safeguards.
        flo, fhi = f(lo), f(hi)
        tol = ctx.ldexp(abs(hi) + 1, -ctx.prec + 4)
        side = 0
        for _ in range(4 * ctx.prec):
            if hi - lo <= tol:
                break
            mid = (lo * fhi - hi * flo) / (fhi - flo)
            if not (lo < mid < hi):
                mid = (lo + hi) / 2
            fm = f(mid)
            if fm == 0:
                return mid
            if (fm < 0) == (flo < 0):
                lo, flo = mid, fm
                if side == -1:
                    fhi /= 2
                side = -1
            else:
                hi, fhi = mid, fm
                if side == 1:
                    flo /= 2
                side = 1
        return (lo + hi) / 2

    def _log_integral(self, a, b):
        """``log int_a^b (1/g(m(s))) ds`` by tanh-sinh quadrature.

        The integrand ``1/g(m(s))`` increases with s (m increases with tau, 1/g with m) and
        peaks at b with width ``1/(d log(1/g)/ds)``. Subintervals ``[b - 2 delta, b - delta]``
        are integrated from b backwards with delta growing 8-fold; the remaining
        ``[a, lo]`` is dropped once the rigorous bound ``(lo - a) f(lo)`` falls below
        ``eps * total`` (f increasing).
        """
        ctx = self.ctx
        top = self.log_inverse_g(self.margin(b))
        f = lambda s: ctx.exp(self.log_inverse_g(self.margin(s)) - top)  # noqa: E731
        length = b - a
        h = length * ctx.mpf("1e-20")
        slope = (self.log_inverse_g(self.margin(b)) - self.log_inverse_g(self.margin(b - h))) / h
        delta = min(length, ctx.mpf("0.5") / max(slope, 1 / length))
        hi, lo = b, b - delta
        total = ctx.zero
        while True:
            total += ctx.quad(f, [lo, hi])
            if lo <= a:
                break
            if (lo - a) * f(lo) < ctx.eps * total:
                break
            delta *= 8
            hi, lo = lo, max(a, lo - delta)
        return top + ctx.log(total)

    def log_t_at_tau(self, tau):
        """Natural log of the original time at clock tau (cached, incremental in tau)."""
        ctx = self.ctx
        for tc, lt in self._log_t_cache:
            if tc == tau:
                return lt
        prev = max((p for p in self._log_t_cache if p[0] < tau), key=lambda p: p[0])
        piece = self._log_integral(prev[0], tau)
        value = piece if ctx.isinf(prev[1]) else piece + ctx.log1p(ctx.exp(prev[1] - piece))
        self._log_t_cache.append((tau, value))
        self._log_t_cache.sort(key=lambda p: p[0])
        return value

    def state_at_sigma(self, sigma):
        """Dict of the reference state at ``log(1/L) = sigma``."""
        ctx = self.ctx
        tau = self.tau_at_sigma(sigma)
        wp, wm = self.weights(tau)
        beta = self.beta(tau)
        m = ctx.fsum(xi * b for xi, b in zip(self.xt, beta))
        return dict(tau=tau, w_plus=wp, w_minus=wm, beta=beta, margin=m,
                    beta_normalized=[b / m for b in beta],
                    log10_t=self.log_t_at_tau(tau) / ctx.ln10)


# ---------------------------------------------------------------------------------------
# The original (w+, w-) gradient flow
# ---------------------------------------------------------------------------------------
class WeightFlowReference:
    """Gradient flow of ``L(w+, w-)`` in original time (theory.md s.1), float64 scipy.

    ``L = R_n l(m_n)`` with ``m = X~ beta``, ``beta = w+^D - w-^D`` (D = 1: ``w+ - w-``),
    ``l(z) = e^{-z}`` or ``log(1 + e^{-z})``, ``R`` the sum or the mean. With
    ``g_n = -l'(m_n) / (N or 1)`` and ``v = X~^T g``:

        dw+/dt = D w+^{D-1} v,        dw-/dt = -D w-^{D-1} v.
    """

    def __init__(self, signed_X, depth, alpha, u_plus, u_minus, loss="exp", reduction="sum"):
        self.Xt = np.asarray(signed_X, dtype=float)
        self.N, self.d = self.Xt.shape
        self.depth = int(depth)
        self.alpha = float(alpha)
        self.u_plus = np.asarray(u_plus, dtype=float)
        self.u_minus = np.asarray(u_minus, dtype=float)
        self.loss = loss
        self.scale = 1.0 / self.N if reduction == "mean" else 1.0
        self.w0 = np.concatenate([self.alpha * self.u_plus, self.alpha * self.u_minus])

    def beta(self, w):
        d, D = self.d, self.depth
        return w[:d] ** D - w[d:] ** D

    def loss_value(self, w):
        m = self.Xt @ self.beta(w)
        terms = np.exp(-m) if self.loss == "exp" else np.logaddexp(0.0, -m)
        return self.scale * terms.sum()

    def _g(self, m):
        """``g = -l'(m)`` (with the mean factor) and ``dg/dm``."""
        if self.loss == "exp":
            g = np.exp(-m)
            return self.scale * g, -self.scale * g
        g = 0.5 * (1.0 - np.tanh(0.5 * m))  # 1/(1+e^m), stable
        return self.scale * g, -self.scale * g * (1.0 - g)

    def rhs(self, t, w):
        d, D = self.d, self.depth
        wp, wm = w[:d], w[d:]
        g, _ = self._g(self.Xt @ self.beta(w))
        v = self.Xt.T @ g
        return np.concatenate([D * wp ** (D - 1) * v, -D * wm ** (D - 1) * v])

    def jac(self, t, w):
        d, D = self.d, self.depth
        wp, wm = w[:d], w[d:]
        g, dg = self._g(self.Xt @ self.beta(w))
        v = self.Xt.T @ g
        a = np.concatenate([D * wp ** (D - 1), -D * wm ** (D - 1)])  # d beta / d w (signed)
        # dv/dw = X~^T diag(dg) X~ diag(a) (as a d x 2d map)
        M = self.Xt.T @ (dg[:, None] * self.Xt)
        dv = M @ np.hstack([np.diag(a[:d]), np.diag(a[d:])])
        J = a[:, None] * np.vstack([dv[:, :], dv[:, :]])
        if D >= 2:
            curv = np.concatenate([D * (D - 1) * wp ** (D - 2) * v,
                                   -D * (D - 1) * wm ** (D - 2) * v])
            J = J + np.diag(curv)
        return J

    def integrate(self, times, method="Radau", rtol=1e-12, atol=1e-14):
        """``w(t)`` (rows) at the increasing ``times``."""
        times = np.asarray(times, dtype=float)
        kwargs = dict(jac=self.jac) if method in ("Radau", "BDF", "LSODA") else {}
        sol = solve_ivp(self.rhs, (0.0, float(times[-1])), self.w0, method=method,
                        t_eval=times, rtol=rtol, atol=atol, **kwargs)
        if not sol.success:
            raise RuntimeError(sol.message)
        return sol.y.T

    def reference(self, times):
        """``(w, accuracy)``: DOP853 (rtol 1e-13) at ``times`` and the largest relative
        disagreement (per coordinate of w, and of beta relative to the scale
        ``|w+|^D + |w-|^D``) with an independent LSODA run (analytic Jacobian, rtol 1e-12)."""
        w = self.integrate(times, "DOP853", rtol=1e-13, atol=1e-16)
        w_check = self.integrate(times, "LSODA", rtol=1e-12, atol=1e-16)
        acc = max(relative_gap(w_check, w, np.abs(w)),
                  relative_gap(np.array([self.beta(r) for r in w_check]),
                               np.array([self.beta(r) for r in w]),
                               np.array([self.beta_scale(r) for r in w])))
        return w, acc

    def beta_scale(self, w):
        d, D = self.d, self.depth
        return np.abs(w[:d]) ** D + np.abs(w[d:]) ** D


def relative_gap(a, b, scale):
    """``max |a - b| / scale`` elementwise (scale > 0)."""
    a, b, scale = (np.asarray(v, dtype=float) for v in (a, b, scale))
    return float(np.max(np.abs(a - b) / scale))


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
def planted_problem_data(n_samples, n_features, seed, margin=0.3):
    """Gaussian data with random labels made separable by a planted unit teacher ``t``.

    Each row gets its component along ``t`` replaced by ``y_n (margin + |e_n|)`` with
    ``e_n ~ N(0, 1)``, so ``y_n x_n . t >= margin`` for every n (separable with l2 margin
    at least ``margin``). Returns ``(X, y, t)``.
    """
    rng = np.random.default_rng(seed)
    t = rng.standard_normal(n_features)
    t /= np.linalg.norm(t)
    X = rng.standard_normal((n_samples, n_features))
    y = rng.choice([-1.0, 1.0], size=n_samples)
    along = X @ t
    X = X - np.outer(along, t) + np.outer(y * (margin + np.abs(rng.standard_normal(n_samples))), t)
    return X, y, t


def mp_margins(ctx, signed_X, beta):
    """``X~ beta`` in the context ``ctx`` (exact float data)."""
    return [ctx.fsum(ctx.mpf(float(a)) * to_ctx(ctx, b) for a, b in zip(row, beta))
            for row in np.asarray(signed_X, dtype=float)]


def log_sum_loss(ctx, margins, loss, reduction):
    """``log L`` of given margins in ``ctx``."""
    if loss == "exp":
        terms = [-m for m in margins]
    else:
        terms = [ctx.log(ctx.log1p(ctx.exp(-m))) for m in margins]
    top = max(terms)
    value = top + ctx.log(ctx.fsum(ctx.exp(v - top) for v in terms))
    if reduction == "mean":
        value -= ctx.log(len(margins))
    return value


__all__ = ["SingleSampleReference", "WeightFlowReference", "planted_problem_data", "new_context",
           "to_ctx", "relative_gap", "mp_margins", "log_sum_loss"]
