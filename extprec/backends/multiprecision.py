"""Multiprecision backend: the reduced dynamics in python-flint ``arb`` ball arithmetic.

Same formulas as the float64 kernels (``extprec.model``), evaluated with arbitrary
precision and unbounded exponents, so that sigma ~ 10^1000, t ~ 10^(10^100) and
alpha^D ~ 10^-1500 are plain numbers. python-flint was chosen over mpmath and numpy arrays
of gmpy2 ``mpfr`` by measurement (benchmarks/bench_backends.py): at 400 bits a 20x50
matrix-vector product takes about 0.06 ms (mpmath 2 ms, gmpy2 arrays 0.34 ms) and a 21x21
solve 0.5 ms (mpmath about 40 ms); arb exponents are unbounded where MPFR's underflow
near exp(-7.5e8).

Precision is a property of a :class:`ArbModel`; every computation runs inside
``flint.ctx.workprec(bits)``, a scoped setting restored on exit. States are exact ball
midpoints: radii only ever measure the rounding of one evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from flint import arb, arb_mat, ctx

from ..model import LOSS_CODES


def arb_of_fraction(q: Fraction) -> arb:
    """Round an exact rational to the working precision."""
    return arb(q.numerator) / arb(q.denominator)


def arb_of_float(value: float) -> arb:
    """Exact conversion of a float64."""
    return arb(float(value))


def column(values) -> arb_mat:
    values = list(values)
    return arb_mat(len(values), 1, values)


def entries(matrix: arb_mat) -> list:
    return matrix.entries()


def log_sum_exp(values: list) -> arb:
    top = max(values, key=lambda a: a.mid())
    return top + sum((v - top).exp() for v in values).log()


@dataclass
class Evaluation:
    """Model quantities at one state (fields as in ``extprec.backends.float64.evaluate``)."""

    f: list
    x: list
    beta: list
    jac1: list
    jac2: list
    margins: list
    p: list
    s: list
    v: list
    kvec: list
    sigma: arb
    log_s: arb
    r: arb
    q: arb
    w: arb
    tau_hat: arb
    rate: arb
    log_g: list  # log g_n (log p_n = log g_n - log_s)


class ArbModel:
    """The reduced dynamics of a problem at a fixed working precision ``bits``."""

    def __init__(self, problem, bits: int, sigma0=None):
        self.problem = problem
        self.bits = int(bits)
        self.depth = depth = problem.depth
        self.loss_code = LOSS_CODES[problem.loss]
        n, d = problem.signed_X.shape
        self.n, self.d = n, d
        with ctx.workprec(self.bits):
            self.Xt = arb_mat(n, d, [arb_of_float(v) for v in problem.signed_X.ravel()])
            self.XtT = self.Xt.transpose()
            self._rows = self.Xt.tolist()  # rows x~_n as lists of arb
            # entrywise squares of X~^T, for the stiffness (:meth:`stiffness`)
            self._XtT_squared = arb_mat(d, n, [a * a for a in self.XtT.entries()])
            alpha = arb_of_fraction(problem.alpha_exact)
            self.log_alpha = log_alpha = alpha.log()
            self.alpha = alpha
            self.u_plus = [arb_of_float(v) for v in problem.u_plus]
            self.u_minus = [arb_of_float(v) for v in problem.u_minus]
            self.log_norm = arb(n).log() if problem.reduction == "mean" else arb(0)
            # dual scale (extprec.model.dual_scale_logs), exact at this precision
            if depth == 1:
                self.log_eta = arb(0)
                self.log_c = arb(0)
            else:
                self.log_eta = -depth * log_alpha if log_alpha > 0 else arb(0)
                self.log_c = self.log_eta - (depth - 2) * log_alpha
            self.eta = self.log_eta.exp()
            self.c = self.log_c.exp()
            if depth == 2:
                # per-coordinate constants of the D = 2 terms: log(u+/u-), w+ w- (conserved)
                self._psi0 = [(up / um).log() for up, um in zip(self.u_plus, self.u_minus)]
                self._ww = [(2 * log_alpha).exp() * up * um
                            for up, um in zip(self.u_plus, self.u_minus)]
            self.sigma0 = (self.evaluate([arb(0)] * n, arb(0), clock=False).sigma
                           if sigma0 is None else sigma0)

    # -- per-coordinate terms ----------------------------------------------------------------
    def coordinate_terms(self, x: list, derivatives: bool = True):
        """beta, beta', beta'' (x-derivatives) per coordinate; None outside the domain.
        With ``derivatives=False`` the derivative lists are None (beta alone is cheaper)."""
        depth = self.depth
        beta, jac1, jac2 = [], [], []
        if depth == 1:
            two = arb(2)
            for xi, up, um in zip(x, self.u_plus, self.u_minus):
                beta.append(self.alpha * (up - um) + 2 * xi)
                jac1.append(two)
                jac2.append(arb(0))
            return (beta, jac1, jac2) if derivatives else (beta, None, None)
        c, eta, log_alpha = self.c, self.eta, self.log_alpha
        if depth == 2:
            four_eta, eight_c, c2 = 4 * eta, 8 * c, 16 * c * c
            if not derivatives:
                return [2 * ww * (psi0 + four_eta * xi).sinh()
                        for xi, psi0, ww in zip(x, self._psi0, self._ww)], None, None
            for xi, psi0, ww in zip(x, self._psi0, self._ww):
                sinh, cosh = (psi0 + four_eta * xi).sinh_cosh()
                b = 2 * ww * sinh
                beta.append(b)
                jac1.append(eight_c * ww * cosh)
                jac2.append(c2 * b)
            return beta, jac1, jac2
        k = depth - 2
        for xi, up, um in zip(x, self.u_plus, self.u_minus):
            y_plus = depth * k * eta * xi * up**k
            y_minus = depth * k * eta * xi * um**k
            if not (y_plus < 1 and y_minus > -1):  # the barrier (theory.md s.2)
                return None
            # log1p: with alpha >> 1 the y are far below the working precision (alpha = 1e300,
            # D = 3: y ~ 1e-892), and log(1 +- y) would round beta to zero
            l1p = (-y_plus).log1p()
            l1m = y_minus.log1p()
            psi = depth * ((up / um).log() + (l1m - l1p) / k) / 2
            lww = 2 * log_alpha + (up * um).log() - (l1p + l1m) / k  # log(w+ w-)
            b = 2 * (depth * lww / 2).exp() * psi.sinh()
            beta.append(b)
            if derivatives:
                jac1.append(2 * c * depth * depth * ((depth - 1) * lww).exp()
                            * (2 * (depth - 1) * psi / depth).cosh())
                jac2.append(4 * c * c * depth**3 * (depth - 1)
                            * ((3 * depth - 4) * lww / 2).exp()
                            * ((3 * depth - 4) * psi / depth).sinh())
        return (beta, jac1, jac2) if derivatives else (beta, None, None)

    def log_weights(self, x: list):
        """(log w+, log w-) per coordinate for D >= 2 (``extprec.model.log_weights``)."""
        depth = self.depth
        out_p, out_m = [], []
        for xi, up, um in zip(x, self.u_plus, self.u_minus):
            if depth == 2:
                out_p.append(self.log_alpha + up.log() + 2 * self.eta * xi)
                out_m.append(self.log_alpha + um.log() - 2 * self.eta * xi)
            else:
                k = depth - 2
                y_plus = depth * k * self.eta * xi * up**k
                y_minus = depth * k * self.eta * xi * um**k
                out_p.append(self.log_alpha + up.log() - (-y_plus).log1p() / k)
                out_m.append(self.log_alpha + um.log() - y_minus.log1p() / k)
        return out_p, out_m

    # -- the flow ------------------------------------------------------------------------------
    def evaluate(self, nu_hat: list, theta: arb, clock: bool = True):
        """Evaluate the model (``extprec.backends.float64.evaluate``); None outside the domain
        (or where the numbers leave any representable range, as at a wild stage guess).

        ``clock=False`` evaluates without the sigma part of the clock rate (used once, for
        sigma_0 itself).
        """
        with ctx.workprec(self.bits):
            x = entries(self.XtT * column(nu_hat))
            terms = self.coordinate_terms(x)
            if terms is None:
                return None
            beta, jac1, jac2 = terms
            margins = entries(self.Xt * column(beta))
            log_g = self._log_g(margins)
            log_s = log_sum_exp(log_g)
            if self.loss_code == 0:
                sigma = -log_s
                s = [arb(1)] * self.n
                r = arb(1)
            else:
                sigma = self._logistic_sigma(margins)
                s = [1 / (1 + (-m).exp()) for m in margins]
                r = (log_s + sigma).exp()
            p = [(lg - log_s).exp() for lg in log_g]
            v = entries(self.XtT * column(p))
            jv = [a * b for a, b in zip(jac1, v)]
            kvec = entries(self.Xt * column(jv))
            q = sum(a * b for a, b in zip(jv, v))
            w = sum(a * b * c for a, b, c in zip(s, p, kvec))
            tau_hat = sum(nu_hat)
            rate = 1 / (1 + tau_hat)
            if clock:
                rate = rate + r * q / (1 + sigma - self.sigma0)
            if not (sigma.is_finite() and w.is_finite()):
                return None  # beyond any representable number: a wild stage guess
            f = p + [1 - theta * w]
            return Evaluation(f, x, beta, jac1, jac2, margins, p, s, v, kvec, sigma, log_s, r, q,
                              w, tau_hat, rate, log_g)

    def probabilities(self, nu_hat: list):
        """p = softmax(log g(m)) alone (the nu part of f, all the Newton iteration of
        the stages needs); None outside the domain. Same formulas as :meth:`evaluate`."""
        with ctx.workprec(self.bits):
            margins = self._margins_of(nu_hat)
            if margins is None:
                return None
            log_g = self._log_g(margins)
            log_s = log_sum_exp(log_g)
            if not log_s.is_finite():
                return None
            return [(lg - log_s).exp() for lg in log_g]

    def loss_values(self, nu_hat: list):
        """``(sigma, log S)`` at ``nu_hat`` (S = sum_n g_n), without the rest of
        :meth:`evaluate` (same formulas); None outside the domain."""
        with ctx.workprec(self.bits):
            margins = self._margins_of(nu_hat)
            if margins is None:
                return None
            log_s = log_sum_exp(self._log_g(margins))
            sigma = -log_s if self.loss_code == 0 else self._logistic_sigma(margins)
            return sigma, log_s

    def log_t(self, theta: arb, log_s: arb) -> arb:
        """log t = log c + log theta - log S (``extprec.model``); -inf at t = 0."""
        with ctx.workprec(self.bits):
            return self.log_c + theta.log() - log_s if theta > 0 else arb.neg_inf()

    def _margins_of(self, nu_hat: list):
        terms = self.coordinate_terms(entries(self.XtT * column(nu_hat)), derivatives=False)
        if terms is None:
            return None
        return entries(self.Xt * column(terms[0]))

    def _logistic_sigma(self, margins: list) -> arb:
        """sigma = log(1/L) for the logistic loss: L = sum_n log(1 + exp(-m_n)) (/ N)."""
        return self.log_norm - log_sum_exp([(-m).exp().log1p().log() for m in margins])

    def _log_g(self, margins: list) -> list:
        """log g_n = -m_n (exp) or -softplus(m_n) (logistic), minus log N for the mean."""
        if self.loss_code == 0:
            return [-m - self.log_norm for m in margins]
        return [-_softplus(m) - self.log_norm for m in margins]

    def with_theta(self, ev: Evaluation, theta: arb) -> Evaluation:
        """``ev`` with the theta component of f recomputed for ``theta`` (nothing else in
        an evaluation depends on theta)."""
        with ctx.workprec(self.bits):
            return replace(ev, f=ev.f[: self.n] + [1 - theta * ev.w])

    def kernel_matrix(self, jac1: list) -> arb_mat:
        """K_hat = X~ diag(beta') X~^T."""
        with ctx.workprec(self.bits):
            scaled = arb_mat(self.d, self.n, [j * a for j, row in zip(jac1, self.XtT.tolist())
                                              for a in row])
            return self.Xt * scaled

    def stiffness(self, ev: Evaluation) -> arb:
        """tr(diag(p) K_hat) = sum_i beta'_i sum_n p_n x~_ni^2: the size of the stiff block
        of the Jacobian -(diag(p s) - p (p s)^T) K_hat (theory.md s.4). A sum of positive
        terms, smooth in the state, unlike w = (s p)^T K_hat p, whose terms beta'_i v_i^2
        are sums with cancellation: where a coordinate sits at its equilibrium next to the
        barrier (D > 2, small alpha), v_i is rounding and Newton noise times beta'_i ~ c."""
        with ctx.workprec(self.bits):
            weights = entries(self._XtT_squared * column(ev.p))
            return sum(a * b for a, b in zip(ev.jac1, weights))

    def kernel_block(self, jac1: list, rows: list, cols: list) -> list:
        """Rows ``rows`` and columns ``cols`` of K_hat = X~ diag(beta') X~^T, as lists."""
        with ctx.workprec(self.bits):
            X = self._rows
            left = arb_mat(len(rows), self.d, [a * j for r in rows for a, j in zip(X[r], jac1)])
            right = arb_mat(len(cols), self.d, [a for c in cols for a in X[c]]).transpose()
            return (left * right).tolist()

    def jacobian(self, ev: Evaluation, theta: arb) -> arb_mat:
        """Analytic Jacobian of dy/d tau_hat = f (the float64 kernel's
        ``extprec.backends.float64.jacobian`` without the ell-clock rate terms):
        d p / d nu_hat = -(diag(p s) - p (p s)^T) K_hat and d(1 - theta w)/d y."""
        n = self.n
        with ctx.workprec(self.bits):
            K = self.kernel_matrix(ev.jac1)
            Kl = K.tolist()
            p, s, kvec, v, w = ev.p, ev.s, ev.kvec, ev.v, ev.w

            def vjp(z):
                pz = sum(a * b for a, b in zip(p, z))
                return [-si * (pi * zi - pi * pz) for si, pi, zi in zip(s, p, z)]

            ps = [a * b for a, b in zip(p, s)]
            k_ps = entries(K * column(ps))
            v_ps = entries(self.XtT * column(ps))
            inner = [a + b * (1 - si) * kv + c for a, b, si, kv, c in zip(
                vjp([si * kv for si, kv in zip(s, kvec)]), ps, s, kvec, vjp(k_ps))]
            grad_w = [a + b for a, b in zip(
                entries(K * column(inner)),
                entries(self.Xt * column([j2 * a * b for j2, a, b in zip(ev.jac2, v_ps, v)])))]
            col = [sum(ps[j] * Kl[j][m] for j in range(n)) for m in range(n)]
            rows = []
            for a in range(n):
                rows.extend([-ps[a] * Kl[a][m] + p[a] * col[m] for m in range(n)] + [arb(0)])
            rows.extend([-theta * g for g in grad_w] + [-w])
            return arb_mat(n + 1, n + 1, rows).mid()

    def log2_resolution(self, nu_hat: list, ev: Evaluation) -> float:
        """log2 of the rounding error of the flow at this precision, comparable with
        log2(rtol) (``extprec.backends.float64.rounding_resolution`` with eps = 2^-bits; a
        logarithm, since at thousands of bits the error itself underflows float64)."""
        with ctx.workprec(self.bits):
            eps = arb(2) ** (-self.bits)
            abs_x = [abs(a) for a in self.Xt.entries()]
            d = self.d
            dx = [sum(abs_x[j * d + i] * abs(nu_hat[j]) for j in range(self.n))
                  for i in range(d)]
            per_coord = []
            gaps = arb(0)
            k = self.depth - 2
            for b, j1, dxi, xi, up, um in zip(ev.beta, ev.jac1, dx, ev.x, self.u_plus,
                                              self.u_minus):
                lb = abs(abs(b).log()) if b != 0 else arb(0)
                per_coord.append(abs(j1) * dxi + abs(b) * (1 + lb))
                if k > 0:
                    for u in (up, um):
                        scale = self.depth * k * self.eta * u**k
                        gaps = max(gaps, scale * dxi / (1 - scale * abs(xi)))
            margin_err = sum(pi * sum(abs_x[j * d + i] * per_coord[i] for i in range(d))
                             for j, pi in enumerate(ev.p))
            error = eps * max(margin_err, gaps)
            return float((error.log() / arb(2).log()).mid()) if error > 0 else -math.inf


def _softplus(m: arb) -> arb:
    """log(1 + exp(m)), without overflow."""
    if m > 0:
        return m + (-m).exp().log1p()
    return m.exp().log1p()
