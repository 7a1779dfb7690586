"""Checkpoint files and resumed runs (``extprec.resume``).

The property checked throughout: a run interrupted anywhere and resumed from its checkpoint
file ends with exactly the trajectory of an uninterrupted run (every mpf of every State bit
for bit, digits and their evidence, status, message, step counts and counters), because the
uninterrupted run itself continues from the same exact snapshot at every restart point.
"""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import mpmath
import numpy as np
import pytest
from flint import arb, ctx
from hypothesis import given
from hypothesis import strategies as st

import extprec
import extprec.cli
from extprec import datasets, driver, resume, results_io
from extprec.levels import LossLevel
from extprec.solvers.float64_integrator import Float64Integrator
from extprec.solvers.multiprecision_integrator import MultiprecisionIntegrator

SCALARS = ("log10_loss", "sigma", "tau", "log10_t", "min_margin")
VECTORS = ("nu", "beta", "w_plus", "w_minus", "margins", "beta_normalized")
REPO = Path(__file__).resolve().parent.parent

# A run that stays in float64 (main and control run), and one that hands over to arb
# multiprecision in both runs (float64 912 steps, then 25 arb steps; the control run more).
FLOAT64_RUN = (datasets.default_problem, "-1e6", {})
ARB_RUN = (datasets.two_points, "-1e30", {"checkpoints": [-10, "-1e10", "-1e20", "-1e25"]})


def assert_same_state(a, b):
    for name in SCALARS:
        assert getattr(a, name)._mpf_ == getattr(b, name)._mpf_, name
    for name in VECTORS:
        assert [v._mpf_ for v in getattr(a, name)] == [v._mpf_ for v in getattr(b, name)], name
    assert (a.digits, a.precision_bits, a.backend, a.ell) == (b.digits, b.precision_bits,
                                                              b.backend, b.ell)
    assert a.evidence == b.evidence


def assert_same_trajectory(a, b):
    """Equal in every field that is not a timing (trajectories have none)."""
    assert len(a.checkpoints) == len(b.checkpoints)
    for x, y in zip(a.checkpoints, b.checkpoints):
        assert_same_state(x, y)
    assert_same_state(a.final, b.final)
    assert [i for i, s in enumerate(a.checkpoints) if s is a.final] == [
        i for i, s in enumerate(b.checkpoints) if s is b.final]
    assert (a.status, a.message, a.n_steps, a.rtol) == (b.status, b.message, b.n_steps, b.rtol)
    assert a.stats == b.stats


class InterruptAt:
    """A progress callback that raises KeyboardInterrupt (as Ctrl-C does) at its k-th report
    of the main run, or of the control run."""

    def __init__(self, main=None, control=None):
        self.limits = {"main": main, "control": control}
        self.calls = {"main": 0, "control": 0}

    def _report(self, run):
        self.calls[run] += 1
        if self.calls[run] == self.limits[run]:
            raise KeyboardInterrupt

    def __call__(self, sigma, bits, steps):
        self._report("main")

    def control(self, sigma, bits, steps):
        self._report("control")


def solve(case, **kwargs):
    make, level, options = case
    return extprec.solve(make(), level, **options, **kwargs)


@pytest.fixture(scope="module")
def float64_reference():
    return solve(FLOAT64_RUN)


@pytest.fixture(scope="module")
def arb_reference():
    return solve(ARB_RUN)


def interrupted_then_resumed(case, path, **interrupt):
    """Interrupt a run at the given report, check what the file holds, then resume it."""
    with pytest.raises(KeyboardInterrupt):
        solve(case, checkpoint_path=path, progress=InterruptAt(**interrupt))
    partial = extprec.load(path)  # an ordinary results file too
    assert partial.status == resume.STATUS_IN_PROGRESS
    entry = json.loads(path.read_text())["resume"]
    saved = (entry["phase"], entry[entry["phase"]]["integrator"]["backend"])
    return saved, solve(case, checkpoint_path=path, resume=path)


