#!/usr/bin/env python
"""Benchmark of extprec's float64 engine against scipy's Radau on the same reduced ODE.

Run from the repository root::

    python benchmarks/bench_float64.py            # full, < 10 min
    python benchmarks/bench_float64.py --quick    # < 60 s
    python benchmarks/bench_float64.py --out benchmarks/results/float64.json

Sections (tables are printed, every measurement goes to the JSON file):

0. Numba compile time of the engine (fresh cache, full mode only) and the cost of the first
   call with the on-disk cache; machine information.
1. Anchor: the reduced ODE of the default problem (N = 20, d = 50, D = 2, alpha = 1, exp sum
   loss) in the tau clock, d nu/d tau = softmax(-m(nu)), integrated by
   ``scipy.integrate.solve_ivp(method="Radau", jac=<analytic>)`` with a terminal event at
   sigma = -logsumexp(-m) = target. Implemented here, independently of extprec, with plain
   numpy callbacks. Where it stalls (sigma ~ 1e12) is probed with the Radau stepper itself.
2. extprec float64 (``multiprecision=False``) on the same problem and targets, at rtol 1e-10,
   1e-8 and 1e-6, next to the anchor at the same rtol (atol = rtol / 100). Ratios are
   extprec / anchor, both measured in this run.
3. Accuracy of beta / min margin at sigma = 1e2 and 1e3 against a tight reference
   (scipy Radau at rtol 1e-13 ending on a true step; in full mode also extprec at rtol 1e-13,
   which continues in multiprecision, and the disagreement of the two references).
4. Accepted steps needed to reach sigma = 10^k: steps per decade of sigma.
5. Scaling in (N, d): time per accepted step to sigma = 100.

Timings are the best of several repeats after a warm-up call (Numba compile time excluded;
reported once in section 0). The machines are shared and noisy: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.integrate import Radau, solve_ivp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import extprec  # noqa: E402

LN10 = math.log(10.0)
TAU_MAX = 1e4  # tau horizon of the anchor (sigma = 1e12 is reached near tau = 17)
SOLVE_HAS_MP_FLAG = "multiprecision" in inspect.signature(extprec.solve).parameters


# -- helpers --------------------------------------------------------------------------------
def best_of(fn, repeats):
    """(best time, all times, last result) of ``repeats`` calls of ``fn``."""
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def fmt(value, spec=".3g"):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return format(value, spec)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def print_table(title, headers, rows, note=None):
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    print()
    print(title)
    line = "  ".join("-" * w for w in widths)
    print(line)
    for k, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if k == 0:
            print(line)
    print(line)
    if note:
        for text in note if isinstance(note, list) else [note]:
            print("  " + text)
    sys.stdout.flush()


def machine_info():
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "extprec": getattr(extprec, "__version__", "?"),
    }
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:  # pragma: no cover
        info["numba"] = None
    try:
        info["affinity_cpus"] = len(os.sched_getaffinity(0))
        info["loadavg_at_start"] = os.getloadavg()
    except (AttributeError, OSError):  # pragma: no cover
        pass
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover
        pass
    try:
        info["git_head"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True, timeout=10).stdout.strip()
        info["git_dirty"] = bool(subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "extprec"],
            capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):  # pragma: no cover
        pass
    return info


def matvec_time(signed_X, repeats=20):
    """Seconds of one numpy ``X~^T v`` product: a machine-speed yardstick for the size."""
    v = np.ones(signed_X.shape[0])
    t, _, _ = best_of(lambda: v @ signed_X, repeats)
    return t


# -- the anchor: reduced ODE in the tau clock, plain numpy ----------------------------------
class BudgetExceeded(Exception):
    """Raised by the anchor's right-hand side when a run exceeds its wall-clock budget."""


