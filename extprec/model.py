"""Reduced dual dynamics of a depth-D diagonal linear network (theory.md sections 2-4).

The gradient flow of ``beta = w+^D - w-^D`` on a loss of the margins ``m = X~ beta`` is
equivalent to an ODE for the per-sample dual ``nu`` (N numbers, not 2d). This module
holds the precision-agnostic description of that ODE: the constants derived from a
:class:`~extprec.problem.Problem` and the change of variables that keeps every quantity
inside the range of the arithmetic in use. The arithmetic itself lives in
``extprec.backends`` (float64 Numba kernels, multiprecision).

Variables
---------
* Scaled dual ``nu_hat = nu / c`` and scaled clock ``tau_hat = tau / c = sum(nu_hat)``,
  with ``c = eta * alpha^(2-D)`` and ``eta = min(1, alpha^-D)`` (``c = 1`` for D = 1).
  ``d nu_hat / d tau_hat = p = softmax(log g(m))`` is invariant under this scaling, and
  ``nu_hat`` stays of order one in the saddle (alpha << 1) and kernel (alpha >> 1) phases.
* ``x = X~^T nu_hat`` so that ``rho = c x``. Per coordinate (derived from theory.md s.2):

  - D = 1: ``beta = alpha (u+ - u-) + 2 x``.
  - D = 2: ``psi = log(u+/u-) + 4 eta x``, ``w+ w- = alpha^2 u+ u-`` (conserved).
  - D > 2, k = D - 2: ``y+- = D k eta x u+-^k``, gaps ``g+ = u+^-k (1 - y+)``,
    ``g- = u-^-k (1 + y-)`` (barrier ``y+ < 1``, ``y- > -1``), ``w+- = alpha g+-^(-1/k)``,
    ``psi = (D/2) log(u+/u-) + (D/2k) (log1p(y-) - log1p(-y+))``.

  With ``psi = (D/2) log(w+/w-)`` in every case D >= 2,

  - ``beta = 2 (w+ w-)^(D/2) sinh(psi)``,
  - ``dbeta/dx = 2 c D^2 (w+ w-)^(D-1) cosh(2 (D-1) psi / D)``,
  - ``d2beta/dx2 = 4 c^2 D^3 (D-1) (w+ w-)^((3D-4)/2) sinh((3D-4) psi / D)``,

  all evaluated through logarithms so that nothing overflows, underflows or cancels
  (the factor ``alpha^D eta`` is grouped as one exact constant ``E = log(alpha^D eta)``).
* Loss weights ``log g_n = -m_n`` (exp) or ``-softplus(m_n)`` (logistic), minus ``log N``
  for the mean; ``sigma = log(1/L)``; ``p = softmax(log g)``; ``s = -d log g / dm``;
  ``r = (sum g) / L`` (1 for the exponential loss).
* Time: ``theta = t S / c`` with ``S = sum_n g_n`` obeys ``d theta/d tau_hat = 1 - theta w``,
  ``w = (s p)^T K p``; it starts at 0, stays of order ``1/sigma'`` and gives
  ``log t = log c + log theta - log S`` without ever forming t (derived).
* Integration clock ``ell = log1p(tau_hat) + log1p(sigma - sigma_0)``, an explicit function of
  the state with ``d ell / d tau_hat = 1/(1 + tau_hat) + sigma'/(1 + sigma - sigma_0)``,
  ``sigma' = r p^T K p``. It follows tau_hat in the saddle phase and log(sigma) in the rich
  phase, so it stays regular at the finite tau horizon of D > 2 and steps per decade of
  sigma stay bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOSS_CODES = {"exp": 0, "logistic": 1}


@dataclass(frozen=True)
class ModelConstants:
    """Problem-derived constants of the reduced dynamics, in float64.

    ``log_alpha``, ``log_eta``, ``log_c`` and ``log_alpha_d_eta`` (``E``) are logarithms so that
    alpha from 1e-300 to 1e300 (and beyond, through the multiprecision backend) is safe.
    """

    signed_X: np.ndarray  # (N, d) rows y_n x_n
    depth: int
    loss_code: int  # 0 exp, 1 logistic
    log_norm: float  # log N for the mean loss, 0 for the sum
    log_alpha: float
    log_eta: float  # log min(1, alpha^-D)
    log_c: float  # log of the dual scale c
    log_alpha_d_eta: float  # E = log(alpha^D eta) = min(D log alpha, 0)
    log_u_plus: np.ndarray
    log_u_minus: np.ndarray
    balanced: np.ndarray  # bool per coordinate: u+_i == u-_i

    @property
    def n_samples(self) -> int:
        return self.signed_X.shape[0]

    @property
    def float_params(self) -> np.ndarray:
        """Scalars packed for the Numba kernels (order fixed by ``extprec.backends.float64``)."""
        return np.array(
            [self.log_alpha, self.log_eta, self.log_alpha_d_eta, self.log_norm], dtype=np.float64
        )


def dual_scale_logs(depth: int, log_alpha: float) -> tuple[float, float, float]:
    """Return ``(log eta, log c, E)`` for the scaled dual (module docstring).

    ``eta = min(1, alpha^-D)``, ``c = eta alpha^(2-D)`` and ``E = log(alpha^D eta)``; for
    alpha >= 1 the two large logarithms in ``E`` cancel exactly by construction.
    """
    if depth == 1:
        return 0.0, 0.0, 0.0
    if log_alpha > 0.0:
        log_eta = -depth * log_alpha
        log_alpha_d_eta = 0.0
    else:
        log_eta = 0.0
        log_alpha_d_eta = depth * log_alpha
    log_c = log_eta - (depth - 2) * log_alpha
    return log_eta, log_c, log_alpha_d_eta


def model_constants(problem) -> ModelConstants:
    """Build the float64 constants of ``problem`` (an :class:`extprec.Problem`)."""
    log_alpha = float(problem.log_alpha)
    log_eta, log_c, log_e = dual_scale_logs(problem.depth, log_alpha)
    u_plus = np.asarray(problem.u_plus, dtype=np.float64)
    u_minus = np.asarray(problem.u_minus, dtype=np.float64)
    n = problem.n_samples
    return ModelConstants(
        signed_X=np.ascontiguousarray(problem.signed_X, dtype=np.float64),
        depth=int(problem.depth),
        loss_code=LOSS_CODES[problem.loss],
        log_norm=math.log(n) if problem.reduction == "mean" else 0.0,
        log_alpha=log_alpha,
        log_eta=log_eta,
        log_c=log_c,
        log_alpha_d_eta=log_e,
        log_u_plus=np.log(u_plus),
        log_u_minus=np.log(u_minus),
        balanced=(u_plus == u_minus),
    )


def log_weights(constants: ModelConstants, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log w+, log w-)`` at ``x = X~^T nu_hat`` for D >= 2 (theory.md s.2, scaled variables).

    D = 2: ``log w+- = log(alpha u+-) +- 2 eta x``; D > 2:
    ``log w+ = log(alpha u+) - log1p(-y+)/k``, ``log w- = log(alpha u-) - log1p(y-)/k``.
    """
    depth = constants.depth
    if depth < 2:
        raise ValueError("log_weights is defined for depth >= 2; D = 1 weights can be negative")
    with np.errstate(divide="ignore"):
        eta_x = np.sign(x) * np.exp(constants.log_eta + np.log(np.abs(x)))
    base_plus = constants.log_alpha + constants.log_u_plus
    base_minus = constants.log_alpha + constants.log_u_minus
    if depth == 2:
        return base_plus + 2.0 * eta_x, base_minus - 2.0 * eta_x
    k = depth - 2
    y_plus = depth * k * eta_x * np.exp(k * constants.log_u_plus)
    y_minus = depth * k * eta_x * np.exp(k * constants.log_u_minus)
    return base_plus - np.log1p(-y_plus) / k, base_minus - np.log1p(y_minus) / k
