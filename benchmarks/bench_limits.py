#!/usr/bin/env python
"""Benchmark of the reference predictors, the State diagnostics and the threshold finder.

Run from the repository root::

    python benchmarks/bench_limits.py            # full, about 3 min on 2 cores
    python benchmarks/bench_limits.py --quick    # about 40 s
    python benchmarks/bench_limits.py --out benchmarks/results/limits.json

Sections (tables are printed, every measurement goes to the JSON file):

1. Predictors versus problem size: ``sparse_teacher(N, d, 3, seed=0)`` for growing (N, d);
   time of ``l1_max_margin``, ``l2_max_margin``, ``restricted_l1_max_margin`` (on the l1
   active set) and ``q_mu`` at mu = 1e-3, 1 and 1e3, all at 30 digits, next to the anchor: the
   float64 l1 linear program alone (``scipy.optimize.linprog``, HiGHS), measured in the same
   run. The ratio says what the multiprecision polish and verification cost.
2. Diagnostics per State on the default problem (run to log10 L = -1e6): the solve, then the
   first read of the references (once per problem), and per State gamma_l1 / gamma_l2 / mu,
   distance["l1"] and ["l2"], the regime, and distance["q_mu"] (one Q_mu solve per State).
3. Threshold finder: ``kick_in`` on the default problem (D = 2, limit l1; D = 3, limit
   l1_active; full mode only for D = 3) next to the anchor: one plain ``extprec.solve`` to
   the level found. The ratio is the finder's overhead (restarts, grid, bisection).

Timings are the best of several repeats after a warm-up call. The machines are shared and noisy:
compare the ratios against the anchors measured in the same run, not the seconds.

Targets: every predictor of the default problem (N = 20, d = 50) below 1 s at 30 digits;
diagnostics without Q_mu below 10 ms per State once the references exist; kick_in within 3x a
plain solve to the level it finds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import extprec  # noqa: E402
from extprec import datasets, limits  # noqa: E402

DIGITS = 30


def best_time(function, repeats):
    """Best wall time of ``repeats`` calls after one warm-up call; returns (seconds, result)."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def anchor_lp(problem):
    """The float64 l1 max-margin LP alone (HiGHS on beta = b+ - b-)."""
    Xs = problem.signed_X
    n, d = Xs.shape
    res = optimize.linprog(np.ones(2 * d), A_ub=np.c_[-Xs, Xs], b_ub=-np.ones(n),
                           bounds=(0, None), method="highs")
    assert res.status == 0
    return res