# -- the identity -----------------------------------------------------------------------------

@pytest.mark.parametrize("interrupt, phase", [
    ({"main": 1}, "main"), ({"main": 3}, "main"), ({"control": 1}, "control"),
    ({"control": 4}, "control")])
def test_float64_run_interrupted_and_resumed_is_identical(float64_reference, tmp_path,
                                                          interrupt, phase):
    path = tmp_path / "run.json"
    saved, resumed = interrupted_then_resumed(FLOAT64_RUN, path, **interrupt)
    assert saved == (phase, "float64")
    assert {s.backend for s in resumed.checkpoints} == {"float64"}
    assert_same_trajectory(resumed, float64_reference)
    assert_same_trajectory(extprec.load(path), float64_reference)


@pytest.mark.parametrize("interrupt, saved_at", [
    ({"main": 2}, ("main", "float64")),  # before the handover to multiprecision
    ({"main": 4}, ("main", "arb")),      # after it
    ({"control": 3}, ("control", "float64")), ({"control": 9}, ("control", "arb"))])
def test_multiprecision_run_interrupted_and_resumed_is_identical(arb_reference, tmp_path,
                                                                 interrupt, saved_at):
    path = tmp_path / "run.json"
    assert arb_reference.final.backend == "arb"
    saved, resumed = interrupted_then_resumed(ARB_RUN, path, **interrupt)
    assert saved == saved_at
    assert_same_trajectory(resumed, arb_reference)


def test_run_in_multiprecision_from_the_start_interrupted_and_resumed_is_identical(tmp_path):
    """backend="arb": sigma_0 comes from an arb evaluation (a ball, whose midpoint the
    snapshot keeps); interrupted in the main run and in the control run."""
    case = (datasets.two_points, "-2", {"backend": "arb"})
    reference = solve(case)
    for interrupt in ({"main": 20}, {"control": 40}):
        path = tmp_path / f"run{len(interrupt)}{list(interrupt)[0]}.json"
        saved, resumed = interrupted_then_resumed(case, path, **interrupt)
        assert saved[1] == "arb"
        assert_same_trajectory(resumed, reference)


@pytest.mark.parametrize("case", [
    (datasets.two_points, "-50", {"max_steps": 300}),  # stops early: final is no checkpoint
    (datasets.two_points, None, {"t": "1e40", "checkpoint_times": [10, "1e20"],
                                 "checkpoints": [-5]}),
], ids=["max-steps", "times"])
@pytest.mark.parametrize("interrupt", [{"main": 2}, {"control": 2}])
def test_early_stops_and_time_levels_resume_identically(tmp_path, case, interrupt):
    reference = solve(case)
    saved, resumed = interrupted_then_resumed(case, tmp_path / "run.json", **interrupt)
    assert saved[0] == list(interrupt)[0]
    assert_same_trajectory(resumed, reference)


def test_resumed_twice_is_identical(arb_reference, tmp_path):
    """Interrupted in the main run, resumed, interrupted again in the control run."""
    path = tmp_path / "run.json"
    with pytest.raises(KeyboardInterrupt):
        solve(ARB_RUN, checkpoint_path=path, progress=InterruptAt(main=4))
    with pytest.raises(KeyboardInterrupt):
        solve(ARB_RUN, checkpoint_path=path, resume=path, progress=InterruptAt(control=5))
    assert_same_trajectory(solve(ARB_RUN, checkpoint_path=path, resume=path), arb_reference)


def test_restart_points_change_no_number(arb_reference, monkeypatch):
    """The snapshot holds the integrators' whole state between steps: restarting from it
    after every multiprecision step, or only at landings, gives the same trajectory (and
    the same as every 4 steps, the reference)."""
    for every in (1, 10**9):
        monkeypatch.setattr(driver, "RESTART_STEPS", every)
        trajectory = solve(ARB_RUN)
        assert_same_trajectory(dataclasses.replace(trajectory, stats=arb_reference.stats),
                               arb_reference)
        # only the count of model evaluations differs: one per restart
        assert trajectory.stats["jacobians"] == arb_reference.stats["jacobians"]