class ReducedODE:
    """d nu / d tau = softmax(-m(nu)), m = X~ beta, beta = 2 sinh(4 X~^T nu) (D = 2, alpha = u = 1,
    exponential sum loss). Jacobian -(diag p - p p^T) K with K = X~ diag(8 cosh(4 rho)) X~^T."""

    def __init__(self, problem):
        if not (problem.depth == 2 and problem.log_alpha == 0.0 and problem.loss == "exp"
                and problem.reduction == "sum" and np.all(problem.u_plus == 1.0)
                and np.all(problem.u_minus == 1.0)):
            raise ValueError("the anchor implements D = 2, alpha = 1, u = 1, exp sum loss only")
        self.X = np.ascontiguousarray(problem.signed_X, dtype=np.float64)
        self.n = self.X.shape[0]
        self.deadline = math.inf  # wall-clock budget of the current run (perf_counter)
        self.last_nu = np.zeros(self.n)

    def margins(self, nu):
        return self.X @ (2.0 * np.sinh(4.0 * (self.X.T @ nu)))

    @staticmethod
    def _softmax_neg(m):
        z = np.exp(m.min() - m)
        return z / z.sum()

    def rhs(self, tau, nu):
        if time.perf_counter() > self.deadline:
            raise BudgetExceeded(tau)
        self.last_nu = nu
        return self._softmax_neg(self.margins(nu))

    def jac(self, tau, nu):
        rho = self.X.T @ nu
        p = self._softmax_neg(self.X @ (2.0 * np.sinh(4.0 * rho)))
        K = (self.X * (8.0 * np.cosh(4.0 * rho))) @ self.X.T
        return -(p[:, None] * K - np.outer(p, p @ K))

    def sigma(self, nu):
        m = self.margins(nu)
        mmin = m.min()
        return mmin - math.log(np.exp(mmin - m).sum())

    def beta_normalized(self, nu):
        beta = 2.0 * np.sinh(4.0 * (self.X.T @ nu))
        return beta / (self.X @ beta).min()

    def _event(self, target, terminal):
        def event(tau, nu):
            return self.sigma(nu) - target
        event.terminal = terminal
        event.direction = 1
        return event

    def solve(self, targets, rtol, atol):
        """solve_ivp to the last of ``targets`` (terminal event), the others non-terminal."""
        targets = sorted(targets)
        events = [self._event(s, k == len(targets) - 1) for k, s in enumerate(targets)]
        return solve_ivp(self.rhs, (0.0, TAU_MAX), np.zeros(self.n), method="Radau", rtol=rtol,
                         atol=atol, jac=self.jac, events=events)

    def run(self, target, rtol, atol, budget_s=math.inf):
        """One solve_ivp run to ``target``; past ``budget_s`` seconds the run is abandoned and
        reported as stalled (solve_ivp has no wall-clock limit: the right-hand side raises)."""
        self.deadline = time.perf_counter() + budget_s
        try:
            sol = self.solve([target], rtol, atol)
        except BudgetExceeded as exc:
            return {"status": "stalled", "message": f"no result within {budget_s:g} s",
                    "n_steps": None, "nfev": None, "njev": None, "nlu": None,
                    "tau_end": float(exc.args[0]), "sigma_end": float(self.sigma(self.last_nu))}
        finally:
            self.deadline = math.inf
        reached = sol.status == 1
        return {
            "status": "reached" if reached else ("failed" if sol.status < 0 else "tau horizon"),
            "message": sol.message,
            "n_steps": len(sol.t) - 1,
            "nfev": int(sol.nfev), "njev": int(sol.njev), "nlu": int(sol.nlu),
            "tau_end": float(sol.t[-1]),
            "sigma_end": float(self.sigma(sol.y[:, -1])),
        }

    def _solve_budgeted(self, targets, rtol, atol, budget_s):
        """solve() to the targets; when a run exceeds the budget (the anchor stalls), retry with
        the targets below the sigma it had reached. Returns (solution, targets kept)."""
        targets = sorted(targets)
        while targets:
            self.deadline = time.perf_counter() + budget_s
            try:
                return self.solve(targets, rtol, atol), targets
            except BudgetExceeded:
                reached = self.sigma(self.last_nu)
                targets = [s for s in targets if s < reached]
            finally:
                self.deadline = math.inf
        return None, []

    def steps_to(self, targets, rtol, atol, budget_s=math.inf):
        """Accepted steps needed to pass each target (one run, events on the dense output).
        Targets beyond a stall are dropped."""
        sol, targets = self._solve_budgeted(targets, rtol, atol, budget_s)
        out = {}
        for s, te in zip(targets, sol.t_events if sol is not None else []):
            out[s] = int(np.searchsorted(sol.t, te[0], side="left")) if len(te) else None
        return out

    def states_at(self, targets, rtol, atol, exact_end=False, budget_s=math.inf):
        """nu at each sigma target: from solve_ivp's event (dense output), or, with
        ``exact_end``, by integrating again, piece by piece, to the event times so that each
        state is the end of a true step (not an interpolant)."""
        sol, reached = self._solve_budgeted(targets, rtol, atol, budget_s)
        out = {s: None for s in targets if s not in reached}
        targets = reached
        if sol is None:
            return out
        tau, nu = 0.0, np.zeros(self.n)
        for s, te, ye in zip(targets, sol.t_events, sol.y_events):
            if not len(te):
                out[s] = None
                continue
            out[s] = {"nu": ye[0], "tau": float(te[0])}
            if exact_end:
                piece = solve_ivp(self.rhs, (tau, float(te[0])), nu, method="Radau", rtol=rtol,
                                  atol=atol, jac=self.jac)
                tau, nu = float(te[0]), piece.y[:, -1]
                out[s].update(nu=nu, nu_dense=ye[0])
        return out

    def stall_probe(self, target, rtol, atol, budget_s, window=300):
        """Radau stepper toward ``target``: where sigma stops growing (wall budget)."""
        solver = Radau(self.rhs, 0.0, np.zeros(self.n), TAU_MAX, rtol=rtol, atol=atol,
                       jac=self.jac)
        t0 = time.perf_counter()
        n = 0
        best = -math.inf
        best_step = 0
        sigma = -math.inf
        outcome = "budget"
        while solver.status == "running":
            solver.step()
            n += 1
            sigma = self.sigma(solver.y)
            if sigma >= target:
                outcome = "reached"
                break
            best = max(best, sigma)
            if solver.step_size > 1e-7 * max(1.0, abs(solver.t)):
                best_step = n
            elif n - best_step >= window:
                outcome = "stalled"  # window consecutive steps shorter than 1e-7 tau
                break
            if time.perf_counter() - t0 > budget_s:
                break
        if solver.status == "failed":
            outcome = "failed: " + str(solver.status)
        return {
            "target": target, "outcome": outcome, "n_steps": n, "sigma_max": best,
            "sigma_last": sigma, "tau": float(solver.t), "step_size": float(solver.step_size or 0),
            "wall_s": time.perf_counter() - t0, "budget_s": budget_s,
        }


