"""Command-line interface: ``extprec run``, ``sweep``, ``plot`` and ``info``.

A thin layer over the public API: argument parsing, reading data files and formatting
(sweeps: :mod:`extprec.sweep`; figures: :mod:`extprec.plotting`; progress:
:mod:`extprec.progress`).
All numerics live in :mod:`extprec.driver` and the modules it calls. Numbers are printed
with :func:`mpmath.nstr` because States hold ``mpf`` values that may lie far outside the
float64 range.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import inspect
import json
import math
import os
import platform
import re
import sys
import textwrap
import time
import zipfile
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np

import extprec
from extprec import datasets
from extprec import resume as checkpoint_files
from extprec.driver import DEFAULT_MAX_STEPS, DEFAULT_RTOL, MAX_RTOL, MIN_RTOL, check_arguments
from extprec.levels import _compact as _compact_level
from extprec.progress import CostLog, ProgressBar, chain
from extprec.trajectory import STATUS_PRECISION, STATUS_REACHED, STATUS_TIME_LIMIT

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
SCHEDULER_TIMEOUT = 30  # seconds to connect to a Dask scheduler (extprec sweep --scheduler)

DEFAULT_LOG10_LOSS = "-1e6"
PROBLEM_OPTIONS = ("depth", "alpha", "loss", "reduction")
# Options whose value may start with '-' followed by a number in exponent notation
# ("-1e100"), which argparse would otherwise mistake for an option.
NUMERIC_VALUE_OPTIONS = ("--alpha", "--log10-loss", "--t", "--checkpoints", "--rtol",
                         "--log10-losses", "--alphas")
_NUMBER_START = re.compile(r"^-(\.?\d|inf|nan)", re.IGNORECASE)

DATA_FORMATS = """\
data files (--data FILE):
  .npz  a NumPy archive with arrays X, shape (N, d), and y, shape (N,)
        (write it with numpy.savez(FILE, X=X, y=y)).
  .csv  comma-separated, one sample per line: d feature columns followed by the
        label, which must be -1 or +1. An optional first line of column names is
        skipped; blank lines and lines starting with '#' are ignored.
  Labels must be exactly +1 or -1 (map 0/1 labels with 2*y - 1)."""

RUN_EPILOG = DATA_FORMATS + """

shape (--shape):
  The initialization is w+(0) = alpha u+, w-(0) = alpha u-. --shape U gives u+
  (and u-, unless --shape-minus is given) as d comma-separated positive numbers,
  or one number for every coordinate (default: all ones).

output:
  A header describes the problem; then one row per checkpoint with log10 of the
  training loss L, sigma = log(1/L), log10 of the gradient-flow time t, the minimum
  margin, the backend and its precision in bits, the significant digits the engine
  vouches for, and the three largest-magnitude entries of beta / min margin as
  index:value (0-based). If the run stops before the requested level, a last row
  'final' shows the last resolved state. For separable data a second table gives
  the limit diagnostics of the same states: mu = alpha^D / min margin, the
  normalized margins gamma_l1 and gamma_l2, the relative distances of
  beta / min margin to the l1 (for D > 2: l1 on the active coordinates), l2 and
  Q_mu predictors, the regime and the numbers of support vectors and active
  coordinates ('-' where undefined).
  --out PATH writes the trajectory as an extprec results file (JSON, exact: load it
  with extprec.load(PATH) or draw it with 'extprec plot PATH'); it includes the
  precision and cost along the run (stats["cost"]: log10 sigma, bits, steps and
  seconds at every progress report). The file is written as the run goes (status
  'in progress', the checkpoints so far and what the run needs to continue: see
  'saving progress and resuming' below). --figure FIGURE.png draws the run: the
  distances to the l1 and l2 limits, the precision, the steps and the seconds
  against log10 log10(1/L) ('extprec plot PATH' draws it again from the file).

progress:
  On a terminal a progress bar on stderr shows the decades of sigma done out of
  those to the stop, sigma, the working precision in bits, the steps, and an
  estimate of the time left. The estimate is a lower bound: the remaining decades
  at the pace of the last decade, and the cost of a decade only grows as the
  precision grows. Nothing is drawn when stderr is not a terminal or with
  --no-progress.

saving progress and resuming (--out, --resume, Ctrl-C):
  With --out PATH the run keeps PATH up to date: after every checkpoint row (of
  the run and of its control run) and at least every minute, with writes spaced
  to take a few percent of the run at most, each time atomically (a killed run
  leaves the last complete file, never a partial one).
  Ctrl-C saves the latest progress, prints how to continue and exits with 130.
  'extprec run --resume PATH' continues the run saved in PATH, whether it was
  interrupted or killed, with the problem and options stored there (other
  problem, stop or tolerance options must agree with them), writing to PATH
  (or to --out); it ends with exactly the results of an uninterrupted run. A
  finished run is printed again without computing. The cost log of a resumed
  run covers the part computed after the resume. Without --out nothing is
  saved.

status:
  reached              the stop level (or time) was reached.
  precision exhausted  with --float64-only: float64 can no longer resolve the
                       margins to rtol; the final state is the last one it resolves.
                       (Without it the run continues in multiprecision.)
  max steps            --max-steps accepted steps were used up.
  step too small       the step size fell below the spacing of the precision.
  not finite           the state left the range of the arithmetic.
  landing failed       the integration does not resolve the next checkpoint's
                       loss (or time) to the landing tolerance; the states before
                       it are kept.

exit codes:
  0 the run completed (with any of the statuses above), 1 the computation
  failed, 2 invalid input, 130 interrupted.

examples:
  extprec run
  extprec run --log10-loss -1e4 --alpha 1e-100
  extprec run --depth 3 --alpha 0.001 --log10-loss -100
  extprec run --dataset two_points --alpha 0.01 --checkpoints -1,-10,-100
  extprec run --dataset sparse_teacher --param n_samples=40 --param seed=1
  extprec run --data train.csv --loss logistic --t 1e50
  extprec run --log10-loss -1e30 --out run.json --figure run.png
  extprec run --resume run.json"""

SWEEP_EPILOG = DATA_FORMATS + """

