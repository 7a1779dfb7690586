"""Reference predictors of the implicit-bias theory and where trajectories reach them.

* :mod:`extprec.limits.programs` -- the unit-margin programs of theory.md section 5:
  :func:`l1_max_margin`, :func:`l2_max_margin`, :func:`q_mu` (float64 solve, mpmath polish and
  KKT verification) and the potentials :func:`q_D`, :func:`h_D`, :func:`H_D`.
* :mod:`extprec.limits.diagnostics` -- what every State says about the limits: normalized
  margins, mu, distances to the references, regime with its evidence, support vectors and
  active coordinates (:class:`LimitReferences` computes the references once per problem).
"""

from .diagnostics import (
    REGIME_DELTA,
    REGIMES,
    LimitReferences,
    LimitUnavailable,
    RegimeEvidence,
    StateDiagnostics,
    relative_distance,
)
from .programs import (
    DEFAULT_DIGITS,
    MU_LOG10_MAX,
    MU_LOG10_MIN_D2,
    H_D,
    LimitResult,
    LimitVerificationError,
    h_D,
    l1_max_margin,
    l2_max_margin,
    q_D,
    q_mu,
)

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
    "REGIME_DELTA",
    "REGIMES",
    "LimitReferences",
    "LimitUnavailable",
    "RegimeEvidence",
    "StateDiagnostics",
    "relative_distance",
]