def test_writing_at_every_restart_point_changes_nothing(arb_reference, tmp_path, monkeypatch):
    """checkpoint_seconds tiny and no spacing: every restart point is written (timing decides
    only which points are written, never the computation)."""
    writes, restarts = [], []
    write, restart = resume.CheckpointWriter._write_document, driver._restart

    def counted_write(self, *args):
        writes.append(1)
        write(self, *args)

    def counted_restart(*args):
        restarts.append(1)
        restart(*args)

    monkeypatch.setattr(resume, "WRITE_SPACING", 0.0)
    monkeypatch.setattr(resume.CheckpointWriter, "_write_document", counted_write)
    monkeypatch.setattr(driver, "_restart", counted_restart)
    path = tmp_path / "run.json"
    trajectory = solve(ARB_RUN, checkpoint_path=path, checkpoint_seconds=1e-9)
    assert len(restarts) > 20 and len(writes) == len(restarts) + 1  # and the finished run
    assert_same_trajectory(trajectory, arb_reference)


def test_writes_follow_checkpoint_states_and_spacing(tmp_path, monkeypatch):
    """Every recorded State is written, spaced by WRITE_SPACING times the last write."""
    clock = iter(np.arange(0.0, 1e6, 1.0))  # 1 s per clock reading: every write is due
    monkeypatch.setattr(resume.time, "monotonic", lambda: next(clock))
    path = tmp_path / "run.json"
    seen = []
    original = resume.CheckpointWriter._write_document

    def recording(self, trajectory, entry, slots):
        seen.append((entry["phase"], len(trajectory.checkpoints)))
        original(self, trajectory, entry, slots)

    monkeypatch.setattr(resume.CheckpointWriter, "_write_document", recording)
    monkeypatch.setattr(resume, "WRITE_SPACING", 0.5)  # writes take 1 clock tick here
    solve(FLOAT64_RUN, checkpoint_path=path, checkpoint_seconds=1e9)
    # the start, then each of the 6 decades -1, ..., -1e5 (the stop -1e6 ends the main run);
    # the control run: its start and each of the 6 levels before the last; the trajectory
    assert seen == ([("main", k) for k in range(7)] + [("control", 7)] * 7
                    + [("finished", 7)])


def test_ctrl_c_inside_a_float64_kernel_is_a_keyboard_interrupt():
    """SIGINT while a Numba kernel runs (one call of about 2 s at N = 120, d = 200) reaches
    the caller as KeyboardInterrupt, which solve handles (Numba reports the pending interrupt
    as a SystemError caused by it)."""
    problem = datasets.sparse_teacher(n_samples=120, n_features=200)
    integrator = Float64Integrator(problem, 1e-10)
    armed = threading.Event()  # a late signal must not stop the test session

    def handler(signum, frame):
        if armed.is_set():
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    try:
        armed.set()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            integrator.advance(LossLevel.parse("-1e300"), None, 2048)  # one kernel call
    finally:
        armed.clear()
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert integrator.n_steps == 0  # raised out of the kernel call, not after it


# -- files --------------------------------------------------------------------------------------

@given(st.integers(-(2**700), 2**700), st.integers(-10**6, 10**6))
def test_arb_midpoints_round_trip_exactly(man, exp):
    value = arb((man, exp))
    text = resume._encode_arb(value)
    with ctx.workprec(53):  # exact whatever the working precision
        back = resume._decode_arb(text, "x")
    assert back == value and back.rad() == 0
    assert json.loads(json.dumps(text)) == text


@pytest.mark.parametrize("special", [arb.pos_inf(), arb.neg_inf()])
def test_arb_infinities_round_trip(special):
    assert resume._decode_arb(resume._encode_arb(special), "x") == special


