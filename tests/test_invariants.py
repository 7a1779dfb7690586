"""Exact invariants of the gradient flow, checked on engine States (theory.md sections 1-3, 6).

* conservation laws of section 2 (check 2);
* the State is one point of the closed-form family of section 2: ``w+-`` are the closed forms
  at ``rho = X~^T nu``, ``beta = w+^D - w-^D``, ``margins = X~ beta``, ``sigma = log(1/L)``;
* sum and mean losses share the tau-trajectory and ``t_mean = N t_sum`` (check 4);
* monotonicity along the flow: the loss decreases in t, and t, tau and every ``nu_n`` increase
  as the loss decreases;
* Lyu and Li's normalized margin is nondecreasing after separation (check 7).

All arithmetic on State values is done in a private mpmath context at 170 bits; the values
(64-bit mpf) convert into it exactly. Tolerances are in units of ``10**-state.digits``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import extprec
from reference_flows import log_sum_loss, mp_margins, new_context, planted_problem_data, to_ctx

CTX = new_context()
MAX_LEVEL = -1000  # log10 loss; inside the float64 range for these small problems


def _problem(depth, alpha, shape_kind, loss="exp", reduction="sum", seed=3):
    X, y, _ = planted_problem_data(5, 6, seed=seed)
    rng = np.random.default_rng(seed)
    shape = {"ones": None, "shape": rng.uniform(0.5, 2.0, 6),
             "unbalanced": np.array([rng.uniform(0.5, 2.0, 6), rng.uniform(0.5, 2.0, 6)])}
    return extprec.Problem(X, y, depth=depth, alpha=alpha, shape=shape[shape_kind], loss=loss,
                           reduction=reduction)


def _states(problem, level=MAX_LEVEL, **kwargs):
    """Checkpoints (default levels: every decade) plus the final state, at least 3 states."""
    traj = extprec.solve(problem, log10_loss=level, **kwargs)
    assert traj.status in ("reached", "precision exhausted"), traj.message
    states = list(traj.checkpoints)
    if traj.final is not states[-1]:
        states.append(traj.final)
    assert len(states) >= 3, traj.message
    return traj, states


def _solve_far(problem):
    """Solve towards log10 L = -1000; a float64 stop ("precision exhausted") is accepted if it
    happens beyond log10 L = -100. Returns the trajectory and the last resolved sigma."""
    traj = extprec.solve(problem, log10_loss=MAX_LEVEL)
    assert traj.status in ("reached", "precision exhausted"), traj.message
    assert float(traj.final.log10_loss) < -100, traj.message
    return traj, float(traj.final.sigma)


def _log_time_string(log10_t):
    """Decimal string of 10**log10_t (beyond the float range)."""
    k = math.floor(log10_t)
    return f"{10.0 ** (log10_t - k):.17g}e{k}"


def _mp(values):
    return [to_ctx(CTX, v) for v in values]


CASES = [(depth, alpha, shape) for depth in (1, 2, 3, 4) for alpha in (0.3, 1.0, 5.0)
         for shape in ("ones", "shape", "unbalanced")
         if not (depth >= 3 and alpha == 5.0 and shape == "unbalanced")]  # starts off-range


@pytest.mark.parametrize("depth,alpha,shape_kind", CASES)
def test_conservation_laws(depth, alpha, shape_kind):
    """Conservation laws of theory.md s.2 at every checkpoint and the final state:
    D = 1 ``w+ + w- = alpha (u+ + u-)``; D = 2 ``w+ w- = alpha^2 u+ u-``; D > 2
    ``w+^{2-D} + w-^{2-D} = (alpha u+)^{2-D} + (alpha u-)^{2-D}`` entrywise, each to relative
    ``10**-digits`` of the conserved value. Planted 5 x 6 problem, exp sum loss, down to
    log10 L = -1000 (or where float64 stops); the weights must move away from their initial
    values by far more than the tolerance (non-vacuous)."""
    problem = _problem(depth, alpha, shape_kind)
    _, states = _states(problem)
    a = to_ctx(CTX, problem.alpha_exact)
    up, um = _mp(problem.u_plus), _mp(problem.u_minus)
    moved = 0
    for state in states:
        tol = CTX.mpf(10) ** -state.digits
        wp, wm = _mp(state.w_plus), _mp(state.w_minus)
        for i in range(problem.n_features):
            if depth == 1:
                got, want = wp[i] + wm[i], a * (up[i] + um[i])
            elif depth == 2:
                got, want = wp[i] * wm[i], a * a * up[i] * um[i]
            else:
                k = depth - 2
                got = wp[i] ** -k + wm[i] ** -k
                want = (a * up[i]) ** -k + (a * um[i]) ** -k
            assert abs(got - want) <= tol * abs(want), (float(state.log10_loss), i)
            moved = max(moved, abs(wp[i] / (a * up[i]) - 1))
    assert moved > 1e-3


@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth,alpha,shape_kind", CASES[::2])
def test_state_is_the_closed_form_at_its_dual(depth, alpha, shape_kind, loss):
    """Every State is the closed form of theory.md s.2 evaluated at its own dual ``nu``:

    * ``w+-`` equal the closed forms at ``rho = X~^T nu`` (D = 1 ``alpha u+- +- rho``; D = 2
      ``alpha u+- e^{+-2 rho}``; D > 2 ``((alpha u+-)^{2-D} -+ D(D-2) rho)^{-1/(D-2)}``), relative
      ``10**-digits`` (D = 1 relative to ``alpha u + |rho|``);
    * ``beta = w+^D - w-^D`` to ``10**-digits`` of ``|w+|^D + |w-|^D``;
    * ``margins = X~ beta`` to ``10**-digits`` of ``|X~| |beta|``; ``min_margin`` is their
      minimum and ``beta_normalized = beta / min_margin`` (same tolerance);
    * ``sigma = log(1/L(margins))`` to ``10**-digits * max(1, max|m|)`` (a margin error
      ``delta`` moves sigma by at most ``delta``), ``log10_loss = -sigma / ln 10``,
      ``tau = sum nu`` (relative ``10**-digits``) and ``nu_n >= 0`` (to ``10**-digits tau``).
    """
    problem = _problem(depth, alpha, shape_kind, loss=loss)
    _, states = _states(problem)
    Xt = problem.signed_X
    a = to_ctx(CTX, problem.alpha_exact)
    up, um = _mp(problem.u_plus), _mp(problem.u_minus)
    D = depth
    for state in states:
        tol = CTX.mpf(10) ** -state.digits
        where = float(state.log10_loss)
        nu = _mp(state.nu)
        tau = CTX.fsum(nu)
        assert all(v >= -tol * tau for v in nu), where
        assert abs(to_ctx(CTX, state.tau) - tau) <= tol * tau, where
        rho = [CTX.fsum(CTX.mpf(float(Xt[n, i])) * nu[n] for n in range(len(nu)))
               for i in range(problem.n_features)]
        wp, wm = _mp(state.w_plus), _mp(state.w_minus)
        for i, r in enumerate(rho):
            if D == 1:
                cp, cm = a * up[i] + r, a * um[i] - r
                sp = sm = a * max(up[i], um[i]) + abs(r)
            elif D == 2:
                cp, cm = a * up[i] * CTX.exp(2 * r), a * um[i] * CTX.exp(-2 * r)
                sp, sm = cp, cm
            else:
                k = D - 2
                cp = ((a * up[i]) ** -k - D * k * r) ** (CTX.mpf(-1) / k)
                cm = ((a * um[i]) ** -k + D * k * r) ** (CTX.mpf(-1) / k)
                sp, sm = cp, cm
            assert abs(wp[i] - cp) <= tol * sp, (where, "w+", i)
            assert abs(wm[i] - cm) <= tol * sm, (where, "w-", i)
        beta = _mp(state.beta)
        for i in range(problem.n_features):
            want = wp[i] ** D - wm[i] ** D
            assert abs(beta[i] - want) <= tol * (abs(wp[i]) ** D + abs(wm[i]) ** D), (where, i)
        margins = mp_margins(CTX, Xt, beta)
        for n, m in enumerate(margins):
            scale = CTX.fsum(abs(CTX.mpf(float(Xt[n, i])) * beta[i])
                             for i in range(problem.n_features))
            assert abs(to_ctx(CTX, state.margins[n]) - m) <= tol * scale, (where, n)
        m_min = min(_mp(state.margins))
        assert to_ctx(CTX, state.min_margin) == m_min
        for b, bn in zip(beta, _mp(state.beta_normalized)):
            assert abs(bn - b / m_min) <= tol * abs(b / m_min) + tol * CTX.mpf("1e-300"), where
        sigma = -log_sum_loss(CTX, margins, loss, "sum")
        big = max(1, max(abs(m) for m in margins))
        assert abs(to_ctx(CTX, state.sigma) - sigma) <= tol * big, where
        assert abs(to_ctx(CTX, state.log10_loss) + to_ctx(CTX, state.sigma) / CTX.ln10) <= (
            tol * max(1, abs(sigma)))


# ---------------------------------------------------------------------------------------
# Sum versus mean
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth,alpha,shape_kind",
                         [(1, 1.0, "ones"), (2, 0.3, "shape"), (2, 5.0, "unbalanced"),
                          (3, 1.0, "shape"), (4, 1.0, "ones")])
def test_sum_and_mean_share_the_tau_trajectory(depth, alpha, shape_kind, loss):
    """theory.md s.6 item 4: the mean loss is the sum loss divided by N, so the mean flow is
    the sum flow slowed down by N. The mean-run state at ``log10 L_mean = level - log10 N``
    equals the sum-run state at ``level`` (level in {-2, -10, -100, -1000}, those below the
    starting loss; at least 3): same ``tau`` (relative ``10**-digits``), ``nu`` (each entry to
    ``10**-digits * tau``: entries of non-support vectors are tiny and only absolutely
    accurate), ``beta``, ``w+-`` (relative ``10**-digits``, per entry) and
    ``log10 t_mean = log10 t_sum + log10 N`` (absolute ``10**-digits * max(1, |log10 t|)``)."""
    sum_problem = _problem(depth, alpha, shape_kind, loss=loss, reduction="sum")
    start = sum_problem.initial_log_loss() / math.log(10)
    levels = [lv for lv in (-2, -10, -100, -1000) if lv < start]
    assert len(levels) >= 3
    mean_problem = _problem(depth, alpha, shape_kind, loss=loss, reduction="mean")
    N = sum_problem.n_samples
    shift = math.log10(N)
    t_sum = extprec.solve(sum_problem, log10_loss=levels[-1], checkpoints=levels)
    t_mean = extprec.solve(mean_problem, log10_loss=levels[-1] - shift,
                           checkpoints=[lv - shift for lv in levels])
    assert t_sum.status == t_mean.status == "reached", (t_sum.message, t_mean.message)
    assert len(t_sum.checkpoints) == len(t_mean.checkpoints) == len(levels)
    for s, m in zip(t_sum.checkpoints, t_mean.checkpoints):
        tol = CTX.mpf(10) ** -min(s.digits, m.digits)
        tau = to_ctx(CTX, s.tau)
        assert abs(tau - to_ctx(CTX, m.tau)) <= tol * tau
        for a, b in zip(_mp(s.nu), _mp(m.nu)):
            assert abs(a - b) <= tol * tau, float(s.log10_loss)
        for name in ("beta", "w_plus", "w_minus"):
            for a, b in zip(_mp(getattr(s, name)), _mp(getattr(m, name))):
                assert abs(a - b) <= tol * abs(a), (float(s.log10_loss), name)
        lt_sum = to_ctx(CTX, s.log10_t)
        lt_mean = to_ctx(CTX, m.log10_t)
        assert abs(lt_mean - lt_sum - CTX.log10(N)) <= tol * max(1, abs(lt_mean))


# ---------------------------------------------------------------------------------------
# Monotonicity
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth,alpha,shape_kind",
                         [(1, 0.3, "shape"), (2, 1.0, "ones"), (2, 0.3, "unbalanced"),
                          (3, 1.0, "shape"), (4, 5.0, "ones")])
def test_monotone_along_the_flow(depth, alpha, shape_kind, loss):
    """Gradient flow decreases the loss; the clocks and the duals only grow.

    (a) States at 40 increasing accuracies (``state_at``, log10 L from -0.05 to -1000,
    log-spaced) and at the default checkpoints, merged and sorted by level: ``log10 t``
    increases, ``tau`` and every ``nu_n`` do not decrease (``nu_n = int g_n dt``, ``g_n > 0``),
    each allowing a violation of ``10**-digits`` relative.
    (If float64 stops early, "precision exhausted" beyond log10 L = -100, the range ends at the
    last resolved state.)
    (b) States at 30 increasing original times (log-spaced between the times of the first
    and last state of (a)): ``log10 L`` decreases (allowing ``10**-digits * max(1,
    |log10 L|)``). Non-vacuous: tau grows by a factor > 2 and the loss falls by > 100 decades.
    """
    problem = _problem(depth, alpha, shape_kind, loss=loss)
    traj, top = _solve_far(problem)
    start = float(problem.initial_log_loss()) / math.log(10)
    end = -top / math.log(10)
    levels = [start - v for v in np.logspace(math.log10(0.05), math.log10(start - end), 40)]
    levels[-1] = end
    states = [traj.state_at(log10_loss=lv) for lv in levels] + list(traj.checkpoints)
    states.sort(key=lambda s: -float(s.log10_loss))
    for s0, s1 in zip(states, states[1:]):
        tol = CTX.mpf(10) ** -min(s0.digits, s1.digits)
        if float(s0.log10_loss) == float(s1.log10_loss):
            continue
        lt0, lt1 = to_ctx(CTX, s0.log10_t), to_ctx(CTX, s1.log10_t)
        assert lt1 > lt0 - tol * max(1, abs(lt0)), float(s1.log10_loss)
        assert to_ctx(CTX, s1.tau) >= to_ctx(CTX, s0.tau) * (1 - tol)
        for a, b in zip(_mp(s0.nu), _mp(s1.nu)):
            assert b >= a * (1 - tol), float(s1.log10_loss)
    assert states[-1].tau > 2 * states[0].tau
    lt_first, lt_last = float(states[0].log10_t), float(states[-1].log10_t)
    times = [_log_time_string(v) for v in np.linspace(lt_first, lt_last, 30)]
    tstates = [traj.state_at(t=t) for t in times]
    for s0, s1 in zip(tstates, tstates[1:]):
        tol = 10.0 ** -min(s0.digits, s1.digits)
        l0, l1 = float(s0.log10_loss), float(s1.log10_loss)
        assert l1 < l0 + tol * max(1.0, abs(l0)), (float(s1.log10_t), l0, l1)
    assert float(tstates[0].log10_loss) - float(tstates[-1].log10_loss) > 100


@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth,alpha,shape_kind",
                         [(2, 0.3, "ones"), (2, 1.0, "shape"), (2, 5.0, "unbalanced"),
                          (3, 0.3, "shape"), (3, 1.0, "ones"), (4, 1.0, "shape")])
def test_lyu_li_normalized_margin_is_nondecreasing(depth, alpha, shape_kind, loss):
    """theory.md s.6 item 7 (Lyu and Li 2020, Thm 4.1, D-homogeneous model, sum loss): once
    the data are separated (exp: L < 1; logistic: L < log 2, equivalently every margin > 0),
    ``gamma~ = g(log 1/L) / ||w||^D`` is nondecreasing in t (``g`` the identity for exp,
    ``g(q) = -log(expm1(e^{-q}))`` for logistic; ``||w||^2 = sum w+^2 + w-^2``).

    Checked at 60 states log-spaced in sigma from just after separation down to
    log10 L = -1000 (or the last state float64 resolves, beyond -100) and at the default
    checkpoints there: consecutive values may decrease by at
    most ``10**-digits`` relative. Non-vacuous: gamma~ grows by more than 1% overall.
    """
    problem = _problem(depth, alpha, shape_kind, loss=loss)
    traj, top = _solve_far(problem)
    # first level after separation: every margin positive (and L below the threshold)
    separated = None
    for s in traj.checkpoints:
        if min(s.margins) > 0:
            separated = s
            break
    assert separated is not None
    sigma_sep = max(float(separated.sigma), 0.0 if loss == "exp" else -math.log(math.log(2)))
    sigmas = np.geomspace(sigma_sep + 0.01, top, 60)
    sigmas[-1] = top
    states = [traj.state_at(log10_loss=-s / math.log(10)) for s in sigmas]
    states += [s for s in traj.checkpoints if float(s.sigma) > sigma_sep]
    states.sort(key=lambda s: float(s.sigma))
    values = []
    for s in states:
        assert min(s.margins) > 0
        norm2 = CTX.fsum(to_ctx(CTX, v) ** 2 for v in list(s.w_plus) + list(s.w_minus))
        sigma = to_ctx(CTX, s.sigma)
        q = sigma if loss == "exp" else -CTX.log(CTX.expm1(CTX.exp(-sigma)))
        values.append((q / norm2 ** (CTX.mpf(depth) / 2), s))
    for (g0, s0), (g1, s1) in zip(values, values[1:]):
        tol = CTX.mpf(10) ** -min(s0.digits, s1.digits)
        assert g1 >= g0 * (1 - tol), (float(s0.sigma), float(s1.sigma), float(g0), float(g1))
    assert values[-1][0] > 1.01 * values[0][0]
