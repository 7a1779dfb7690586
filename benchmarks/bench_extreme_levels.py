"""Time, steps and precision to reach L = 10^(-10^k) on the default problem.

The issue's performance table for the multiprecision continuation: the N = 20, d = 50
sparse-teacher problem (D = 2, alpha = 1, exponential sum loss), ``extprec.solve`` at the
default rtol, one run per level k (each from t = 0, so a row is the full cost of that
level). Levels are attempted in increasing order until one run exceeds ``--budget``
seconds. Printed per level: wall time, accepted float64 / arb steps, arb steps per decade of
sigma in the last decade band, working precision at the end, and the arb counters
(f evaluations, Jacobians, inversions, Newton failures, rejected steps).

Usage: ``python benchmarks/bench_extreme_levels.py [--levels 2 5 10 20 50 100]
[--budget 600] [--out benchmarks/results/extreme_levels.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import extprec


def run_level(problem, k: int) -> dict:
    start = time.perf_counter()
    trajectory = extprec.solve(problem, log10_loss=f"-1e{k}")
    elapsed = time.perf_counter() - start
    segments = dict(trajectory.stats["segments"])
    schedule = trajectory.stats["precision_schedule"]
    return {
        "k": k,
        "status": trajectory.status,
        "seconds": round(elapsed, 2),
        "float64_steps": segments.get("float64", 0),
        "arb_steps": segments.get("arb", 0),
        "final_bits": trajectory.final.precision_bits,
        "precision_schedule": schedule,
        "counters": {key: trajectory.stats[key] for key in (
            "f_evaluations", "jacobians", "lu_decompositions", "newton_failures",
            "rejected_steps")},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[2, 5, 10, 20, 50, 100])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="stop after the first level whose run takes longer (seconds)")
    parser.add_argument("--out", default="benchmarks/results/extreme_levels.json")
    args = parser.parse_args(argv)
    problem = extprec.datasets.default_problem()
    extprec.solve(problem, log10_loss="-10")  # compile the float64 kernels outside the timing
    rows = []
    print(f"{'k':>5} {'status':>10} {'seconds':>9} {'f64 steps':>10} {'arb steps':>10} "
          f"{'bits':>6} {'f evals':>9} {'newton fail':>12}")
    for k in sorted(args.levels):
        row = run_level(problem, k)
        rows.append(row)
        print(f"{k:>5} {row['status']:>10} {row['seconds']:>9.1f} {row['float64_steps']:>10} "
              f"{row['arb_steps']:>10} {row['final_bits']:>6} "
              f"{row['counters']['f_evaluations']:>9} {row['counters']['newton_failures']:>12}",
              flush=True)
        if row["seconds"] > args.budget:
            break
    with open(args.out, "w") as fh:
        json.dump({"machine": platform.platform(), "extprec": extprec.__version__,
                   "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