def anchor_timed(ode, target, rtol, atol, cfg):
    """Best of ``repeats_anchor`` budgeted anchor runs (one run when it stalls)."""
    res = ode.run(target, rtol, atol, cfg["anchor_budget_s"])
    times = []
    if res["status"] != "stalled":
        best, times, res = best_of(lambda: ode.run(target, rtol, atol, cfg["anchor_budget_s"]),
                                   cfg["repeats_anchor"])
    res.update(target=target, rtol=rtol, atol=atol, time_s=min(times) if times else None,
               times_s=times, budget_s=cfg["anchor_budget_s"])
    return res


def anchor_status(res):
    if res["status"] == "reached":
        return "reached"
    return f"{res['status']} @ {res['sigma_end']:.3g}"


# -- extprec --------------------------------------------------------------------------------
def ext_solve(problem, sigma, rtol, checkpoints="default", multiprecision=False):
    kwargs = {"log10_loss": -sigma / LN10, "rtol": rtol}
    if SOLVE_HAS_MP_FLAG:
        kwargs["multiprecision"] = multiprecision
    if checkpoints != "default":
        kwargs["checkpoints"] = checkpoints
    return extprec.solve(problem, **kwargs)


def traj_summary(traj):
    stats = {k: (v if isinstance(v, (int, float)) else repr(v)) for k, v in traj.stats.items()}
    return {
        "status": traj.status,
        "n_steps": int(traj.n_steps),
        "stats": stats,
        "sigma_end": float(traj.final.sigma),
        "digits": int(traj.final.digits),
        "message": traj.message,
    }


def as_floats(values):
    return np.array([float(v) for v in values], dtype=np.float64)


def rel_err(b, ref):
    return float(np.max(np.abs(b - ref)) / np.max(np.abs(ref)))


# -- sections -------------------------------------------------------------------------------
COMPILE_SNIPPET = r"""
import json, math, sys, time
t0 = time.perf_counter()
import extprec
t1 = time.perf_counter()
p = extprec.datasets.default_problem()
p.separability()
kw = {"multiprecision": False} if %(mp)s else {}
t2 = time.perf_counter()
extprec.solve(p, log10_loss=-100 / math.log(10), **kw)
t3 = time.perf_counter()
extprec.solve(p, log10_loss=-100 / math.log(10), **kw)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_call_s": t3 - t2, "second_call_s": t4 - t3}))
"""


def section0(cfg):
    out = {}
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = COMPILE_SNIPPET % {"mp": SOLVE_HAS_MP_FLAG}
    runs = [("cached", None)] + ([("fresh", "fresh")] if not cfg["quick"] else [])
    for label, fresh in runs:
        with tempfile.TemporaryDirectory() as tmp:
            run_env = dict(env, NUMBA_CACHE_DIR=tmp) if fresh else env
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  env=run_env, timeout=900, cwd=str(ROOT))
            wall = time.perf_counter() - t0
        if proc.returncode != 0:
            out[label] = {"error": proc.stderr[-2000:]}
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["process_wall_s"] = wall
        res["compile_or_load_s"] = res["first_call_s"] - res["second_call_s"]
        out[label] = res
    rows = []
    for label in ("fresh", "cached"):
        if label in out and "error" not in out[label]:
            r = out[label]
            rows.append([label + (" (NUMBA_CACHE_DIR empty)" if label == "fresh" else
                                  " (on-disk cache)"),
                         fmt(r["import_s"]), fmt(r["first_call_s"]), fmt(r["second_call_s"]),
                         fmt(r["compile_or_load_s"])])
        elif label in out:
            rows.append([label, "error", "", "", ""])
    print_table("Section 0. Numba compile / cache-load cost (separate process; solve to sigma "
                "= 100, rtol 1e-10) [s]",
                ["numba cache", "import extprec", "1st solve", "2nd solve", "compile/load"],
                rows, note=None if not cfg["quick"] else
                "quick mode: fresh compile not measured (about 45 s on the reference machine)")
    return out