the grid:
  One cell per source x depth x alpha; every cell is one run down to the lowest
  of --log10-losses, with a checkpoint at each of them. Sources are --dataset
  (repeatable; --param applies to each, --seeds makes one source per seed) and
  --data (repeatable); the default is the built-in default problem. Input is
  checked for every cell before anything runs.

the store (--store PATH):
  One SQLite file for the whole sweep. Each finished cell is committed at once
  (the results of its run in the exact JSON format of 'extprec run --out'), so a
  killed or interrupted sweep keeps every finished cell, and running the same
  command again computes only the cells the store does not hold. Read it in
  Python with extprec.sweep.load(PATH), draw it with 'extprec plot PATH'.

where the cells run:
  By default in --workers local processes (one per core; --workers 1 runs them
  in this process). --scheduler ADDRESS runs them on a Dask distributed cluster
  (e.g. tcp://10.0.0.1:8786; the workers need extprec installed, not the store).

examples:
  extprec sweep --store phase.sqlite --dataset two_points --alphas 1e-3,1e-2,0.1,1 \\
                --depths 2,3 --log10-losses -1,-10,-100,-1e10
  extprec sweep --store seeds.sqlite --dataset sparse_teacher --seeds 0,1,2 \\
                --param n_samples=10 --alphas 0.01,1 --log10-losses -10,-1e4
  extprec sweep --store big.sqlite --scheduler tcp://scheduler:8786 ..."""

PLOT_EPILOG = """\
figures (--kind); the x axis is log10 log10(1/epsilon), epsilon the training loss:
  run     one run: distances to the l1 and l2 limits, precision, steps, seconds
          (the default for a results file; the figure of 'extprec run --figure').
  limits  distance to the l1 and l2 limits, one curve per run (alpha).
  depth   distance to the rich (l1) limit, one curve per run (depth, alpha).
  phase   the alpha x epsilon phase diagram of regimes (kernel, intermediate,
          rich), one panel per depth (the default for a sweep store).
  cost    precision in bits, accepted steps and seconds along the run(s).
  RESULTS is a results file (extprec run --out) or a sweep store (extprec
  sweep --store; every finished cell is one run). Distances and regimes are
  the States' limit diagnostics (extprec.limits.diagnostics).

examples:
  extprec plot run.json --out run.png
  extprec plot phase.sqlite --out phase.png
  extprec plot phase.sqlite --out limits.png --kind limits"""


class InputError(ValueError):
    """Invalid command-line input (reported with exit code 2)."""


# The option of `extprec run` behind each argument name that starts an API error message.
API_OPTIONS = {"alpha": "--alpha", "depth": "--depth", "loss": "--loss",
               "reduction": "--reduction", "log10_loss": "--log10-loss", "t": "--t",
               "checkpoints": "--checkpoints", "rtol": "--rtol", "max_steps": "--max-steps",
               "shape": "--shape", "checkpoint_path": "--out", "resume": "--resume",
               "max_seconds": "--max-seconds"}
_FIRST_NAME = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*)")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``extprec: error: MESSAGE (see ... --help)``."""

    def error(self, message):
        self.exit(EXIT_INVALID, f"extprec: error: {_one_line(message)} "
                                f"(see '{self.prog} --help')\n")


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _integer_option(option, example, extra=""):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < 1:
            raise argparse.ArgumentTypeError(
                f"must be an integer >= 1 (got {text!r}); pass e.g. {option} {example}{extra}")
        return value
    return parse


def _rtol_option(text):
    fix = (f"pass a number between {MIN_RTOL:g} and {MAX_RTOL:g}, e.g. --rtol 1e-10 "
           "(the default)")
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number (got {text!r}); {fix}") from None
    if not MIN_RTOL <= value <= MAX_RTOL:  # also NaN
        raise argparse.ArgumentTypeError(
            f"must be in [{MIN_RTOL:g}, {MAX_RTOL:g}] (got {text!r}); {fix}")
    return value


# -- argument parsing ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="extprec",
        description="Follow gradient-flow training of diagonal linear networks "
                    "(beta = w+^D - w-^D) to extreme training accuracies.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'extprec run --help' for the options of the main command.",
    )
    parser.add_argument("--version", action="version", version=f"extprec {extprec.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="solve a gradient-flow trajectory and print its checkpoints",
        description=textwrap.fill(
            "Solve the gradient flow of a diagonal linear network on a problem and print a "
            "table of checkpoints. Without --dataset or --data the built-in default problem "
            "is used: a sparse linear teacher with N = 20 Gaussian samples, d = 50 features, "
            "3 active features, seed 0 (separable data).", width=80),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=RUN_EPILOG,
    )
    source = run.add_argument_group("problem source (default: the built-in default problem)")
    exclusive = source.add_mutually_exclusive_group()
    exclusive.add_argument(
        "--dataset", metavar="NAME",
        help=f"built-in problem by name: {', '.join(sorted(datasets.GENERATORS))}")
    exclusive.add_argument(
        "--data", metavar="FILE", type=Path,
        help="read X and y from a .npz or .csv file (formats below)")
    source.add_argument(
        "--param", metavar="KEY=VALUE", action="append", default=[],
        help="parameter of the --dataset generator, repeatable (e.g. --param n_samples=40 "
             "--param seed=1); values are read as int, then float, else kept as text")

    model = run.add_argument_group("network and loss")
    model.add_argument("--depth", type=_integer_option("--depth", 2, " (1 is the linear model)"),
                       default=2, metavar="D",
                       help="network depth D >= 1 (D = 1 is the linear model; default: 2)")
    model.add_argument("--alpha", default="1", metavar="ALPHA",
                       help="initialization scale alpha > 0, read exactly as a decimal, so "
                            "values such as 1e-300 or 1e-5000 are allowed (default: 1)")
    _add_loss_and_shape_options(model)

    stop = run.add_argument_group("stop and checkpoints")
    stop_choice = stop.add_mutually_exclusive_group()
    stop_choice.add_argument(
        "--log10-loss", metavar="LEVEL", default=None,
        help="stop when log10 of the training loss reaches LEVEL, read exactly as a decimal "
             f"(default: {DEFAULT_LOG10_LOSS}, i.e. L = 10^(-10^6))")
    stop_choice.add_argument(
        "--t", metavar="TIME", default=None,
        help="stop at the original gradient-flow time TIME > 0 instead (e.g. 1e1000)")
    stop.add_argument(
        "--checkpoints", metavar="L1,L2,...", default=None,
        help="comma-separated log10-loss levels at which to record the state (default: every "
             "decade of log10(1/L), log10 L = -1, -10, -100, ..., up to the stop)")
    _add_tolerance_options(stop)
    stop.add_argument("--float64-only", action="store_true",
                      help="stop where float64 can no longer resolve the margins (status "
                           "'precision exhausted') instead of continuing in multiprecision")
    stop.add_argument("--max-seconds", type=float, default=None, metavar="S",
                      help="wall-clock budget of the run: when it runs out the run stops with "
                           "status 'time limit' and prints what it has; with --out the file "
                           "stays resumable ('extprec run --resume PATH' continues it)")
    stop.add_argument("--no-verify", action="store_true",
                      help="skip the control run at rtol/100 that checks the digits of every "
                           "row (about half the run time); the digits column then shows the "
                           "tolerance's promise, marked '?' as unchecked")
    output = run.add_argument_group("results, figure and progress")
    output.add_argument("--out", metavar="PATH", type=Path, default=None,
                        help="write the trajectory to PATH as an extprec results file "
                             "(exact JSON; read it with extprec.load or 'extprec plot'), "
                             "kept up to date as the run goes so that --resume PATH can "
                             "continue it")
    output.add_argument("--resume", metavar="PATH", type=Path, default=None,
                        help="continue the run saved in PATH (by --out) with its problem and "
                             "options, writing to PATH unless --out is given; the results "
                             "are those of an uninterrupted run")
    output.add_argument("--figure", metavar="FIGURE.png", type=Path, default=None,
                        help="draw the run (distances to the limits, precision, steps and "
                             "seconds) to a PNG file (needs pip install 'extprec[plot]')")
    _add_progress_option(output)
    run.set_defaults(handler=run_command)

    _add_sweep_parser(commands)
    _add_plot_parser(commands)

    info = commands.add_parser(
        "info", help="print versions, optional accelerations and available backends",
        description="Print the versions of extprec and its dependencies, which optional "
                    "accelerations are importable, and the available backends.")
    info.set_defaults(handler=info_command)
    return parser


