"""extprec against two arbitrary-precision anchors on the original gradient flow.

The problem is ``extprec.datasets.two_points()``: N = 2 samples, d = 2 features,
x1 = (1, 1/2), x2 = (9/10, 1) (the float64 values, which every solver uses exactly), both
labelled +1, depth D = 2, alpha = 1 (w+(0) = w-(0) = (1, 1)), exponential sum loss
L(w) = sum_n exp(-y_n x_n . beta), beta = w+^2 - w-^2. Its trajectory is non-trivial: the
normalized predictor beta / min margin moves from the l2 direction (kernel regime, only x1 a
support vector) to the l1 max-margin predictor (10/11, 2/11), which gains x2 as a support
vector.

Solvers, each asked to stop at the training loss L = 10^-k (one run per level k, each from
t = 0, so a row is the whole cost of that level):

* extprec: ``extprec.solve(problem, log10_loss="-<k>", rtol=--rtol, checkpoints=[])`` (the
  integration, one landing and one State: the same output as the anchors give). Its float64
  kernels are compiled / loaded outside the timing.
* heyoka.py (Taylor method, ``fp_type=heyoka.real`` at ``--bits`` bits) on the ORIGINAL flow
  in time t on the 2d weights, dw+/dt = -dL/dw+ = D w+^(D-1) g, dw-/dt = -D w-^(D-1) g,
  g = sum_n y_n x_n exp(-y_n x_n . beta), with a terminal event ``log L + k ln 10 = 0``
  (``heyoka.t_event``, direction negative; k ln 10 is a runtime parameter ``par[0]`` so one
  JIT-compiled integrator serves every level; the compile time is reported apart). The run
  stops at the event; a step callback enforces the budget. MPFR's exponent range (about
  2^(+-2^30)) makes L = 10^-k unrepresentable for k beyond about 3.2e8, reported as "cannot
  represent the loss" without running.
* ``mpmath.odefun`` (Taylor series) on the same original flow in a private context
  (``mpmath.mp.clone()``, ``prec = --bits``): the solution is extended along a geometric grid
  of t until L crosses 10^-k, then the crossing is located on the dense solution
  (``findroot``, Illinois, in log t). Its step never exceeds 1 in t, so levels that need
  t ~ 10^k are out of its reach; the row then reports the loss level reached in the budget.

Each anchor runs at every tolerance of ``--anchor-tols``: ``eps`` (the library default, about
2^-bits: a reference) and ``rtol`` (= extprec's rtol: the same accuracy target).

Every solver runs in its own child process (spawned once, kept warm across levels), one run at
a time and level by level, so all solvers share the same machine load; the parent kills a run
that exceeds the budget by ``--grace`` seconds. Runs faster than ``--repeat-below`` seconds
are repeated ``--repeats`` times and the median is reported. After a level that does not
finish in the budget, a solver skips the deeper levels.

Printed per level and solver: status, wall time, accepted steps, log10 t, the digits extprec
vouches for (``State.digits``), the digits of agreement with extprec of beta_normalized
(-log10 of the max componentwise relative difference) and the absolute difference of log10 t,
and the time ratio anchor / extprec. The JSON file holds all of it, every repeat time, the full
beta_normalized and log10 t strings and the machine.

Usage: ``python benchmarks/bench_anchors.py [--levels 10 100 1000 1e10 1e100] [--budget 120]
[--bits 333] [--anchor-tols eps rtol] [--out benchmarks/results/anchors.json]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETUP_TIMEOUT = 900.0  # seconds for a child to import and compile (a cold numba cache ~ 1 min)
PROGRESS_EVERY = 2.0  # seconds between progress reports of a running anchor


# -- the problem, shared by every solver -------------------------------------------------------
def problem_data():
    """(signed_X as nested lists of float, depth, alpha as float) of the benchmark problem."""
    import extprec

    problem = extprec.datasets.two_points()
    if not (problem.balanced_shape and (problem.u_plus == 1).all()):
        raise ValueError("the anchors implement w+(0) = w-(0) = alpha * 1 only")
    return problem.signed_X.tolist(), problem.depth, float(problem.alpha_exact)


def level_exponent(level: str) -> int:
    """k of the level L = 10^-k, from a string such as "100" or "1e100"."""
    value = Decimal(level)
    if value <= 0 or value != value.to_integral_value():
        raise ValueError(f"a level is a positive integer k (L = 10^-k); got {level!r}")
    return int(value)


def loss_and_state(ctx, signed_X, depth, weights):
    """log L, beta, beta_normalized at the weights (w+ then w-) in the mpmath context ctx."""
    d = len(signed_X[0])
    w_plus, w_minus = weights[:d], weights[d:]
    beta = [w_plus[j] ** depth - w_minus[j] ** depth for j in range(d)]
    margins = [ctx.fsum(ctx.mpf(row[j]) * beta[j] for j in range(d)) for row in signed_X]
    low = min(margins)
    log_loss = -low + ctx.log(ctx.fsum(ctx.exp(low - m) for m in margins))
    return log_loss, beta, [b / low for b in beta]


# -- solvers (run inside the child processes) ---------------------------------------------------
class ExtprecSolver:

    def __init__(self, rtol, **_):
        import extprec

        self.extprec = extprec
        self.rtol = rtol
        self.problem = extprec.datasets.two_points()
        extprec.solve(self.problem, log10_loss="-10", rtol=rtol)  # compile / load the kernels
        self.info = {"version": extprec.__version__, "rtol": rtol}

    def run(self, level, budget, progress):
        import mpmath

        start = time.perf_counter()
        traj = self.extprec.solve(self.problem, log10_loss=f"-{level}", rtol=self.rtol,
                                  checkpoints=[])
        seconds = time.perf_counter() - start
        final = traj.final
        return {
            "status": "reached" if traj.status == "reached" else traj.status,
            "message": traj.message,
            "seconds": seconds,
            "steps": traj.n_steps,
            "segments": [list(s) for s in traj.stats["segments"]],
            "log10_loss": mpmath.nstr(final.log10_loss, 30),
            "log10_t": mpmath.nstr(final.log10_t, 60),
            "beta_normalized": [mpmath.nstr(v, 60) for v in final.beta_normalized],
            "digits": int(final.digits),
            "precision_bits": int(final.precision_bits),
        }


class HeyokaSolver:

    def __init__(self, bits, tol, **_):
        import heyoka as hy  # ImportError is reported by the child loop as "unavailable"
        import mpmath

        self.hy, self.bits = hy, bits
        self.ctx = mpmath.mp.clone()
        self.ctx.prec = bits + 32
        self.signed_X, self.depth, self.alpha = problem_data()
        n_features = len(self.signed_X[0])
        w_plus = hy.make_vars(*[f"wp{j}" for j in range(n_features)])
        w_minus = hy.make_vars(*[f"wm{j}" for j in range(n_features)])
        D = self.depth
        beta = [w_plus[j] ** D - w_minus[j] ** D for j in range(n_features)]
        # The data enter as float64 constants: exactly the problem's values.
        exps = [hy.exp(-hy.sum([row[j] * beta[j] for j in range(n_features)]))
                for row in self.signed_X]
        g = [hy.sum([row[j] * e for row, e in zip(self.signed_X, exps)])
             for j in range(n_features)]
        rhs = ([(w_plus[j], D * w_plus[j] ** (D - 1) * g[j]) for j in range(n_features)]
               + [(w_minus[j], -D * w_minus[j] ** (D - 1) * g[j]) for j in range(n_features)])
        event = hy.t_event(hy.log(hy.sum(exps)) + hy.par[0], fp_type=hy.real,
                           direction=hy.event_direction.negative)
        kwargs = {"fp_type": hy.real, "prec": bits, "t_events": [event], "compact_mode": True,
                  "pars": [self._real(0)]}
        if tol != "eps":
            kwargs["tol"] = self._real(tol)
        start = time.perf_counter()
        self.ta = hy.taylor_adaptive(rhs, [self._real(self.alpha)] * (2 * n_features), **kwargs)
        self.info = {"version": hy.__version__, "bits": bits, "order": int(self.ta.order),
                     "tol": self.ctx.nstr(self.ctx.mpf(str(self.ta.tol)), 6),
                     "compile_seconds": round(time.perf_counter() - start, 3),
                     "event": "t_event(log L + par[0]), par[0] = k ln 10, direction negative"}

    def _real(self, value):
        return self.hy.real(value, self.bits)

    def _log_loss(self):
        weights = [self.ctx.mpf(str(v)) for v in self.ta.state]
        return loss_and_state(self.ctx, self.signed_X, self.depth, weights)

    def run(self, level, budget, progress):
        ctx, hy = self.ctx, self.hy
        k = level_exponent(level)
        # The event time is about 10^(k - 3) on this problem; 10^(k + 50) is a safe horizon.
        t_final = self._real(f"1e{k + 50}")
        if self._real(f"1e-{k}") == 0 or not np.isfinite(np.array([t_final]))[0]:
            return {"status": "cannot represent the loss",
                    "message": f"10^-{level} (or the time 10^{k}) is outside heyoka.real's "
                               f"MPFR exponent range (about 2^(+-2^30))"}
        self.ta.state[:] = self._real(self.alpha)
        self.ta.time = self._real(0)
        self.ta.reset_cooldowns()
        self.ta.pars[0] = self._real(ctx.nstr(k * ctx.ln10, ctx.dps + 5))
        start = time.perf_counter()
        last = [start]

        def callback(ta):
            now = time.perf_counter()
            if now - last[0] > PROGRESS_EVERY:
                last[0] = now
                progress({"seconds": now - start, "log10_t": _log10_str(ctx, ta.time),
                          "log10_loss": ctx.nstr(self._log_loss()[0] / ctx.ln10, 8)})
            return now - start < budget

        outcome = self.ta.propagate_until(t_final, callback=callback)
        seconds = time.perf_counter() - start
        log_loss, _, beta_normalized = self._log_loss()
        code = int(outcome[0])
        if code == -1:  # terminal event 0 is reported as outcome -(0 + 1)
            status = "reached"
        elif outcome[0] == hy.taylor_outcome.cb_stop:
            status = "did not finish in budget"
        else:
            status = f"stopped ({outcome[0]})"
        return {
            "status": status,
            "seconds": seconds,
            "steps": int(outcome[3]),
            "log10_loss": ctx.nstr(log_loss / ctx.ln10, 30),
            "log10_t": _log10_str(ctx, self.ta.time),
            "beta_normalized": [ctx.nstr(v, 60) for v in beta_normalized],
        }


class MpmathSolver:
    GRID_START = 1 / 64  # the solution is extended to t = 1/64, 1.25/64, 1.25^2/64, ...
    GRID_FACTOR = 1.25

    def __init__(self, bits, tol, **_):
        import mpmath

        self.ctx = mpmath.mp.clone()
        self.ctx.prec = bits
        self.tol = None if tol == "eps" else self.ctx.mpf(tol)
        self.signed_X, self.depth, self.alpha = problem_data()
        self.info = {"version": mpmath.__version__, "bits": bits,
                     "tol": "eps (default)" if tol == "eps" else tol,
                     "degree": 3 + int(3 * self.ctx.dps / 2.0)}

    def _rhs(self, t, w):
        ctx, D = self.ctx, self.depth
        d = len(self.signed_X[0])
        beta = [w[j] ** D - w[d + j] ** D for j in range(d)]
        exps = [ctx.exp(-ctx.fsum(row[j] * beta[j] for j in range(d))) for row in self.signed_X]
        g = [ctx.fsum(row[j] * e for row, e in zip(self.signed_X, exps)) for j in range(d)]
        return ([D * w[j] ** (D - 1) * g[j] for j in range(d)]
                + [-D * w[d + j] ** (D - 1) * g[j] for j in range(d)])

    def run(self, level, budget, progress):
        ctx = self.ctx
        k = level_exponent(level)
        target = -k * ctx.ln10
        d = len(self.signed_X[0])
        start = time.perf_counter()
        solution = ctx.odefun(self._rhs, 0, [ctx.mpf(self.alpha)] * (2 * d), tol=self.tol)

        def log_loss(t):
            return loss_and_state(ctx, self.signed_X, self.depth, solution(t))[0]

        previous, t, last = ctx.zero, ctx.mpf(self.GRID_START), start
        status = "did not finish in budget"
        while True:
            value = log_loss(t)
            now = time.perf_counter()
            if value <= target:
                status = "reached"
                break
            previous = t
            if now - start > budget:
                break
            if now - last > PROGRESS_EVERY:
                last = now
                progress({"seconds": now - start, "log10_t": _log10_str(ctx, t),
                          "log10_loss": ctx.nstr(value / ctx.ln10, 8)})
            t *= self.GRID_FACTOR
        if status == "reached":
            # The crossing lies in [previous, t], where the dense solution already exists.
            low = ctx.log(previous) if previous else ctx.log(t) - 10
            u = ctx.findroot(lambda v: log_loss(ctx.exp(v)) - target, (low, ctx.log(t)),
                             solver="illinois", verify=False)
            t = ctx.exp(u)
        else:
            t = previous
        log_loss_t, _, beta_normalized = loss_and_state(ctx, self.signed_X, self.depth,
                                                        solution(t))
        return {
            "status": status,
            "seconds": time.perf_counter() - start,
            "steps": None,
            "log10_loss": ctx.nstr(log_loss_t / ctx.ln10, 30),
            "log10_t": _log10_str(ctx, t),
            "beta_normalized": [ctx.nstr(v, 60) for v in beta_normalized],
        }


SOLVERS = {"extprec": ExtprecSolver, "heyoka": HeyokaSolver, "mpmath": MpmathSolver}


def _log10_str(ctx, t):
    value = ctx.mpf(str(t))
    return ctx.nstr(ctx.log10(value), 60) if value > 0 else "-inf"


def _child(kind, config, conn):
    """Child process: build the solver, then run the levels the parent sends."""
    try:
        solver = SOLVERS[kind](**config)
    except ImportError as exc:
        conn.send(("unavailable", f"{exc}"))
        return
    conn.send(("ready", solver.info))
    while True:
        request = conn.recv()
        if request is None:
            return
        level, budget = request
        result = solver.run(level, budget, lambda info: conn.send(("progress", info)))
        conn.send(("done", result))


# -- the parent: one warm child per solver configuration -----------------------------------------
class Worker:
    """A solver configuration living in a spawned child process."""

    def __init__(self, name, kind, config, grace):
        self.name, self.grace = name, grace
        self.info, self.failure = {}, None
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_child, args=(kind, config, child_conn),
                                       daemon=True)
        self.process.start()
        message = self._receive(SETUP_TIMEOUT)
        if message is None:
            self.failure = "setup did not finish"
        elif message[0] == "unavailable":
            self.failure = f"unavailable ({message[1]})"
        else:
            self.info = message[1]
        if self.failure:
            self.close()

    def _receive(self, timeout):
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except EOFError:
                return None
        return None

    def run(self, level, budget):
        """One run to the level: the child's result, or a status when it was killed."""
        self.conn.send((level, budget))
        deadline = time.monotonic() + budget + self.grace
        last_progress = None
        while True:
            message = self._receive(max(0.0, deadline - time.monotonic()))
            if message is None:
                self.close()
                self.failure = "killed after the budget"
                result = {"status": "did not finish in budget", "seconds": None,
                          "killed": True}
                if last_progress:
                    result.update(log10_loss=last_progress["log10_loss"],
                                  log10_t=last_progress["log10_t"],
                                  progress_seconds=last_progress["seconds"])
                return result
            if message[0] == "progress":
                last_progress = message[1]
            else:
                return message[1]

    def close(self):
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()  # only this child, by its own handle
            self.process.join()


