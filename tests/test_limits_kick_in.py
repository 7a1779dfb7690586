"""Where a limit kicks in (extprec.limits.kick_in): against a closed form, on the default
problem, and its errors."""

import math

import mpmath
import pytest

import extprec
from extprec import datasets, limits


def test_single_sample_closed_form():
    """N = 1, x~ = (1, -1/2, 1/4), D = 2, alpha = 0.1: nu = tau exactly, beta_i = 2 alpha^2
    sinh(4 tau x~_i) and the l1 limit is e_0, so the distance d(tau) to l1 is explicit and
    decreasing; its root d = delta (mpmath.findroot) gives the level log10 L = -x~.beta / ln 10.
    kick_in lands within its bracket (relative 10^-3) of that level, and the distance at the
    returned level is below delta while the bracket's upper end is not."""
    x = [mpmath.mpf(1), mpmath.mpf(-1) / 2, mpmath.mpf(1) / 4]
    problem = extprec.Problem([[1.0, -0.5, 0.25]], [1], alpha="0.1")
    delta = mpmath.mpf("0.05")
    with mpmath.workdps(40):
        alpha2 = mpmath.mpf("0.1") ** 2

        def beta(tau):
            return [2 * alpha2 * mpmath.sinh(4 * tau * v) for v in x]

        def distance(tau):
            b = beta(tau)
            margin = mpmath.fsum(a * c for a, c in zip(x, b))
            return limits.relative_distance([c / margin for c in b], [1, 0, 0]) - delta

        tau = mpmath.findroot(distance, (mpmath.mpf("0.01"), mpmath.mpf(3)), solver="anderson")
        margin = mpmath.fsum(a * c for a, c in zip(x, beta(tau)))
        expected = -margin / mpmath.ln(10)
    report = limits.kick_in_report(problem, "l1")
    above, found = report.bracket
    assert abs(found / expected - 1) <= mpmath.mpf("1e-3")
    assert above > expected > found or abs(found / expected - 1) <= mpmath.mpf("1e-9")
    assert report.distance < delta
    assert report.state.distance["l1"] == report.distance
    assert limits.kick_in(problem, "l1") == report.log10_loss


def test_first_grid_level_already_within_delta():
    """N = 1: at small sigma the flow is in its kernel phase, beta ~ x~ = the l2 limit, so the
    distance to l2 is below delta from the first grid level on: the bracket has no upper end."""
    problem = extprec.Problem([[1.0, -0.5, 0.25]], [1], alpha="10")
    report = limits.kick_in_report(problem, "l2")
    assert report.bracket[0] is None and report.distance < mpmath.mpf("0.05")


def test_not_reached_says_how_far_it_looked():
    """two_points at alpha = 0.01 stays about 0.08 from the l1 limit down to log10 L = -1e3
    (delta 0.05 is out of reach there): KickInNotReached names the deepest level and the
    smallest distance met."""
    with pytest.raises(limits.KickInNotReached, match=r"down to log10 L = -1000\.0.*smallest"):
        limits.kick_in(datasets.two_points(alpha="0.01"), "l1", deepest_log10_loss="-1e3")


def test_bad_input():
    problem = datasets.two_points()
    with pytest.raises(ValueError, match="limit must be one of"):
        limits.kick_in(problem, "l3")
    with pytest.raises(ValueError, match="delta must be"):
        limits.kick_in(problem, "l1", delta=2)
    with pytest.raises(ValueError, match="not defined for this problem"):
        limits.kick_in(datasets.two_points(depth=1), "q_mu")
    with pytest.raises(ValueError, match="deepest_log10_loss must lie below"):
        limits.kick_in(problem, "l1", deepest_log10_loss="1")
    with pytest.raises(ValueError, match="separable"):
        limits.kick_in(extprec.Problem([[1.0], [1.0]], [1, -1]), "l1")


@pytest.mark.slow
def test_default_problem_depth2_and_depth3():
    """The default problem (alpha = 1): D = 2 comes within 0.05 of the l1 limit at log10 L of
    about -2.70e8; D = 3 comes within 0.05 of its rich limit (l1 on the 5 coordinates it
    activates, a KKT point of l_(2/3)) at about -7.8e10, where the active set settles and the
    distance drops to 6e-5. Both levels carry 3 digits (bracket 10^-3)."""
    d2 = limits.kick_in_report(datasets.default_problem(), "l1")
    assert -2.8e8 < float(d2.log10_loss) < -2.6e8
    d3 = limits.kick_in_report(datasets.default_problem(depth=3), "l1_active")
    assert -8.5e10 < float(d3.log10_loss) < -7.0e10
    assert d3.state.regime == "rich" and d3.state.regime_evidence.rich_kkt.is_kkt
    assert math.isfinite(float(d3.distance))
