"""Asymptotic expansions of the flow with their orders (theory.md sections 3 and 5).

Each function returns an :class:`Expansion`: the predicted constant, the observable it
predicts, the window where it holds and the order of its error there. Orders marked (derived)
were derived for this module (the derivation is in the docstring) and are checked by
tests/test_asymptotics.py by fitting the slope of log(error) against log(window parameter) on
random small separable problems. All expansions are for the exponential loss with the
default shape u = 1 (what theory.md s.3 states); they raise ValueError otherwise.

* :func:`kernel_clock` -- kernel phase, ``1 << sigma << alpha^D`` (theory.md s.3):
  ``d sigma / d tau -> 2 D^2 alpha^(2D-2) / ||beta_l2||^2``, observed as
  ``L t -> ||beta_l2||^2 / (2 D^2 alpha^(2D-2))``.
* :func:`rich_clock` -- rich phase, D = 2 (theory.md s.3): ``(d sigma / d tau) / sigma ->
  4 / ||beta_K||_1``, observed as ``(tau(sigma_2) - tau(sigma_1)) / log(sigma_2 / sigma_1)
  -> ||beta_K||_1 / 4``.
* :func:`tau_horizon` -- rich phase, D > 2 (theory.md s.3): ``tau_inf - tau ~ C sigma^-(1-2/D)``
  with C from the limit predictor, observed as ``tau(sigma_2) - tau(sigma_1)``.
* :func:`saddle_escape` -- small alpha (theory.md s.3): the first coordinate
  ``i* = argmax |s_i|``, ``s = sum_n x~_n``, activates near ``tau = N log(1/alpha^2) /
  (4 |s_i*|)`` (D = 2) or ``N alpha^(2-D) / (D (D-2) |s_i*|)`` (D > 2), observed as the tau at
  which the loss has fallen to N / e.
* :func:`q_mu_dual_path` -- theory.md s.5: the flow's multipliers ``lambda = c_D alpha^(D-2) nu``
  only grow, so it can follow ``argmin Q_mu`` (and approach it at rate alpha^-2, D = 2) only
  where the dual path ``mu -> lambda*(mu)`` is monotone; this reports where it is not.
"""

from __future__ import annotations

import dataclasses
import math

import mpmath
import numpy as np

from .programs import l1_max_margin, l2_max_margin, q_mu
from .rich import restricted_l1_max_margin

__all__ = ["DualPath", "Expansion", "kernel_clock", "q_mu_dual_path", "rich_clock",
           "saddle_escape", "tau_horizon"]

_DIGITS = 30


@dataclasses.dataclass(frozen=True)
class Expansion:
    """A predicted asymptotic constant.

    Attributes
    ----------
    value : mpf
        The predicted limit of ``observable``.
    observable : str
        What tends to ``value``.
    window : str
        Where the expansion holds.
    order : str
        The order of the relative error in the window.
    reference : str
        Where the formula comes from.
    exponent : float or None
        The error exponent in the window parameter when it is a power law (see ``order``).
    """

    value: object
    observable: str
    window: str
    order: str
    reference: str
    exponent: float | None = None


def _check_exp_default_shape(problem, what):
    if problem.loss != "exp":
        raise ValueError(f"{what} is stated for the exponential loss (theory.md s.3); got "
                         f"loss={problem.loss!r}")
    if not (problem.balanced_shape and np.all(problem.u_plus == 1.0)):
        raise ValueError(f"{what} is stated for the default shape u = 1 (theory.md s.3)")
    if problem.depth < 2:
        raise ValueError(f"{what} needs depth D >= 2; got D = {problem.depth}")


def _alpha(problem):
    return mpmath.exp(problem.log_alpha_mp(mpmath.mp))


