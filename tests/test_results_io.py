"""Results files (``extprec.results_io``, format "extprec-results" version 1): exact round trips,
deterministic bytes, atomic writes, and clear ValueErrors for files that are not results files.
"""

import builtins
import dataclasses
import json
import os
import pickle
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from mpmath import libmp

import extprec
from extprec import results_io
from extprec.trajectory import Trajectory

SCALARS = ("log10_loss", "sigma", "tau", "log10_t", "min_margin")
VECTORS = ("nu", "beta", "w_plus", "w_minus", "margins", "beta_normalized")


# -- trajectories (computed once per module) ----------------------------------------------------

@pytest.fixture(scope="module")
def float64_run():
    return extprec.solve(extprec.datasets.two_points(), log10_loss=-5)


@pytest.fixture(scope="module")
def multiprecision_run():
    return extprec.solve(extprec.datasets.two_points(), log10_loss="-1e30",
                         checkpoints=[-10, "-1e20"])


@pytest.fixture(scope="module")
def custom_problem_run():
    problem = extprec.datasets.two_points(alpha="1e-400", shape=([1.0, 0.25], [0.5, 3.0]),
                                          loss="logistic", reduction="mean")
    return extprec.solve(problem, log10_loss=-8)


@pytest.fixture(scope="module")
def unfinished_run():
    """Stopped by max_steps: ``final`` is not one of the checkpoints."""
    return extprec.solve(extprec.datasets.two_points(), log10_loss=-50, max_steps=30)


@pytest.fixture(scope="module")
def extreme_run(multiprecision_run):
    """States with log10_t = -inf, NaN entries, and exponents far beyond float64 and beyond
    mpmath's own exp range (beta ~ 10^(10^99), sigma = 2.3e100, log10_t = 1e100)."""
    ctx = mpmath.MPContext()
    ctx.prec = 400
    last = multiprecision_run.checkpoints[-1]
    huge = ctx.make_mpf((0, libmp.MPZ(0xB5F3C1D), 3 * 10**99, 28))
    tiny = ctx.make_mpf((1, libmp.MPZ(0x1D), -(10**120), 5))
    at_zero = dataclasses.replace(multiprecision_run.checkpoints[0], log10_t=ctx.ninf)
    far = dataclasses.replace(
        last, sigma=ctx.mpf("2.3e100"), log10_t=ctx.mpf("1e100"), log10_loss=-ctx.mpf("1e100"),
        beta=np.array([huge, tiny], dtype=object),
        beta_normalized=np.array([ctx.nan, ctx.inf], dtype=object),
        tau=ctx.zero, precision_bits=400)
    return dataclasses.replace(multiprecision_run, checkpoints=[at_zero, far], final=far,
                               _segments=[])


@pytest.fixture(scope="module")
def huge_alpha_run(float64_run):
    """alpha = 1e-5000: numerator/denominator beyond Python's int/str digit limit."""
    problem = extprec.datasets.two_points(alpha="1e-5000")
    return dataclasses.replace(float64_run, problem=problem, _segments=[])


RUNS = ("float64_run", "multiprecision_run", "custom_problem_run", "unfinished_run",
        "extreme_run", "huge_alpha_run")


def assert_same_state(a, b):
    for name in SCALARS:
        x, y = getattr(a, name), getattr(b, name)
        assert type(y).__name__ == "mpf"
        assert x._mpf_ == y._mpf_, name
        if not mpmath.isnan(x):
            assert x == y, name
    for name in VECTORS:
        xs, ys = getattr(a, name), getattr(b, name)
        assert isinstance(ys, np.ndarray) and ys.dtype == object and ys.shape == xs.shape
        for x, y in zip(xs, ys):
            assert x._mpf_ == y._mpf_, name
            if not mpmath.isnan(x):
                assert x == y, name
    assert (a.digits, a.precision_bits, a.backend) == (b.digits, b.precision_bits, b.backend)
    assert a.ell == b.ell and type(b.ell) is float
    assert a.sigma.context.prec == b.sigma.context.prec  # same working precision


