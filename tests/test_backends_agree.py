"""float64 and multiprecision runs agree wherever both are valid (theory.md s.6, check 6).

A float64 run at rtol = 1e-10 and a run that is multiprecision from the start
(``backend="arb"``: the arb Radau solver in the tau_hat clock, with decoupled theta and the
slow-manifold predictor) at rtol = 1e-12 are independent computations of the same trajectory; at every checkpoint
they agree to within 100 float64 tolerances in the normalized predictor, the margins and
log10 t (global errors stay within about 10 rtol, tests/test_convergence_order.py).
"""

import pytest

import extprec

LEVELS = ["-10", "-100", "-1000"]
RTOL = 1e-10


@pytest.mark.parametrize("depth,loss,reduction", [(1, "exp", "sum"), (2, "exp", "sum"),
                                                  (2, "logistic", "mean"), (3, "exp", "sum")])
def test_float64_and_multiprecision_runs_agree(depth, loss, reduction):
    problem = extprec.datasets.sparse_teacher(6, 8, 2, seed=2, depth=depth, loss=loss,
                                              reduction=reduction)
    fast = extprec.solve(problem, LEVELS[-1], checkpoints=LEVELS[:-1], rtol=RTOL,
                         multiprecision=False)
    exact = extprec.solve(problem, LEVELS[-1], checkpoints=LEVELS[:-1], rtol=RTOL / 100,
                          backend="arb", verify=False)  # the reference: no control run
    assert fast.status == exact.status == "reached"
    assert {s.backend for s in fast.checkpoints} == {"float64"}
    assert {s.backend for s in exact.checkpoints} == {"arb"}
    for a, b in zip(fast.checkpoints, exact.checkpoints):
        assert abs(a.log10_loss - b.log10_loss) <= RTOL * abs(b.log10_loss)
        scale = max(abs(v) for v in b.beta_normalized)
        diff = max(abs(u - v) for u, v in zip(a.beta_normalized, b.beta_normalized))
        assert diff <= 100 * RTOL * scale
        # log t carries an absolute error of about rtol (theta is controlled relatively)
        assert abs(a.log10_t - b.log10_t) <= 100 * RTOL * max(1, abs(b.log10_t))
        assert abs(a.min_margin - b.min_margin) <= 100 * RTOL * abs(b.min_margin)