def _add_loss_and_shape_options(group) -> None:
    group.add_argument("--loss", choices=("exp", "logistic"), default="exp",
                       help="per-sample loss exp(-z) or log(1 + exp(-z)) (default: exp)")
    group.add_argument("--reduction", choices=("sum", "mean"), default="sum",
                       help="sum or average the per-sample losses (default: sum)")
    group.add_argument("--shape", metavar="U", default=None,
                       help="initialization shape u+ (and u-): d comma-separated numbers > 0, "
                            "or one number for all coordinates (default: all ones)")
    group.add_argument("--shape-minus", metavar="U", default=None,
                       help="u- when it differs from u+ (same format as --shape)")


def _add_tolerance_options(group) -> None:
    group.add_argument("--rtol", type=_rtol_option, default=DEFAULT_RTOL,
                       help=f"relative tolerance of the integration, in [{MIN_RTOL:g}, "
                            f"{MAX_RTOL:g}]; below 1e-13 the run is multiprecision from the "
                            f"start and much slower (default: {DEFAULT_RTOL:g})")
    group.add_argument("--max-steps", type=_integer_option("--max-steps", DEFAULT_MAX_STEPS),
                       default=DEFAULT_MAX_STEPS, metavar="N",
                       help=f"budget of accepted steps per run (default: {DEFAULT_MAX_STEPS})")


def _add_progress_option(group) -> None:
    group.add_argument("--no-progress", dest="progress", action="store_false",
                       help="draw no progress bar (none is drawn anyway when stderr is not a "
                            "terminal)")


def _add_sweep_parser(commands) -> None:
    sweep = commands.add_parser(
        "sweep", help="run a grid of problems x depths x alphas into one resumable store",
        description=textwrap.fill(
            "Run every cell of a grid over problem sources x depths x alphas, each down to "
            "the lowest of the loss levels with a checkpoint at each, and keep the results in "
            "one resumable store. Cells the store already holds are not computed again.",
            width=80),
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SWEEP_EPILOG)
    sweep.add_argument("--store", metavar="PATH", type=Path, required=True,
                       help="the SQLite results store of the sweep (created if missing; an "
                            "existing store is resumed)")
    source = sweep.add_argument_group("problem sources (default: the built-in default problem)")
    source.add_argument("--dataset", metavar="NAME", action="append", default=[],
                        help=f"built-in problem, repeatable: "
                             f"{', '.join(sorted(datasets.GENERATORS))}")
    source.add_argument("--param", metavar="KEY=VALUE", action="append", default=[],
                        help="parameter of every --dataset generator, repeatable")
    source.add_argument("--seeds", metavar="S1,S2,...", default=None,
                        help="one source per seed for each --dataset (its 'seed' parameter)")
    source.add_argument("--data", metavar="FILE", type=Path, action="append", default=[],
                        help="data file, repeatable (formats below)")
    grid = sweep.add_argument_group("the grid")
    grid.add_argument("--depths", metavar="D1,D2,...", default="2",
                      help="comma-separated depths D >= 1 (default: 2)")
    grid.add_argument("--alphas", metavar="A1,A2,...", default="1",
                      help="comma-separated initialization scales, read exactly as decimals "
                           "(default: 1)")
    grid.add_argument("--log10-losses", metavar="L1,L2,...", required=True,
                      help="comma-separated log10-loss levels; each cell runs to the lowest "
                           "and records a State at every one (e.g. -1,-10,-100,-1e10)")
    model = sweep.add_argument_group("loss, shape and tolerance (the same for every cell)")
    _add_loss_and_shape_options(model)
    _add_tolerance_options(model)
    where = sweep.add_argument_group("where the cells run")
    choice = where.add_mutually_exclusive_group()
    choice.add_argument("--workers", metavar="N", default=None,
                        type=_integer_option("--workers", 2),
                        help="local worker processes (default: one per core; 1 runs the cells "
                             "in this process)")
    choice.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="address of a Dask distributed scheduler to run the cells on "
                             "(needs pip install 'extprec[dask]')")
    sweep.add_argument("--quiet", action="store_true",
                       help="print only the summary, not one line per finished cell")
    sweep.set_defaults(handler=sweep_command)


