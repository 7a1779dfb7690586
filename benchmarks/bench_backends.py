"""Multiprecision arithmetic candidates for the backend, measured on the engine's operations.

The multiprecision backend needs, at 100 to 1000+ digits: a matrix-vector product with the
signed data (N x d), elementwise exp/log, and solves with (N+1) x (N+1) real and complex
iteration matrices. This benchmark times those operations for python-flint ``arb``, numpy
object arrays of gmpy2 ``mpfr`` and mpmath matrices, at 400 and 3400 bits, on the shapes of
the default problem (N = 20, d = 50). It decided the choice of python-flint
(``extprec/backends/multiprecision.py``).

Usage: ``python benchmarks/bench_backends.py [--out benchmarks/results/backends.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

N, D = 20, 50


def best_of(fn, repeats=5, inner=5):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best * 1e3  # ms


def bench_flint(bits, X, b, A):
    from flint import acb, acb_mat, arb, arb_mat, ctx

    with ctx.workprec(bits):
        Xa = arb_mat(N, D, [arb(float(v)) for v in X.ravel()])
        ba = arb_mat(D, 1, [arb(float(v)) / 3 for v in b])
        vec = [arb(float(v)) / 3 for v in b]
        Aa = arb_mat(N + 1, N + 1, [arb(float(v)) for v in A.ravel()])
        Ac = acb_mat(N + 1, N + 1, [acb(float(v), 0.5) for v in A.ravel()])
        rhs = arb_mat(N + 1, 1, [arb(1)] * (N + 1))
        return {
            "matvec": best_of(lambda: Xa * ba),
            "exp_x50": best_of(lambda: [v.exp() for v in vec]),
            "inverse_real": best_of(lambda: Aa.inv()),
            "inverse_complex": best_of(lambda: Ac.inv()),
            "solve_real": best_of(lambda: Aa.solve(rhs)),
        }


def bench_gmpy2(bits, X, b, A):
    import gmpy2

    with gmpy2.context(gmpy2.get_context(), precision=bits):
        Xg = np.array([[gmpy2.mpfr(float(v)) for v in row] for row in X], dtype=object)
        bg = np.array([gmpy2.mpfr(float(v)) / 3 for v in b], dtype=object)
        Ag = np.array([[gmpy2.mpfr(float(v)) for v in row] for row in A], dtype=object)

        def lu(M):
            M = M.copy()
            n = M.shape[0]
            for k in range(n):
                p = max(range(k, n), key=lambda i: abs(M[i, k]))
                M[[k, p]] = M[[p, k]]
                M[k + 1:, k] = M[k + 1:, k] / M[k, k]
                M[k + 1:, k + 1:] -= np.outer(M[k + 1:, k], M[k, k + 1:])
            return M

        return {
            "matvec": best_of(lambda: Xg.dot(bg)),
            "exp_x50": best_of(lambda: [gmpy2.exp(v) for v in bg]),
            "lu_real": best_of(lambda: lu(Ag), repeats=3, inner=2),
        }


def bench_mpmath(bits, X, b, A):
    import mpmath

    ctx = mpmath.MPContext()
    ctx.prec = bits
    Xm = ctx.matrix(X.tolist())
    bm = ctx.matrix([ctx.mpf(float(v)) / 3 for v in b])
    Am = ctx.matrix(A.tolist())
    rhs = ctx.matrix([1] * (N + 1))
    return {
        "matvec": best_of(lambda: Xm * bm, repeats=3, inner=2),
        "exp_x50": best_of(lambda: [ctx.exp(v) for v in bm], repeats=3, inner=2),
        "solve_real": best_of(lambda: ctx.lu_solve(Am, rhs), repeats=2, inner=1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the measurements as JSON here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    b = rng.standard_normal(D)
    A = rng.standard_normal((N + 1, N + 1))
    results = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "date": time.strftime("%Y-%m-%d")}, "bits": {}}
    print(f"{'bits':>6} {'library':>10} {'operation':>16} {'ms':>10}")
    for bits in (400, 3400):
        row = {}
        for name, fn in (("flint", bench_flint), ("gmpy2", bench_gmpy2), ("mpmath", bench_mpmath)):
            row[name] = fn(bits, X, b, A)
            for op, ms in row[name].items():
                print(f"{bits:>6} {name:>10} {op:>16} {ms:>10.3f}")
        results["bits"][str(bits)] = row
        ratio = row["mpmath"]["matvec"] / row["flint"]["matvec"]
        print(f"{bits:>6} matvec mpmath / flint = {ratio:.1f}x; "
              f"gmpy2 / flint = {row['gmpy2']['matvec'] / row['flint']['matvec']:.1f}x")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