def measure(worker, level, budget, repeats, repeat_below):
    """Run a level, repeated while it is fast; the row holds the median and every time."""
    first = worker.run(level, budget)
    times = [first["seconds"]] if first.get("seconds") is not None else []
    if first["status"] == "reached" and first["seconds"] < repeat_below:
        for _ in range(repeats - 1):
            again = worker.run(level, budget)
            if again["status"] != "reached":
                break
            times.append(again["seconds"])
    row = dict(first)
    if times:
        row["seconds"] = statistics.median(times)
    row["all_seconds"] = [round(t, 4) for t in times]
    return row


def agreement(row, reference):
    """Digits of agreement of beta_normalized and |difference| of log10 t, in 80 digits."""
    import mpmath

    ctx = mpmath.mp.clone()
    ctx.dps = 80
    ours = [ctx.mpf(v) for v in row["beta_normalized"]]
    theirs = [ctx.mpf(v) for v in reference["beta_normalized"]]
    relative = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))
    digits = float(-ctx.log10(relative)) if relative else float("inf")
    dlog10_t = abs(ctx.mpf(row["log10_t"]) - ctx.mpf(reference["log10_t"]))
    return {"beta_normalized_max_rel_diff": ctx.nstr(relative, 3),
            "beta_normalized_digits": round(digits, 2),
            "log10_t_abs_diff": ctx.nstr(dlog10_t, 3)}