def section1(cfg, ode):
    rtol, atol = 1e-10, 1e-12
    ode.run(1e2, rtol, atol)  # warm-up
    rows, results = [], []
    for target in cfg["targets"]:
        res = anchor_timed(ode, target, rtol, atol, cfg)
        results.append(res)
        rows.append([f"{target:.0e}", fmt(res["time_s"]), fmt(res["n_steps"]), fmt(res["nfev"]),
                     fmt(res["njev"]), fmt(res["nlu"]), anchor_status(res),
                     fmt(res["sigma_end"], ".4g"), fmt(res["tau_end"], ".4g")])
    notes = [f"solve_ivp(method='Radau', rtol={rtol:g}, atol={atol:g}, jac=analytic), tau clock, "
             f"terminal event sigma = target; best of {cfg['repeats_anchor']} after a warm-up; "
             f"a run is abandoned as stalled after {cfg['anchor_budget_s']:g} s."]
    stalls = []
    for probe_rtol in cfg["stall_rtols"]:
        st = ode.stall_probe(cfg["stall_target"], probe_rtol, probe_rtol * 1e-2,
                             cfg["stall_budget_s"])
        st["rtol"] = probe_rtol
        stalls.append(st)
        notes.append(
            f"stall probe, rtol {probe_rtol:.0e} (atol rtol/100), toward sigma = "
            f"{st['target']:.0e}: {st['outcome']} after {st['n_steps']} steps / "
            f"{st['wall_s']:.1f} s, sigma = {st['sigma_max']:.4g} (tau = {st['tau']:.8g}, "
            f"step size {st['step_size']:.2g})")
    print_table("Section 1. Anchor: scipy Radau on the reduced ODE of the default problem "
                "(N = 20, d = 50, D = 2, alpha = 1, exp sum loss)",
                ["sigma", "time [s]", "steps", "nfev", "njev", "nlu", "status", "sigma end",
                 "tau end"], rows, note=notes)
    return {"rtol": rtol, "atol": atol, "runs": results, "stall_probes": stalls}


def section2(cfg, problem, ode, anchor1):
    results = {}
    rows = []
    anchor_by = {(1e-10, r["target"]): r for r in anchor1["runs"]}
    # warm-up (Numba load/compile excluded from the timings below)
    warm = {}
    for rtol in cfg["rtols"]:
        t0 = time.perf_counter()
        ext_solve(problem, 1e2, rtol)
        warm[rtol] = time.perf_counter() - t0
    for rtol in cfg["rtols"]:
        atol = rtol * 1e-2
        if rtol != 1e-10:
            ode.run(1e2, rtol, atol, cfg["anchor_budget_s"])  # warm-up
        stopped = None
        for target in cfg["targets"]:
            anchor = anchor_by.get((rtol, target))
            if anchor is None:
                anchor = anchor_timed(ode, target, rtol, atol, cfg)
            entry = {"rtol": rtol, "target": target, "anchor": anchor}
            if stopped is not None:
                entry["extprec"] = {"skipped": f"float64 already stopped at sigma = {stopped:.6g}"}
                results.setdefault(rtol, []).append(entry)
                rows.append([f"{rtol:.0e}", f"{target:.0e}", fmt(anchor["time_s"]),
                             fmt(anchor["n_steps"]), anchor_status(anchor), "", "", "", "", "",
                             "", "(same stop)", "", "", ""])
                continue
            best, times, traj = best_of(lambda: ext_solve(problem, target, rtol),
                                        cfg["repeats_ext"])
            summ = traj_summary(traj)
            best_nc, times_nc, traj_nc = best_of(
                lambda: ext_solve(problem, target, rtol, checkpoints=[]), cfg["repeats_ext"])
            summ.update(time_s=best, times_s=times, time_no_checkpoints_s=best_nc,
                        times_no_checkpoints_s=times_nc, n_steps_no_checkpoints=traj_nc.n_steps,
                        n_checkpoints=len(traj.checkpoints))
            entry["extprec"] = summ
            if summ["status"] != "reached":
                stopped = summ["sigma_end"]
            results.setdefault(rtol, []).append(entry)
            st = summ["stats"]
            reached_both = summ["status"] == "reached" and anchor["status"] == "reached"
            rows.append([
                f"{rtol:.0e}", f"{target:.0e}", fmt(anchor["time_s"]), fmt(anchor["n_steps"]),
                anchor_status(anchor), fmt(best), fmt(best_nc), summ["n_steps"], st.get("f_evaluations"),
                st.get("jacobians"), st.get("lu_decompositions"),
                summ["status"] if summ["status"] == "reached"
                else f"{summ['status']} @ {summ['sigma_end']:.3g}",
                fmt(ratio(best, anchor["time_s"]), ".2f") if reached_both else "-",
                fmt(ratio(best_nc, anchor["time_s"]), ".2f") if reached_both else "-",
                fmt(ratio(summ["n_steps"], anchor["n_steps"]), ".2f") if reached_both else "-",
            ])
    print_table(
        "Section 2. extprec float64 (multiprecision=False) vs the anchor at the same rtol "
        "(anchor atol = rtol/100)",
        ["rtol", "sigma", "anchor s", "anchor steps", "anchor status", "extprec s", "no-ckpt s", "steps", "f evals",
         "jacs", "LUs", "status", "t ratio", "t ratio (no ckpt)", "step ratio"], rows,
        note=["extprec s: extprec.solve(problem, log10_loss=-sigma/ln10, rtol) with its default "
              "checkpoints (a State at every decade of sigma and of log10 1/L); no-ckpt s: "
              "checkpoints=[] (integration + one landing + one State).",
              f"best of {cfg['repeats_ext']} (extprec) / {cfg['repeats_anchor']} (anchor) after "
              f"a warm-up; ratios are extprec/anchor, shown where both reached the target.",
              "first (warm-up) call per rtol [s]: "
              + ", ".join(f"{r:.0e}: {t:.2f}" for r, t in warm.items())])
    return {"warmup_s": {str(k): v for k, v in warm.items()},
            "runs": {f"{k:.0e}": v for k, v in results.items()}}


