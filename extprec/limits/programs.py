"""Reference predictors of the implicit-bias theory (theory.md section 5), verified in mpmath.

Three unit-margin programs over the constraints ``X~ beta >= 1`` (rows ``x~_n = y_n x_n``):

* :func:`l1_max_margin` -- ``min sum_i w_i |beta_i|``, the rich limit for D = 2 (theory.md s.5;
  Moroshko et al. 2020, Theorem 1, alpha -> 0). A linear program.
* :func:`l2_max_margin` -- ``min sum_i beta_i^2 / k_i``, the kernel limit (theory.md s.5,
  tangent-kernel RKHS norm; Moroshko et al. 2020, alpha -> infinity). A hard-margin SVM
  without bias.
* :func:`q_mu` -- ``argmin sum_i q_D(beta_i / mu)``, the intermediate regime with
  ``mu = alpha^D / log(1/epsilon)`` (theory.md s.5; Moroshko et al. 2020, Theorem 2 / eq. of Q_mu).

Each is solved in float64 with SciPy (HiGHS, NNLS, L-BFGS-B), then *polished* in mpmath at
``digits`` significant digits (plus guard digits) and *verified*: primal feasibility, dual
feasibility, complementary slackness and the duality gap are checked at that precision and a
:class:`LimitVerificationError` is raised when any of them fails. Global mpmath precision is never
changed: all multiprecision work happens inside ``mpmath.workdps``. High-precision constants are
built from integers or exact float64 data (``mpf(float)`` is exact), never from float literals.

Shapes. With initialization shape u (``u+ = u- = u``), the gradient-flow primal recovery of
theory.md s.2 reads ``beta_i = alpha^D u_i^D h_D(u_i^{D-2} s_i)``, ``s = X~^T lambda``. Hence

* the kernel weights are ``k_i = u_i^{2D-2}`` (for unbalanced shapes the tangent kernel at
  initialization gives ``k_i = (u+_i^{2D-2} + u-_i^{2D-2}) / 2``; beta(0) is ignored);
* Q_mu uses ``sum_i u_i^2 q_D(beta_i / (mu u_i^D))`` (equal to ``sum_i q_D(beta_i / mu)`` for
  u = 1), whose dual is ``max 1^T lam - mu sum_i u_i^2 H_D(u_i^{D-2} s_i)``;
* the D > 2 rich limit is weighted l1 with ``w_i = u_i^{2-D}`` (``weights="shape"``).
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from fractions import Fraction

import mpmath
import numpy as np
from scipy import linalg, optimize

__all__ = [
    "DEFAULT_DIGITS",
    "LimitResult",
    "LimitVerificationError",
    "l1_max_margin",
    "l2_max_margin",
    "q_mu",
    "q_D",
    "h_D",
    "H_D",
    "MU_LOG10_MAX",
    "MU_LOG10_MIN_D2",
]

DEFAULT_DIGITS = 50
# Guard digits carried above the requested ``digits`` in every multiprecision computation.
_GUARD_DIGITS = 15
# HiGHS tolerances for the float64 stage (the answer is polished afterwards).
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
# Relative thresholds used to read an active set off a float64 solution.
_ZERO_RTOL = 1e-9
_TIGHT_RTOL = 1e-7

# Supported range of mu for q_mu (see the docstring of q_mu).
MU_LOG10_MAX = 250
MU_LOG10_MIN_D2 = -400_000
# D > 2: the float64 stage must resolve the barrier gap 1 - |u^{D-2} s_i| at least this well.
_MIN_FLOAT_GAP = 1e-11


class LimitVerificationError(RuntimeError):
    """The polished solution failed a KKT check at the requested precision."""


@dataclasses.dataclass(frozen=True, eq=False)
class LimitResult:
    """A verified reference predictor.

    Attributes
    ----------
    kind : str
        ``"l1"``, ``"l2"`` or ``"q_mu"``.
    beta : numpy.ndarray of mpmath.mpf, shape (d,)
        The predictor at unit margin: ``min_n (X~ beta)_n = 1`` to the precision in force.
    lam : numpy.ndarray of mpmath.mpf, shape (N,)
        Dual multipliers (lam >= 0): LP dual for l1, SVM dual (``beta = diag(k) X~^T lam``) for l2,
        theory.md s.5 dual (``beta = mu u^D h_D(u^{D-2} X~^T lam)``) for q_mu.
    support : numpy.ndarray of int
        Samples whose constraint is active, ``(X~ beta)_n = 1`` to the verification tolerance.
    active : numpy.ndarray of int
        Coordinates with ``beta_i != 0`` (for q_mu generically all of them).
    objective : mpmath.mpf
        Primal value: ``sum w_i |beta_i|`` (l1), ``sum beta_i^2 / k_i`` (l2),
        ``sum u_i^2 q_D(beta_i / (mu u_i^D))`` (q_mu; ``sum q_D(beta_i / mu)`` for u = 1).
    dual_objective : mpmath.mpf
        Dual value in the same units: ``1^T lam`` (l1, l2),
        ``(1^T lam - mu sum u_i^2 H_D(u_i^{D-2} s_i)) / mu`` (q_mu). Equal to ``objective`` at the
        optimum (strong duality).
    kkt : dict
        Named KKT residuals (mpf, dimensionless) computed at the working precision.
    kkt_residual : mpmath.mpf
        ``max(kkt.values())``; below ``10**-digits`` by construction (verified).
    digits : int
        Verified significant digits; the computation ran at ``digits + guard`` digits.
    weights : numpy.ndarray of mpmath.mpf or None
        The l1 weights w or the l2 kernel weights k (None for q_mu).
    mu : mpmath.mpf or None
        The q_mu parameter.
    margins : numpy.ndarray of mpmath.mpf
        ``X~ beta``.
    """

    kind: str
    beta: np.ndarray
    lam: np.ndarray
    support: np.ndarray
    active: np.ndarray
    objective: object
    dual_objective: object
    kkt: dict
    kkt_residual: object
    digits: int
    weights: np.ndarray | None
    mu: object
    margins: np.ndarray

    def beta_float(self) -> np.ndarray:
        """``beta`` rounded to float64."""
        return np.array([float(b) for b in self.beta])

    def lam_float(self) -> np.ndarray:
        """``lam`` rounded to float64."""
        return np.array([float(v) for v in self.lam])


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _check_digits(digits):
    if digits is None:
        return DEFAULT_DIGITS
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 5:
        raise ValueError(f"digits must be an integer >= 5 (or None for {DEFAULT_DIGITS}); got {digits!r}")
    return int(digits)


def _require_separable(problem):
    sep = problem.separability()
    if not sep.separable:
        raise ValueError(
            "the max-margin programs need linearly separable data (X~ beta >= 1 must be "
            f"feasible); {sep.message}"
        )


def _mp_array(values):
    """float64 array -> object array of mpf (exact: mpf(float) never rounds)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.empty(values.shape, dtype=object)
    for idx, v in np.ndenumerate(values):
        out[idx] = mpmath.mpf(float(v))
    return out


