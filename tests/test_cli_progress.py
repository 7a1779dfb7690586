"""Progress reports: the solve(progress=) hook, the progress bar and its estimate, the cost log."""

import io

import mpmath
import pytest

import extprec
from extprec import datasets
from extprec.progress import CostLog, ProgressBar, chain, log10_sigma, target_log10_sigma


def _same_states(a, b):
    states_a = a.checkpoints + [a.final]
    states_b = b.checkpoints + [b.final]
    return len(states_a) == len(states_b) and all(
        x.sigma == y.sigma and x.log10_t == y.log10_t and x.precision_bits == y.precision_bits
        and all(u == v for u, v in zip(x.beta, y.beta)) for x, y in zip(states_a, states_b))


def test_progress_hook_observes_without_changing_the_trajectory():
    """Reports come at every checkpoint and every few steps through float64 and arb, in
    order, and the steps taken (and so every State, bit for bit) are those of a run without
    the hook: the float64 chunks are whole kernel calls."""
    problem = datasets.default_problem()
    plain = extprec.solve(problem, log10_loss="-1e12", checkpoints=[-3])
    calls = []
    watched = extprec.solve(problem, log10_loss="-1e12", checkpoints=[-3],
                            progress=lambda sigma, bits, steps: calls.append((sigma, bits, steps)))
    assert watched.n_steps == plain.n_steps
    assert _same_states(plain, watched)
    sigmas, bits, steps = zip(*calls)
    assert all(hasattr(s, "_mpf_") and s.context.prec == 53 for s in sigmas)
    assert list(sigmas) == sorted(sigmas) and list(steps) == sorted(steps)
    assert list(bits) == sorted(bits) and bits[0] == 53 and bits[-1] > 53
    assert steps[-1] <= watched.n_steps
    # the last report is at or past the stop, sigma = 1e12 ln 10
    assert sigmas[-1] >= mpmath.mpf("1e12") * mpmath.ln(10) * (1 - 1e-9)
    # reports every PROGRESS_STEPS["arb"] = 4 multiprecision steps at the latest
    arb_steps = [n for n, b in zip(steps, bits) if b > 53]
    assert max(b - a for a, b in zip(arb_steps, arb_steps[1:])) <= 4


def test_progress_must_be_callable():
    with pytest.raises(TypeError, match="progress must be a callable"):
        extprec.solve(datasets.two_points(), log10_loss=-3, progress="yes")


def test_estimate_is_the_remaining_decades_at_the_pace_of_the_last_decade():
    """Lower-bound estimate of extprec.progress: remaining decades x seconds per decade over
    the latest decade. Synthetic clock: decade k of sigma ends at time k^2 seconds, so the
    last decade (k-1 -> k) took 2k - 1 seconds."""
    now = [0.0]
    bar = ProgressBar("-1e10", enabled=False, clock=lambda: now[0])
    total = target_log10_sigma("-1e10")
    assert total == pytest.approx(10 + mpmath.log10(mpmath.ln(10)), rel=1e-15)
    assert bar.remaining_seconds() is None
    for k in range(1, 6):
        now[0] = float(k * k)
        bar(mpmath.mpf(10) ** k, 53, 100 * k)
    assert bar.remaining_seconds() == pytest.approx((total - 5) * (25 - 16), rel=1e-12)
    # past the target nothing is left
    now[0] = 30.0
    bar(mpmath.mpf(10) ** 12, 200, 600)
    assert bar.remaining_seconds() == 0.0


def test_bar_draws_only_on_a_terminal_or_when_asked():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    quiet = io.StringIO()
    with ProgressBar("-1e6", stream=quiet) as bar:  # not a terminal: silent
        bar(mpmath.mpf(100), 53, 10)
    assert quiet.getvalue() == "" and not bar.enabled
    terminal = Terminal()
    with ProgressBar("-1e6", stream=terminal) as bar:
        bar(mpmath.mpf(10), 53, 10)
        bar(mpmath.mpf("1e3"), 165, 40)
    text = terminal.getvalue()
    assert "decades of sigma" in text and "165 bits" in text and "40 steps" in text
    assert "left at the pace of the last decade" in text
    asked_off = Terminal()
    with ProgressBar("-1e6", stream=asked_off, enabled=False) as bar:
        bar(mpmath.mpf(10), 53, 10)
    assert asked_off.getvalue() == ""


def test_cost_log_and_chain():
    ticks = iter([0.0, 1.5, 4.0])
    log = CostLog(clock=lambda: next(ticks))
    seen = []
    callback = chain(log, None, lambda *args: seen.append(args))
    callback(mpmath.mpf("1e400"), 900, 7)
    callback(mpmath.mpf("0.5"), 53, 9)
    assert log.as_dict() == {"log10_sigma": [400.0, 0.0], "bits": [900, 53], "steps": [7, 9],
                             "seconds": [1.5, 4.0]}
    assert len(seen) == 2
    assert log10_sigma(mpmath.mpf("1e-5")) == 0.0