def section3(cfg, problem, ode):
    low, high = cfg["accuracy_low"], cfg["accuracy_high"]
    targets = low + high
    out = {"targets_scipy_reference": low, "targets_extprec_reference": targets}
    refs = {}
    # reference A: scipy Radau at rtol 1e-13, states at true step ends
    ref_rtol, ref_atol = 1e-13, 1e-15
    t0 = time.perf_counter()
    ref_states = ode.states_at(low, ref_rtol, ref_atol, exact_end=True)
    refs["scipy"] = {s: ode.beta_normalized(st["nu"]) for s, st in ref_states.items()}
    refs_nu = {"scipy": {s: st["nu"] for s, st in ref_states.items()}}
    out["reference_scipy"] = {
        "rtol": ref_rtol, "atol": ref_atol, "time_s": time.perf_counter() - t0,
        "sigma_at_state": {str(s): ode.sigma(st["nu"]) for s, st in ref_states.items()},
        "dense_vs_step_end_rel": {str(s): rel_err(ode.beta_normalized(st["nu_dense"]),
                                                  refs["scipy"][s])
                                  for s, st in ref_states.items()},
    }
    # reference B (full mode): extprec at rtol 1e-13; it continues in multiprecision where
    # float64 cannot resolve the margins to 1e-13
    if cfg["extprec_reference"]:
        t0 = time.perf_counter()
        traj = ext_solve(problem, targets[-1], 1e-13,
                         checkpoints=[-s / LN10 for s in targets[:-1]], multiprecision=True)
        wall = time.perf_counter() - t0
        states = {s: min(traj.checkpoints, key=lambda c, s=s: abs(float(c.sigma) - s))
                  for s in targets}
        refs["extprec"] = {s: as_floats(st.beta_normalized) for s, st in states.items()}
        refs_nu["extprec"] = {s: as_floats(st.nu) for s, st in states.items()}
        out["reference_extprec"] = dict(traj_summary(traj), time_s=wall, rtol=1e-13,
                                        sigma_at_state={str(s): float(st.sigma)
                                                        for s, st in states.items()})
        out["reference_disagreement"] = {str(s): rel_err(refs["extprec"][s], refs["scipy"][s])
                                         for s in low}
    columns = [(s, r) for s in targets for r in refs if s in refs[r]]
    methods = []
    for rtol in cfg["accuracy_rtols"]:
        st = ode.states_at(targets, rtol, rtol * 1e-2, budget_s=cfg["anchor_budget_s"])
        methods.append((f"scipy Radau rtol {rtol:.0e}", "anchor", rtol,
                        {s: ode.beta_normalized(v["nu"]) if v else None
                         for s, v in st.items()}, None,
                        {s: v["nu"] if v else None for s, v in st.items()}))
    for rtol in cfg["accuracy_rtols"]:
        traj = ext_solve(problem, targets[-1], rtol,
                         checkpoints=[-s / LN10 for s in targets[:-1]])
        vals, nus, digits = {}, {}, None
        for s in targets:
            cands = [c for c in traj.checkpoints if abs(float(c.sigma) - s) <= 1e-6 * s]
            if cands:
                vals[s] = as_floats(cands[0].beta_normalized)
                nus[s] = as_floats(cands[0].nu)
                digits = cands[0].digits
            else:
                vals[s] = nus[s] = None
        methods.append((f"extprec float64 rtol {rtol:.0e}", "extprec", rtol, vals, digits, nus))
    rows, records, nu_rows = [], [], []
    for name, kind, rtol, vals, digits, nus in methods:
        rec = {"method": name, "kind": kind, "rtol": rtol, "digits_claimed": digits,
               "rel_err": {}, "nu_rel_err": {}}
        row = [name, digits if digits is not None else "-"]
        nu_row = [name]
        for s, ref_name in columns:
            v = vals.get(s)
            e = rel_err(v, refs[ref_name][s]) if v is not None else None
            rec["rel_err"][f"{s:.0e} vs {ref_name}"] = e
            row.append(fmt(e, ".2e") if e is not None else "not reached")
            v = nus.get(s)
            e = rel_err(v, refs_nu[ref_name][s]) if v is not None else None
            rec["nu_rel_err"][f"{s:.0e} vs {ref_name}"] = e
            nu_row.append(fmt(e, ".2e") if e is not None else "not reached")
        records.append(rec)
        rows.append(row)
        nu_rows.append(nu_row)
    for rtol in cfg["accuracy_rtols"]:  # extprec/anchor error ratio at equal rtol
        a = next(r for r in records if r["kind"] == "anchor" and r["rtol"] == rtol)
        e = next(r for r in records if r["kind"] == "extprec" and r["rtol"] == rtol)
        e["err_ratio_vs_anchor"] = {k: ratio(e["rel_err"][k], a["rel_err"][k])
                                    for k in e["rel_err"]}
        rows.append([f"ratio extprec/anchor, rtol {rtol:.0e}", ""]
                    + [fmt(e["err_ratio_vs_anchor"][k], ".2g") for k in e["rel_err"]])
    out["methods"] = records
    headers = ["method", "digits"] + [f"sigma {s:.0e} vs {r}" for s, r in columns]
    notes = [f"relative max-norm error of beta/min margin, max|b - b_ref| / max|b_ref|; digits: "
             f"State.digits that extprec vouches for. Reference 'scipy': solve_ivp Radau rtol "
             f"{ref_rtol:g}, atol {ref_atol:g}, tau clock, states at true step ends on the event "
             f"times ({out['reference_scipy']['time_s']:.1f} s).",
             "anchor states are solve_ivp's event states (dense output); dense output vs "
             "step end at the reference tolerance: "
             + ", ".join(f"sigma {float(k):.0e}: {v:.1e}"
                         for k, v in out["reference_scipy"]["dense_vs_step_end_rel"].items())]
    if "reference_extprec" in out:
        r = out["reference_extprec"]
        notes.append(f"Reference 'extprec': solve(rtol=1e-13) ({r['status']}, segments "
                     f"{r['stats'].get('segments')}, {r['time_s']:.1f} s). Disagreement of the "
                     "two references: " + ", ".join(f"sigma {float(k):.0e}: {v:.1e}" for k, v in
                                                    out["reference_disagreement"].items()))
    else:
        notes.append("quick mode: the extprec rtol 1e-13 reference (multiprecision past sigma "
                     "~ 0, minutes) is not run")
    print_table("Section 3. Accuracy of beta / min margin at equal sigma", headers, rows,
                note=notes)
    print_table("Section 3b. Accuracy of the dual nu at equal sigma (same runs and references)",
                ["method"] + headers[2:], nu_rows,
                note="relative max-norm error of nu, max|nu - nu_ref| / max|nu_ref|")
    return out