def kernel_clock(problem) -> Expansion:
    """Kernel-phase clock (theory.md s.3): ``L t -> ||beta_l2||^2 / (2 D^2 alpha^(2D-2))``.

    At initialization the tangent kernel is ``K0 = 2 D^2 alpha^(2D-2) X~ X~^T`` (theory.md s.2)
    and p = softmax(-m) tends to the SVM dual ``lam / 1^T lam``, so ``d sigma / d tau = p^T K0 p
    -> 2 D^2 alpha^(2D-2) / ||beta_l2||^2`` (``lam^T X~ X~^T lam = 1^T lam = ||beta_l2||^2``);
    with ``dt / d sigma = exp(sigma) / sigma'`` this gives ``L t`` above (sum loss: ``L = sum
    exp(-m)``; for the mean loss ``t`` is N times larger, theory.md s.6).

    Error (derived): ``O(1/sigma)`` from the equalization of the margins of several support
    vectors (p approaches the SVM dual like 1/tau, as for the linear model; with a single
    support vector it is exponentially small), plus ``O((sigma / alpha^D)^2)`` from the drift of
    the kernel (``w+^(2D-2) + w-^(2D-2)`` is even in rho, so the first order cancels); at the
    window's geometric middle ``sigma = alpha^(D/2)`` the error is ``O(alpha^(-D/2))``
    (``exponent = -D/2`` in alpha), or ``O(alpha^-D)`` with one support vector.
    """
    _check_exp_default_shape(problem, "kernel_clock")
    D = problem.depth
    with mpmath.workdps(_DIGITS):
        l2 = l2_max_margin(problem, digits=_DIGITS)
        value = l2.objective / (2 * D**2 * _alpha(problem) ** (2 * D - 2))
        if problem.reduction == "mean":
            value *= problem.n_samples
    return Expansion(value, "L t (exp loss)", "1 << sigma << alpha^D",
                     "O(1/sigma) (several support vectors) + O((sigma / alpha^D)^2); "
                     "O(alpha^(-D/2)) at sigma = alpha^(D/2)",
                     "theory.md s.3 (kernel phase); Soudry et al. 2018 on the tangent kernel",
                     exponent=-D / 2)


def rich_clock(problem) -> Expansion:
    """Rich-phase clock for D = 2 (theory.md s.3): ``tau(sigma_2) - tau(sigma_1) ~
    (||beta_K||_1 / 4) log(sigma_2 / sigma_1)``, i.e. ``(d sigma / d tau) / sigma -> 4 /
    ||beta_K||_1`` with beta_K the l1 max margin.

    Derivation and error (derived): on the active set A of beta_K, ``4 rho_A = log(beta_A /
    alpha^2) + O(alpha^4 / beta^2)`` and ``beta_A = sigma beta_K,A (1 + O(1/sigma))``, so the
    support-vector duals grow like ``nu_S = (log sigma / 4) lam* + const + O(1/sigma)`` with
    lam* the LP dual (``1^T lam* = ||beta_K||_1``); summing gives the law. An inactive coordinate
    i grows like ``sigma^|s_i|``, ``s = X~^T lam*`` (``|s_i| < 1``), so it adds a relative error
    ``sigma^-(1 - |s_i|)`` with a prefactor set by the path (``exp(4 rho_i)`` carries the
    history of the saddle phases; it can be negligible). Order: at most
    ``sigma^-min(1, 1 - s_max)`` with s_max the largest inactive ``|s_i|`` (``exponent``), for a
    nondegenerate l1 vertex; ``O(1/sigma)`` when the inactive term is negligible.
    """
    _check_exp_default_shape(problem, "rich_clock")
    if problem.depth != 2:
        raise ValueError("rich_clock is the D = 2 law; for D > 2 the rich phase has a finite tau "
                         "horizon: use tau_horizon")
    with mpmath.workdps(_DIGITS):
        l1 = l1_max_margin(problem, digits=_DIGITS)
        s = problem.signed_X.T @ np.array([float(v) for v in l1.lam])
        inactive = [abs(s[i]) for i in range(problem.n_features) if i not in set(l1.active)]
        s_max = max(inactive, default=0.0)
        return Expansion(l1.objective / 4, "(tau(sigma_2) - tau(sigma_1)) / log(sigma_2/sigma_1)",
                         "sigma >> 1, after the last saddle (rich phase)",
                         "O(sigma^-(1 - s_max)) + O(1/sigma), s_max = max inactive |X~^T lam*|",
                         "theory.md s.3 (rich phase, D = 2); Lyu and Li 2020",
                         exponent=-min(1.0, 1.0 - s_max))


