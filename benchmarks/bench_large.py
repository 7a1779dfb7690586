"""Large problems: memory and time per step in float64, and the largest problem that reaches
log10 L = -1e10 in multiprecision within a budget.

Section 1 (float64). For each (N, d), ``sparse_teacher(N, d, 3, seed=0)`` (D = 2, alpha = 1,
exponential sum loss) is built and solved in a fresh process towards sigma = 100 with
``checkpoints=[]``, ``multiprecision=False`` and a step budget (``--steps``; the run then ends
with status "max steps" and its final State). Printed per size: the time to build the data
and the Problem, the separability test, the solve, the time per accepted step (Jacobians and
LU factorizations included in proportion), the final State, the peak resident memory of the
process and the peak of the allocations Python and numpy make during the solve
(``tracemalloc``; Numba's own allocations are not traced), both also per entry of X, and a
numpy ``X~^T v`` as the machine-speed yardstick (ms/step divided by it).

Section 2 (multiprecision). ``sparse_teacher(N, 5 N, 3, seed=0)`` for increasing N, each
solved to ``log10_loss="-1e10"`` with ``checkpoints=[]`` in a fresh process, until one takes
longer than ``--budget`` seconds (default 600): wall time, float64 and arb steps, the final
working precision and, for the largest N reached, the top functions of a cProfile of the arb
part.

Usage: ``python benchmarks/bench_large.py [--sizes 400x2000 2000x20000 ...] [--steps 30]
[--mp-sizes 20 40 80 ...] [--budget 600] [--sections 1,2] [--threads 1]
[--out benchmarks/results/large.json]``. The measured processes run with one BLAS thread
unless ``--threads`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

DEFAULT_SIZES = ["100x2000", "400x2000", "400x20000", "1000x10000", "2000x2000", "2000x20000"]
DEFAULT_MP_SIZES = [20, 40, 80, 160, 320]


def float64_child(n_samples, n_features, steps):
    """Measure one size in this (fresh) process; returns a dict."""
    import resource
    import tracemalloc

    import numpy as np

    import extprec

    def peak_rss_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    extprec.solve(extprec.datasets.two_points(), log10_loss=-5)  # load the Numba kernels
    base_rss = peak_rss_mb()
    t0 = time.perf_counter()
    problem = extprec.datasets.sparse_teacher(n_samples, n_features, 3, seed=0)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    separability = problem.separability()
    lp = time.perf_counter() - t0
    rss_before_solve = peak_rss_mb()
    v = np.ones(n_samples)
    t0 = time.perf_counter()
    for _ in range(5):
        problem.signed_X.T @ v
    matvec_ms = (time.perf_counter() - t0) / 5 * 1e3
    tracemalloc.start()
    t0 = time.perf_counter()
    traj = extprec.solve(problem, log10_loss=-100 / math.log(10), checkpoints=[],
                         multiprecision=False, max_steps=steps)
    solve = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    integrator = traj._integrator
    t0 = time.perf_counter()
    integrator.make_state(integrator.ell_now(), integrator.y_now())
    state = time.perf_counter() - t0
    entries = n_samples * n_features
    ms_step = (solve - state) / max(traj.n_steps, 1) * 1e3
    return {
        "N": n_samples, "d": n_features, "status": traj.status, "steps": traj.n_steps,
        "build_s": build, "separability_s": lp, "separable": separability.separable,
        "solve_s": solve, "state_s": state, "ms_per_step": ms_step,
        "matvec_ms": matvec_ms, "step_per_matvec": ms_step / matvec_ms,
        "stats": {k: v for k, v in traj.stats.items() if k != "precision_schedule"},
        "peak_rss_mb": peak_rss_mb(), "rss_after_import_mb": base_rss,
        "rss_before_solve_mb": rss_before_solve, "traced_peak_mb": traced_peak,
        "traced_bytes_per_entry": traced_peak * 2**20 / entries,
        "rss_bytes_per_entry": (peak_rss_mb() - base_rss) * 2**20 / entries,
    }


def mp_child(n_samples, profile):
    import cProfile
    import io
    import pstats

    import extprec

    problem = extprec.datasets.sparse_teacher(n_samples, 5 * n_samples, 3, seed=0)
    problem.separability()
    extprec.solve(extprec.datasets.two_points(), log10_loss=-5)
    profiler = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    traj = extprec.solve(problem, log10_loss="-1e10", checkpoints=[])
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - t0
    segments = dict(traj.stats["segments"])
    out = {"N": n_samples, "d": 5 * n_samples, "status": traj.status, "seconds": seconds,
           "float64_steps": segments.get("float64", 0), "arb_steps": segments.get("arb", 0),
           "final_bits": traj.final.precision_bits,
           "counters": {k: traj.stats[k] for k in ("f_evaluations", "jacobians",
                                                    "lu_decompositions", "newton_failures",
                                                    "rejected_steps")}}
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(12)
        out["profile"] = stream.getvalue()
    return out


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
THREADS = "1"  # BLAS threads of the measured processes (--threads)


def _in_child(args, timeout):
    """Run this script with ``args`` in a fresh process; the JSON it prints, or None."""
    env = {**os.environ, **{name: THREADS for name in THREAD_VARIABLES}}
    try:
        done = subprocess.run([sys.executable, __file__, *args], capture_output=True,
                              text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def section1(sizes, steps):
    print("Section 1. float64: sparse_teacher(N, d, 3, seed=0), D = 2, alpha = 1, towards "
          f"sigma = 100, checkpoints=[], max_steps={steps}")
    head = (f"{'N':>5} {'d':>6} {'build s':>8} {'sep s':>7} {'steps':>6} {'ms/step':>9} "
            f"{'matvec ms':>10} {'step/matvec':>11} {'State s':>8} {'RSS MB':>8} "
            f"{'B/entry':>8} {'traced MB':>10} {'status':>10}")
    print(head)
    rows = []
    for size in sizes:
        n, d = (int(v) for v in size.split("x"))
        row = _in_child(["--child-float64", str(n), str(d), str(steps)], timeout=7200)
        if row is None or "error" in row:
            print(f"{n:>5} {d:>6} failed: {row}")
            rows.append({"N": n, "d": d, "error": row})
            continue
        rows.append(row)
        print(f"{n:>5} {d:>6} {row['build_s']:8.2f} {row['separability_s']:7.2f} "
              f"{row['steps']:6d} {row['ms_per_step']:9.1f} {row['matvec_ms']:10.3f} "
              f"{row['step_per_matvec']:11.0f} {row['state_s']:8.2f} "
              f"{row['peak_rss_mb']:8.0f} {row['rss_bytes_per_entry']:8.1f} "
              f"{row['traced_peak_mb']:10.1f} {row['status']:>10}", flush=True)
    print("  ms/step = (solve - final State) / accepted steps; B/entry = (peak RSS - RSS after "
          "import) / (N d), data and Problem included (X and X~ are 16 bytes per entry); "
          "traced MB: tracemalloc peak during the solve.")
    return rows


def section2(sizes, budget):
    print(f"\nSection 2. multiprecision: sparse_teacher(N, 5N, 3, seed=0) to log10 L = -1e10, "
          f"checkpoints=[], budget {budget:g} s per run")
    print(f"{'N':>5} {'d':>6} {'seconds':>9} {'f64 steps':>10} {'arb steps':>10} "
          f"{'bits':>6} {'status':>10}")
    rows = []
    for n in sizes:
        row = _in_child(["--child-mp", str(n), "0"], timeout=budget)
        if row is None:
            print(f"{n:>5} {5 * n:>6} over budget")
            rows.append({"N": n, "d": 5 * n, "status": "over budget"})
            break
        if "error" in row:
            print(f"{n:>5} {5 * n:>6} failed: {row['error'][-300:]}")
            rows.append({"N": n, "error": row["error"]})
            break
        rows.append(row)
        print(f"{n:>5} {5 * n:>6} {row['seconds']:9.1f} {row['float64_steps']:10d} "
              f"{row['arb_steps']:10d} {row['final_bits']:6d} {row['status']:>10}", flush=True)
    reached = [r for r in rows if r.get("status") == "reached"]
    if reached:
        n = reached[-1]["N"]
        prof = _in_child(["--child-mp", str(n), "1"], timeout=4 * budget)
        if prof and "profile" in prof:
            print(f"\n  cProfile of N = {n} (tottime, top 12):")
            print("\n".join("  " + line for line in prof["profile"].splitlines()[:40]))
            rows.append({"profile_of": n, "profile": prof["profile"]})
    return rows


def machine():
    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True,
                                  cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        except OSError:
            return ""

    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "load_average": os.getloadavg(),
            "git_head": git("rev-parse", "--short", "HEAD"),
            "git_dirty": bool(git("status", "--porcelain"))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--mp-sizes", type=int, nargs="+", default=DEFAULT_MP_SIZES)
    parser.add_argument("--budget", type=float, default=600.0)
    parser.add_argument("--sections", default="1,2")
    parser.add_argument("--threads", default="1",
                        help="BLAS/OpenMP/Numba threads of the measured processes (on a "
                             "shared machine more threads than free cores make BLAS erratic)")
    parser.add_argument("--out", default="benchmarks/results/large.json")
    parser.add_argument("--child-float64", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-mp", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_float64:
        print(json.dumps(float64_child(*args.child_float64)))
        return
    if args.child_mp:
        print(json.dumps(mp_child(args.child_mp[0], bool(args.child_mp[1]))))
        return
    global THREADS
    THREADS = args.threads
    sections = {int(s) for s in args.sections.split(",")}
    result = {"machine": machine(), "config": vars(args)}
    print(f"machine: {result['machine']}")
    if 1 in sections:
        result["float64"] = section1(args.sizes, args.steps)
    if 2 in sections:
        result["multiprecision"] = section2(args.mp_sizes, args.budget)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