def _add_plot_parser(commands) -> None:
    plot = commands.add_parser(
        "plot", help="draw a figure from a results file or a sweep store",
        description="Draw a figure from saved results: a results file (extprec run --out) or "
                    "a sweep store (extprec sweep --store). Needs matplotlib "
                    "(pip install 'extprec[plot]').",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=PLOT_EPILOG)
    plot.add_argument("results", metavar="RESULTS", type=Path,
                      help="a results file (.json) or a sweep store")
    plot.add_argument("--out", metavar="FIGURE.png", type=Path, required=True,
                      help="the PNG file to write")
    plot.add_argument("--kind", choices=FIGURE_KINDS, default=None,
                      help="which figure (see below; default: run for a results file, phase "
                           "for a sweep store)")
    plot.set_defaults(handler=plot_command)


FIGURE_KINDS = ("run", "limits", "depth", "phase", "cost")


def _join_numeric_values(argv: list[str]) -> list[str]:
    """Rewrite ``--opt -1e100`` as ``--opt=-1e100`` for options taking numbers.

    argparse only recognizes plain negative numbers such as ``-12`` or ``-1.5`` as values.
    """
    out = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if (token in NUMERIC_VALUE_OPTIONS and i + 1 < len(argv)
                and _NUMBER_START.match(argv[i + 1])):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv=None) -> int:
    """Entry point of the ``extprec`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(_join_numeric_values(argv))
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_INVALID
    if args.command == "run" and args.resume is not None:
        args.explicit = _explicit_options(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:  # output piped into a program that stopped reading (e.g. head)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


# -- extprec run ---------------------------------------------------------------------------
# Options of `extprec run` that define the run (with --resume they must agree with the file).
RUN_DEFINING_OPTIONS = {
    "dataset": "--dataset", "data": "--data", "param": "--param", "depth": "--depth",
    "alpha": "--alpha", "loss": "--loss", "reduction": "--reduction", "shape": "--shape",
    "shape_minus": "--shape-minus", "log10_loss": "--log10-loss", "t": "--t",
    "checkpoints": "--checkpoints", "rtol": "--rtol", "max_steps": "--max-steps",
    "float64_only": "--float64-only", "no_verify": "--no-verify"}


def run_command(args) -> int:
    out = args.out if args.out is not None else args.resume
    try:
        if args.resume is None:
            problem, source = _problem_from_args(args)
            stop = _stop_from_args(args)
            options = {"rtol": args.rtol, "max_steps": args.max_steps,
                       "multiprecision": not args.float64_only, "verify": not args.no_verify}
            alpha = args.alpha
        else:
            problem, source, stop, options, alpha = _resumed_run(args)
        # all input checked before any output
        check_arguments(problem, **stop, **options, max_seconds=args.max_seconds)
        _check_output_path(out, "--out")
        if args.figure is not None:
            _check_output_path(args.figure, "--figure")
            _require_matplotlib("--figure")
        _print_header(problem, source, alpha, stop, options["rtol"])
        cost = CostLog()
        start = time.perf_counter()
        with ProgressBar(stop.get("log10_loss"), enabled=None if args.progress else False) as bar:
            trajectory = extprec.solve(problem, **stop, **options, progress=chain(bar, cost),
                                       checkpoint_path=out, resume=args.resume,
                                       max_seconds=args.max_seconds)
        elapsed = time.perf_counter() - start
    except (ValueError, TypeError, FileNotFoundError) as exc:
        _error(_with_option(exc, args))
        return EXIT_INVALID
    except (RuntimeError, ArithmeticError) as exc:
        _error(f"the computation failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        if out is None or checkpoint_files.saved_phase(out) not in ("main", "control"):
            _error("interrupted; nothing was saved (with --out PATH the run saves its progress "
                   "as it goes)")
        else:
            _error(f"interrupted; progress saved in {out}: continue with 'extprec run --resume "
                   f"{out}'")
        return EXIT_INTERRUPTED
    if cost.steps or "cost" not in trajectory.stats:  # a finished run keeps its own log
        trajectory.stats["cost"] = cost.as_dict()
    _print_table(trajectory)
    _print_status(trajectory, elapsed)
    if out is not None and trajectory.status == STATUS_TIME_LIMIT:
        print(f"progress saved in {out}: continue with 'extprec run --resume {out}'")
    elif out is not None:
        checkpoint_files.update_finished(out, trajectory)
        print(f"results: {out}")
    if args.figure is not None:
        from extprec import plotting

        plotting.save(plotting.run_overview(trajectory), args.figure)
        print(f"figure: {args.figure}")
    return EXIT_OK


def _explicit_options(argv) -> set:
    """The destinations of the options given on the command line of ``extprec run`` (not
    defaulted): ``argv`` parsed again with every default suppressed."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in commands.choices["run"]._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(_join_numeric_values(argv))))


def _resumed_run(args):
    """``(problem, source, stop, options, alpha text)`` of ``extprec run --resume PATH``: the
    file's, or the command line's when it defines the run (solve then checks that they agree
    with the file)."""
    given = sorted(RUN_DEFINING_OPTIONS[d] for d in args.explicit if d in RUN_DEFINING_OPTIONS)
    problem, arguments = checkpoint_files.saved_run(args.resume)
    if given:
        problem, source = _problem_from_args(args)
        stop = _stop_from_args(args)
        options = {"rtol": args.rtol, "max_steps": args.max_steps,
                   "multiprecision": not args.float64_only, "verify": not args.no_verify,
                   "backend": arguments["backend"]}
        return problem, source, stop, options, args.alpha
    stop = {key: _exact_text(arguments.pop(key)) for key in ("log10_loss", "t")
            if key in arguments}
    for key in ("checkpoints", "checkpoint_times"):
        if key in arguments:
            stop[key] = [_exact_text(value) for value in arguments.pop(key)]
    return (problem, f"the run saved in {args.resume}", stop, arguments,
            _exact_text(problem.alpha_exact))