def assert_same_problem(p, q):
    assert isinstance(q, extprec.Problem)
    for name in ("X", "y", "u_plus", "u_minus", "signed_X"):
        x, y = getattr(p, name), getattr(q, name)
        assert y.dtype == np.float64 and x.shape == y.shape
        assert x.tobytes() == y.tobytes(), name  # bit for bit
    assert q.alpha_exact == p.alpha_exact and type(q.alpha_exact) is Fraction
    assert q.log_alpha == p.log_alpha
    assert (q.depth, q.loss, q.reduction) == (p.depth, p.loss, p.reduction)
    assert q.balanced_shape == p.balanced_shape


def assert_same_trajectory(t, u):
    assert isinstance(u, Trajectory)
    assert_same_problem(t.problem, u.problem)
    assert len(t.checkpoints) == len(u.checkpoints)
    for a, b in zip(t.checkpoints, u.checkpoints):
        assert_same_state(a, b)
    assert_same_state(t.final, u.final)
    final_index = [i for i, s in enumerate(t.checkpoints) if s is t.final]
    assert [i for i, s in enumerate(u.checkpoints) if s is u.final] == final_index
    assert (u.status, u.message, u.n_steps, u.rtol) == (t.status, t.message, t.n_steps, t.rtol)
    assert u.stats == t.stats
    assert u._segments == []


# -- round trips -------------------------------------------------------------------------------