def section4(cfg, problem, ode):
    out = {}
    rows = []
    for rtol, kmax in cfg["step_series"]:
        ks = list(range(1, kmax + 1))
        ext = {}
        stopped = None
        for k in ks:
            if stopped is not None:
                ext[k] = {"skipped": f"stopped at sigma = {stopped:.6g}"}
                continue
            summ = traj_summary(ext_solve(problem, 10.0**k, rtol))
            ext[k] = summ
            if summ["status"] != "reached":
                stopped = summ["sigma_end"]
        kmax_anchor = max(kmax, cfg["anchor_decades"])
        anchor_steps = ode.steps_to([10.0**k for k in range(1, kmax_anchor + 1)], rtol,
                                    rtol * 1e-2, cfg["anchor_budget_s"])
        anchor_steps = {int(round(math.log10(s))): v for s, v in anchor_steps.items()}
        prev_e = prev_a = 0
        series = []
        for k in range(1, kmax_anchor + 1):
            e = ext.get(k)
            e_steps = e["n_steps"] if e and e.get("status") == "reached" else None
            a_steps = anchor_steps.get(k)
            e_dec = e_steps - prev_e if e_steps is not None and prev_e is not None else None
            a_dec = a_steps - prev_a if a_steps is not None and prev_a is not None else None
            prev_e, prev_a = e_steps, a_steps
            status = "-" if e is None else (e.get("status") or e.get("skipped"))
            if e and e.get("status") not in (None, "reached"):
                status = f"{e['status']} @ {e['sigma_end']:.3g} ({e['n_steps']} steps)"
            series.append({"k": k, "extprec_steps": e_steps, "extprec_per_decade": e_dec,
                           "extprec_status": status, "anchor_steps": a_steps,
                           "anchor_per_decade": a_dec})
            rows.append([f"{rtol:.0e}", k, fmt(e_steps, "d"), fmt(e_dec, "d"), fmt(a_steps, "d"),
                         fmt(a_dec, "d"), fmt(ratio(e_dec, a_dec), ".2f"), status])
        out[f"{rtol:.0e}"] = series
    print_table("Section 4. Accepted steps to reach sigma = 10^k, and per decade of sigma",
                ["rtol", "k", "extprec", "per decade", "anchor", "per decade", "ratio",
                 "extprec status"], rows,
                note=["extprec: extprec.solve(..., log10_loss=-10^k/ln10, multiprecision=False), "
                      "traj.n_steps (default checkpoints). anchor: solve_ivp Radau (atol = "
                      "rtol/100), steps up to the one that crosses 10^k (events)."])
    return out