def _mp_solve(A, b):
    """Solve the square system ``A x = b`` (object arrays of mpf) at the current precision."""
    n = A.shape[0]
    if n == 0:
        return np.empty(0, dtype=object)
    try:
        x = mpmath.lu_solve(mpmath.matrix(A.tolist()), mpmath.matrix([[v] for v in b]))
    except TypeError:  # mpmath's LU finds no pivot in an all-zero column
        raise ZeroDivisionError("matrix is numerically singular") from None
    return np.array([x[i] for i in range(n)], dtype=object)


def _mp_abs_max(values):
    return max((abs(v) for v in values), default=mpmath.mpf(0))


def _result(kind, beta, lam, margins, tol, objective, dual_objective, kkt, digits, weights,
            mu):
    """The :class:`LimitResult` of a verified solution (support: margins within ``tol`` of
    1; active: nonzero coordinates)."""
    return LimitResult(
        kind=kind,
        beta=_freeze(beta),
        lam=_freeze(lam),
        support=_frozen_indices(_tight(margins, tol)),
        active=_frozen_indices(i for i in range(len(beta)) if beta[i] != 0),
        objective=objective,
        dual_objective=dual_objective,
        kkt=kkt,
        kkt_residual=max(kkt.values()),
        digits=digits,
        weights=weights,
        mu=mu,
        margins=_freeze(margins),
    )


def _frozen_indices(indices):
    out = np.asarray(sorted(int(i) for i in indices), dtype=np.intp)
    out.flags.writeable = False
    return out


def _freeze(array):
    array.flags.writeable = False
    return array


def _independent_rows(M, k, what):
    """Indices of ``k`` linearly independent rows of the float matrix M (pivoted QR on M^T)."""
    if k == 0:
        return np.empty(0, dtype=np.intp)
    if M.shape[0] < k:
        raise LimitVerificationError(
            f"cannot polish the {what}: only {M.shape[0]} candidate rows for {k} unknowns "
            "(the float64 solution is not a vertex; the problem may be degenerate)"
        )
    _, R, piv = linalg.qr(M.T, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    if diag.size < k or diag[k - 1] <= 1e-10 * max(diag[0], 1e-300):
        raise LimitVerificationError(
            f"cannot polish the {what}: the active rows are rank deficient "
            "(the float64 solution is not a vertex; the problem may be degenerate)"
        )
    return np.sort(piv[:k])


def _tight(margins, tol):
    return [n for n, m in enumerate(margins) if abs(m - 1) <= tol]


def _verify(kind, kkt, tol):
    bad = {name: value for name, value in kkt.items() if not value <= tol}
    if bad:
        shown = ", ".join(f"{name} = {mpmath.nstr(v, 3)}" for name, v in bad.items())
        raise LimitVerificationError(
            f"{kind}: the polished solution fails verification ({shown}; tolerance "
            f"{mpmath.nstr(tol, 3)}); the problem is too ill-conditioned for the requested "
            "digits or degenerate; try more digits or perturb the data"
        )


def _positive_weights(values, name, d):
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (d,) or not np.all(np.isfinite(values)) or not np.all(values > 0):
        raise ValueError(f"{name} must be a vector of {d} finite positive numbers; got {values!r}")
    return values


# --------------------------------------------------------------------------------------------
# l1 max margin (linear program, polished at the vertex)
# --------------------------------------------------------------------------------------------


def _l1_weights(problem, weights):
    """Weights w of the (weighted) l1 norm: None -> 1, "shape" -> u^{2-D} (theory.md s.5).

    Returns the float64 weights and a function giving them as mpf at the current precision."""
    d = problem.n_features
    if weights is None:
        return np.ones(d), lambda: _mp_array(np.ones(d))
    if isinstance(weights, str):
        if weights != "shape":
            raise ValueError(f'weights must be None, "shape" or a vector; got {weights!r}')
        if not problem.balanced_shape:
            raise ValueError('weights="shape" needs a balanced shape (u+ == u-)')
        u, e = problem.u_plus, 2 - problem.depth

        def exact():
            return np.array([ui**e for ui in _mp_array(u)], dtype=object)

        return u**e, exact
    w = _positive_weights(weights, "weights", d)
    return w, lambda: _mp_array(w)


def _l1_float(signed_X, w):
    """Float64 l1 max margin by HiGHS on ``beta = b+ - b-``; returns (beta, lam) (LP dual)."""
    n_samples, d = signed_X.shape
    res = optimize.linprog(
        np.r_[w, w],
        A_ub=np.c_[-signed_X, signed_X],
        b_ub=-np.ones(n_samples),
        bounds=(0, None),
        method="highs",
        options=_LP_OPTIONS,
    )
    if res.status != 0:
        raise RuntimeError(f"l1 max-margin linear program failed: {res.message}")
    beta = res.x[:d] - res.x[d:]
    lam = np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)
    return beta, lam


