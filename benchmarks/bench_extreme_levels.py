"""Time, steps and precision to reach L = 10^(-10^k) on the default problem.

The issue's performance table for the multiprecision continuation: the N = 20, d = 50
sparse-teacher problem (D = 2, alpha = 1, exponential sum loss), ``extprec.solve`` at the
default rtol, one run per level k (each from t = 0, so a row is the full cost of that
level), with the default checkpoints and again with ``checkpoints=[]`` (the difference is
where the time goes: checkpoint landings and States versus the integration itself). Levels
are attempted in increasing order until one run exceeds ``--budget`` seconds. Printed per
level: wall times, accepted float64 / arb steps, arb steps per decade of sigma, working
precision at the end, and the arb counters (f evaluations, Newton failures; the JSON file
also has Jacobians, inversions, rejected steps and the precision schedule).

Usage: ``python benchmarks/bench_extreme_levels.py [--levels 2 5 10 20 50 100]
[--budget 600] [--out benchmarks/results/extreme_levels.json]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import extprec


def run_level(problem, k: int, checkpoints) -> dict:
    start = time.perf_counter()
    trajectory = extprec.solve(problem, log10_loss=f"-1e{k}", checkpoints=checkpoints)
    elapsed = time.perf_counter() - start
    segments = dict(trajectory.stats["segments"])
    return {
        "k": k,
        "checkpoints": len(trajectory.checkpoints),
        "status": trajectory.status,
        "seconds": round(elapsed, 2),
        "float64_steps": segments.get("float64", 0),
        "arb_steps": segments.get("arb", 0),
        "final_bits": trajectory.final.precision_bits,
        "precision_schedule": trajectory.stats["precision_schedule"],
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
    print(f"{'k':>5} {'status':>10} {'seconds':>9} {'no-ckpt s':>10} {'ckpts':>6} "
          f"{'f64 steps':>10} {'arb steps':>10} {'arb/decade':>11} {'bits':>6} "
          f"{'f evals':>9} {'newton fail':>12}")
    for k in sorted(args.levels):
        row = run_level(problem, k, None)
        bare = run_level(problem, k, [])
        row["seconds_without_checkpoints"] = bare["seconds"]
        row["arb_steps_without_checkpoints"] = bare["arb_steps"]
        rows.append(row)
        # arb steps per decade of sigma beyond the float64 handover (sigma about 1e8.7)
        decades = max(k + math.log10(math.log(10)) - 8.7, 1.0)
        print(f"{k:>5} {row['status']:>10} {row['seconds']:>9.1f} {bare['seconds']:>10.1f} "
              f"{row['checkpoints']:>6} {row['float64_steps']:>10} {row['arb_steps']:>10} "
              f"{bare['arb_steps'] / decades:>11.1f} {row['final_bits']:>6} "
              f"{row['counters']['f_evaluations']:>9} {row['counters']['newton_failures']:>12}",
              flush=True)
        if row["seconds"] > args.budget:
            break
    print("seconds: with the default checkpoints (a State at every decade of log10(1/L) and "
          "of sigma); no-ckpt s: checkpoints=[] (integration, one landing, one State), so the "
          "difference is the cost of the checkpoint landings and States; arb/decade: arb "
          "steps of the no-checkpoint run per decade of sigma beyond the handover")
    with open(args.out, "w") as fh:
        json.dump({"machine": platform.platform(), "extprec": extprec.__version__,
                   "load_average": os.getloadavg(), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