def tau_horizon(problem, active=None) -> Expansion:
    """Finite tau horizon for D > 2 (theory.md s.3): ``tau_inf - tau ~ C sigma^-(1-2/D)``.

    Derivation (derived): on the active set A (the coordinates that activated; ``active``,
    default that of the global weighted l1 max margin) the limit is the l1 max margin beta_K
    restricted to A with tight samples S, ``|S| = |A|``. With ``x = D (D-2) alpha^(D-2) X~^T nu``
    and gap ``g_i = 1 - |x_i|``, ``beta_i = alpha^D h_D(x_i) = alpha^D g_i^(-D/(D-2))
    (1 + O(g^(D/(D-2))))`` equals ``sigma beta_K,i (1 + O(1/sigma))``, so
    ``g_i = (alpha^D / (sigma |beta_K,i|))^((D-2)/D)`` and ``nu_inf - nu`` on S solves
    ``X~_{S,A}^T (nu_inf - nu)_S = sign(beta_K,A) g_A / (D (D-2) alpha^(D-2))``. Hence
    ``C = 1^T X~_{S,A}^-T [sign(beta_i) (alpha^D / |beta_K,i|)^((D-2)/D)] / (D (D-2) alpha^(D-2))``
    (``value``). Error: relative ``O(1/sigma)`` (``exponent = -1``) once the active set has
    settled; the non-support samples' duals converge exponentially.
    """
    _check_exp_default_shape(problem, "tau_horizon")
    D = problem.depth
    if D <= 2:
        raise ValueError("tau_horizon is the D > 2 law (D = 2 has tau -> infinity: use "
                         "rich_clock)")
    with mpmath.workdps(_DIGITS):
        if active is None:
            limit = l1_max_margin(problem, digits=_DIGITS, weights="shape")
        else:
            limit = restricted_l1_max_margin(problem, active, digits=_DIGITS)
        A, S = list(limit.active), list(limit.support)
        if len(A) != len(S):
            raise ValueError(f"tau_horizon needs a nondegenerate limit vertex (|support| = "
                             f"|active|); got {len(S)} tight samples for {len(A)} coordinates")
        alpha = _alpha(problem)
        q = mpmath.mpf(D - 2) / D
        rhs = [mpmath.sign(limit.beta[i]) * (alpha**D / abs(limit.beta[i])) ** q for i in A]
        M = mpmath.matrix([[mpmath.mpf(float(problem.signed_X[n, i])) for n in S] for i in A])
        delta_nu = mpmath.lu_solve(M, mpmath.matrix(rhs))
        C = mpmath.fsum(delta_nu) / (D * (D - 2) * alpha ** (D - 2))
    return Expansion(C, "(tau(sigma_2) - tau(sigma_1)) / (sigma_1^-q - sigma_2^-q), q = 1 - 2/D",
                     "sigma >> 1 once the active set has settled (rich phase)",
                     "O(1/sigma)", "theory.md s.3 (rich phase, D > 2)", exponent=-1.0)


def saddle_escape(problem) -> Expansion:
    """Escape from the saddle at beta = 0 for small alpha (theory.md s.3).

    While beta ~ 0 all margins are ~ 0, so p = 1/N and ``rho = s tau / N``, ``s = X~^T 1``. The
    coordinate ``i* = argmax |s_i|`` leaves the saddle first: for D = 2 ``beta_i* = 2 alpha^2
    sinh(4 |s_i*| tau / N)`` reaches order one at ``tau = N log(1/alpha^2) / (4 |s_i*|)``; for
    D > 2 it blows up at the barrier ``D (D-2) |rho_i*| = alpha^(2-D)``, ``tau = N alpha^(2-D) /
    (D (D-2) |s_i*|)``. Observable: tau where the loss has fallen to ``N / e``; it measures this
    escape when i* separates the data by itself (every ``x~_n,i*`` of one sign), otherwise the
    loss can stall at a later saddle above N / e.

    Error (derived): D = 2, the loss falls once ``beta_i* = O(1)``, an O(1) shift of
    ``4 |s_i*| tau / N``: relative ``O(1 / log(1/alpha))`` (``exponent = -1`` in log(1/alpha));
    D > 2, beta is of order one when the gap ``1 - x`` is of order ``alpha^(D-2)``: relative
    ``O(alpha^(D-2))`` (``exponent = D - 2`` in alpha).
    """
    _check_exp_default_shape(problem, "saddle_escape")
    D, N = problem.depth, problem.n_samples
    s = problem.signed_X.sum(axis=0)
    order = np.argsort(-np.abs(s))
    if abs(s[order[0]]) == 0 or (len(s) > 1 and abs(s[order[0]]) == abs(s[order[1]])):
        raise ValueError("saddle_escape needs a unique largest |s_i|, s = sum_n x~_n")
    with mpmath.workdps(_DIGITS):
        s_top = mpmath.mpf(float(abs(s[order[0]])))
        log_alpha = problem.log_alpha_mp(mpmath.mp)
        if D == 2:
            value = N * (-2 * log_alpha) / (4 * s_top)
            window, error, exponent = "alpha -> 0", "O(1 / log(1/alpha))", -1.0
        else:
            value = N * mpmath.exp((2 - D) * log_alpha) / (D * (D - 2) * s_top)
            window, error, exponent = "alpha -> 0", "O(alpha^(D-2))", float(D - 2)
    return Expansion(value, f"tau at which L = N/e (coordinate {int(order[0])} escapes first)",
                     window, error, "theory.md s.3 (saddle escape)", exponent=exponent)