def _exact_text(value: Fraction):
    """An exact rational as the decimal string the options take ("-1e100", "25e-1"), or the
    Fraction itself when it has no finite decimal expansion (solve reads both exactly)."""
    if value.denominator == 1:
        return _compact_level(value)
    twos = (value.denominator & -value.denominator).bit_length() - 1
    rest, fives = value.denominator >> twos, 0
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        return value
    exponent = max(twos, fives)
    return f"{value.numerator * 10**exponent // value.denominator}e-{exponent}"


def _check_output_path(path, option) -> None:
    """Refuse an output path whose directory does not exist or that is a directory."""
    if path is None:
        return
    if path.is_dir():
        raise InputError(f"{option} {path} is a directory; give a file name, e.g. "
                         f"{option} {path / ('run.png' if option == '--figure' else 'run.json')}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{option} {path}: the directory {parent} does not exist; create it "
                         "or write somewhere else")


def _require_matplotlib(option) -> None:
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        raise InputError(f"{option} needs matplotlib, which is not installed; install it with "
                         "pip install 'extprec[plot]'") from None


def _error(message) -> None:
    print(f"extprec: error: {_one_line(message)}", file=sys.stderr)


def _with_option(exc, args) -> str:
    """The message of an API error, prefixed with the option or file it concerns."""
    message = str(exc)
    if isinstance(exc, InputError):
        return message
    match = _FIRST_NAME.match(message)
    name = match.group(1) if match else ""
    if name in API_OPTIONS:
        return f"argument {API_OPTIONS[name]}: {message.removeprefix(name + ': ')}"
    if args.data is not None and name in ("X", "y", "labels"):
        return f"--data {args.data}: {message}"
    return message


def _problem_from_args(args):
    """The Problem of ``extprec run`` and a description of its source."""
    problem, source = _unshaped_problem(args)
    shape = shape_from_options(args.shape, args.shape_minus, problem.n_features)
    if shape is None:
        return problem, source
    return extprec.Problem(problem.X, problem.y, depth=problem.depth, alpha=args.alpha,
                           shape=shape, loss=problem.loss,
                           reduction=problem.reduction), source


def _unshaped_problem(args):
    problem_kwargs = {"depth": args.depth, "alpha": args.alpha, "loss": args.loss,
                      "reduction": args.reduction}
    if args.param and args.dataset is None:
        raise InputError("--param sets parameters of a built-in dataset; use it with --dataset "
                         f"(one of {', '.join(sorted(datasets.GENERATORS))}), or drop it")
    if args.dataset is not None:
        params = parse_params(args.param)
        generator = _generator(args.dataset)
        _check_params(args.dataset, generator, params)
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        try:
            problem = generator(**params, **problem_kwargs)
        except (ValueError, TypeError) as exc:
            match = _FIRST_NAME.match(str(exc))
            if match and match.group(1) in API_OPTIONS:  # --alpha, --depth, ...
                raise
            raise InputError(f"--dataset {args.dataset} with --param {shown}: {exc}; the "
                             f"parameters are {_signature(generator)}") from None
        return problem, f"built-in dataset {args.dataset}" + (f" ({shown})" if shown else "")
    if args.data is not None:
        X, y = load_data(args.data)
        return extprec.Problem(X, y, **problem_kwargs), f"data file {args.data}"
    return (datasets.default_problem(**problem_kwargs),
            "built-in default problem (sparse linear teacher, 3 active features, seed 0)")


def shape_from_options(shape, shape_minus, n_features):
    """``(u_plus, u_minus)`` from ``--shape`` / ``--shape-minus`` texts (None: all ones).

    Each is d comma-separated numbers or one number for every coordinate; the Problem then
    checks that the entries are finite and positive.
    """
    if shape is None and shape_minus is None:
        return None
    u_plus = (_shape_vector(shape, "--shape", n_features) if shape is not None
              else np.ones(n_features))
    u_minus = (_shape_vector(shape_minus, "--shape-minus", n_features)
               if shape_minus is not None else u_plus)
    return u_plus, u_minus


def _shape_vector(text, option, n_features):
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"{option} must be comma-separated numbers > 0 (one per feature) or "
                         f"one number for all features; got {text!r}") from None
    if len(values) == 1:
        return np.full(n_features, values[0])
    if len(values) != n_features:
        raise InputError(f"{option} has {len(values)} values but the problem has d = "
                         f"{n_features} features; give {n_features} values or one for all")
    return np.array(values)


def _stop_from_args(args) -> dict:
    stop = {}
    if args.t is not None:
        stop["t"] = args.t
    else:
        stop["log10_loss"] = args.log10_loss if args.log10_loss is not None else DEFAULT_LOG10_LOSS
    if args.checkpoints is not None:
        levels = [level.strip() for level in args.checkpoints.split(",")]
        if not all(levels):
            raise InputError(f"--checkpoints must be a comma-separated list of log10-loss "
                             f"levels such as -1,-10,-100; got {args.checkpoints!r}")
        stop["checkpoints"] = levels
    return stop


def _generator(name):
    try:
        return datasets.GENERATORS[name]
    except KeyError:
        raise InputError(f"--dataset: unknown dataset {name!r}; choose one of "
                         f"{', '.join(sorted(datasets.GENERATORS))}") from None


