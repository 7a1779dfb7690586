"""The same Radau IIA method on both backends (style.md: "both must give the same steps").

The float64 Numba kernel and the arb implementation, started from the same state with the
same tolerance and the Newton tolerance floor of float64 (``unit_roundoff = 2^-52``), take
the same sequence of accepted steps while float64 resolves the flow: step sizes agree to
1e-4 relative (they differ only through rounding inside the Newton iteration, whose
tolerance is 1e-5 of rtol) and states to 100 rtol.
"""

import numpy as np
import pytest
from flint import arb

import extprec
from extprec.backends.multiprecision import ArbModel
from extprec.solvers.float64_integrator import Float64Integrator
from extprec.solvers.radau import RadauSolver

N_STEPS = 40


@pytest.mark.parametrize("depth,loss", [(1, "exp"), (2, "exp"), (2, "logistic"), (3, "exp")])
def test_float64_and_arb_take_the_same_steps(depth, loss):
    problem = extprec.datasets.sparse_teacher(6, 8, 2, seed=2, depth=depth, loss=loss)
    rtol = 1e-8
    f64 = Float64Integrator(problem, rtol)
    status, n_acc, _, _, _ = f64._run_kernel(f64.y, 0.0, 1e-3, np.inf, np.inf, np.inf, N_STEPS)
    assert n_acc == N_STEPS, status
    ells, hs, ys, _ = (np.concatenate(a) for a in (f64.hist_ell, f64.hist_h, f64.hist_y,
                                                   f64.hist_q))
    model = ArbModel(problem, 200, sigma0=arb(f64.sigma0))
    solver = RadauSolver(model, [arb(0)] * (problem.n_samples + 1), arb(0), 1e-3, rtol,
                         unit_roundoff=2.0**-52)
    for j in range(N_STEPS):
        assert solver.step()
        assert abs(solver.last_step.h - hs[j]) <= 1e-4 * hs[j]
        y_arb = np.array([float(a) for a in solver.last_step.y])
        assert np.max(np.abs(y_arb - ys[j]) / (1 + np.abs(ys[j]))) <= 100 * rtol