@dataclasses.dataclass(frozen=True)
class DualPath:
    """The Q_mu dual path ``mu -> lambda*(mu)`` on a grid (:func:`q_mu_dual_path`).

    Attributes
    ----------
    mus : list of mpf
        Decreasing grid of mu (the direction in which the flow moves: mu = alpha^D / margin).
    lams : list of numpy.ndarray of mpf
        ``lambda*(mu)`` of :func:`~extprec.limits.q_mu` at each mu.
    monotone : bool
        True when every multiplier is nondecreasing along the grid (to 10^-digits relative).
    violations : list of tuple
        ``(sample, mu_from, mu_to, lam_from, lam_to)`` for every decrease.
    message : str
    """

    mus: list
    lams: list
    monotone: bool
    violations: list
    message: str


def q_mu_dual_path(problem, mu_max, mu_min, points_per_decade=4, digits=20) -> DualPath:
    """Check whether the Q_mu dual path is monotone between ``mu_max`` and ``mu_min``.

    Gradient flow has ``beta_normalized = mu h_D(X~^T lambda(t))`` with ``lambda = c_D
    alpha^(D-2) nu`` nondecreasing in t (theory.md s.5), and mu = alpha^D / min margin decreases.
    It equals argmin Q_mu only if ``lambda(t) = lambda*(mu(t))``, so where a component of
    ``lambda*(mu)`` decreases as mu decreases the flow cannot follow argmin Q_mu and stays
    measurably away from it. The grid is geometric (``points_per_decade``); a decrease between
    grid points closer than the grid is not seen.
    """
    with mpmath.workdps(30):
        top, bottom = mpmath.mpf(mu_max), mpmath.mpf(mu_min)
        if not 0 < bottom < top:
            raise ValueError(f"need 0 < mu_min < mu_max; got mu_max={mu_max!r}, "
                             f"mu_min={mu_min!r}")
        n = max(1, math.ceil(float(mpmath.log10(top / bottom)) * points_per_decade))
        mus = [top * (bottom / top) ** (mpmath.mpf(k) / n) for k in range(n + 1)]
    lams = [q_mu(problem, mu, digits=digits).lam for mu in mus]
    tol = mpmath.mpf(10) ** (3 - digits)
    violations = []
    for k in range(n):
        for sample, (a, b) in enumerate(zip(lams[k], lams[k + 1])):
            if b < a - tol * max(abs(a), 1):
                violations.append((sample, mus[k], mus[k + 1], a, b))
    if violations:
        sample, m0, m1, a, b = violations[0]
        message = (f"not monotone: lambda*_{sample} decreases from {mpmath.nstr(a, 4)} to "
                   f"{mpmath.nstr(b, 4)} between mu = {mpmath.nstr(m0, 4)} and "
                   f"{mpmath.nstr(m1, 4)} ({len(violations)} decreases on the grid); gradient "
                   "flow cannot decrease a multiplier, so it does not follow argmin Q_mu there")
    else:
        message = (f"monotone on {n + 1} grid points from mu = {mpmath.nstr(top, 4)} to "
                   f"{mpmath.nstr(bottom, 4)}")
    return DualPath(mus, lams, not violations, violations, message)