def section5(cfg):
    out = []
    rows = []
    for n, d in cfg["sizes"]:
        problem = extprec.datasets.sparse_teacher(n, d, 3, seed=0, depth=2, alpha=1)
        t0 = time.perf_counter()
        problem.separability()
        lp = time.perf_counter() - t0
        for rtol in cfg["scaling_rtols"]:
            repeats = cfg["repeats_ext"] if n * d <= cfg["scaling_repeat_below"] else 1
            if (n, d) == cfg["sizes"][0]:
                ext_solve(problem, 1e1, rtol, checkpoints=[])  # warm-up (same kernels later)
            mv = matvec_time(problem.signed_X)  # measured next to the solve (noisy machines)
            best, times, traj = best_of(lambda: ext_solve(problem, 1e2, rtol, checkpoints=[]),
                                        repeats)
            summ = traj_summary(traj)
            steps = summ["n_steps"]
            state_s = None
            if steps > 0:
                level = traj.final.log10_loss
                try:
                    state_s, _, _ = best_of(lambda: traj.state_at(log10_loss=level), repeats)
                except Exception as exc:  # noqa: BLE001 (report, do not abort the benchmark)
                    summ["state_at_error"] = repr(exc)
            per_step = best / steps if steps else None
            # the integration alone: solve minus one landing + State (traj.state_at); only
            # meaningful when the State is a minor part of the solve
            per_step_int = ((best - state_s) / steps
                            if steps and state_s is not None and best > 2.0 * state_s else None)
            fe = summ["stats"].get("f_evaluations")
            rec = dict(summ, N=n, d=d, rtol=rtol, separability_s=lp, matvec_s=mv, time_s=best,
                       times_s=times, state_s=state_s, time_per_step_s=per_step,
                       time_per_step_integration_s=per_step_int,
                       integration_step_in_matvecs=ratio(per_step_int, mv),
                       f_evals_per_step=ratio(fe, steps) if steps else None)
            out.append(rec)
            rows.append([n, d, f"{rtol:.0e}", fmt(lp), fmt(best), fmt(state_s), steps,
                         fmt(rec["f_evals_per_step"], ".3g"),
                         fmt(per_step * 1e3 if per_step is not None else None),
                         fmt(per_step_int * 1e3 if per_step_int is not None else None),
                         fmt(mv * 1e3), fmt(rec["integration_step_in_matvecs"], ".3g"),
                         summ["status"] if summ["status"] == "reached"
                         else f"{summ['status']} @ {summ['sigma_end']:.3g}"])
    print_table("Section 5. Scaling in (N, d): sparse_teacher(N, d, 3, seed=0), D = 2, alpha = 1, "
                "to sigma = 100 (float64, checkpoints=[])",
                ["N", "d", "rtol", "LP s", "solve s", "State s", "steps", "f/step", "ms/step",
                 "ms/step excl. State", "matvec ms", "step/matvec", "status"], rows,
                note=["LP s: problem.separability() (the first solve of a problem pays it; "
                      "excluded from 'solve s', which includes one landing and one State). "
                      "State s: traj.state_at(final level) = one landing + one State. "
                      "ms/step = solve / steps; excl. State = (solve - State) / steps, shown "
                      "when the State is less than half the solve.",
                      "matvec ms: one numpy X~^T v on this machine, measured next to the solve "
                      "(speed yardstick); step/matvec = (ms/step excl. State) / matvec ms. "
                      f"Sizes with N d > {cfg['scaling_repeat_below']} are timed once."])
    return out