def machine_info():
    import mpmath

    info = {"platform": platform.platform(), "python": sys.version.split()[0],
            "cpu_count": os.cpu_count(), "mpmath": mpmath.__version__,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        info["loadavg_at_start"] = os.getloadavg()
    except (AttributeError, OSError):  # pragma: no cover
        pass
    try:
        info["git_head"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True, timeout=10).stdout.strip()
        info["git_dirty_extprec"] = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "extprec"],
            capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):  # pragma: no cover
        pass
    return info


def short(value, digits=12):
    if value is None:
        return "-"
    text = str(value)
    return text if len(text) <= digits + 2 else f"{float(Decimal(text)):.{digits}g}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", default=["10", "100", "1000", "1e10", "1e100"],
                        help="exponents k of the loss levels L = 10^-k (e.g. 10 1e100)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="wall-clock seconds per run and solver")
    parser.add_argument("--bits", type=int, default=333, help="precision of the anchors")
    parser.add_argument("--rtol", type=float, default=1e-10, help="extprec's rtol")
    parser.add_argument("--anchor-tols", nargs="+", default=["eps", "rtol"],
                        help="anchor tolerances: eps (library default), rtol or a number")
    parser.add_argument("--anchors", nargs="+", default=["heyoka", "mpmath"],
                        choices=["heyoka", "mpmath"])
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of a fast case (the median is reported)")
    parser.add_argument("--repeat-below", type=float, default=10.0,
                        help="repeat a case whose first run is faster than this (seconds)")
    parser.add_argument("--grace", type=float, default=15.0,
                        help="seconds past the budget before a run is killed")
    parser.add_argument("--out", default="benchmarks/results/anchors.json")
    args = parser.parse_args(argv)
    levels = sorted(args.levels, key=Decimal)
    for level in levels:
        level_exponent(level)
    machine = machine_info()
    started = time.perf_counter()

    configs = [("extprec", f"extprec rtol={args.rtol:g}", {"rtol": args.rtol})]
    for anchor in args.anchors:
        for tol in args.anchor_tols:
            tol = str(args.rtol) if tol == "rtol" else tol
            tol_text = f"2^-{args.bits}" if tol == "eps" else f"{float(tol):g}"
            label = "heyoka" if anchor == "heyoka" else "mpmath.odefun"
            configs.append((anchor, f"{label} {args.bits}b tol={tol_text}",
                            {"bits": args.bits, "tol": tol}))
    workers = {}
    for kind, name, config in configs:
        print(f"starting {name} ...", flush=True)
        worker = Worker(name, kind, config, args.grace)
        workers[name] = worker
        if worker.failure:
            print(f"  {name}: {worker.failure}; this anchor is skipped", flush=True)
        else:
            print(f"  {name}: {worker.info}", flush=True)

    rows, stopped = [], {}
    reference_name = configs[0][1]
    header = (f"{'level L':>10} {'solver':>30} {'status':>26} {'seconds':>9} {'runs':>4} "
              f"{'steps':>6} {'log10 t':>18} {'digits':>6} {'agree beta':>10} "
              f"{'|dlog10 t|':>10} {'t/extprec':>9}")
    print(header, flush=True)
    for level in levels:
        reference = None
        for kind, name, config in configs:
            worker = workers[name]
            if worker.failure and name not in stopped:
                stopped[name] = worker.failure
            if name in stopped:
                row = {"status": "skipped", "reason": stopped[name]}
            else:
                row = measure(worker, level, args.budget, args.repeats, args.repeat_below)
                if row["status"] != "reached" and row["status"] != "cannot represent the loss":
                    stopped[name] = f"10^-{level} did not finish"
                elif row["status"] == "reached" and row["seconds"] > args.budget:
                    stopped[name] = f"10^-{level} took longer than the budget"
            row.update(level=level, solver=name)
            if name == reference_name and row["status"] == "reached":
                reference = row
            elif reference is not None and row["status"] == "reached":
                row["agreement"] = agreement(row, reference)
                row["time_ratio"] = row["seconds"] / reference["seconds"]
            rows.append(row)
            print(format_row(row), flush=True)
    for worker in workers.values():
        worker.close()
    print_notes(rows, args)
    with open(args.out, "w") as fh:
        json.dump({"machine": machine, "total_seconds": round(time.perf_counter() - started, 1),
                   "problem": "extprec.datasets.two_points(), depth 2, alpha 1, exp sum loss",
                   "config": vars(args),
                   "solvers": {name: {"info": w.info, "failure": w.failure}
                               for name, w in workers.items()},
                   "rows": rows}, fh, indent=1)
    print(f"wrote {args.out} ({time.perf_counter() - started:.0f} s in total)")