def l1_max_margin(problem, digits=None, weights=None) -> LimitResult:
    """Unit-margin l1 max-margin predictor ``argmin sum_i w_i |beta_i|  s.t.  X~ beta >= 1``.

    The rich (alpha -> 0) limit for D = 2 (theory.md s.5; Moroshko et al. 2020). Solved as a linear
    program with HiGHS on ``beta = b+ - b-``; the optimal vertex (tight samples, nonzero
    coordinates and their signs, the LP dual's support and tight dual constraints) is then solved
    exactly as square linear systems in mpmath and verified: ``X~ beta >= 1``; ``lam >= 0``;
    ``|X~^T lam|_i <= w_i`` with ``(X~^T lam)_i = w_i sign(beta_i)`` on the nonzero coordinates;
    ``lam_n (m_n - 1) = 0``; and ``w^T |beta| = 1^T lam`` (LP duality).

    Parameters
    ----------
    problem : extprec.Problem
        Separable data.
    digits : int, optional
        Verified significant digits (default ``DEFAULT_DIGITS``).
    weights : None, "shape" or vector, optional
        None: plain l1. ``"shape"``: ``w_i = u_i^{2-D}``, the leading-order D > 2 rich weights
        (theory.md s.5). A vector: explicit positive weights.
    """
    digits = _check_digits(digits)
    _require_separable(problem)
    signed_X = np.asarray(problem.signed_X, dtype=np.float64)
    w, w_exact = _l1_weights(problem, weights)
    beta_f, lam_f = _l1_float(signed_X, w)
    return _polish_l1(signed_X, w, w_exact, beta_f, lam_f, digits)


def _polish_l1(signed_X, w, w_exact, beta_f, lam_f, digits):
    """Solve the LP vertex of (beta_f, lam_f) in mpmath and verify optimality."""
    scale_b = max(float(np.abs(beta_f).max()), 1e-300)
    active = np.flatnonzero(np.abs(beta_f) > _ZERO_RTOL * scale_b)
    tight = np.flatnonzero(signed_X @ beta_f - 1.0 <= _TIGHT_RTOL)
    scale_l = max(float(lam_f.max()), 1e-300)
    dual_support = np.flatnonzero(lam_f > _ZERO_RTOL * scale_l)
    s_f = signed_X.T @ lam_f
    dual_tight = np.flatnonzero(np.abs(s_f) >= w * (1.0 - _TIGHT_RTOL))
    rows = tight[_independent_rows(signed_X[np.ix_(tight, active)], active.size, "l1 primal")]
    cols = dual_tight[
        _independent_rows(signed_X[np.ix_(dual_support, dual_tight)].T, dual_support.size, "l1 dual")
    ]
    with mpmath.workdps(digits + _GUARD_DIGITS):
        X = _mp_array(signed_X)
        w_mp = w_exact()
        n_samples, d = X.shape
        beta = np.array([mpmath.mpf(0)] * d, dtype=object)
        beta[active] = _mp_solve(X[np.ix_(rows, active)], [mpmath.mpf(1)] * active.size)
        lam = np.array([mpmath.mpf(0)] * n_samples, dtype=object)
        rhs = [int(np.sign(s_f[i])) * w_mp[i] for i in cols]
        lam[dual_support] = _mp_solve(X[np.ix_(dual_support, cols)].T, rhs)
        margins = X @ beta
        s = X.T @ lam
        obj = sum(w_mp[i] * abs(beta[i]) for i in range(d))
        dual_obj = sum(lam)
        size = 1 + _mp_abs_max(X.ravel()) * (sum(abs(b) for b in beta) + sum(abs(v) for v in lam))
        kkt = {
            "primal": max(mpmath.mpf(0), 1 - min(margins)),
            "dual": max(mpmath.mpf(0), -min(lam)) / (1 + dual_obj),
            "dual_bound": max(max(mpmath.mpf(0), abs(s[i]) - w_mp[i]) / w_mp[i] for i in range(d)),
            "sign": max(
                (abs(s[i] - mpmath.sign(beta[i]) * w_mp[i]) / w_mp[i] for i in active),
                default=mpmath.mpf(0),
            ),
            "complementarity": max(abs(lam[n] * (margins[n] - 1)) for n in range(n_samples))
            / (1 + dual_obj),
            "gap": abs(obj - dual_obj) / (1 + abs(obj)),
        }
        tol = mpmath.mpf(10) ** (-digits) * size
        _verify("l1_max_margin", kkt, tol)
        beta = beta / min(margins)  # exact unit margin (a change below tol)
        margins = X @ beta
        obj = sum(w_mp[i] * abs(beta[i]) for i in range(d))
        return _result("l1", beta, lam, margins, tol, obj, dual_obj, kkt,
                       digits, weights=_freeze(np.array(w_mp, dtype=object)), mu=None)


# --------------------------------------------------------------------------------------------
# l2 max margin (hard-margin SVM without bias)
# --------------------------------------------------------------------------------------------


def _l2_weights(problem, weights):
    """Kernel weights k: default ``(u+^{2D-2} + u-^{2D-2}) / 2`` (= u^{2D-2}; theory.md s.2, s.5).

    Returns the float64 weights and a function giving them as mpf at the current precision."""
    d = problem.n_features
    if weights is None:
        e = 2 * problem.depth - 2
        up, um = problem.u_plus, problem.u_minus

        def exact():
            return np.array(
                [(a**e + b**e) / 2 for a, b in zip(_mp_array(up), _mp_array(um))], dtype=object
            )

        return (up**e + um**e) / 2, exact
    k = _positive_weights(weights, "weights", d)
    return k, lambda: _mp_array(k)