# -- main -----------------------------------------------------------------------------------
def config(quick):
    if quick:
        return {
            "quick": True, "repeats_anchor": 1, "repeats_ext": 2,
            "targets": [1e2, 1e4, 1e8], "rtols": [1e-10, 1e-8, 1e-6],
            "stall_target": 1e13, "stall_budget_s": 5.0, "stall_rtols": [],
            "anchor_budget_s": 4.0,
            "accuracy_rtols": [1e-10], "extprec_reference": False,
            "accuracy_low": [1e2], "accuracy_high": [],
            "step_series": [(1e-10, 4), (1e-6, 8)], "anchor_decades": 8,
            "sizes": [(20, 50), (100, 500)], "scaling_rtols": [1e-10],
            "scaling_repeat_below": 10_000,
        }
    return {
        "quick": False, "repeats_anchor": 3, "repeats_ext": 3,
        "targets": [1e2, 1e3, 1e4, 1e6, 1e8, 1e10, 1e12], "rtols": [1e-10, 1e-8, 1e-6],
        "stall_target": 1e13, "stall_budget_s": 20.0, "stall_rtols": [1e-10, 1e-8, 1e-6],
        "anchor_budget_s": 10.0,
        "accuracy_rtols": [1e-10, 1e-8, 1e-6], "extprec_reference": True,
        "accuracy_low": [1e2, 1e3], "accuracy_high": [1e4, 1e6, 1e8, 1e10],
        "step_series": [(1e-10, 4), (1e-6, 8)], "anchor_decades": 12,
        "sizes": [(20, 50), (100, 500), (400, 2000)], "scaling_rtols": [1e-10],
        "scaling_repeat_below": 50_000,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced run, < 60 s")
    parser.add_argument("--out", default=None,
                        help="JSON output (default benchmarks/results/float64[_quick].json)")
    parser.add_argument("--sections", default="0,1,2,3,4,5",
                        help="comma-separated sections to run (default all)")
    args = parser.parse_args(argv)
    cfg = config(args.quick)
    sections = {int(s) for s in args.sections.split(",") if s.strip()}
    out_path = Path(args.out) if args.out else (
        ROOT / "benchmarks" / "results" / ("float64_quick.json" if args.quick else "float64.json"))
    t_start = time.perf_counter()
    info = machine_info()
    print("extprec float64 benchmark  " + ("(quick)" if args.quick else "(full)"))
    print("  " + ", ".join(f"{k}={info.get(k)}" for k in (
        "date", "cpu_count", "cpu_model", "python", "numpy", "scipy", "numba", "git_head",
        "git_dirty")))
    print(f"  loadavg at start: {info.get('loadavg_at_start')}")
    report = {"machine": info, "config": {k: v for k, v in cfg.items()},
              "solve_has_multiprecision_flag": SOLVE_HAS_MP_FLAG}
    problem = extprec.datasets.default_problem()
    problem.separability()
    ode = ReducedODE(problem)
    if 0 in sections:
        report["section0_compile"] = section0(cfg)
    anchor1 = None
    if 1 in sections or 2 in sections:
        anchor1 = section1(cfg, ode)
        report["section1_anchor"] = anchor1
    if 2 in sections:
        report["section2_extprec"] = section2(cfg, problem, ode, anchor1)
    if 3 in sections:
        report["section3_accuracy"] = section3(cfg, problem, ode)
    if 4 in sections:
        report["section4_steps"] = section4(cfg, problem, ode)
    if 5 in sections:
        report["section5_scaling"] = section5(cfg)
    report["total_wall_s"] = time.perf_counter() - t_start
    try:
        report["machine"]["loadavg_at_end"] = os.getloadavg()
    except (AttributeError, OSError):  # pragma: no cover
        pass
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w") as fh:
        json.dump(report, fh, indent=1, default=_json_default)
    print(f"\ntotal {report['total_wall_s']:.1f} s; wrote {out_path}")
    return report


def _json_default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return repr(obj)


if __name__ == "__main__":
    main()
