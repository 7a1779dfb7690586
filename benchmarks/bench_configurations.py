"""Every supported configuration at an extreme level: which reach it, how fast, how many digits.

One ``extprec.solve(problem, log10_loss=LEVEL, checkpoints=[])`` per configuration of
``two_points()`` (N = 2, d = 2): depth D = 1, 2, 3, 4 at alpha = 1e-300, 1 and 1e300, both
losses and both reductions, a non-default shape, and D = 3 with a small alpha (the finite
tau horizon). With the control run (``verify=True``, default) the digits of the final State
are checked; ``--no-verify`` halves the time and marks them unchecked. Printed per
configuration: status, CPU seconds, float64 / arb steps, bits at the end, digits, the final
log10 L and log10 t (t is about 10^(10^k) at L = 10^(-10^k)); a JSON file keeps the rows.

Usage: ``python benchmarks/bench_configurations.py [--level=-1e100] [--max-steps 20000]
[--no-verify] [--out benchmarks/results/configurations.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import mpmath

import extprec
from extprec.datasets import two_points


def configurations() -> list[dict]:
    cases = [dict(depth=depth, alpha=alpha) for depth in (1, 2, 3, 4)
             for alpha in ("1e-300", "1", "1e300")]
    cases += [dict(depth=2, alpha="1", loss="logistic"),
              dict(depth=2, alpha="1", reduction="mean"),
              dict(depth=3, alpha="1", loss="logistic", reduction="mean"),
              dict(depth=2, alpha="1", shape=([1.0, 2.0], [0.5, 1.0])),
              dict(depth=3, alpha="1e-5")]
    return cases


def run(kwargs: dict, level: str, max_steps: int, verify: bool) -> dict:
    start = time.process_time()
    row = {"problem": {k: (v if k != "shape" else [list(u) for u in v])
                       for k, v in kwargs.items()}}
    try:
        traj = extprec.solve(two_points(**kwargs), log10_loss=level, checkpoints=[],
                             verify=verify, max_steps=max_steps)
    except Exception as exc:  # reported, not hidden: a row per configuration
        row.update(status=f"error: {type(exc).__name__}: {exc}"[:200],
                   cpu_seconds=round(time.process_time() - start, 2))
        return row
    final = traj.final
    segments = dict(traj.stats["segments"])
    row.update(status=traj.status, cpu_seconds=round(time.process_time() - start, 2),
               float64_steps=segments.get("float64", 0), arb_steps=segments.get("arb", 0),
               bits=final.precision_bits, digits=final.digits,
               verified=final.evidence.verified,
               log10_loss=mpmath.nstr(final.log10_loss, 12),
               log10_t=mpmath.nstr(final.log10_t, 12))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="-1e100", help="target log10 loss (exact string)")
    parser.add_argument("--max-steps", type=int, default=20000)
    parser.add_argument("--no-verify", action="store_true", help="skip the control runs")
    parser.add_argument("--out", default="benchmarks/results/configurations.json")
    args = parser.parse_args(argv)
    extprec.solve(two_points(), log10_loss="-10")  # compile the float64 kernels outside
    rows = []
    print(f"level log10 L = {args.level}")
    print(f"{'configuration':<58} {'status':>10} {'cpu s':>7} {'f64':>6} {'arb':>6} "
          f"{'bits':>6} {'digits':>6} {'log10 L':>14} {'log10 t':>14}")
    for kwargs in configurations():
        row = run(kwargs, args.level, args.max_steps, not args.no_verify)
        rows.append(row)
        name = ", ".join(f"{k}={v}" for k, v in row["problem"].items())
        if "bits" not in row:
            print(f"{name:<58} {row['status']}", flush=True)
            continue
        digits = f"{row['digits']}{'' if row['verified'] else '?'}"
        print(f"{name:<58} {row['status']:>10} {row['cpu_seconds']:>7.1f} "
              f"{row['float64_steps']:>6} {row['arb_steps']:>6} {row['bits']:>6} {digits:>6} "
              f"{row['log10_loss']:>14} {row['log10_t']:>14}", flush=True)
    print("two_points() with the given arguments; digits of the final State ('?' unchecked); "
          "cpu s: process time of the solve (with its control run unless --no-verify)")
    with open(args.out, "w") as fh:
        json.dump({"machine": platform.platform(), "extprec": extprec.__version__,
                   "load_average": os.getloadavg(), "level": args.level, "rows": rows},
                  fh, indent=1)


if __name__ == "__main__":
    main()