def _parameters(generator) -> list:
    return [p for p in inspect.signature(generator).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _signature(generator) -> str:
    shown = ", ".join(f"{p.name}={p.default!r}" if p.default is not p.empty else p.name
                      for p in _parameters(generator))
    return shown or "(none)"


def _check_params(dataset, generator, params) -> None:
    """Refuse --param names the generator does not take and non-integers for int parameters."""
    known = {p.name: p.default for p in _parameters(generator)}
    for key, value in params.items():
        if key not in known:
            takes = (f"it takes {_signature(generator)}" if known
                     else "it takes no parameters; drop --param")
            raise InputError(f"--param {key}=...: dataset {dataset} has no parameter "
                             f"{key!r}; {takes}")
        if isinstance(known[key], int) and not isinstance(value, int):
            raise InputError(f"--param {key} must be an integer (got {value!r}); pass e.g. "
                             f"--param {key}={known[key]}")


def parse_params(items) -> dict:
    """``["key=value", ...]`` to a dict; values become int or float when they parse as such."""
    params = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier() or not text.strip():
            raise InputError(f"--param must look like KEY=VALUE (e.g. seed=1); got {item!r}")
        if key in PROBLEM_OPTIONS:
            raise InputError(f"set {key} with --{key}, not --param")
        params[key] = _parse_value(text.strip())
    return params


def _parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def load_data(path: Path):
    """Read ``(X, y)`` from a .npz or .csv file (formats: ``extprec run --help``)."""
    path = Path(path)
    formats = "pass a .npz file with arrays X and y or a .csv file (see 'extprec run --help')"
    try:
        return _load_data(path)
    except FileNotFoundError:
        raise InputError(f"--data: cannot read data file {path}: no such file; check the path "
                         "(relative paths start at the current directory)") from None
    except IsADirectoryError:
        raise InputError(f"--data: {path} is a directory, not a data file; {formats}") from None
    except PermissionError:
        raise InputError(f"--data: cannot read data file {path}: permission denied; make it "
                         "readable (chmod u+r) or copy it somewhere readable") from None
    except OSError as exc:
        raise InputError(f"--data: cannot read data file {path}: {exc.strerror or exc}; "
                         f"{formats}") from None
    except UnicodeDecodeError:
        raise InputError(f"--data: {path} is not a text file (not UTF-8); a .csv must be "
                         "plain text, one sample per line") from None
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"--data: {path} is not a readable NumPy .npz archive of numeric "
                         f"arrays ({_one_line(exc)}); write it with numpy.savez(FILE, X=X, y=y) "
                         "from float arrays") from None


def _load_data(path: Path):
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as handle:
                single = handle.read(6) == b"\x93NUMPY"
            what = "holds a single array (a .npy file)" if single else "is not a zip file"
            raise InputError(f"--data: {path} {what}, not an .npz archive; write X and y with "
                             "numpy.savez(FILE, X=X, y=y)")
        archive = np.load(path, allow_pickle=False)
        with archive:
            missing = [k for k in ("X", "y") if k not in archive.files]
            if missing:
                raise InputError(f"--data: {path}: the .npz file must hold arrays 'X' and 'y'; "
                                 f"missing {', '.join(missing)} (found: "
                                 f"{', '.join(archive.files) or 'none'}); write it with "
                                 "numpy.savez(FILE, X=X, y=y)")
            return archive["X"], archive["y"]
    if suffix == ".csv":
        return _load_csv(path)
    raise InputError(f"--data: {path}: unsupported data file type {suffix or '(none)'!r}; "
                     "use .npz (arrays X and y) or .csv (features, then the label)")


def _load_csv(path: Path):
    rows = []
    width = None
    with open(path, newline="") as handle:
        for line_number, cells in enumerate(csv.reader(handle), start=1):
            if not cells or not "".join(cells).strip() or cells[0].lstrip().startswith("#"):
                continue
            try:
                values = [float(cell) for cell in cells]
            except ValueError:
                if not rows and width is None:  # a header line
                    width = len(cells)
                    continue
                raise InputError(f"--data: {path}, line {line_number}: every cell must be a "
                                 f"number (only the first line may be a header); got "
                                 f"{cells!r}") from None
            if width is None:
                width = len(values)
            if len(values) != width:
                raise InputError(f"--data: {path}, line {line_number}: expected {width} "
                                 f"columns, got {len(values)}; every line needs the same "
                                 "features followed by the label")
            rows.append(values)
    if not rows:
        raise InputError(f"--data: {path}: no data rows; a .csv needs one sample per line, "
                         "the features followed by the label (+1 or -1)")
    if width < 2:
        raise InputError(f"--data: {path}: need at least one feature column followed by the "
                         "label column; write each line as x1,...,xd,label")
    return [row[:-1] for row in rows], [row[-1] for row in rows]


# -- formatting ----------------------------------------------------------------------------
def fmt(value, digits: int = 10) -> str:
    """``mpmath.nstr`` of a number (mpf, float or int) with ``digits`` significant digits."""
    return mpmath.nstr(value, max(1, digits))


def _print_header(problem, source, alpha, stop, rtol) -> None:
    print(f"extprec {extprec.__version__}: gradient flow of a diagonal linear network")
    print(f"problem: {source}")
    print(f"  N = {problem.n_samples} samples, d = {problem.n_features} features, "
          f"depth D = {problem.depth}, alpha = {alpha}, loss = {problem.loss}, "
          f"reduction = {problem.reduction}")
    _print_wrapped("separability: " + problem.separability().message, indent="  ")
    print(f"  initial loss: log10 L(0) = {problem.initial_log_loss() / math.log(10):.10g}")
    target = (f"log10 loss = {stop['log10_loss']}" if "log10_loss" in stop
              else f"t = {stop['t']}")
    levels = ", ".join(map(str, stop["checkpoints"])) if "checkpoints" in stop else (
        "every decade of log10(1/L) (about 100 beyond 10^-(10^120))")
    print(f"stop: {target}; checkpoints: {levels}; rtol = {rtol:g}")
    print()


COLUMNS = (("#", 5), ("log10 loss", 14), ("sigma", 14), ("log10 t", 14), ("min margin", 14),
           ("backend", 8), ("bits", 5), ("digits", 6))
TOP_ENTRIES = 3
# The limit diagnostics of each State (extprec.limits.diagnostics), in a second table.
DIAGNOSTIC_COLUMNS = (("#", 5), ("mu", 12), ("gamma_l1", 12), ("gamma_l2", 12), ("d_l1", 12),
                      ("d_l2", 12), ("d_q_mu", 12), ("regime", 13), ("SVs", 5), ("active", 7))
DIAGNOSTIC_DIGITS = 4


def format_row(label, state, diagnostics=False) -> str:
    """One table row for a State (see :data:`COLUMNS`), or with ``diagnostics=True`` the row of
    its limit diagnostics (:data:`DIAGNOSTIC_COLUMNS`; '-' where a value is undefined)."""
    if diagnostics:
        return _cells(_diagnostic_cells(label, state), DIAGNOSTIC_COLUMNS)
    k = min(state.digits, 10)
    cells = (str(label), fmt(state.log10_loss, k), fmt(state.sigma, k), fmt(state.log10_t, k),
             fmt(state.min_margin, k), state.backend, str(state.precision_bits),
             _digits_cell(state))
    return _cells(cells, COLUMNS) + "  " + top_entries(state.beta_normalized, min(k, 6))