@given(st.floats(allow_nan=False))
def test_floats_round_trip_exactly(value):
    assert resume._decode_float(resume._encode_float(value), "x") == value


def test_multiprecision_snapshot_round_trips_and_continues_identically(tmp_path):
    """Snapshot of an arb integrator after a precision raise, through JSON text and back:
    every value is equal, and both integrators take the same next steps."""
    problem = datasets.two_points()
    original = MultiprecisionIntegrator.from_rest(problem, 1e-10, 1e-3)
    original.advance(LossLevel.parse("-1e20"), None, 30)
    snapshot = original.snapshot()
    assert len(snapshot["bits_used"]) >= 1 and snapshot["last_step"] is not None
    text = json.dumps(resume.encode_snapshot("arb", snapshot))
    backend, back = resume.decode_snapshot(json.loads(text), problem.n_samples)
    assert backend == "arb"
    assert set(back) == set(snapshot)
    for key, value in snapshot.items():  # arb == arb: the same exact point
        if key in ("history", "last_step"):
            steps, steps_back = (value, back[key]) if key == "history" else ([value],
                                                                             [back[key]])
            assert len(steps) == len(steps_back) and all(
                vars(s) == vars(t) for s, t in zip(steps, steps_back)), key
        else:
            assert value == back[key], key
    resumed = MultiprecisionIntegrator.resumed(problem, 1e-10, back)
    original.restore(snapshot)
    for integrator in (original, resumed):
        integrator.advance(LossLevel.parse("-1e30"), None, 5)
    assert original.n_steps == resumed.n_steps
    assert all(a == b for a, b in zip(original.solver.y, resumed.solver.y))
    assert original.solver.h_abs == resumed.solver.h_abs


def test_file_is_a_results_file_with_versioned_resume_data(tmp_path):
    path = tmp_path / "run.json"
    with pytest.raises(KeyboardInterrupt):
        solve(ARB_RUN, checkpoint_path=path, progress=InterruptAt(main=4))
    document = json.loads(path.read_text())
    entry = document["resume"]
    assert (entry["format"], entry["format_version"]) == ("extprec-resume", 1)
    assert entry["arguments"]["rtol"] == (1e-10).hex() and entry["phase"] == "main"
    assert entry["main"]["integrator"]["backend"] == "arb"
    assert len(entry["checksum"]) == 64
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary file
    # a write killed before its rename leaves one; the finished run removes it
    leftover = tmp_path / f".run.json.{'0' * 32}.tmp"
    leftover.write_text('{"partial')
    other = tmp_path / ".other.json.tmp"
    other.write_text("")
    solve(ARB_RUN, checkpoint_path=path, resume=path)
    assert not leftover.exists() and other.exists()