def format_row(row):
    agree = row.get("agreement", {})
    seconds = row.get("seconds")
    status = row["status"]
    if status == "did not finish in budget" and row.get("log10_loss"):
        status = f"budget @ L=10^{float(Decimal(row['log10_loss'])):.4g}"
    return (f"{'1e-' + row['level']:>10} {row['solver']:>30} {status[:26]:>26} "
            f"{'-' if seconds is None else f'{seconds:.3g}':>9} "
            f"{len(row.get('all_seconds', [])) or '-':>4} {row.get('steps') or '-':>6} "
            f"{short(row.get('log10_t'), 12):>18} {row.get('digits', '-'):>6} "
            f"{agree.get('beta_normalized_digits', '-'):>10} "
            f"{agree.get('log10_t_abs_diff', '-'):>10} "
            f"{'-' if 'time_ratio' not in row else format(row['time_ratio'], '.3g'):>9}")


def print_notes(rows, args):
    print(f"  level 1e-K: L = 10^-K. digits: State.digits extprec vouches for; "
          f"agree beta: -log10 of the max "
          f"componentwise relative difference of beta_normalized from extprec's; |dlog10 t|: "
          f"absolute difference of log10 t from extprec's; t/extprec: time ratio. Times are "
          f"medians of up to {args.repeats} runs (runs under {args.repeat_below:g} s are "
          f"repeated); budget {args.budget:g} s per run.")
    for row in rows:
        if row["status"] in ("reached", "skipped"):
            continue
        detail = row.get("message") or ""
        if row.get("log10_loss"):
            where = (f"loss 10^{short(row['log10_loss'], 8)} at "
                     f"log10 t = {short(row.get('log10_t'), 8)}")
            detail = f"stopped at {where}" + (
                f" (last progress report, {row['progress_seconds']:.0f} s; the run was killed)"
                if row.get("killed") else "")
        elif row.get("killed"):
            detail = (f"killed {args.grace:g} s past the budget before its first progress "
                      f"report (one call was still running)")
        print(f"  {row['solver']} @ L = 1e-{row['level']}: {row['status']}. {detail}")


if __name__ == "__main__":
    main()