def test_round_trip_float64_run(float64_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(float64_run, path)
    loaded = results_io.load(path)
    assert_same_trajectory(float64_run, loaded)
    assert loaded.final is loaded.checkpoints[-1]
    assert {s.backend for s in loaded.checkpoints} == {"float64"}


def test_round_trip_multiprecision_run(multiprecision_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(multiprecision_run, str(path))
    loaded = results_io.load(str(path))
    assert_same_trajectory(multiprecision_run, loaded)
    assert loaded.final.precision_bits > 53 and loaded.final.sigma > mpmath.mpf("1e30")
    assert loaded.stats["segments"][-1][0] == loaded.final.backend  # tuples restored


def test_round_trip_alpha_string_unbalanced_shape_logistic_mean(custom_problem_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(custom_problem_run, path)
    loaded = results_io.load(path)
    assert_same_trajectory(custom_problem_run, loaded)
    problem = loaded.problem
    assert problem.alpha_exact == Fraction(1, 10**400)
    assert not problem.balanced_shape
    assert problem.u_plus.tolist() == [1.0, 0.25] and problem.u_minus.tolist() == [0.5, 3.0]
    assert (problem.loss, problem.reduction) == ("logistic", "mean")


def test_round_trip_final_not_a_checkpoint(unfinished_run, tmp_path):
    assert not any(s is unfinished_run.final for s in unfinished_run.checkpoints)
    path = tmp_path / "run.json"
    results_io.save(unfinished_run, path)
    loaded = results_io.load(path)
    assert_same_trajectory(unfinished_run, loaded)
    assert json.loads(path.read_text())["final"].keys() == {"state"}


def test_round_trip_infinities_nan_and_huge_exponents(extreme_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(extreme_run, path)
    loaded = results_io.load(path)
    assert_same_trajectory(extreme_run, loaded)
    assert loaded.checkpoints[0].log10_t == mpmath.ninf
    assert loaded.final.beta[0]._mpf_[2] == 3 * 10**99
    assert mpmath.isnan(loaded.final.beta_normalized[0])
    exact = json.loads(path.read_text())["checkpoints"][0]["exact"]
    assert exact["log10_t"] == "-inf"


def test_round_trip_alpha_beyond_int_digit_limit(huge_alpha_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(huge_alpha_run, path)
    loaded = results_io.load(path)
    assert loaded.problem.alpha_exact == Fraction(1, 10**5000)
    alpha = json.loads(path.read_text())["problem"]["alpha"]
    assert alpha["numerator"] == "1" and alpha["denominator"] == "1" + "0" * 5000


@pytest.mark.parametrize("run", RUNS)
def test_resave_is_byte_identical(run, request, tmp_path):
    trajectory = request.getfixturevalue(run)
    first, second, third = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    results_io.save(trajectory, first)
    results_io.save(results_io.load(first), second)
    results_io.save(trajectory, third)
    assert first.read_bytes() == second.read_bytes() == third.read_bytes()


def test_file_contents_and_metadata(custom_problem_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(custom_problem_run, path)
    raw = path.read_bytes()
    raw.decode("utf-8")
    doc = json.loads(raw)
    assert doc["format"] == "extprec-results" and doc["format_version"] == 1
    assert doc["versions"]["extprec"] == extprec.__version__
    assert set(doc["versions"]) >= {"python", "numpy", "scipy", "mpmath", "numba", "python-flint"}
    problem = doc["problem"]
    assert problem["X"][0] == [(1.0).hex(), (0.5).hex()]
    assert problem["alpha"]["numerator"] == "1"
    assert problem["alpha"]["denominator"] == "1" + "0" * 400
    assert problem["shape"]["u_minus"] == [(0.5).hex(), (3.0).hex()]
    assert (problem["depth"], problem["loss"], problem["reduction"]) == (2, "logistic", "mean")
    state = doc["checkpoints"][-1]
    assert set(state["exact"]) == set(SCALARS + VECTORS) == set(state["decimal"])
    assert float(state["decimal"]["log10_loss"]) == pytest.approx(-8.0)
    assert doc["stats"] == json.loads(json.dumps(custom_problem_run.stats))
    assert doc["rtol"] == custom_problem_run.rtol


def test_write_is_atomic(float64_run, multiprecision_run, tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    results_io.save(float64_run, path)
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(results_io.os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        results_io.save(multiprecision_run, path)
    assert path.read_bytes() == before  # the old file is intact
    assert os.listdir(tmp_path) == ["run.json"]  # and no temporary file is left
    monkeypatch.undo()
    results_io.save(multiprecision_run, path)
    assert os.listdir(tmp_path) == ["run.json"]
    assert results_io.load(path).final.backend == multiprecision_run.final.backend


def test_save_rejects_non_trajectory(tmp_path):
    with pytest.raises(TypeError, match="Trajectory"):
        results_io.save({"not": "a trajectory"}, tmp_path / "x.json")
    assert not os.listdir(tmp_path)


# -- state_at on a loaded trajectory ------------------------------------------------------------

def test_state_at_on_loaded_trajectory_raises_value_error(float64_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(float64_run, path)
    loaded = results_io.load(path)
    with pytest.raises(ValueError):
        loaded.state_at(log10_loss=-3)  # inside the integrated range, but no segments stored
    with pytest.raises(ValueError):
        loaded.state_at(t=1.0)


def test_state_at_on_loaded_trajectory_message_is_clear(float64_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(float64_run, path)
    with pytest.raises(ValueError) as info:
        results_io.load(path).state_at(log10_loss=-3)
    assert "not kept in results files" in str(info.value)
    assert "solve the problem again" in str(info.value)


# -- files that are not valid results files -----------------------------------------------------

def load_error(path):
    with pytest.raises(ValueError) as info:
        results_io.load(path)
    message = str(info.value)
    assert str(path) in message  # names the file
    return message


def test_truncated_file(float64_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(float64_run, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 3, 1):
        path.write_bytes(data[:cut])
        message = load_error(path)
        assert "not valid JSON" in message and "truncated" in message


@pytest.mark.parametrize("document", [{"hello": 1}, [1, 2, 3], "extprec-results", None,
                                      {"format": "something-else", "format_version": 1}])
def test_foreign_json(document, tmp_path):
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(document))
    message = load_error(path)
    assert "not" in message and "extprec.save" in message


def test_newer_format_version(float64_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(float64_run, path)
    doc = json.loads(path.read_text())
    doc["format_version"] = results_io.FORMAT_VERSION + 1
    path.write_text(json.dumps(doc))
    message = load_error(path)
    assert "newer" in message and "upgrade extprec" in message


@pytest.mark.parametrize("content,problem", [
    (b"\x00\x01\x02binary\xff\xfe", "not a UTF-8 text file"),
    (b"X,y\n1,2\n", "not a JSON file"),
    (b"", "not a JSON file"),
    (b"NaN", "non-standard JSON constant NaN"),
    (b"{\"format\": NaN}", "non-standard JSON constant NaN"),
])
def test_not_json(content, problem, tmp_path):
    """Binary, CSV, empty and NaN-bearing files are refused with a message naming the file,
    what is wrong with it and that results files come from extprec.save."""
    path = tmp_path / "data.json"
    path.write_bytes(content)
    message = load_error(path)
    assert problem in message
    assert "extprec.save" in message


def _corruptions():
    def delete(*keys):
        def apply(doc):
            target = doc
            for key in keys[:-1]:
                target = target[key]
            del target[keys[-1]]
        return apply

    def set_(value, *keys):
        def apply(doc):
            target = doc
            for key in keys[:-1]:
                target = target[key]
            target[keys[-1]] = value
        return apply

    return {
        "missing problem": delete("problem"),
        "missing checkpoints": delete("checkpoints"),
        "missing state field": delete("checkpoints", 0, "exact", "sigma"),
        "missing digits": delete("checkpoints", 0, "digits"),
        "n_steps a string": set_("many", "n_steps"),
        "n_steps a bool": set_(True, "n_steps"),
        "rtol a list": set_([1e-10], "rtol"),
        "status a number": set_(3, "status"),
        "mpf a float": set_(1.5, "checkpoints", 0, "exact", "sigma"),
        "mpf a decimal string": set_("1.5", "checkpoints", 0, "exact", "sigma"),
        "mpf an expression": set_("__import__('os').getcwd()", "checkpoints", 0, "exact", "tau"),
        "vector too short": set_(["0x1p0"], "checkpoints", 0, "exact", "beta"),
        "vector entry a number": set_([1, 2], "checkpoints", 0, "exact", "nu"),
        "final index out of range": set_({"checkpoint": 99}, "final"),
        "final bad keys": set_({"index": 0}, "final"),
        "X not hex": set_([["1.0", "0.5"], ["0.9", "1.0"]], "problem", "X"),
        "X ragged": set_([[(1.0).hex()], [(0.9).hex(), (1.0).hex()]], "problem", "X"),
        "labels invalid": set_([(2.0).hex(), (1.0).hex()], "problem", "y"),
        "alpha negative": set_("-1", "problem", "alpha", "numerator"),
        "alpha zero denominator": set_("0", "problem", "alpha", "denominator"),
        "alpha a float": set_(0.5, "problem", "alpha", "numerator"),
        "format_version a string": set_("1", "format_version"),
        "checkpoints an object": set_({}, "checkpoints"),
        "state not an object": set_(["x"], "checkpoints"),
    }


@pytest.mark.parametrize("name", sorted(_corruptions()))
def test_corrupted_document(name, float64_run, tmp_path):
    path = tmp_path / "run.json"
    results_io.save(float64_run, path)
    doc = json.loads(path.read_text())
    _corruptions()[name](doc)
    path.write_text(json.dumps(doc))
    message = load_error(path)
    assert "extprec.save" in message or "upgrade" in message


def test_duplicate_keys_rejected(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"format": "extprec-results", "format": "extprec-results"}')
    assert "duplicate" in load_error(path)


# -- nothing in the loader executes code --------------------------------------------------------

class _Payload:
    def __reduce__(self):
        return (exec, ("import builtins; builtins._extprec_results_io_pwned = True",))


def test_pickle_payload_is_rejected(float64_run, tmp_path):
    payload = pickle.dumps(_Payload())
    raw = tmp_path / "payload.pkl"
    raw.write_bytes(payload)
    load_error(raw)
    # The payload as a string in the places a number, the problem or a state belongs.
    path = tmp_path / "run.json"
    results_io.save(float64_run, path)
    for where in ("sigma", "problem", "state"):
        doc = json.loads(path.read_text())
        text = payload.decode("latin-1")
        if where == "sigma":
            doc["checkpoints"][0]["exact"]["sigma"] = text
        elif where == "problem":
            doc["problem"] = text
        else:
            doc["final"] = {"state": text}
        target = tmp_path / f"payload-{where}.json"
        target.write_text(json.dumps(doc))
        load_error(target)
    assert not hasattr(builtins, "_extprec_results_io_pwned")


def test_loader_never_unpickles_or_evaluates(multiprecision_run, tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    results_io.save(multiprecision_run, path)

    def forbidden(*args, **kwargs):
        raise AssertionError("the loader must not unpickle or evaluate")

    for module, name in ((pickle, "loads"), (pickle, "load"), (pickle, "Unpickler"),
                         (builtins, "eval"), (builtins, "exec"), (builtins, "compile")):
        monkeypatch.setattr(module, name, forbidden)
    loaded = results_io.load(path)
    monkeypatch.undo()
    assert_same_trajectory(multiprecision_run, loaded)
