"""Invalid input to Problem, solve and the command line is refused up front.

Every error names the problem and the fix, is raised before any integration starts (the
integrator factory of the driver is patched to fail the test if it is reached), and on the
command line is one line on stderr with exit code 2, never a traceback.
"""

import decimal
import math
import os
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest

from extprec import Problem, cli, driver, solve
from extprec.cli import main

REPO = Path(__file__).resolve().parent.parent
X2 = [[1.0, 0.5], [0.9, 1.0]]
Y2 = [1, -1]
XOR_X = [[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]
XOR_Y = [1, -1, -1, 1]
# Not separable, no separable part: the loss exp(-b) + exp(b/2) has a finite minimizer.
STRICT_X, STRICT_Y = [[1.0], [-0.5]], [1, 1]
# Not separable, but sample 2 is separated by beta_2 -> inf: the infimum is not attained.
PARTIAL_X, PARTIAL_Y = [[1.0, 0.0], [-0.5, 0.0], [0.0, 1.0]], [1, 1, 1]
FAST = 1.0  # seconds: every refusal is a validation, not a computation


@pytest.fixture
def no_integration(monkeypatch):
    """Fail the test if solve gets as far as building an integrator."""

    def refuse(*args, **kwargs):
        raise AssertionError("an integrator was built: the input was not refused up front")

    monkeypatch.setattr(driver, "_first_integrator", refuse)


def raises_fast(error, match, function, *args, **kwargs):
    start = time.perf_counter()
    with pytest.raises(error, match=match):
        function(*args, **kwargs)
    assert time.perf_counter() - start < FAST


# --- Problem ---------------------------------------------------------------------------------

PROBLEM_CASES = {
    "X has NaN": ({"X": [[1.0, np.nan], [0.9, 1.0]]}, ValueError, r"X contains 1 non-finite.*remove or impute"),
    "X has inf": ({"X": [[1.0, np.inf], [0.9, 1.0]]}, ValueError, r"X contains 1 non-finite.*remove or impute"),
    "y has NaN": ({"y": [1, np.nan]}, ValueError, r"y contains 1 non-finite.*remove or impute"),
    "y has inf": ({"y": [np.inf, 1]}, ValueError, r"y contains 1 non-finite.*remove or impute"),
    "X 1-D": ({"X": [1.0, 2.0]}, ValueError, r"X must be 2-D.*reshape\(1, -1\)"),
    "X 3-D": ({"X": np.ones((2, 2, 1))}, ValueError, r"X must be 2-D.*reshape"),
    "y 2-D": ({"y": [[1], [-1]]}, ValueError, r"y must be 1-D.*numpy\.ravel\(y\)"),
    "y too short": ({"y": [1]}, ValueError, r"one label per row of X \(length 2\).*ravel"),
    "y too long": ({"y": [1, -1, 1]}, ValueError, r"one label per row of X \(length 2\).*ravel"),
    "no samples": ({"X": np.zeros((0, 2)), "y": []}, ValueError, r"at least one sample.*non-empty"),
    "no features": ({"X": np.zeros((2, 0))}, ValueError, r"at least one sample and one feature.*non-empty"),
    "zero sample": ({"X": [[1.0, 0.0], [0.0, 0.0]]}, ValueError, r"all-zero sample\(s\) \(rows 1\).*remove those rows"),
    "empty list": ({"X": [], "y": []}, ValueError, r"X must be 2-D.*reshape"),
    "labels 0/1": ({"y": [0, 1]}, ValueError, r"labels must be \+1 or -1.*2\*y - 1"),
    "labels 2": ({"y": [2, -1]}, ValueError, r"labels must be \+1 or -1; got \{2\}.*map your classes"),
    "labels text": ({"y": ["a", "b"]}, TypeError, r"y must contain real numbers.*dtype=float"),
    "depth 0": ({"depth": 0}, ValueError, r"depth must be an integer >= 1.*depth=1 for the linear"),
    "depth -1": ({"depth": -1}, ValueError, r"depth must be an integer >= 1.*depth=1"),
    "depth 2.5": ({"depth": 2.5}, ValueError, r"depth must be an integer >= 1; got 2\.5; use e\.g\. depth=2"),
    "depth NaN": ({"depth": math.nan}, ValueError, r"depth must be an integer.*depth=2"),
    "depth True": ({"depth": True}, TypeError, r"depth must be an integer.*bool.*pass an int such as depth=2"),
    "depth '2'": ({"depth": "2"}, TypeError, r"depth must be an integer.*str.*depth=2"),
    "alpha -1": ({"alpha": -1}, ValueError, r"alpha must be > 0 \(got -1\); pass the initialization scale as a positive number or a decimal string such as '1e-300'"),
    "alpha 0": ({"alpha": 0}, ValueError, r"alpha must be > 0 \(got 0\).*positive number"),
    "alpha '-1e-3'": ({"alpha": "-1e-3"}, ValueError, r"alpha must be > 0 \(got -1e-3\).*decimal string"),
    "alpha NaN": ({"alpha": math.nan}, ValueError, r"alpha must be finite \(got nan\).*positive number"),
    "alpha inf": ({"alpha": math.inf}, ValueError, r"alpha must be finite \(got inf\).*positive number"),
    "alpha 'nan'": ({"alpha": "nan"}, ValueError, r"alpha must be finite \(got 'nan'\).*decimal string"),
    "alpha Decimal inf": ({"alpha": decimal.Decimal("inf")}, ValueError, r"alpha must be finite.*positive number"),
    "alpha mpf nan": ({"alpha": mpmath.mpf("nan")}, ValueError, r"alpha must be finite.*positive number"),
    "alpha 'abc'": ({"alpha": "abc"}, ValueError, r"'abc' is not a decimal number; write it like '0\.5' or '1e-300'"),
    "alpha ''": ({"alpha": ""}, ValueError, r"is not a decimal number; write it like"),
    "alpha huge exponent": ({"alpha": "1e-1000000000"}, ValueError, r"alpha = 1e-1000000000 has a decimal exponent beyond.*pass a scale between"),
    "alpha mpf huge exponent": ({"alpha": mpmath.mpf("1e-1000000000")}, ValueError, r"exponent beyond.*pass a scale between"),
    "alpha None": ({"alpha": None}, TypeError, r"alpha must be an int, float.*NoneType.*pass e\.g\. alpha=1\.0"),
    "alpha bool": ({"alpha": True}, TypeError, r"alpha must be .*got the bool True"),
    "shape too long": ({"shape": [1.0, 2.0, 3.0]}, ValueError, r"one vector of length d=2.*shape \(3,\).*shape=None"),
    "shape pair too short": ({"shape": ([1.0, 1.0], [1.0])}, ValueError, r"shape must be a rectangular array.*same length"),
    "shape three vectors": ({"shape": np.ones((3, 2))}, ValueError, r"pair \(u_plus, u_minus\).*shape=None"),
    "shape zero": ({"shape": [1.0, 0.0]}, ValueError, r"shape entries must be > 0.*needs positive u"),
    "shape negative": ({"shape": ([1.0, 1.0], [1.0, -2.0])}, ValueError, r"shape entries must be > 0.*use alpha for the overall scale"),
    "shape NaN": ({"shape": [1.0, np.nan]}, ValueError, r"shape contains 1 non-finite.*finite positive entries \(or pass shape=None\)"),
    "shape inf": ({"shape": [np.inf, 1.0]}, ValueError, r"shape contains 1 non-finite.*finite positive entries"),
    "shape text": ({"shape": "ones"}, TypeError, r"shape must contain real numbers.*dtype=float"),
    "loss hinge": ({"loss": "hinge"}, ValueError, r"loss must be one of 'exp', 'logistic'; got 'hinge'; pass e\.g\. loss='exp'"),
    "loss Exp": ({"loss": "Exp"}, ValueError, r"loss must be one of .*did you mean loss='exp'\?"),
    "loss list": ({"loss": ["exp"]}, ValueError, r"loss must be one of .*pass e\.g\. loss='exp'"),
    "loss None": ({"loss": None}, ValueError, r"loss must be one of .*pass e\.g\."),
    "reduction max": ({"reduction": "max"}, ValueError, r"reduction must be one of 'sum', 'mean'; got 'max'; pass e\.g\. reduction='sum'"),
}


@pytest.mark.parametrize("case", list(PROBLEM_CASES))
def test_problem_refuses(case):
    changes, error, match = PROBLEM_CASES[case]
    kwargs = {"X": X2, "y": Y2, **changes}
    raises_fast(error, match, Problem, kwargs.pop("X"), kwargs.pop("y"), **kwargs)


@pytest.mark.parametrize(
    ("X", "y", "attained", "outcome"),
    [
        (XOR_X, XOR_Y, True, r"beta converges to a finite minimizer"),
        (STRICT_X, STRICT_Y, True, r"beta converges to a finite minimizer"),
        (PARTIAL_X, PARTIAL_Y, False, r"\|\|beta\|\| grows without bound.*not attained"),
    ],
)
def test_non_separable_data_are_a_problem_not_an_error(X, y, attained, outcome):
    problem = Problem(X, y)  # no exception
    separability = problem.separability()
    assert not separability.separable
    assert "not linearly separable" in separability.message
    assert "decreases it towards that infimum instead of driving it to 0" in separability.message
    assert problem.infimum_attained() is attained
    assert re.search(r"does not drive the exp loss to 0.*log10 inf L = ", problem.flow_outcome())
    assert re.search(outcome, problem.flow_outcome())


# --- solve -----------------------------------------------------------------------------------

P = Problem(X2, Y2)  # separable, log10 L(0) = log10 2
XOR = Problem(XOR_X, XOR_Y)  # starts at its minimizer
STRICT = Problem(STRICT_X, STRICT_Y)  # log10 L(0) = 0.30103, log10 inf L = 0.276435
PARTIAL = Problem(PARTIAL_X, PARTIAL_Y)

SOLVE_CASES = {
    "not a Problem": ((None, -5), {}, TypeError, r"expects an extprec\.Problem.*extprec\.Problem\(X, y"),
    "level above L(0)": ((P, 5), {}, ValueError, r"log10_loss: the requested log10 loss 5 is not below the starting loss, log10 L\(0\) = 0\.30103.*ask for a log10 loss below 0\.30103"),
    "level equal to L(0)": ((P, math.log10(2)), {}, ValueError, r"not below the starting loss, log10 L\(0\) = 0\.30103.*ask for"),
    "level NaN": ((P, math.nan), {}, ValueError, r"log10_loss must be a finite number.*\(got nan\); pass e\.g\. -100 or the exact string '-1e100'"),
    "level -inf": ((P, -math.inf), {}, ValueError, r"log10_loss must be a finite number.*pass e\.g\. -100"),
    "level 'abc'": ((P, "abc"), {}, ValueError, r"log10_loss must be a finite number.*'abc'.*'-1e100'"),
    "level 'nan'": ((P, "nan"), {}, ValueError, r"log10_loss must be a finite number.*'nan'.*'-1e100'"),
    "level list": ((P, [-5]), {}, TypeError, r"log10_loss must be a number or a decimal string; got list.*pass e\.g\."),
    "level huge exponent": ((P, "-1e1000000000"), {}, ValueError, r"log10_loss = -1e1000000000 has a decimal exponent beyond.*pass a value between"),
    "level bool": ((P, True), {}, TypeError, r"log10_loss must be a number.*not a bool.*pass e\.g\."),
    "non-separable below infimum": ((STRICT, -5), {}, ValueError, r"log10_loss: the requested log10 loss -5 cannot be reached: the data are not linearly separable \(certificate: weights lambda >= 0 .*samples 0, 1.*\), so gradient flow does not drive the exp loss to 0 but decreases it towards its infimum log10 inf L = 0\.276435, and beta converges to a finite minimizer.*ask for a log10 loss between log10 inf L = 0\.276435 and log10 L\(0\) = 0\.30103, or stop at a time with t="),
    "non-separable at infimum": ((STRICT, STRICT.infimum_log_loss() / math.log(10)), {}, ValueError, r"cannot be reached: the data are not linearly separable.*ask for a log10 loss between"),
    "partly separable below infimum": ((PARTIAL, -1), {}, ValueError, r"cannot be reached.*grows without bound.*ask for a log10 loss between.*t="),
    "starts at the minimizer": ((XOR, "0.5"), {}, ValueError, r"cannot be reached.*starts at a minimizer of the loss.*stop at a time with t=\.\.\. instead"),
    "checkpoint below infimum": ((STRICT,), {"t": 10, "checkpoints": [0.29, 0.1]}, ValueError, r"checkpoints\[1\]: the requested log10 loss 0\.1 cannot be reached.*ask for"),
    "log10_loss and t": ((P, -5), {"t": 10}, ValueError, r"either log10_loss=\.\.\. or t=\.\.\. as the stop, not both.*drop one.*checkpoint_times="),
    "nothing to compute": ((P,), {}, ValueError, r"nothing to compute.*give a stop, log10_loss=.*or t=.*checkpoints="),
    "nothing, empty lists": ((P,), {"checkpoints": [], "checkpoint_times": []}, ValueError, r"nothing to compute.*give a stop"),
    "t 0": ((P,), {"t": 0}, ValueError, r"t must be a time > 0 \(got 0\); the flow starts at t = 0, pass a positive time such as 10 or '1e1000'"),
    "t -1": ((P,), {"t": -1}, ValueError, r"t must be a time > 0 \(got -1\).*pass a positive time"),
    "t NaN": ((P,), {"t": math.nan}, ValueError, r"t must be a finite number.*\(got nan\); pass e\.g\. 10 or the exact string '1e1000'"),
    "t inf": ((P,), {"t": math.inf}, ValueError, r"t must be a finite number.*\(got inf\); pass e\.g\. 10"),
    "t 'soon'": ((P,), {"t": "soon"}, ValueError, r"t must be a finite number.*'soon'.*pass e\.g\. 10"),
    "rtol 0": ((P, -5), {"rtol": 0}, ValueError, r"rtol must be in \[1e-40, 0\.001\] \(got 0\); pass a float between 1e-40 and 0\.001 such as rtol=1e-10"),
    "rtol negative": ((P, -5), {"rtol": -1e-10}, ValueError, r"rtol must be in \[1e-40, 0\.001\].*such as rtol=1e-10"),
    "rtol NaN": ((P, -5), {"rtol": math.nan}, ValueError, r"rtol must be in .*\(got nan\).*such as rtol=1e-10"),
    "rtol 1e-2": ((P, -5), {"rtol": 1e-2}, ValueError, r"rtol must be in .*\(got 0\.01\).*such as rtol=1e-10"),
    "rtol 1e-50": ((P, -5), {"rtol": 1e-50}, ValueError, r"rtol must be in .*\(got 1e-50\).*multiprecision from the start"),
    "rtol string": ((P, -5), {"rtol": "1e-10"}, TypeError, r"rtol must be a number \(got '1e-10' of type str\).*such as rtol=1e-10"),
    "rtol bool": ((P, -5), {"rtol": True}, TypeError, r"rtol must be a number.*bool.*such as rtol=1e-10"),
    "rtol below float64 without multiprecision": ((P, -5), {"rtol": 1e-20, "multiprecision": False}, ValueError, r"below what float64 can deliver.*allow multiprecision=True or pass rtol >= 1e-13"),
    "max_steps 0": ((P, -5), {"max_steps": 0}, ValueError, r"max_steps must be a positive int \(got 0\).*max_steps=1000000"),
    "max_steps -3": ((P, -5), {"max_steps": -3}, ValueError, r"max_steps must be a positive int.*max_steps=1000000"),
    "max_steps 2.5": ((P, -5), {"max_steps": 2.5}, TypeError, r"max_steps must be a positive int \(got 2\.5 of type float\); pass e\.g\. max_steps=1000000"),
    "max_steps 1e6": ((P, -5), {"max_steps": 1e6}, TypeError, r"max_steps must be a positive int.*float.*max_steps=1000000"),
    "max_steps True": ((P, -5), {"max_steps": True}, TypeError, r"max_steps must be a positive int.*bool.*max_steps="),
    "max_seconds 0": ((P, -5), {"max_seconds": 0}, ValueError, r"max_seconds must be a positive, finite number of seconds \(got 0\).*max_seconds=600"),
    "max_seconds inf": ((P, -5), {"max_seconds": float("inf")}, ValueError, r"max_seconds must be a positive, finite.*or None for no time limit"),
    "max_seconds text": ((P, -5), {"max_seconds": "60"}, TypeError, r"max_seconds must be a number of seconds or None \(got '60'\)"),
    "multiprecision 'no'": ((P, -5), {"multiprecision": "no"}, TypeError, r"multiprecision must be True or False \(got 'no'\); pass multiprecision=False"),
    "backend float64": ((P, -5), {"backend": "float64"}, ValueError, r"backend must be \"auto\" or \"arb\" \(got 'float64'\); pass backend=\"auto\".*or backend=\"arb\""),
    "backend None": ((P, -5), {"backend": None}, ValueError, r"backend must be \"auto\" or \"arb\".*pass backend="),
    "backend arb without multiprecision": ((P, -5), {"backend": "arb", "multiprecision": False}, ValueError, r"backend=\"arb\" is multiprecision.*drop multiprecision=False"),
    "checkpoint NaN": ((P, -5), {"checkpoints": [-1, math.nan]}, ValueError, r"checkpoints\[1\] must be a finite number.*\(got nan\); pass e\.g\. -100"),
    "checkpoint positive": ((P, -5), {"checkpoints": [-1, 3]}, ValueError, r"checkpoints\[1\]: the requested log10 loss 3 is not below the starting loss, log10 L\(0\) = 0\.30103.*ask for"),
    "checkpoint object": ((P, -5), {"checkpoints": [object()]}, TypeError, r"checkpoints\[0\] must be a number or a decimal string; got object.*pass e\.g\."),
    "checkpoint None": ((P, -5), {"checkpoints": [None]}, TypeError, r"checkpoints\[0\] must be a number.*NoneType.*pass e\.g\."),
    "checkpoint 'abc'": ((P, -5), {"checkpoints": ["abc"]}, ValueError, r"checkpoints\[0\] must be a finite number.*'abc'.*pass e\.g\."),
    "checkpoints scalar": ((P, -5), {"checkpoints": -1}, TypeError, r"checkpoints must be a list \(got int -1\); pass a list of log10-loss levels.*checkpoints=\[-1\]"),
    "checkpoints string": ((P, -5), {"checkpoints": "-1,-2"}, TypeError, r"checkpoints must be a list, not a single string.*checkpoints=\['-1', '-2'\]"),
    "checkpoints 2-D array": ((P, -5), {"checkpoints": np.array([[-1.0, -2.0]])}, TypeError, r"checkpoints must be a flat list.*shape \(1, 2\).*pass a list"),
    "checkpoint time 0": ((P, -5), {"checkpoint_times": [1, 0]}, ValueError, r"checkpoint_times\[1\] must be a time > 0 \(got 0\).*pass a positive time"),
    "checkpoint time -1": ((P, -5), {"checkpoint_times": [-1]}, ValueError, r"checkpoint_times\[0\] must be a time > 0.*pass a positive time"),
    "checkpoint time NaN": ((P, -5), {"checkpoint_times": [math.nan]}, ValueError, r"checkpoint_times\[0\] must be a finite number.*pass e\.g\. 10"),
    "checkpoint times scalar": ((P, -5), {"checkpoint_times": 10}, TypeError, r"checkpoint_times must be a list \(got int 10\).*checkpoint_times=\[10\]"),
}


@pytest.mark.parametrize("case", list(SOLVE_CASES))
def test_solve_refuses_before_integrating(case, no_integration):
    args, kwargs, error, match = SOLVE_CASES[case]
    raises_fast(error, match, solve, *args, **kwargs)


def test_check_arguments_is_the_same_validation():
    raises_fast(ValueError, r"rtol must be in", driver.check_arguments, P, -5, rtol=1.0)
    checked = driver.check_arguments(P, "-1e100", checkpoints=["-1", Fraction(-5, 2)])
    assert checked.stop.value == -(10**100)
    assert [name for name, _ in checked.checkpoints] == ["checkpoints[0]", "checkpoints[1]"]


def test_tight_rtol_is_accepted_and_documented(no_integration):
    """1e-40 is the documented floor: it passes validation (and runs in multiprecision)."""
    driver.check_arguments(P, -5, rtol=1e-40)
    assert driver.MIN_RTOL == 1e-40 and "1e-40" in solve.__doc__


# Inputs that used to fail during or after integrating and are now well defined.


def test_checkpoint_times_without_a_stop_end_at_the_last_time():
    """No stop: the run ends at the last checkpoint time (it used to chase default loss
    levels to 10^-(10^300))."""
    trajectory = solve(P, checkpoint_times=[1, 10])
    assert trajectory.status == "reached"
    assert [float(s.log10_t) for s in trajectory.checkpoints] == pytest.approx([0.0, 1.0])


@pytest.mark.parametrize("problem", [STRICT, PARTIAL, XOR], ids=["strict", "partial", "xor"])
def test_time_stop_on_non_separable_data_runs(problem):
    """A time stop on non-separable data records the default decades above the infimum only
    (it used to refuse its own default levels)."""
    trajectory = solve(problem, t=10)
    assert trajectory.status == "reached"
    assert float(trajectory.final.log10_t) == pytest.approx(1.0)
    assert float(trajectory.final.log10_loss) >= problem.infimum_log_loss() / math.log(10) - 1e-9


# --- command line ----------------------------------------------------------------------------


def write(path, text):
    path.write_text(text)
    return str(path)


TEXT_DATA_FILES = {  # kind -> (file name, contents) of the bad text data files
    "empty": ("empty.csv", ""),
    "header only": ("header.csv", "a,b,label\n"),
    "one column": ("one.csv", "1\n-1\n"),
    "ragged": ("ragged.csv", "1,2,1\n1,-1\n"),
    "text cell": ("cell.csv", "1,2,1\n1,x,-1\n"),
    "labels 0/1": ("labels.csv", "1,2,1\n2,1,0\n"),
    "nan": ("nan.csv", "1,nan,1\n2,1,-1\n"),
    "not separable": ("xor.csv", "1,1,1\n1,-1,-1\n-1,1,-1\n-1,-1,1\n"),
    "txt": ("data.txt", "1 2 1\n"),
    "npz not zip": ("text.npz", "hello"),
}


def data_file(tmp_path, kind):
    """Bad data files by kind."""
    if kind == "missing":
        return str(tmp_path / "missing.csv")
    if kind == "directory":
        (tmp_path / "folder.csv").mkdir()
        return str(tmp_path / "folder.csv")
    if kind == "binary":
        path = tmp_path / "binary.csv"
        path.write_bytes(bytes(range(256)))
        return str(path)
    if kind in TEXT_DATA_FILES:
        name, text = TEXT_DATA_FILES[kind]
        return write(tmp_path / name, text)
    path = tmp_path / "data.npz"
    if kind == "npy as npz":
        with open(path, "wb") as handle:
            np.save(handle, np.eye(2))
    elif kind == "npz without y":
        np.savez(path, X=np.eye(2))
    elif kind == "npz object arrays":
        np.savez(path, X=np.array([[1, "a"]], dtype=object), y=np.array([1]))
    elif kind == "npz X 1-D":
        np.savez(path, X=np.ones(2), y=np.ones(2))
    return str(path)


CLI_CASES = {
    "--depth 2.5": (["--depth", "2.5"], r"argument --depth: must be an integer >= 1 \(got '2\.5'\); pass e\.g\. --depth 2"),
    "--depth 0": (["--depth", "0"], r"argument --depth: must be an integer >= 1.*--depth 2"),
    "--depth two": (["--depth", "two"], r"argument --depth: must be an integer.*--depth 2"),
    "--alpha -1": (["--alpha", "-1"], r"argument --alpha: alpha must be > 0 \(got -1\); pass the initialization scale as a positive number"),
    "--alpha 0": (["--alpha", "0"], r"argument --alpha: alpha must be > 0.*positive number"),
    "--alpha abc": (["--alpha", "abc"], r"argument --alpha: alpha string 'abc' is not a decimal number; write it like"),
    "--alpha nan": (["--alpha", "nan"], r"argument --alpha: alpha must be finite \(got 'nan'\).*positive number"),
    "--alpha -inf": (["--alpha", "-inf"], r"argument --alpha: alpha must be finite.*positive number"),
    "--alpha 1e-2000000": (["--alpha", "1e-2000000"], r"argument --alpha: .*exponent beyond.*pass a scale between"),
    "--loss hinge": (["--loss", "hinge"], r"argument --loss: invalid choice: 'hinge' \(choose from 'exp', 'logistic'\)"),
    "--reduction max": (["--reduction", "max"], r"argument --reduction: invalid choice.*choose from"),
    "--log10-loss 5": (["--log10-loss", "5"], r"argument --log10-loss: the requested log10 loss 5 is not below the starting loss, log10 L\(0\) = 1\.30103.*ask for a log10 loss below"),
    "--log10-loss abc": (["--log10-loss", "abc"], r"argument --log10-loss: log10_loss must be a finite number.*pass e\.g\. -100"),
    "--log10-loss nan": (["--log10-loss", "nan"], r"argument --log10-loss: log10_loss must be a finite.*pass e\.g\."),
    "--log10-loss -1e2000000": (["--log10-loss", "-1e2000000"], r"argument --log10-loss: .*exponent beyond.*pass a value between"),
    "--t 0": (["--t", "0"], r"argument --t: t must be a time > 0 \(got '0'\).*pass a positive time"),
    "--t -5": (["--t", "-5"], r"argument --t: t must be a time > 0.*pass a positive time"),
    "--t abc": (["--t", "abc"], r"argument --t: t must be a finite number.*pass e\.g\. 10"),
    "--t with --log10-loss": (["--t", "5", "--log10-loss", "-3"], r"argument --log10-loss: not allowed with argument --t"),
    "--checkpoints empty item": (["--checkpoints", "-1,,-2"], r"--checkpoints must be a comma-separated list of log10-loss levels such as -1,-10,-100"),
    "--checkpoints abc": (["--checkpoints", "abc"], r"argument --checkpoints: checkpoints\[0\] must be a finite number.*pass e\.g\."),
    "--checkpoints 5": (["--checkpoints", "-1,5"], r"argument --checkpoints: checkpoints\[1\]: the requested log10 loss 5 is not below the starting loss.*ask for"),
    "--rtol 1": (["--rtol", "1"], r"argument --rtol: must be in \[1e-40, 0\.001\] \(got '1'\); pass a number between.*--rtol 1e-10"),
    "--rtol 0": (["--rtol", "0"], r"argument --rtol: must be in .*--rtol 1e-10"),
    "--rtol -1e-10": (["--rtol", "-1e-10"], r"argument --rtol: must be in .*--rtol 1e-10"),
    "--rtol nan": (["--rtol", "nan"], r"argument --rtol: must be in .*\(got 'nan'\).*--rtol 1e-10"),
    "--rtol abc": (["--rtol", "abc"], r"argument --rtol: must be a number \(got 'abc'\).*--rtol 1e-10"),
    "--rtol 1e-50": (["--rtol", "1e-50"], r"argument --rtol: must be in .*--rtol 1e-10"),
    "--rtol 1e-20 --float64-only": (["--rtol", "1e-20", "--float64-only"], r"argument --rtol: .*below what float64 can deliver.*allow multiprecision"),
    "--max-steps 0": (["--max-steps", "0"], r"argument --max-steps: must be an integer >= 1 \(got '0'\); pass e\.g\. --max-steps 1000000"),
    "--max-steps -5": (["--max-steps", "-5"], r"argument --max-steps: must be an integer >= 1.*--max-steps"),
    "--max-steps 2.5": (["--max-steps", "2.5"], r"argument --max-steps: must be an integer.*--max-steps 1000000"),
    "--max-steps many": (["--max-steps", "many"], r"argument --max-steps: must be an integer.*--max-steps"),
    "--data missing": (["--data", "@missing"], r"--data: cannot read data file .*missing\.csv: no such file; check the path"),
    "--data directory": (["--data", "@directory"], r"--data: .*folder\.csv is a directory, not a data file; pass a \.npz file"),
    "--data binary": (["--data", "@binary"], r"--data: .*binary\.csv is not a text file.*plain text"),
    "--data empty": (["--data", "@empty"], r"--data: .*empty\.csv: no data rows; a \.csv needs one sample per line"),
    "--data header only": (["--data", "@header only"], r"--data: .*no data rows; a \.csv needs"),
    "--data one column": (["--data", "@one column"], r"--data: .*need at least one feature column.*x1,\.\.\.,xd,label"),
    "--data ragged": (["--data", "@ragged"], r"--data: .*line 2: expected 3 columns, got 2; every line needs"),
    "--data text cell": (["--data", "@text cell"], r"--data: .*line 2: every cell must be a number \(only the first line may be a header\)"),
    "--data labels 0/1": (["--data", "@labels 0/1"], r"--data .*labels\.csv: labels must be \+1 or -1.*2\*y - 1"),
    "--data nan": (["--data", "@nan"], r"--data .*nan\.csv: X contains 1 non-finite.*remove or impute"),
    "--data not separable": (["--data", "@not separable"], r"argument --log10-loss: the requested log10 loss -1e6 cannot be reached: the data are not linearly separable.*starts at a minimizer.*stop at a time"),
    "--data .txt": (["--data", "@txt"], r"--data: .*unsupported data file type '\.txt'; use \.npz"),
    "--data .npz not a zip": (["--data", "@npz not zip"], r"--data: .*text\.npz is not a zip file, not an \.npz archive; write X and y with numpy\.savez"),
    "--data .npy as .npz": (["--data", "@npy as npz"], r"--data: .*holds a single array.*numpy\.savez\(FILE, X=X, y=y\)"),
    "--data .npz without y": (["--data", "@npz without y"], r"--data: .*must hold arrays 'X' and 'y'; missing y.*numpy\.savez"),
    "--data .npz object arrays": (["--data", "@npz object arrays"], r"--data: .*not a readable NumPy \.npz archive of numeric arrays.*from float arrays"),
    "--data .npz X 1-D": (["--data", "@npz X 1-D"], r"--data .*: X must be 2-D.*reshape"),
    "--data without a file": (["--data"], r"argument --data: expected one argument"),
    "--param without --dataset": (["--param", "seed=1"], r"--param sets parameters of a built-in dataset; use it with --dataset"),
    "--param without =": (["--dataset", "sparse_teacher", "--param", "seed"], r"--param must look like KEY=VALUE \(e\.g\. seed=1\); got 'seed'"),
    "--param without key": (["--dataset", "sparse_teacher", "--param", "=3"], r"--param must look like KEY=VALUE"),
    "--param without value": (["--dataset", "sparse_teacher", "--param", "seed="], r"--param must look like KEY=VALUE"),
    "--param unknown": (["--dataset", "sparse_teacher", "--param", "bogus=1"], r"--param bogus=\.\.\.: dataset sparse_teacher has no parameter 'bogus'; it takes n_samples=20, n_features=50, n_active=3, seed=0"),
    "--param for a dataset without parameters": (["--dataset", "two_points", "--param", "n=2"], r"dataset two_points has no parameter 'n'; it takes no parameters; drop --param"),
    "--param not an integer": (["--dataset", "sparse_teacher", "--param", "n_samples=abc"], r"--param n_samples must be an integer \(got 'abc'\); pass e\.g\. --param n_samples=20"),
    "--param float for int": (["--dataset", "sparse_teacher", "--param", "n_features=2.5"], r"--param n_features must be an integer.*--param n_features=50"),
    "--param out of range": (["--dataset", "sparse_teacher", "--param", "n_samples=0"], r"--dataset sparse_teacher with --param n_samples=0: n_samples must be >= 1.*the parameters are"),
    "--param problem option": (["--dataset", "orthogonal", "--param", "depth=3"], r"set depth with --depth, not --param"),
    "--dataset unknown": (["--dataset", "nope"], r"--dataset: unknown dataset 'nope'; choose one of orthogonal, sparse_teacher, two_points"),
    "unknown option": (["--colour", "red"], r"unrecognized arguments: --colour red \(see 'extprec --help'\)"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_refuses_with_one_line_and_exit_2(case, capsys, tmp_path, no_integration):
    argv, match = CLI_CASES[case]
    argv = [data_file(tmp_path, a[1:]) if a.startswith("@") else a for a in argv]
    start = time.perf_counter()
    code = main(["run", *argv])
    elapsed = time.perf_counter() - start
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # nothing printed before the input was checked
    assert err.startswith("extprec: error: ") and err.endswith("\n")
    assert err.count("\n") == 1, err  # one line
    assert "Traceback" not in err
    assert re.search(match, err), err
    assert elapsed < FAST


def test_cli_unreadable_file(capsys, tmp_path, monkeypatch):
    """A file the user may not read (simulated: the tests may run as root, who reads all)."""
    path = write(tmp_path / "secret.csv", "1,2,1\n")

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cli, "_load_data", denied)
    code = main(["run", "--data", path])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert re.search(r"--data: cannot read data file .*secret\.csv: permission denied; make it "
                     r"readable \(chmod u\+r\)", err), err


def test_cli_subprocess_bad_alpha_has_no_traceback():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-m", "extprec", "run", "--alpha", "-1"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "extprec: error: argument --alpha: alpha must be > 0 (got -1); pass the initialization "
        "scale as a positive number or a decimal string such as '1e-300' (strings are read "
        "exactly, so scales beyond the float64 range are fine)"
    ]


def test_the_suggested_level_is_accepted_for_a_huge_starting_loss(no_integration):
    """log10 L(0) = -4.04e24 (a fuzz case: N = 2, D = 1, alpha = 6e23, unbalanced shape):
    a level 4.8e6 below L(0), within its float64 rounding (about 5e8 here), is refused, and
    the level the message suggests lies below L(0) by more than that rounding, so it passes
    the same check (before, the suggestion was floor(log10 L(0)) - 1, refused in turn)."""
    from test_fuzz import FuzzCase

    from extprec.driver import check_arguments

    case = FuzzCase(2, 23, 1, 23.777, "unbalanced", "exp", "mean", "degenerate", -1.467,
                    26.714, 1809111761)
    problem = case.problem()
    level = case.checkpoints(problem)[0]
    assert abs(float(level) - problem.initial_log_loss() / math.log(10)) < 1e7
    with pytest.raises(ValueError, match=r"not below the starting loss") as refused:
        check_arguments(problem, level)
    example = re.search(r"e\.g\. (-?\d+)", str(refused.value)).group(1)
    check_arguments(problem, example)
