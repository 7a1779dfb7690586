"""The rich limit of depth D > 2 (theory.md s.5): a KKT point of ``min ||beta||_{2/D}``.

For D > 2 the t -> infinity direction of gradient flow is a KKT point of

    min sum_i |beta_i|^(2/D)   s.t.  X~ beta >= 1,

the image in beta of ``min ||w||^2`` over the parameters (Lyu and Li 2020, Theorem 4.4: the
parameter direction converges to a KKT point of the margin problem; with
``beta = w+^D - w-^D`` the minimal ``w+^2 + w-^2`` for a given beta_i is ``|beta_i|^(2/D)``).
The program is not convex and its KKT conditions only constrain the nonzero coordinates A (the
gradient of the margins in w vanishes at ``w_i = 0`` for D > 2): with
``g_i = (2/D) |beta_i|^(2/D - 1) sign(beta_i)``,

    lam >= 0,  lam_n (m_n - 1) = 0,  (X~^T lam)_i = g_i  for i in A.

So the limit need not be the global (weighted) l1 max margin: it can be the l1 max margin
restricted to the coordinates that activated (theory.md s.5). :func:`restricted_l1_max_margin`
solves that program and :func:`l2D_kkt` checks the KKT conditions above at any candidate, e.g.
the global l1 solution or a restricted one.
"""

from __future__ import annotations

import dataclasses

import mpmath
import numpy as np
from scipy import optimize

from .programs import (
    _GUARD_DIGITS,
    LimitResult,
    _check_digits,
    _frozen_indices,
    _independent_rows,
    _l1_weights,
    _mp_array,
    _mp_solve,
    l1_max_margin,
)

__all__ = ["KKTCheck", "l2D_kkt", "restricted_l1_max_margin"]


def restricted_l1_max_margin(problem, coordinates, digits=None) -> LimitResult:
    """``argmin sum_{i in A} w_i |beta_i|  s.t.  X~ beta >= 1, beta_i = 0 off A``.

    The l1 max margin on the coordinates A only (w = u^(2-D) for D > 2, as
    :func:`~extprec.limits.l1_max_margin` with ``weights="shape"``; 1 for D <= 2), solved and
    verified by ``l1_max_margin`` on the data restricted to A and embedded back: ``beta``,
    ``active`` and ``weights`` have the length d of the problem, ``kind`` is
    ``"l1_restricted"``. Raises ValueError when the coordinates A do not separate the data.
    """
    from ..problem import Problem

    A = np.array(sorted({int(i) for i in coordinates}), dtype=np.intp)
    d = problem.n_features
    if A.size == 0 or A[0] < 0 or A[-1] >= d:
        raise ValueError(f"coordinates must be a non-empty set of indices in [0, {d}); got "
                         f"{list(coordinates)!r}")
    sub = Problem(problem.X[:, A], problem.y, depth=problem.depth, alpha=problem.alpha_exact,
                  shape=(problem.u_plus[A], problem.u_minus[A]))
    if not sub.separability().separable:
        raise ValueError(f"the coordinates {A.tolist()} do not separate the data, so the l1 "
                         "program restricted to them has no feasible point")
    weights = "shape" if problem.depth > 2 else None
    result = l1_max_margin(sub, digits=digits, weights=weights)
    with mpmath.workdps(result.digits + _GUARD_DIGITS):
        beta = np.array([mpmath.mpf(0)] * d, dtype=object)
        beta[A] = result.beta
        full_weights = np.array(_l1_weights(problem, weights)[1](), dtype=object)
    beta.flags.writeable = False
    full_weights.flags.writeable = False
    return dataclasses.replace(result, kind="l1_restricted", beta=beta,
                               active=_frozen_indices(A[result.active]), weights=full_weights)


@dataclasses.dataclass(frozen=True, eq=False)
class KKTCheck:
    """Outcome of :func:`l2D_kkt`.

    Attributes
    ----------
    is_kkt : bool
        All residuals at most ``10^-digits`` (relative) and every multiplier >= 0.
    reason : str
        Which condition failed, or that all hold.
    lam : numpy.ndarray of mpf, shape (N,)
        The multipliers (nonzero only on tight samples).
    active : numpy.ndarray of int
        Nonzero coordinates A of the candidate.
    tight : numpy.ndarray of int
        Samples with unit margin.
    residuals : dict
        ``"primal"`` (``max(0, 1 - min m)``), ``"stationarity"`` (``max_i |(X~^T lam)_i - g_i| /
        max |g|`` over A), ``"dual"`` (``max(0, -min lam) / max lam``).
    digits : int
    """

    is_kkt: bool
    reason: str
    lam: np.ndarray
    active: np.ndarray
    tight: np.ndarray
    residuals: dict
    digits: int