def _digits_cell(state) -> str:
    """The digits a State vouches for; '?' marks digits no control run has checked."""
    unchecked = state.evidence is not None and not state.evidence.verified
    return f"{state.digits}?" if unchecked else str(state.digits)


def _cells(cells, columns) -> str:
    return "".join(cell.rjust(width) + " " for cell, (_, width) in zip(cells, columns))


def _diagnostic_cells(label, state):
    from extprec.limits import LimitUnavailable

    def shown(read):
        try:
            value = read()
        except LimitUnavailable:
            return "-"
        return "-" if value is None else fmt(value, DIAGNOSTIC_DIGITS)

    rich = "l1_active" if "l1_active" in state.distance else "l1"
    return (str(label), shown(lambda: state.mu), shown(lambda: state.gamma_l1),
            shown(lambda: state.gamma_l2), shown(lambda: state.distance[rich]),
            shown(lambda: state.distance["l2"]), shown(lambda: state.distance["q_mu"]),
            str(state.regime or "-"), str(len(state.support_vectors)),
            str(len(state.active_coordinates)))


def top_entries(vector, digits: int = 6, count: int = TOP_ENTRIES) -> str:
    """The ``count`` largest-magnitude entries of ``vector`` as ``index:value`` (0-based)."""
    order = sorted(range(len(vector)), key=lambda i: abs(vector[i]), reverse=True)[:count]
    return "  ".join(f"{i}:{fmt(vector[i], digits)}" for i in order)


def _print_table(trajectory) -> None:
    header = "".join(name.rjust(width) + " " for name, width in COLUMNS)
    header += "  largest |beta / min margin| (index:value)"
    print(header)
    print("-" * len(header))
    rows = list(enumerate(trajectory.checkpoints, start=1))
    for label, state in rows:
        print(format_row(label, state))
    if not trajectory.checkpoints:
        print("(no checkpoint was reached)")
    if not trajectory.checkpoints or trajectory.final is not trajectory.checkpoints[-1]:
        rows.append(("final", trajectory.final))
        print(format_row("final", trajectory.final))
    print()
    if not trajectory.problem.separability().separable:
        return
    print("limit diagnostics (d_*: relative distance of beta / min margin to the l1, l2 and "
          "Q_mu predictors; mu = alpha^D / min margin):")
    header = "".join(name.rjust(width) + " " for name, width in DIAGNOSTIC_COLUMNS)
    print(header)
    print("-" * len(header))
    for label, state in rows:
        print(format_row(label, state, diagnostics=True))
    print()


def _print_status(trajectory, elapsed: float) -> None:
    print(f"status: {trajectory.status}")
    if trajectory.status == STATUS_PRECISION:
        _print_wrapped("The requested level lies beyond what float64 resolves at this "
                       "tolerance; the 'final' row is the last state it resolves.", indent="  ")
    elif trajectory.status == STATUS_TIME_LIMIT:
        _print_wrapped("The run stopped at its time limit (--max-seconds).", indent="  ")
    elif trajectory.status != STATUS_REACHED:
        _print_wrapped("The run stopped before the requested level.", indent="  ")
    _print_wrapped(trajectory.message, indent="  ")
    print(f"  {trajectory.n_steps} steps, {elapsed:.2f} s")


def _print_wrapped(text: str, indent: str = "") -> None:
    print(textwrap.fill(text, width=100, initial_indent=indent,
                        subsequent_indent=indent + "  "))


# -- extprec sweep --------------------------------------------------------------------------
def sweep_command(args) -> int:
    from extprec import sweep

    try:
        grid = _grid_from_args(args, sweep)
        grid.check()
        store = sweep.Store(args.store)  # refuses a file that is not a sweep store
        store.close()
        executor, description, shutdown = _sweep_executor(args)
    except (ValueError, TypeError) as exc:
        _error(exc)
        return EXIT_INVALID
    cells = grid.cells()
    print(f"extprec {extprec.__version__} sweep: {len(cells)} cells ({len(grid.sources)} "
          f"sources x {len(grid.depths)} depths x {len(grid.alphas)} alphas) to log10 loss "
          f"{', '.join(grid.log10_losses)}; store {args.store}; {description}")

    def report(cell, result, done, total):
        if args.quiet:
            return
        outcome = (json.loads(result.results)["status"] if result.results is not None
                   else f"error: {result.error}")
        print(f"[{done}/{total}] {cell.label()}: {outcome} ({result.seconds:.2f} s)", flush=True)

    start = time.perf_counter()
    try:
        summary = sweep.run(cells, args.store, executor=executor, on_result=report)
    except KeyboardInterrupt:
        with sweep.Store(args.store) as store:
            kept = len(store.finished_keys() & {cell.key for cell in cells})
        _error(f"interrupted; {kept} of {len(cells)} cells are in {args.store}; run the same "
               "command again to compute the rest")
        return EXIT_INTERRUPTED
    finally:
        shutdown()
    print(f"done: {summary.total} cells, {summary.already_done} already in the store, "
          f"{summary.computed} computed ({summary.errors} failed), "
          f"{time.perf_counter() - start:.2f} s")
    return EXIT_FAILED if summary.errors else EXIT_OK


