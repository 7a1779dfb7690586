"""Time, steps and precision to reach L = 10^(-10^k) on the default problem.

The performance table of the multiprecision continuation: the N = 20, d = 50 sparse-teacher
problem (D = 2, alpha = 1, exponential sum loss), ``extprec.solve`` at the default rtol, one
run per level k (each from t = 0, so a row is the full cost of that level), in two modes:

* ``default``: what ``extprec.solve(problem, log10_loss="-1e<k>")`` does, a State at every
  decade of log10(1/L) (k + 1 of them) and the control run that checks their digits
  (``verify=True``); the time is split into the main run and the control run (from the
  progress reports of :class:`extprec.progress.CostLog`);
* ``bare``: ``checkpoints=[], verify=False``, the integration itself, one landing and one
  State; its arb steps per decade of sigma measure the step-size control.

Levels are attempted in increasing order until a run exceeds ``--budget`` seconds. Printed
per level: wall times, accepted float64 / arb steps, arb steps per decade of sigma, working
precision at the end, and the arb counters (f evaluations, Newton failures); the JSON file
also has Jacobians, inversions, rejected steps, the precision schedule and the digits
confirmed at the stop.

Usage: ``python benchmarks/bench_extreme_levels.py [--levels 2 5 10 20 50 100]
[--modes default bare] [--budget 600] [--out benchmarks/results/extreme_levels.json]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import extprec
from extprec.progress import CostLog

MODES = {"default": {}, "bare": {"checkpoints": [], "verify": False}}


def run_level(problem, k: int, mode: str) -> dict:
    cost = CostLog()
    start = time.perf_counter()
    trajectory = extprec.solve(problem, log10_loss=f"-1e{k}", progress=cost, **MODES[mode])
    elapsed = time.perf_counter() - start
    segments = dict(trajectory.stats["segments"])
    log = cost.as_dict()
    control = log.get("control")
    # the control run starts after the main run ends; its first report marks the split
    main_seconds = control["seconds"][0] if control else elapsed
    return {
        "k": k,
        "mode": mode,
        "checkpoints": len(trajectory.checkpoints),
        "status": trajectory.status,
        "seconds": round(elapsed, 2),
        "main_seconds": round(main_seconds, 2),
        "control_seconds": round(elapsed - main_seconds, 2),
        "float64_steps": segments.get("float64", 0),
        "arb_steps": segments.get("arb", 0),
        "final_bits": trajectory.final.precision_bits,
        "final_digits": trajectory.final.digits,
        "verified": trajectory.final.evidence.verified,
        "precision_schedule": trajectory.stats["precision_schedule"],
        "counters": {key: trajectory.stats[key] for key in (
            "f_evaluations", "jacobians", "lu_decompositions", "newton_failures",
            "rejected_steps")},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[2, 5, 10, 20, 50, 100])
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["default", "bare"])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="stop after the first level whose run takes longer (seconds)")
    parser.add_argument("--out", default="benchmarks/results/extreme_levels.json")
    args = parser.parse_args(argv)
    problem = extprec.datasets.default_problem()
    extprec.solve(problem, log10_loss="-10")  # compile the float64 kernels outside the timing
    rows = []
    print(f"{'k':>5} {'mode':>8} {'status':>8} {'seconds':>8} {'main s':>7} {'control s':>9} "
          f"{'states':>6} {'digits':>6} {'f64 steps':>9} {'arb steps':>9} {'arb/decade':>10} "
          f"{'bits':>6} {'f evals':>8} {'newton fail':>11}")
    for k in sorted(args.levels):
        over = False
        for mode in args.modes:
            row = run_level(problem, k, mode)
            rows.append(row)
            # arb steps per decade of sigma beyond the float64 handover (sigma about 1e8.7)
            decades = max(k + math.log10(math.log(10)) - 8.7, 1.0)
            digits = f"{row['final_digits']}{'' if row['verified'] else '?'}"
            print(f"{k:>5} {mode:>8} {row['status']:>8} {row['seconds']:>8.1f} "
                  f"{row['main_seconds']:>7.1f} {row['control_seconds']:>9.1f} "
                  f"{row['checkpoints']:>6} {digits:>6} {row['float64_steps']:>9} "
                  f"{row['arb_steps']:>9} {row['arb_steps'] / decades:>10.1f} "
                  f"{row['final_bits']:>6} {row['counters']['f_evaluations']:>8} "
                  f"{row['counters']['newton_failures']:>11}", flush=True)
            over = over or row["seconds"] > args.budget
        if over:
            break
    print("default: solve(problem, '-1e<k>'), a State per decade of log10(1/L) and the control "
          "run at rtol/100 that checks their digits (main s + control s); bare: "
          "checkpoints=[], verify=False (the integration, one landing, one State); digits: "
          "of the final State, '?' where unchecked; arb/decade: arb steps per decade of sigma "
          "beyond the handover (main run)")
    with open(args.out, "w") as fh:
        json.dump({"machine": platform.platform(), "extprec": extprec.__version__,
                   "load_average": os.getloadavg(), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
