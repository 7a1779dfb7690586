"""Reference predictors of the implicit-bias theory and where trajectories reach them.

* :mod:`extprec.limits.programs` -- the unit-margin programs of theory.md section 5:
  :func:`l1_max_margin`, :func:`l2_max_margin`, :func:`q_mu` (float64 solve, mpmath polish and
  KKT verification) and the potentials :func:`q_D`, :func:`h_D`, :func:`H_D`.
* :mod:`extprec.limits.diagnostics` -- what every State says about the limits: normalized
  margins, mu, distances to the references, regime with its evidence, support vectors and
  active coordinates (:class:`LimitReferences` computes the references once per problem).
* :mod:`extprec.limits.thresholds` -- :func:`kick_in`: the loss level at which the distance to
  a limit first falls below delta.
* :mod:`extprec.limits.asymptotics` -- asymptotic expansions with their orders (kernel and rich
  clocks, the D > 2 tau horizon, saddle escape) and the monotonicity check of the Q_mu dual path.
* :mod:`extprec.limits.rich` -- the D > 2 rich limit: :func:`restricted_l1_max_margin` and the
  KKT check :func:`l2D_kkt` of ``min ||beta||_{2/D}``.
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
from . import asymptotics
from .asymptotics import DualPath, Expansion, q_mu_dual_path
from .thresholds import KickIn, KickInNotReached, kick_in, kick_in_report
from .rich import KKTCheck, l2D_kkt, restricted_l1_max_margin
from . import programs
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
    *programs.__all__,
    "REGIME_DELTA",
    "REGIMES",
    "LimitReferences",
    "LimitUnavailable",
    "RegimeEvidence",
    "StateDiagnostics",
    "relative_distance",
    "KKTCheck",
    "l2D_kkt",
    "restricted_l1_max_margin",
    "KickIn",
    "KickInNotReached",
    "kick_in",
    "kick_in_report",
    "asymptotics",
    "DualPath",
    "Expansion",
    "q_mu_dual_path",
]
