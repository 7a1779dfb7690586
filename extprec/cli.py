"""Command-line interface: ``extprec run`` and ``extprec info``.

A thin layer over the public API: argument parsing, reading data files and formatting.
All numerics live in :mod:`extprec.driver` and the modules it calls. Numbers are printed
with :func:`mpmath.nstr` because States hold ``mpf`` values that may lie far outside the
float64 range.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import inspect
import math
import os
import platform
import re
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import mpmath
import numpy as np

import extprec
from extprec import datasets
from extprec.driver import DEFAULT_MAX_STEPS, DEFAULT_RTOL, MAX_RTOL, MIN_RTOL, check_arguments
from extprec.trajectory import STATUS_PRECISION, STATUS_REACHED

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2

DEFAULT_LOG10_LOSS = "-1e6"
PROBLEM_OPTIONS = ("depth", "alpha", "loss", "reduction")
# Options whose value may start with '-' followed by a number in exponent notation
# ("-1e100"), which argparse would otherwise mistake for an option.
NUMERIC_VALUE_OPTIONS = ("--alpha", "--log10-loss", "--t", "--checkpoints", "--rtol")
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

status:
  reached              the stop level (or time) was reached.
  precision exhausted  with --float64-only: float64 can no longer resolve the
                       margins to rtol; the final state is the last one it resolves.
                       (Without it the run continues in multiprecision.)
  max steps            --max-steps accepted steps were used up.
  step too small       the step size fell below the spacing of the precision.
  not finite           the state left the range of the arithmetic.

exit codes:
  0 the run completed (with any of the statuses above), 1 the computation
  failed, 2 invalid input.

examples:
  extprec run
  extprec run --log10-loss -1e4 --alpha 1e-100
  extprec run --depth 3 --alpha 0.001 --log10-loss -100
  extprec run --dataset two_points --alpha 0.01 --checkpoints -1,-10,-100
  extprec run --dataset sparse_teacher --param n_samples=40 --param seed=1
  extprec run --data train.csv --loss logistic --t 1e50"""


class InputError(ValueError):
    """Invalid command-line input (reported with exit code 2)."""


# The option of `extprec run` behind each argument name that starts an API error message.
API_OPTIONS = {"alpha": "--alpha", "depth": "--depth", "loss": "--loss",
               "reduction": "--reduction", "log10_loss": "--log10-loss", "t": "--t",
               "checkpoints": "--checkpoints", "rtol": "--rtol", "max_steps": "--max-steps"}
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
    model.add_argument("--loss", choices=("exp", "logistic"), default="exp",
                       help="per-sample loss exp(-z) or log(1 + exp(-z)) (default: exp)")
    model.add_argument("--reduction", choices=("sum", "mean"), default="sum",
                       help="sum or average the per-sample losses (default: sum)")

    stop = run.add_argument_group("stop and checkpoints")
    stop_choice = stop.add_mutually_exclusive_group()
    stop_choice.add_argument(
        "--log10-loss", metavar="LEVEL", default=None,
        help="stop when log10 of the training loss reaches LEVEL, read exactly as a decimal "
             f"(default: {DEFAULT_LOG10_LOSS}, i.e. L = 10^(-10^100))")
    stop_choice.add_argument(
        "--t", metavar="TIME", default=None,
        help="stop at the original gradient-flow time TIME > 0 instead (e.g. 1e1000)")
    stop.add_argument(
        "--checkpoints", metavar="L1,L2,...", default=None,
        help="comma-separated log10-loss levels at which to record the state (default: every "
             "decade of log10(1/L), log10 L = -1, -10, -100, ..., up to the stop)")
    stop.add_argument("--rtol", type=_rtol_option, default=DEFAULT_RTOL,
                      help=f"relative tolerance of the integration, in [{MIN_RTOL:g}, "
                           f"{MAX_RTOL:g}]; below 1e-13 the run is multiprecision from the "
                           f"start and much slower (default: {DEFAULT_RTOL:g})")
    stop.add_argument("--max-steps", type=_integer_option("--max-steps", DEFAULT_MAX_STEPS),
                      default=DEFAULT_MAX_STEPS, metavar="N",
                      help=f"budget of accepted steps (default: {DEFAULT_MAX_STEPS})")
    stop.add_argument("--float64-only", action="store_true",
                      help="stop where float64 can no longer resolve the margins (status "
                           "'precision exhausted') instead of continuing in multiprecision")
    stop.add_argument("--no-verify", action="store_true",
                      help="skip the control run at rtol/100 that checks the digits of every "
                           "row (about half the run time); the digits column then shows the "
                           "tolerance's promise, marked '?' as unchecked")
    run.set_defaults(handler=run_command)

    info = commands.add_parser(
        "info", help="print versions, optional accelerations and available backends",
        description="Print the versions of extprec and its dependencies, which optional "
                    "accelerations are importable, and the available backends.")
    info.set_defaults(handler=info_command)
    return parser


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
    try:
        return args.handler(args)
    except BrokenPipeError:  # output piped into a program that stopped reading (e.g. head)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


# -- extprec run ---------------------------------------------------------------------------
def run_command(args) -> int:
    try:
        problem, source = _problem_from_args(args)
        stop = _stop_from_args(args)
        options = {"rtol": args.rtol, "max_steps": args.max_steps,
                   "multiprecision": not args.float64_only, "verify": not args.no_verify}
        check_arguments(problem, **stop, **options)  # all input checked before any output
        _print_header(problem, source, args, stop)
        start = time.perf_counter()
        trajectory = extprec.solve(problem, **stop, **options)
        elapsed = time.perf_counter() - start
    except (ValueError, TypeError) as exc:
        _error(_with_option(exc, args))
        return EXIT_INVALID
    except (RuntimeError, ArithmeticError) as exc:
        _error(f"the computation failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    _print_table(trajectory)
    _print_status(trajectory, elapsed)
    return EXIT_OK


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


def _print_header(problem, source, args, stop) -> None:
    print(f"extprec {extprec.__version__}: gradient flow of a diagonal linear network")
    print(f"problem: {source}")
    print(f"  N = {problem.n_samples} samples, d = {problem.n_features} features, "
          f"depth D = {problem.depth}, alpha = {args.alpha}, loss = {problem.loss}, "
          f"reduction = {problem.reduction}")
    _print_wrapped("separability: " + problem.separability().message, indent="  ")
    print(f"  initial loss: log10 L(0) = {problem.initial_log_loss() / math.log(10):.10g}")
    target = (f"log10 loss = {stop['log10_loss']}" if "log10_loss" in stop
              else f"t = {stop['t']}")
    levels = ", ".join(stop["checkpoints"]) if "checkpoints" in stop else (
        "every decade of log10(1/L)")
    print(f"stop: {target}; checkpoints: {levels}; rtol = {args.rtol:g}")
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
    elif trajectory.status != STATUS_REACHED:
        _print_wrapped("The run stopped before the requested level.", indent="  ")
    _print_wrapped(trajectory.message, indent="  ")
    print(f"  {trajectory.n_steps} steps, {elapsed:.2f} s")


def _print_wrapped(text: str, indent: str = "") -> None:
    print(textwrap.fill(text, width=100, initial_indent=indent,
                        subsequent_indent=indent + "  "))


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
                 f"(mpmath arithmetic backend: {mpmath.libmp.BACKEND})")
    flint = _version("flint")
    lines.append(f"  python-flint: {flint if flint else 'not installed'}")
    lines.append("backends:")
    for module_name, label in (("extprec.backends.float64", "float64 (Numba)"),):
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