def section_predictors(sizes, repeats):
    print("1. predictors versus problem size (30 digits; ratio = time / float64 HiGHS LP)")
    header = (f"{'N':>5} {'d':>5} {'LP anchor':>10} {'l1':>9} {'l2':>9} {'l1 restr.':>10} "
              f"{'q_mu 1e-3':>10} {'q_mu 1':>9} {'q_mu 1e3':>9}   ratios l1 / l2 / q_mu(1)")
    print(header)
    print("-" * len(header))
    rows = []
    for n, d in sizes:
        problem = datasets.sparse_teacher(n, d, 3, seed=0)
        problem.separability()  # cached per problem; its LPs are not part of the programs
        anchor, _ = best_time(lambda: anchor_lp(problem), repeats)
        t_l1, l1 = best_time(lambda: limits.l1_max_margin(problem, digits=DIGITS), repeats)
        t_l2, _ = best_time(lambda: limits.l2_max_margin(problem, digits=DIGITS), repeats)
        t_rs, _ = best_time(lambda: limits.restricted_l1_max_margin(problem, l1.active,
                                                                    digits=DIGITS), repeats)
        t_q = {}
        for mu in ("1e-3", "1", "1e3"):
            t_q[mu], _ = best_time(lambda: limits.q_mu(problem, mu, digits=DIGITS),
                                   max(1, repeats // 2))
        print(f"{n:>5} {d:>5} {anchor:>10.4f} {t_l1:>9.4f} {t_l2:>9.4f} {t_rs:>10.4f} "
              f"{t_q['1e-3']:>10.4f} {t_q['1']:>9.4f} {t_q['1e3']:>9.4f}   "
              f"{t_l1 / anchor:.0f} / {t_l2 / anchor:.0f} / {t_q['1'] / anchor:.0f}")
        rows.append({"n_samples": n, "n_features": d, "anchor_lp_s": anchor, "l1_s": t_l1,
                     "l2_s": t_l2, "restricted_l1_s": t_rs, "q_mu_s": t_q,
                     "l1_active": len(l1.active), "l1_support": len(l1.support)})
    print()
    return rows


def section_diagnostics():
    print("2. diagnostics per State, default problem to log10 L = -1e6")
    problem = datasets.default_problem()
    start = time.perf_counter()
    trajectory = extprec.solve(problem, log10_loss="-1e6")
    solve_s = time.perf_counter() - start
    states = trajectory.checkpoints
    start = time.perf_counter()
    limits.LimitReferences.of(problem).get("l1", 15)
    limits.LimitReferences.of(problem).get("l2", 15)
    references_s = time.perf_counter() - start

    def per_state(read):
        start = time.perf_counter()
        for state in states:
            read(state)
        return (time.perf_counter() - start) / len(states)

    result = {
        "states": len(states), "solve_s": solve_s, "references_s": references_s,
        "gamma_mu_s": per_state(lambda s: (s.gamma_l1, s.gamma_l2, s.mu)),
        "distance_l1_l2_s": per_state(lambda s: (s.distance["l1"], s.distance["l2"])),
        "regime_s": per_state(lambda s: s.regime),
        "support_active_s": per_state(lambda s: (s.support_vectors, s.active_coordinates)),
        "distance_q_mu_s": per_state(lambda s: s.distance["q_mu"]),
    }
    print(f"  {len(states)} States; solve {solve_s:.2f} s; references (l1, l2, once) "
          f"{references_s * 1e3:.1f} ms")
    for key, label in (("gamma_mu_s", "gamma_l1, gamma_l2, mu"),
                       ("distance_l1_l2_s", "distance l1, l2"),
                       ("regime_s", "regime (and its evidence)"),
                       ("support_active_s", "support vectors, active coordinates"),
                       ("distance_q_mu_s", "distance q_mu (a Q_mu solve)")):
        print(f"  {label:<40} {result[key] * 1e3:9.2f} ms per State")
    print()
    return result


def section_kick_in(full):
    print("3. threshold finder (delta = 0.05) vs a plain solve to the level found")
    header = (f"{'case':<22} {'level':>12} {'distance':>10} {'reads':>6} {'kick_in s':>10} "
              f"{'solve s':>8} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    cases = [("D = 2, l1", datasets.default_problem(), "l1")]
    if full:
        cases.append(("D = 3, l1_active", datasets.default_problem(depth=3), "l1_active"))
    rows = []
    for label, problem, limit in cases:
        start = time.perf_counter()
        report = limits.kick_in_report(problem, limit)
        finder_s = time.perf_counter() - start
        level = str(report.log10_loss)
        start = time.perf_counter()
        extprec.solve(problem, log10_loss=level, checkpoints=[])
        solve_s = time.perf_counter() - start
        print(f"{label:<22} {float(report.log10_loss):>12.5g} {float(report.distance):>10.3g} "
              f"{report.evaluations:>6} {finder_s:>10.2f} {solve_s:>8.2f} "
              f"{finder_s / solve_s:>6.1f}")
        rows.append({"case": label, "level": level, "distance": str(report.distance),
                     "bracket": [str(v) for v in report.bracket], "reads": report.evaluations,
                     "kick_in_s": finder_s, "solve_s": solve_s})
    print()
    return rows


def machine():
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                                capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = None
    return {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
            "python": platform.python_version(), "platform": platform.platform(),
            "commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, D = 2 finder only")
    parser.add_argument("--out", type=Path, default=None, help="JSON output file")
    args = parser.parse_args(argv)
    sizes = [(5, 10), (20, 50)] if args.quick else [(5, 10), (20, 50), (50, 100), (100, 200)]
    repeats = 2 if args.quick else 3
    print(f"extprec {extprec.__version__}, {os.cpu_count()} CPUs, load "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    results = {"machine": machine(), "quick": args.quick,
               "predictors": section_predictors(sizes, repeats),
               "diagnostics": section_diagnostics(),
               "kick_in": section_kick_in(full=not args.quick)}
    out = args.out or ROOT / "benchmarks" / "results" / (
        "limits_quick.json" if args.quick else "limits.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