def _grid_from_args(args, sweep):
    """The sweep's Grid from the options of ``extprec sweep`` (input errors: InputError)."""
    params = parse_params(args.param)
    if params and not args.dataset:
        raise InputError("--param sets parameters of the --dataset generators; give at least "
                         "one --dataset, or drop --param")
    seeds = _list_option(args.seeds, "--seeds", int, "0,1,2") if args.seeds else None
    if seeds is not None and not args.dataset:
        raise InputError("--seeds makes one source per seed of each --dataset; give a "
                         "--dataset (e.g. --dataset sparse_teacher)")
    sources = []
    for name in args.dataset:
        generator = _generator(name)
        for seed in seeds if seeds is not None else [None]:
            these = dict(params) if seed is None else {**params, "seed": seed}
            _check_params(name, generator, these)
            sources.append(sweep.DatasetSource(name, these))
    for path in args.data:
        X, y = load_data(path)
        sources.append(sweep.ArraySource(str(path), X, y))
    if not sources:  # the built-in default problem, datasets.default_problem()
        sources.append(sweep.DatasetSource("sparse_teacher", {"n_samples": 20, "n_features": 50,
                                                             "n_active": 3, "seed": 0}))
    depths = _list_option(args.depths, "--depths", int, "2,3")
    if any(d < 1 for d in depths):
        raise InputError(f"--depths must be integers >= 1; got {args.depths!r}")
    shape = None
    if args.shape is not None or args.shape_minus is not None:
        u_plus = _list_option(args.shape or "1", "--shape", float, "1,2,1")
        shape = (u_plus, _list_option(args.shape_minus, "--shape-minus", float, "1,2,1")
                 if args.shape_minus else u_plus)
    return sweep.Grid(sources, depths, _list_option(args.alphas, "--alphas", str, "0.01,1"),
                      _list_option(args.log10_losses, "--log10-losses", str, "-1,-10,-1e10"),
                      loss=args.loss, reduction=args.reduction, shape=shape, rtol=args.rtol,
                      max_steps=args.max_steps)


def _list_option(text, option, kind, example):
    parts = [part.strip() for part in text.split(",")]
    try:
        if not all(parts):
            raise ValueError
        return [kind(part) for part in parts]
    except ValueError:
        kind_name = {int: "integers", float: "numbers", str: "values"}[kind]
        raise InputError(f"{option} must be comma-separated {kind_name} such as {example}; got "
                         f"{text!r}") from None


def _sweep_executor(args):
    """``(executor or None, description, shutdown)`` for --workers / --scheduler."""
    if args.scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise InputError("--scheduler needs Dask distributed, which is not installed; "
                             "install it with pip install 'extprec[dask]'") from None
        try:
            client = Client(args.scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {args.scheduler}: cannot connect ({exc}); check "
                             "the address (e.g. tcp://HOST:8786) and that the scheduler "
                             "runs") from None
        return client.get_executor(), f"Dask scheduler {args.scheduler}", client.close
    workers = args.workers or os.cpu_count() or 1
    if workers == 1:
        return None, "1 process", lambda: None
    from concurrent.futures import ProcessPoolExecutor

    executor = ProcessPoolExecutor(max_workers=workers)
    return (executor, f"{workers} local processes",
            lambda: executor.shutdown(wait=True, cancel_futures=True))


# -- extprec plot ---------------------------------------------------------------------------
def plot_command(args) -> int:
    try:
        _check_output_path(args.out, "--out")
        _require_matplotlib("extprec plot")
        trajectories, is_store = _read_results(args.results)
        kind = args.kind or ("phase" if is_store else "run")
        if kind == "run" and len(trajectories) != 1:
            raise InputError(f"--kind run draws one run, and {args.results} holds "
                             f"{len(trajectories)}; use --kind limits, depth, phase or cost")
    except (ValueError, TypeError, OSError) as exc:
        _error(exc)
        return EXIT_INVALID
    from extprec import plotting

    draw = {"run": lambda runs: plotting.run_overview(runs[0]),
            "limits": plotting.distance_to_limits, "depth": plotting.depth_comparison,
            "phase": plotting.phase_diagram, "cost": plotting.precision_and_cost}[kind]
    start = time.perf_counter()
    plotting.save(draw(trajectories), args.out)
    print(f"figure: {args.out} ({kind}, {len(trajectories)} run(s) from {args.results}, "
          f"{time.perf_counter() - start:.2f} s)")
    return EXIT_OK


def _read_results(path: Path):
    """``(trajectories, is_store)`` of a results file or of the finished cells of a store."""
    from extprec import sweep

    if not path.is_file():
        raise InputError(f"no results at {path}: no such file; give a results file (extprec "
                         "run --out) or a sweep store (extprec sweep --store)")
    with open(path, "rb") as handle:
        is_store = handle.read(16) == SQLITE_HEADER
    if is_store:
        rows = [row for row in sweep.load(path) if row.trajectory is not None]
        if not rows:
            raise InputError(f"sweep store {path} holds no finished cell yet")
        return [row.trajectory for row in rows], True
    return [extprec.load(path)], False


SQLITE_HEADER = b"SQLite format 3\x00"


# -- extprec info --------------------------------------------------------------------------
def _version(module_name: str):
    """Version string of an importable module, or None."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return str(getattr(module, "__version__", "unknown version"))


def info_lines() -> list[str]:
    lines = [f"extprec {extprec.__version__}",
             f"Python {platform.python_version()} ({platform.python_implementation()}, "
             f"{platform.system()} {platform.machine()})"]
    for name in ("numpy", "scipy", "numba", "mpmath"):
        lines.append(f"{name} {_version(name) or 'NOT INSTALLED'}")
    lines.append("optional accelerations:")
    gmpy2 = _version("gmpy2")
    lines.append(f"  gmpy2: {gmpy2 if gmpy2 else 'not installed'} "
                 f"({'active' if mpmath.libmp.BACKEND == 'gmpy' else 'inactive'}: mpmath "
                 f"arithmetic backend {mpmath.libmp.BACKEND})")
    flint = _version("flint")
    lines.append(f"  python-flint: {flint if flint else 'not installed'}"
                 + (" (active: the multiprecision backend, arb)" if flint else ""))
    lines.append("optional workflow packages:")
    for module_name, label, extra in (("matplotlib", "matplotlib", "plot"),
                                      ("distributed", "dask distributed", "dask"),
                                      ("tqdm", "tqdm", None)):
        version = _version(module_name)
        missing = f"not installed (pip install 'extprec[{extra}]')" if extra else "not installed"
        lines.append(f"  {label}: {version or missing}")
    lines.append("backends:")
    for module_name, label in (("extprec.backends.float64", "float64 (Numba)"),
                               ("extprec.backends.multiprecision", "arb (python-flint)")):
        try:
            importlib.import_module(module_name)
            lines.append(f"  {label}")
        except ImportError as exc:
            lines.append(f"  {label}: unavailable ({exc})")
    return lines


def info_command(args) -> int:
    print("\n".join(info_lines()))
    return EXIT_OK


__all__ = ["main", "build_parser", "load_data", "parse_params", "format_row", "top_entries"]