def _l2_float(signed_X, k):
    """Float64 weighted hard-margin SVM via least-distance programming (Lawson and Hanson, ch. 23).

    ``min ||v||^2 s.t. B v >= 1`` with ``B = X~ diag(sqrt k)`` and ``beta = sqrt(k) v``: solve the
    NNLS ``min_{u >= 0} ||E u - f||`` with ``E = [B^T; 1^T]``, ``f = e_{d+1}``; then with
    ``r = E u - f``, ``v = -r[:d] / r[d]`` and the SVM dual is ``lam = u / (-r[d])``.
    """
    n_samples, d = signed_X.shape
    B = signed_X * np.sqrt(k)
    E = np.vstack([B.T, np.ones(n_samples)])
    f = np.zeros(d + 1)
    f[d] = 1.0
    u, _ = optimize.nnls(E, f, maxiter=50 * (n_samples + d))
    r = E @ u - f
    if -r[d] <= 1e-14:
        raise RuntimeError("l2 max-margin NNLS found the constraints infeasible")
    lam = u / (-r[d])
    beta = k * (signed_X.T @ lam)
    return beta, lam


def l2_max_margin(problem, digits=None, weights=None) -> LimitResult:
    """Unit-margin l2 max-margin predictor ``argmin sum_i beta_i^2 / k_i  s.t.  X~ beta >= 1``.

    The kernel (alpha -> infinity) limit (theory.md s.5: the tangent-kernel RKHS norm with
    ``k_i = u_i^{2D-2}``; for unbalanced shapes ``k_i = (u+_i^{2D-2} + u-_i^{2D-2}) / 2``, the
    diagonal of the tangent kernel at initialization, theory.md s.2). Hard-margin SVM without bias:
    the dual ``max_{lam >= 0} 1^T lam - lam^T G lam / 2``, ``G = X~ diag(k) X~^T``, is solved in
    float64 as a least-distance program by NNLS, then polished in mpmath on the support S by
    solving ``G_SS lam_S = 1`` (with an active-set correction if the float support was wrong) and
    verified: ``lam_S > 0``, ``X~ beta >= 1``, ``beta = diag(k) X~^T lam``, objective = ``1^T lam``.

    ``weights`` overrides k with an explicit positive vector.
    """
    digits = _check_digits(digits)
    _require_separable(problem)
    signed_X = np.asarray(problem.signed_X, dtype=np.float64)
    k, k_exact = _l2_weights(problem, weights)
    _, lam_f = _l2_float(signed_X, k)
    support0 = np.flatnonzero(lam_f > _ZERO_RTOL * max(float(lam_f.max()), 1e-300))
    B = signed_X * np.sqrt(k)
    support0 = support0[_independent_rows(B[support0], np.linalg.matrix_rank(B[support0]), "l2")]
    n_samples, d = signed_X.shape
    with mpmath.workdps(digits + _GUARD_DIGITS):
        X = _mp_array(signed_X)
        k_mp = k_exact()
        tol = mpmath.mpf(10) ** (-digits) * (1 + _mp_abs_max(X.ravel()) ** 2 * max(k_mp))
        S = [int(n) for n in support0]
        for _ in range(4 * n_samples + 10):  # primal-dual active-set correction (rarely used)
            XS = X[S]
            G = (XS * k_mp) @ XS.T
            try:
                lam_S = _mp_solve(G, [mpmath.mpf(1)] * len(S))
            except ZeroDivisionError:
                raise LimitVerificationError(
                    "l2_max_margin: the support-vector Gram matrix is singular (degenerate data)"
                ) from None
            if S:
                worst = min(range(len(S)), key=lambda j: lam_S[j])
                if lam_S[worst] <= 0:
                    S.pop(worst)
                    continue
            lam = np.array([mpmath.mpf(0)] * n_samples, dtype=object)
            lam[S] = lam_S
            beta = k_mp * (X.T @ lam)
            margins = X @ beta
            violated = min(range(n_samples), key=lambda n: margins[n])
            if margins[violated] < 1 - tol and violated not in S:
                S.append(violated)
                continue
            break
        else:
            raise LimitVerificationError("l2_max_margin: the active-set polish did not settle")
        obj = sum(beta[i] ** 2 / k_mp[i] for i in range(d))
        dual_obj = sum(lam)
        kkt = {
            "primal": max(mpmath.mpf(0), 1 - min(margins)),
            "dual": max(mpmath.mpf(0), -min(lam)) / dual_obj,
            "complementarity": max(abs(lam[n] * (margins[n] - 1)) for n in range(n_samples))
            / dual_obj,
            "gap": abs(obj - dual_obj) / obj,
        }
        _verify("l2_max_margin", kkt, tol)
        return _result("l2", beta, lam, margins, tol, obj, dual_obj, kkt,
                       digits, weights=_freeze(np.array(k_mp, dtype=object)), mu=None)


# --------------------------------------------------------------------------------------------
# The Q_mu potentials (theory.md s.5), in mpmath
# --------------------------------------------------------------------------------------------


def h_D(x, depth):
    """Primal recovery map (theory.md s.5): ``h_2(x) = 2 sinh x``;
    ``h_D(x) = (1-x)^{-D/(D-2)} - (1+x)^{-D/(D-2)}`` for D > 2 and |x| < 1. mpmath, current precision."""
    x = mpmath.mpf(x)
    if depth == 2:
        return 2 * mpmath.sinh(x)
    p = mpmath.mpf(depth) / (depth - 2)
    # expm1/log1p form: the two powers agree to 1 - O(x) and would cancel for small |x|
    return mpmath.expm1(-p * mpmath.log1p(-x)) - mpmath.expm1(-p * mpmath.log1p(x))


def _dh_D(x, depth):
    """Derivative of :func:`h_D` (``2 cosh x``; ``p[(1-x)^{-p-1} + (1+x)^{-p-1}]``)."""
    if depth == 2:
        return 2 * mpmath.cosh(x)
    p = mpmath.mpf(depth) / (depth - 2)
    return p * ((1 - x) ** (-p - 1) + (1 + x) ** (-p - 1))