def l2D_kkt(problem, beta, digits=None, depth=None) -> KKTCheck:
    """Check the KKT conditions of ``min ||beta||_{2/D}^{2/D}  s.t.  X~ beta >= 1`` at ``beta``.

    ``beta`` is a unit-margin candidate (sequence convertible by mpmath.mpf, e.g. the ``beta``
    of a :class:`~extprec.limits.LimitResult`); D is the problem's depth unless ``depth`` is
    given. The multipliers are the nonnegative least-squares solution of the stationarity
    equations on the tight samples (scipy NNLS for their support, then the normal equations in
    mpmath at ``digits`` + guard digits); the conditions are in the module docstring.
    """
    digits = _check_digits(digits)
    depth = problem.depth if depth is None else int(depth)
    if depth <= 2:
        raise ValueError(f"the l_(2/D) program is non-convex only for D > 2; got D = {depth} "
                         "(for D = 2 it is the l1 program: use l1_max_margin)")
    signed_X = np.asarray(problem.signed_X, dtype=np.float64)
    n_samples, d = signed_X.shape
    with mpmath.workdps(digits + _GUARD_DIGITS):
        b = np.array([mpmath.mpf(v) for v in beta], dtype=object)
        if len(b) != d:
            raise ValueError(f"beta must have {d} entries (the problem's features); got {len(b)}")
        X = _mp_array(signed_X)
        tol = mpmath.mpf(10) ** (-digits)
        scale = max(abs(v) for v in b)
        active = np.array([i for i in range(d) if abs(b[i]) > tol * scale], dtype=np.intp)
        margins = X @ b
        tight = np.array([n for n in range(n_samples) if abs(margins[n] - 1) <= tol * 100],
                         dtype=np.intp)
        exponent = mpmath.mpf(2) / depth - 1
        g = np.array([2 * abs(b[i]) ** exponent * mpmath.sign(b[i]) / depth for i in active],
                     dtype=object)
        lam = np.array([mpmath.mpf(0)] * n_samples, dtype=object)
        if tight.size and active.size:
            M = signed_X[np.ix_(tight, active)]
            weights, _ = optimize.nnls(M.T, np.array([float(v) for v in g]))
            support = np.flatnonzero(weights > 1e-12 * max(float(weights.max()), 1e-300))
            if support.size:
                rank = np.linalg.matrix_rank(M[support])
                support = support[_independent_rows(M[support], rank, "l_(2/D) multipliers")]
                Ms = X[np.ix_(tight[support], active)]
                lam[tight[support]] = _mp_solve(Ms @ Ms.T, Ms @ g)
        top_g = max(abs(v) for v in g) if g.size else mpmath.mpf(1)
        stationarity = (X[:, active].T @ lam) - g if active.size else np.array([])
        residuals = {
            "primal": max(mpmath.mpf(0), 1 - min(margins)),
            "stationarity": max((abs(v) for v in stationarity), default=mpmath.mpf(0)) / top_g,
            "dual": max(mpmath.mpf(0), -min(lam)) / max(max(lam), tol),
        }
        failed = [name for name, value in residuals.items() if value > tol * 100]
        if not tight.size:
            failed.append("primal")
            reason = "no sample has unit margin: beta is not normalized to margin 1"
        elif failed:
            shown = ", ".join(f"{n} = {mpmath.nstr(residuals[n], 3)}" for n in dict.fromkeys(failed))
            reason = (f"not a KKT point of the l_(2/D) program ({shown}); a stationarity residual "
                      "means no nonnegative multipliers on the tight samples balance the "
                      "gradient of ||beta||_(2/D) on the active coordinates")
        else:
            reason = "a KKT point of the l_(2/D) program (all residuals below 1e2 * 10^-digits)"
        lam.flags.writeable = False
        return KKTCheck(is_kkt=not failed, reason=reason, lam=lam,
                        active=_frozen_indices(active), tight=_frozen_indices(tight),
                        residuals=residuals, digits=digits)