def test_finished_run_is_returned_without_computing(float64_reference, tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    solve(FLOAT64_RUN, checkpoint_path=path)

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was computed again")

    monkeypatch.setattr(driver, "_solve", fail)
    monkeypatch.setattr(driver, "_first_integrator", fail)
    assert_same_trajectory(solve(FLOAT64_RUN, resume=path), float64_reference)


def test_state_at_of_a_resumed_trajectory(arb_reference, tmp_path):
    path = tmp_path / "run.json"
    with pytest.raises(KeyboardInterrupt):
        solve(ARB_RUN, checkpoint_path=path, progress=InterruptAt(main=4))
    resumed = solve(ARB_RUN, resume=path)
    assert_same_state(resumed.state_at(log10_loss="-1e28"),
                      arb_reference.state_at(log10_loss="-1e28"))
    with pytest.raises(ValueError, match="before it was resumed .*solve again without"):
        resumed.state_at(log10_loss=-5)


# -- refused files ----------------------------------------------------------------------------

@pytest.fixture()
def interrupted_file(tmp_path):
    path = tmp_path / "run.json"
    with pytest.raises(KeyboardInterrupt):
        solve(FLOAT64_RUN, checkpoint_path=path, progress=InterruptAt(main=3))
    return path


@pytest.mark.parametrize("change, named", [
    ({"problem": datasets.default_problem(alpha="1e-3")}, r"alpha = 1\.0 in the file, 0\.001"),
    ({"problem": datasets.default_problem(depth=3)}, "depth = 2 in the file, 3 here"),
    ({"problem": datasets.sparse_teacher(seed=1)}, "the data X differ"),
    ({"rtol": 1e-9}, r"rtol = 1e-10 in the file, 1e-09 here"),
    ({"log10_loss": "-1e7"}, r"log10_loss = log10 loss -1e6 in the file, log10 loss -1e7"),
    ({"checkpoints": [-1, -10]}, "checkpoints = none in the file"),
    ({"verify": False}, "verify = True in the file, False here"),
])
def test_other_problem_or_arguments_are_refused(interrupted_file, change, named):
    kwargs = {"problem": datasets.default_problem(), "log10_loss": "-1e6", **change}
    with pytest.raises(resume.ResumeError, match=named) as info:
        extprec.solve(kwargs.pop("problem"), kwargs.pop("log10_loss"), resume=interrupted_file,
                      **kwargs)
    assert "pass the problem and arguments of that run" in str(info.value)


def test_other_library_versions_are_refused(interrupted_file, monkeypatch):
    versions = results_io._versions()
    monkeypatch.setattr(results_io, "_versions", lambda: {**versions, "numpy": "0.0.1"})
    with pytest.raises(resume.ResumeError, match=r"numpy .* \(here 0\.0\.1\).*bit-identical"):
        solve(FLOAT64_RUN, resume=interrupted_file)


def test_truncated_file_is_refused(interrupted_file):
    data = interrupted_file.read_bytes()
    interrupted_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(resume.ResumeError, match="not valid JSON.*truncated.*restore a copy"):
        solve(FLOAT64_RUN, resume=interrupted_file)


def test_edited_file_fails_its_checksum(interrupted_file):
    document = json.loads(interrupted_file.read_text())
    y = document["resume"]["main"]["integrator"]["y"]
    y[0] = (float.fromhex(y[0]) * (1 + 2**-52)).hex()
    interrupted_file.write_text(json.dumps(document))
    with pytest.raises(resume.ResumeError, match="checksum does not match"):
        solve(FLOAT64_RUN, resume=interrupted_file)


def test_malformed_resume_data_are_refused_by_name(interrupted_file):
    """A structural defect behind a valid checksum (as a buggy writer would make) is named."""
    document = json.loads(interrupted_file.read_text())
    del document["resume"]["main"]["integrator"]["h"]
    document["resume"]["checksum"] = ""
    text = resume._canonical(document)
    document["resume"]["checksum"] = resume.hashlib.sha256(text.encode()).hexdigest()
    interrupted_file.write_text(json.dumps(document))
    with pytest.raises(resume.ResumeError, match=r"resume\.main\.integrator\.h is missing"):
        solve(FLOAT64_RUN, resume=interrupted_file)


def test_files_without_resume_data_are_refused(float64_reference, tmp_path):
    plain = tmp_path / "plain.json"
    extprec.save(float64_reference, plain)
    with pytest.raises(resume.ResumeError, match="without resume data.*checkpoint_path"):
        solve(FLOAT64_RUN, resume=plain)
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    with pytest.raises(resume.ResumeError, match="not an extprec results file"):
        solve(FLOAT64_RUN, resume=other)
    with pytest.raises(FileNotFoundError, match="no such file"):
        solve(FLOAT64_RUN, resume=tmp_path / "missing.json")


def test_unfinished_progress_is_not_overwritten(interrupted_file, tmp_path):
    with pytest.raises(ValueError, match="holds the saved progress of an unfinished run"):
        solve(FLOAT64_RUN, checkpoint_path=interrupted_file)
    with pytest.raises(ValueError, match="directory"):
        solve(FLOAT64_RUN, checkpoint_path=tmp_path)
    with pytest.raises(ValueError, match="checkpoint_seconds"):
        solve(FLOAT64_RUN, checkpoint_path=tmp_path / "x.json", checkpoint_seconds=0)


# -- the command line, in real processes -------------------------------------------------------

CLI_RUN = ["run", "--dataset", "two_points", "--log10-loss", "-1e100",
           "--checkpoints", "-10,-1e10,-1e20,-1e40,-1e60,-1e80", "--no-progress"]
CLI_CASE = (datasets.two_points, "-1e100",
            {"checkpoints": ["-10", "-1e10", "-1e20", "-1e40", "-1e60", "-1e80"]})
# The child restores Python's SIGINT handler: a shell starts background jobs with SIGINT
# ignored, and Python then keeps ignoring it.
CHILD = textwrap.dedent("""
    import signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from extprec.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def start_cli(*argv):
    return subprocess.Popen([sys.executable, "-c", CHILD, *argv], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_progress(process, path, records=2, timeout=120):
    """Wait until the file shows a run in progress with ``records`` checkpoints, or its
    control run; returns the phase."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists():
            document = json.loads(path.read_text())
            phase = document["resume"]["phase"]
            if phase == "control" or (phase == "main" and len(document["checkpoints"]) >= records):
                return phase
        time.sleep(0.01)
    raise AssertionError(f"the run ended (code {process.poll()}) before it could be stopped")


def test_cli_killed_with_sigkill_then_resumed_is_identical(tmp_path):
    path = tmp_path / "run.json"
    process = start_cli(*CLI_RUN, "--out", str(path))
    wait_for_progress(process, path)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert extprec.load(path).status == resume.STATUS_IN_PROGRESS  # the last complete write
    resumed = subprocess.run([sys.executable, "-c", CHILD, "run", "--resume", str(path),
                              "--no-progress"], cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "problem: the run saved in" in resumed.stdout and "status: reached" in resumed.stdout
    result = extprec.load(path)
    assert "cost" in result.stats
    result.stats.pop("cost")
    assert_same_trajectory(result, solve(CLI_CASE))


def test_cli_interrupted_with_sigint_saves_and_says_how_to_resume(tmp_path):
    path = tmp_path / "run.json"
    process = start_cli(*CLI_RUN, "--out", str(path))
    wait_for_progress(process, path)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == (f"extprec: error: interrupted; progress saved in "
                                             f"{path}: continue with 'extprec run --resume "
                                             f"{path}'")
    assert extprec.load(path).status == resume.STATUS_IN_PROGRESS


def cli(capsys, *argv):
    code = extprec.cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_resume_checks_explicit_options_and_returns_finished_runs(capsys, tmp_path,
                                                                      monkeypatch):
    path = tmp_path / "run.json"
    argv = ["run", "--dataset", "two_points", "--log10-loss", "-20", "--no-progress"]
    code, out, err = cli(capsys, *argv, "--out", str(path))
    assert code == 0, err
    first = extprec.load(path)
    # the same options again are fine; another alpha is named, with the fix
    code, out, err = cli(capsys, *argv, "--alpha", "0.5", "--resume", str(path))
    assert code == 2 and "alpha = 1.0 in the file, 0.5 here" in err
    assert "pass the problem and arguments of that run" in err

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was computed again")

    monkeypatch.setattr(driver, "_solve", fail)
    code, out, err = cli(capsys, *argv, "--resume", str(path))
    assert code == 0, err
    code, out, err = cli(capsys, "run", "--resume", str(path), "--no-progress")
    assert code == 0 and "problem: the run saved in" in out and "status: reached" in out
    again = extprec.load(path)
    assert_same_trajectory(again, first)  # the cost log of the computed run is kept
    code, out, err = cli(capsys, "run", "--resume", str(tmp_path / "none.json"))
    assert code == 2 and "argument --resume: no such file" in err


def test_cli_refuses_to_overwrite_unfinished_progress(capsys, interrupted_file):
    code, out, err = cli(capsys, "run", "--log10-loss", "-1e6", "--out", str(interrupted_file))
    assert code == 2 and "holds the saved progress of an unfinished run" in err
    assert f"extprec run --resume {interrupted_file}" in err


def test_cli_help_explains_out_and_resume(capsys):
    code, out, err = cli(capsys, "run", "--help")
    assert code == 0
    assert "--resume PATH" in out and "saving progress and resuming" in out
    assert "kept up to date as the run goes" in " ".join(out.split())


# -- a time budget ----------------------------------------------------------------------------

class StepClock:
    """A stand-in for the driver's ``time`` module whose clock advances one second per
    reading, so that ``max_seconds`` runs out at a fixed point of the run (the driver reads it
    once at the start and once per pass of its loop)."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        self.now += 1.0
        return self.now


@pytest.mark.parametrize("seconds, phase", [(3, "main"), (20, "control")])
def test_time_limit_stops_resumably_and_the_resumed_run_is_identical(arb_reference, tmp_path,
                                                                    monkeypatch, seconds,
                                                                    phase):
    """``max_seconds`` running out in the main run (after 3 passes) or in the control run
    (after 20): status "time limit", a message naming max_seconds and resume, no State
    claiming checked digits the control run did not check, the file left unfinished in that
    phase; resuming it (without a limit) ends identical to the uninterrupted run."""
    path = tmp_path / "run.json"
    monkeypatch.setattr(driver, "time", StepClock())
    limited = solve(ARB_RUN, checkpoint_path=path, max_seconds=seconds)
    monkeypatch.undo()
    assert limited.status == "time limit"
    assert "max_seconds" in limited.message and "resume=PATH" in limited.message
    states = list(limited.checkpoints) + [limited.final]
    assert all(mpmath.isfinite(v) for s in states for v in s.beta_normalized)
    checked = [s.evidence.verified for s in limited.checkpoints]
    assert checked == sorted(checked, reverse=True) and not checked[-1]  # checked, then not
    assert all("time limit" in s.evidence.note for s in states if not s.evidence.verified)
    if phase == "main":
        assert float(limited.final.log10_loss) > -1e30
    assert json.loads(path.read_text())["resume"]["phase"] == phase
    assert_same_trajectory(solve(ARB_RUN, checkpoint_path=path, resume=path), arb_reference)


def test_cli_time_limit_then_resume(tmp_path, monkeypatch, capsys):
    """``extprec run --max-seconds`` running out: exit 0, status "time limit" and how to
    resume; ``extprec run --resume`` then finishes the run (status "reached")."""
    path = tmp_path / "run.json"
    argv = ["run", "--dataset", "two_points", "--log10-loss", "-1e30", "--no-progress"]
    monkeypatch.setattr(driver, "time", StepClock())
    assert extprec.cli.main(argv + ["--max-seconds", "3", "--out", str(path)]) == 0
    monkeypatch.undo()
    out = capsys.readouterr().out
    assert "status: time limit" in out
    assert f"continue with 'extprec run --resume {path}'" in out
    assert extprec.cli.main(["run", "--resume", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "status: reached" in out and f"results: {path}" in out


def test_time_limit_already_passed_still_takes_one_pass():
    """A budget that has run out before the first step: the run makes one pass of its loop
    (the state at t = 0 has beta = 0, so beta / min margin would be 0/0) and stops there with
    a State whose every value is finite."""
    trajectory = extprec.solve(datasets.default_problem(), "-1e100", max_seconds=1e-9)
    assert trajectory.status == "time limit" and trajectory.n_steps > 0
    final = trajectory.final
    assert final.min_margin > 0
    assert all(mpmath.isfinite(v) for v in final.beta_normalized)
    assert not final.evidence.verified and "time limit" in final.evidence.note