def H_D(x, depth):
    """Dual potential (theory.md s.5), the convex conjugate of q_D with ``H_D' = h_D``:
    ``H_2(x) = 2 cosh x - 2`` (evaluated as ``4 sinh(x/2)^2``, no cancellation);
    ``H_D(x) = ((D-2)/2)[(1-x)^{-2/(D-2)} + (1+x)^{-2/(D-2)} - 2]`` for D > 2, |x| < 1 (evaluated
    by its even power series ``(D-2) sum_{j>=1} binom(k+2j-1, 2j) x^{2j}``, k = 2/(D-2), for
    |x| < 1/4, where the closed form cancels)."""
    x = mpmath.mpf(x)
    if depth == 2:
        return 4 * mpmath.sinh(x / 2) ** 2
    k = mpmath.mpf(2) / (depth - 2)
    if 4 * abs(x) < 1:
        x2 = x * x
        term = k * (k + 1) / 2 * x2  # binom(k+1, 2) x^2
        total = term
        j = 1
        eps = mpmath.eps * abs(term)
        while abs(term) > eps:
            term = term * (k + 2 * j) * (k + 2 * j + 1) / ((2 * j + 1) * (2 * j + 2)) * x2
            total += term
            j += 1
        return (depth - 2) * total
    return mpmath.mpf(depth - 2) / 2 * ((1 - x) ** (-k) + (1 + x) ** (-k) - 2)


def _h_inverse(z, depth):
    """``s = h_D^{-1}(z)``: asinh(z/2) for D = 2; for D > 2 Newton's method on the increasing,
    convex (for z > 0) h_D, started to the right of the root so that the iterates decrease
    monotonically and stay in (0, 1) (up to rounding at the end, where one more step is taken);
    odd symmetry handles z < 0."""
    z = mpmath.mpf(z)
    if depth == 2:
        return mpmath.asinh(z / 2)
    if z == 0:
        return mpmath.mpf(0)
    sign, z = (1, z) if z > 0 else (-1, -z)
    p = mpmath.mpf(depth) / (depth - 2)
    s = 1 - (2 * z + 2) ** (-1 / p)  # h(s) >= (1-s)^{-p} - 1 = 2z + 1 > z
    for _ in range(10_000):
        step = (h_D(s, depth) - z) / _dh_D(s, depth)
        s -= step
        if abs(step) <= mpmath.eps * 4 * s:  # rounding level reached
            break
    else:  # pragma: no cover - Newton on a convex increasing function always converges
        raise LimitVerificationError("inverse of h_D did not converge")
    return sign * s


def q_D(z, depth):
    """The potential of theory.md s.5: ``q_2(z) = 2 - sqrt(4 + z^2) + z asinh(z/2)`` (the
    hyperbolic entropy; ``2 - sqrt(4+z^2)`` is evaluated as ``-z^2 / (2 + sqrt(4+z^2))``);
    for D > 2 ``q_D(z) = int_0^z h_D^{-1}(t) dt = z s - H_D(s)`` with ``s = h_D^{-1}(z)``
    (Fenchel equality). mpmath, current precision."""
    z = mpmath.mpf(z)
    if depth == 2:
        root = mpmath.sqrt(4 + z * z)
        return -z * z / (2 + root) + z * mpmath.asinh(z / 2)
    s = _h_inverse(z, depth)
    return z * s - H_D(s, depth)


# --------------------------------------------------------------------------------------------
# The Q_mu dual: float64 and mpmath evaluators sharing one projected-Newton method
# --------------------------------------------------------------------------------------------


def _log_2sinh(y):
    """log(2 sinh y) for y >= 0 (float64, -inf at 0, no overflow)."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        big = y + np.log(-np.expm1(-2.0 * y))
        small = np.log(2.0 * np.sinh(np.minimum(y, 1.0)))
    return np.where(y > 0.5, big, small)


class _FloatDual:
    """Float64 evaluator of ``F(lam) = -1^T lam + mu sum_i a_i H_D(c_i s_i)``, s = X~^T lam,
    with a = u^2, b = u^D, c = u^{D-2} (theory.md s.5 with shape; the negated dual).

    Everything that scales with mu is formed as ``exp(log mu + log(...))`` so that very small and
    very large mu neither overflow nor underflow (for D = 2 the logs of sinh/cosh are used)."""

    def __init__(self, signed_X, depth, log_mu, u):
        self.X = signed_X
        self.depth = depth
        self.log_mu = log_mu
        self.log_a = 2 * np.log(u)
        self.log_b = depth * np.log(u)
        self.c = u ** (depth - 2)
        self.log_bc = np.log(u) * (2 * depth - 2)
        if depth > 2:
            self.p = depth / (depth - 2)
            self.k = 2 / (depth - 2)

    def _x(self, lam):
        return self.c * (self.X.T @ lam)

    def _log_H(self, x):
        ax = np.abs(x)
        if self.depth == 2:
            return 2 * _log_2sinh(ax / 2)
        k, D = self.k, self.depth
        with np.errstate(divide="ignore"):
            x2 = ax * ax
            c1 = k * (k + 1) / 2
            c2 = c1 * (k + 2) * (k + 3) / 12
            c3 = c2 * (k + 4) * (k + 5) / 30
            series = (D - 2) * x2 * (c1 + x2 * (c2 + x2 * c3))
            direct = (D - 2) / 2 * (np.expm1(-k * np.log1p(-ax)) + np.expm1(-k * np.log1p(ax)))
            return np.log(np.where(ax < 1e-3, series, direct))

    def value(self, lam):
        x = self._x(lam)
        if self.depth > 2 and np.abs(x).max() >= 1.0:
            return None
        with np.errstate(over="ignore"):
            terms = np.exp(self.log_mu + self.log_a + self._log_H(x))
        value = -lam.sum() + terms.sum()
        return value if np.isfinite(value) else None

    def evaluate(self, lam):
        """Return (F, beta, hw, size): beta = mu b h(c s), Hessian = X~ diag(hw) X~^T."""
        x = self._x(lam)
        ax = np.abs(x)
        with np.errstate(over="ignore", divide="ignore"):
            if self.depth == 2:
                log_h = _log_2sinh(ax)
                log_dh = ax + np.log1p(np.exp(-2.0 * ax))
            else:
                p = self.p
                log_h = np.log(np.expm1(-p * np.log1p(-ax)) - np.expm1(-p * np.log1p(ax)))
                log_dh = np.log(p) + np.log(
                    np.exp((-p - 1) * np.log1p(-ax)) + np.exp((-p - 1) * np.log1p(ax))
                )
            beta = np.sign(x) * np.exp(self.log_mu + self.log_b + log_h)
            hw = np.exp(self.log_mu + self.log_bc + log_dh)
            terms = np.exp(self.log_mu + self.log_a + self._log_H(x))
        F = -lam.sum() + terms.sum()
        return F, beta, hw, lam.sum() + terms.sum()

    one = 1.0
    zero = 0.0
    precision = 1e-13

    @staticmethod
    def solve(H, r):
        try:
            return np.linalg.solve(H, r)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(H, r, rcond=None)[0]


class _MpDual:
    """mpmath evaluator of the same F (current precision); see :class:`_FloatDual`."""

    def __init__(self, X, depth, mu, u):
        self.X = X
        self.depth = depth
        self.mu = mu
        self.a = np.array([v**2 for v in u], dtype=object)
        self.b = np.array([v**depth for v in u], dtype=object)
        self.c = np.array([v ** (depth - 2) for v in u], dtype=object)
        self.one = mpmath.mpf(1)
        self.zero = mpmath.mpf(0)
        self.precision = mpmath.mpf(10) ** (8 - mpmath.mp.dps)

    def _x(self, lam):
        return self.c * (self.X.T @ lam)

    def value(self, lam):
        x = self._x(lam)
        if self.depth > 2 and max(abs(v) for v in x) >= 1:
            return None
        return -sum(lam) + self.mu * sum(a * H_D(v, self.depth) for a, v in zip(self.a, x))

    def evaluate(self, lam):
        x = self._x(lam)
        D = self.depth
        beta = np.array([self.mu * b * h_D(v, D) for b, v in zip(self.b, x)], dtype=object)
        hw = np.array(
            [self.mu * b * c * _dh_D(v, D) for b, c, v in zip(self.b, self.c, x)], dtype=object
        )
        terms = self.mu * sum(a * H_D(v, D) for a, v in zip(self.a, x))
        return -sum(lam) + terms, beta, hw, sum(lam) + terms

    def solve(self, H, r):
        n = H.shape[0]
        shift = self.zero
        for _ in range(6):
            try:
                return _mp_solve(H + shift * np.eye(n, dtype=int), r)
            except ZeroDivisionError:
                scale = max(abs(H[i, i]) for i in range(n))
                shift = (shift * 1000) if shift else scale * mpmath.mpf(10) ** (10 - mpmath.mp.dps)
        raise LimitVerificationError("q_mu: singular Newton system (degenerate data)")


def _projected_newton(ops, X, lam, lam_scale, tol, maxiter):
    """Minimize the convex F(lam) over lam >= 0 by Bertsekas' projected Newton method (1982).

    The epsilon-active set ``{lam_n <= eps, dF/dlam_n > 0}`` is sent to the bound; a Newton step
    on the Hessian ``X~_F diag(hw) X~_F^T`` moves the free variables; a projected Armijo search
    (with the domain ``|u^{D-2} s| < 1`` for D > 2) globalizes it. Works for float arrays and for
    object arrays of mpf alike. Stops when the KKT residual ``max_n |min(lam_n/lam_scale, g_n)|``,
    g = X~ beta - 1 (the margin excess), is <= tol. Returns (lam, converged, residual).
    """
    F, beta, hw, size = ops.evaluate(lam)
    residual = None
    for _ in range(maxiter):
        g = X @ beta - ops.one
        r = [abs(min(lam[n] / lam_scale, g[n])) for n in range(len(lam))]
        residual = max(r)
        if residual <= tol:
            return lam, True, residual
        eps = min(residual, ops.one / 1000)
        fixed = np.array([lam[n] <= eps * lam_scale and g[n] > 0 for n in range(len(lam))])
        free = np.flatnonzero(~fixed)
        newton = -lam.copy()
        if free.size:
            Xf = X[free]
            newton[free] = -ops.solve((Xf * hw) @ Xf.T, g[free])
        gradient = -lam.copy()  # fallback: projected steepest descent in units of lam_scale
        gradient[free] = -g[free] * lam_scale
        for step in (newton, gradient):
            cand = _line_search(ops, lam, step, F, g, size)
            if cand is not None:
                break
        else:
            return lam, False, residual
        lam = cand
        F, beta, hw, size = ops.evaluate(lam)
    return lam, False, residual


def _line_search(ops, lam, step, F, g, size):
    """Projected Armijo search along ``step`` from lam (None when no acceptable point is found).

    When even the full step promises a decrease below the resolution of F (Newton's local regime)
    any point inside the domain is accepted."""
    full = np.array([max(v, ops.zero) for v in lam + step], dtype=lam.dtype)
    local = g @ (lam - full) <= ops.precision * size
    t = ops.one
    for _ in range(60):
        cand = np.array([max(v, ops.zero) for v in lam + t * step], dtype=lam.dtype)
        Fc = ops.value(cand)
        if Fc is not None:
            if local:
                return cand
            predicted = g @ (lam - cand)
            if predicted > 0 and F - Fc >= predicted / 10_000:
                return cand
        t = t / 2
    return None


def _parse_mu(mu):
    """mu as an mpf at the current precision (exact for str, int, Fraction, Decimal, float)."""
    if isinstance(mu, bool):
        raise TypeError("mu must be a positive number or a decimal string")
    if isinstance(mu, Fraction):
        value = mpmath.mpf(mu.numerator) / mu.denominator
    elif isinstance(mu, Decimal):
        value = mpmath.mpf(str(mu))
    elif isinstance(mu, (str, int, float, np.integer, np.floating)) or hasattr(mu, "_mpf_"):
        value = mpmath.mpf(mu.strip() if isinstance(mu, str) else mu)
    else:
        raise TypeError(f"mu must be a positive number or a decimal string; got {type(mu).__name__}")
    if not mpmath.isfinite(value) or value <= 0:
        raise ValueError(f"mu must be finite and > 0; got {mu!r}")
    return value


def q_mu(problem, mu, digits=None) -> LimitResult:
    """``argmin_beta sum_i q_D(beta_i / mu)  s.t.  X~ beta >= 1`` (theory.md s.5), via its dual.

    With a balanced shape u the program is ``sum_i u_i^2 q_D(beta_i / (mu u_i^D))`` (the form the
    gradient flow's primal recovery of theory.md s.2 induces; identical for u = 1). Dual
    (theory.md s.5; Moroshko et al. 2020): ``max_{lam >= 0} 1^T lam - mu sum_i u_i^2
    H_D(u_i^{D-2} (X~^T lam)_i)`` with primal recovery ``beta_i = mu u_i^D h_D(u_i^{D-2} s_i)``,
    so that ``q_D'(beta_i / (mu u_i^D)) = u_i^{D-2} s_i`` (for D = 2: ``beta_i = 2 mu u_i^2
    sinh(s_i)``, ``asinh(beta_i / (2 mu u_i^2)) = s_i``). The dual is the one of the primal scaled
    by mu, hence ``dual_objective = (1^T lam - mu sum ...) / mu``.

    Method: float64 warm start from the l2 dual (mu >= 1/h_D'(0)) or the l1 dual (smaller mu),
    L-BFGS-B (D = 2) and a projected Newton method in float64 (log-domain evaluations); then the
    projected Newton method in mpmath at ``digits`` + guard digits until the KKT residual is below
    ``10**-(digits+5)``; then verification: ``X~ beta >= 1``, margins = 1 wherever lam > 0,
    ``lam >= 0``, stationarity checked independently through ``q_D'`` (``asinh`` for D = 2, a
    Newton inversion of h_D for D > 2) and strong duality ``objective == dual_objective``.

    Supported mu (raises ValueError outside): ``mu <= 10**MU_LOG10_MAX`` (the float64 stage forms
    lam ~ 1/mu); for D = 2, ``mu >= 10**MU_LOG10_MIN_D2`` (lam ~ log(1/mu), and the guard digits grow
    like log10(log(1/mu))); for D > 2, mu small enough that the barrier gap
    ``1 - max_i |u_i^{D-2} s_i|`` (about mu^{(D-2)/D}) cannot be resolved by the float64 stage
    (it fails to converge, or the gap is below 1e-11) is rejected; in practice D = 3 reaches
    mu ~ 1e-12, D = 4 ~ 1e-9, D = 5 ~ 1e-6 on random data. mu may be
    given as a string (e.g. ``"1e-5000"``) to leave the float range.

    Parameters
    ----------
    problem : extprec.Problem
        Separable data, depth D >= 2, balanced shape.
    mu : positive number, mpf or decimal string
    digits : int, optional
        Verified significant digits (default ``DEFAULT_DIGITS``).
    """
    digits = _check_digits(digits)
    depth = problem.depth
    if depth < 2:
        raise ValueError("q_mu needs depth D >= 2 (for D = 1 every regime gives the l2 max margin)")
    if not problem.balanced_shape:
        raise ValueError("q_mu needs a balanced shape (u+ == u-); beta(0) != 0 is not modelled")
    _require_separable(problem)
    with mpmath.workdps(30):
        mu_30 = _parse_mu(mu)
        log10_mu = float(mpmath.log10(mu_30))
        log_mu = float(mpmath.log(mu_30))
    if log10_mu > MU_LOG10_MAX:
        raise ValueError(
            f"mu = 10^{log10_mu:.4g} is above the supported range (mu <= 1e{MU_LOG10_MAX}); the "
            "problem is then the kernel limit: use l2_max_margin"
        )
    if depth == 2 and log10_mu < MU_LOG10_MIN_D2:
        raise ValueError(
            f"mu = 10^{log10_mu:.4g} is below the supported range for D = 2 "
            f"(mu >= 1e{MU_LOG10_MIN_D2}); the problem is then the l1 limit: use l1_max_margin"
        )
    signed_X = np.asarray(problem.signed_X, dtype=np.float64)
    n_samples, d = signed_X.shape
    u = np.asarray(problem.u_plus, dtype=np.float64)

    # ---- float64 stage --------------------------------------------------------------------
    ops, lam_f, lam_scale, converged = _float_stage(signed_X, depth, log_mu, u)
    guard = _GUARD_DIGITS + math.ceil(math.log10(2.0 + abs(log_mu)))
    if depth > 2:
        gap = 1.0 - float(np.abs(ops._x(lam_f)).max())
        if gap < _MIN_FLOAT_GAP or not converged:
            raise ValueError(
                f"mu = 10^{log10_mu:.4g} is below the supported range for D = {depth}: the dual "
                f"barrier gap 1 - |u^(D-2) s| = {gap:.2g} is not resolved by the float64 stage "
                f"(needs a converged solve and a gap >= {_MIN_FLOAT_GAP:g}); use "
                "l1_max_margin(problem, weights='shape') for the limit"
            )
        guard += math.ceil(-math.log10(gap))

    # ---- mpmath stage ---------------------------------------------------------------------
    with mpmath.workdps(digits + guard):
        mu_mp = _parse_mu(mu)
        X = _mp_array(signed_X)
        mops = _MpDual(X, depth, mu_mp, _mp_array(u))
        scale_mp = mpmath.mpf(lam_scale)
        tol_newton = mpmath.mpf(10) ** (-(digits + 5))
        lam, converged, residual = _projected_newton(
            mops, X, _mp_array(lam_f), scale_mp, tol_newton, 300
        )
        if not converged:
            raise LimitVerificationError(
                f"q_mu: the multiprecision Newton polish did not converge (KKT residual "
                f"{mpmath.nstr(residual, 3)} at mu = {mpmath.nstr(mu_mp, 6)}); mu is probably "
                "outside the numerically supported range for this data"
            )
        _, beta, _, _ = mops.evaluate(lam)
        margins = X @ beta
        s = mops._x(lam)
        z = [beta[i] / (mu_mp * mops.b[i]) for i in range(d)]
        objective = sum(mops.a[i] * q_D(z[i], depth) for i in range(d))
        dual_objective = (sum(lam) - mu_mp * sum(mops.a[i] * H_D(s[i], depth) for i in range(d))) / mu_mp
        kkt = {
            "primal": max(mpmath.mpf(0), 1 - min(margins)),
            "dual": max(mpmath.mpf(0), -min(lam)) / scale_mp,
            "complementarity": max(
                abs(min(lam[n] / scale_mp, margins[n] - 1)) for n in range(n_samples)
            ),
            "stationarity": max(
                abs(_h_inverse(z[i], depth) - s[i]) / (1 + abs(s[i])) for i in range(d)
            ),
            "gap": abs(objective - dual_objective) / abs(objective),
        }
        tol = mpmath.mpf(10) ** (-digits)
        _verify("q_mu", kkt, tol)
        return _result("q_mu", beta, lam, margins, tol, objective, dual_objective, kkt,
                       digits, weights=None, mu=mu_mp)


def _float_stage(signed_X, depth, log_mu, u):
    """Float64 solution of the Q_mu dual: (evaluator, lam, lam_scale, converged).

    Direct solve from a warm start (the l2 dual times 1/(mu h_D'(0)) on the kernel side, the l1
    dual times log(1/mu) (D = 2) or times 1 - mu^{(D-2)/D} (D > 2) on the rich side), polished by
    L-BFGS-B (D = 2) and the projected Newton method. If that fails, continuation in log(mu)
    from the kernel side, warm-starting each step from the previous solution."""
    dh0 = 2.0 if depth == 2 else 2.0 * depth / (depth - 2)  # h_D'(0)
    log_dh0 = math.log(dh0)

    def lam_scale_of(lm):
        if lm + log_dh0 >= 0.0:
            return math.exp(-(lm + log_dh0))
        return 1.0 - (lm + log_dh0) if depth == 2 else 1.0

    def solve(lm, lam0):
        ops = _FloatDual(signed_X, depth, lm, u)
        lam_scale = lam_scale_of(lm)
        if depth > 2:  # start strictly inside the dual domain |u^{D-2} s| < 1
            reach = float(np.abs(ops._x(lam0)).max())
            if reach >= 1.0:
                lam0 = lam0 * (0.5 / reach)
        if depth == 2:
            lam0 = _lbfgsb(ops, lam0, lam_scale)
        lam, converged, _ = _projected_newton(ops, signed_X, lam0, lam_scale, 1e-11, 100)
        return ops, lam, lam_scale, converged

    if log_mu + log_dh0 >= 0.0:
        _, lam_l2 = _l2_float(signed_X, u ** (2 * depth - 2))
        lam0 = lam_l2 * lam_scale_of(log_mu)
    else:
        _, lam_l1 = _l1_float(signed_X, u ** (2 - depth))
        if depth == 2:
            lam0 = lam_l1 * lam_scale_of(log_mu)
        else:
            # |u^{D-2} s_i| -> 1 on the l1 support with a barrier gap of order mu^{1/p},
            # p = D/(D-2), so that beta_i ~ mu u^D (1 - x_i)^{-p} = O(1)
            lam0 = lam_l1 * -math.expm1(log_mu * (depth - 2) / depth)
    ops, lam, lam_scale, converged = solve(log_mu, lam0)
    if converged:
        return ops, lam, lam_scale, True
    # continuation in log(mu) from the kernel side (mu h'(0) = 10)
    lm = math.log(10.0) - log_dh0
    if lm <= log_mu:
        return ops, lam, lam_scale, False  # the mpmath stage takes over; it verifies everything
    _, lam_l2 = _l2_float(signed_X, u ** (2 * depth - 2))
    ops, lam, lam_scale, converged = solve(lm, lam_l2 * lam_scale_of(lm))
    step = math.log(10.0)
    while lm > log_mu and step > math.log(10.0) / 256:
        target = max(lm - step, log_mu)
        t_ops, t_lam, t_scale, ok = solve(target, lam)
        if ok:
            ops, lam, lam_scale, lm = t_ops, t_lam, t_scale, target
        else:
            step /= 2
    return ops, lam, lam_scale, lm <= log_mu


def _lbfgsb(ops, lam0, lam_scale):
    """L-BFGS-B on the float64 dual in the scaled variable lam / lam_scale (bounds lam >= 0).

    Only a warm start for the projected Newton method: on failure lam0 is returned unchanged."""

    def fun(zv):
        F, beta, _, _ = ops.evaluate(zv * lam_scale)
        if not np.isfinite(F):
            return np.inf, np.zeros_like(zv)
        return F / lam_scale, ops.X @ beta - 1.0

    try:
        res = optimize.minimize(
            fun,
            lam0 / lam_scale,
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, None)] * lam0.size,
            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12},
        )
    except (ValueError, FloatingPointError):  # pragma: no cover - defensive
        return lam0
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun):
        return lam0
    lam = res.x * lam_scale
    return lam if fun(res.x)[0] <= fun(lam0 / lam_scale)[0] else lam0
