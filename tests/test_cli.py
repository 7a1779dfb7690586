"""The ``extprec`` command line: ``run`` on every problem source, invalid input, ``info``."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import extprec
from extprec.cli import main, parse_params, top_entries

ROW = re.compile(r"^\s*(\d+|final)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(.*)$")
REPO = Path(__file__).resolve().parent.parent


def run(capsys, *argv):
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out):
    """The parsed rows of the checkpoint table: (label, log10 loss, ..., entries)."""
    rows = [ROW.match(line) for line in out.splitlines()]
    return [row.groups() for row in rows if row and row.group(6) == "float64"]


def test_run_default_problem_to_level(capsys):
    code, out, err = run(capsys, "--log10-loss", "-20")
    assert code == 0, err
    assert "N = 20 samples, d = 50 features, depth D = 2" in out
    assert "linearly separable" in out
    rows = table_rows(out)
    # every decade of log10(1/L) below the stop (-1, -10), then the stop itself
    assert [row[0] for row in rows] == [str(i) for i in range(1, len(rows) + 1)]
    assert len(rows) == 3
    assert float(rows[-1][1]) == -20.0
    levels = [float(row[1]) for row in rows]
    assert levels == sorted(levels, reverse=True)
    entries = rows[-1][8].split()
    assert len(entries) == 3 and all(re.fullmatch(r"\d+:-?[\d.e+-]+", e) for e in entries)
    assert "status: reached" in out


def test_run_explicit_checkpoints_and_time_stop(capsys):
    code, out, err = run(capsys, "--checkpoints", "-1,-2.5", "--t", "1e5")
    assert code == 0, err
    rows = table_rows(out)
    assert [float(row[1]) for row in rows[:2]] == [-1.0, -2.5]
    assert float(rows[-1][3]) == 5.0  # log10 t of the stop
    assert "status: reached" in out and "t = 1e5" in out


def test_run_exponent_levels_are_values_not_options(capsys):
    code, out, err = run(capsys, "--log10-loss", "-1e1", "--checkpoints", "-1e0")
    assert code == 0, err
    assert [float(row[1]) for row in table_rows(out)] == [-1.0, -10.0]


def test_run_dataset_with_params(capsys):
    code, out, err = run(capsys, "--dataset", "sparse_teacher", "--param", "n_samples=6",
                         "--param", "n_features=4", "--param", "n_active=2", "--param", "seed=3",
                         "--log10-loss", "-5", "--loss", "logistic", "--reduction", "mean")
    assert code == 0, err
    assert "N = 6 samples, d = 4 features" in out
    assert "loss = logistic, reduction = mean" in out
    assert float(table_rows(out)[-1][1]) == -5.0


def test_run_two_points(capsys):
    code, out, err = run(capsys, "--dataset", "two_points", "--alpha", "0.01", "--depth", "2",
                         "--log10-loss", "-30")
    assert code == 0, err
    assert "N = 2 samples, d = 2 features" in out and "alpha = 0.01" in out
    assert float(table_rows(out)[-1][1]) == -30.0


def test_run_npz_file(capsys, tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=np.array([[1.0, 0.5], [0.9, 1.0], [-1.0, -0.2]]), y=np.array([1, 1, -1]))
    code, out, err = run(capsys, "--data", str(path), "--log10-loss", "-8")
    assert code == 0, err
    assert "N = 3 samples, d = 2 features" in out
    assert float(table_rows(out)[-1][1]) == -8.0


def test_run_csv_file_with_header_and_comments(capsys, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("f1,f2,label\n1,0.5,1\n# a comment\n\n0.9,1,+1\n-1,-0.2,-1\n")
    code, out, err = run(capsys, "--data", str(path), "--log10-loss", "-8", "--depth", "1")
    assert code == 0, err
    assert "N = 3 samples, d = 2 features, depth D = 1" in out
    assert float(table_rows(out)[-1][1]) == -8.0


def test_precision_exhausted_is_a_completed_run(capsys):
    code, out, err = run(capsys, "--dataset", "two_points", "--log10-loss", "-1e12",
                         "--checkpoints", "-1", "--float64-only")
    assert code == 0, err
    assert "status: precision exhausted" in out
    assert table_rows(out)[-1][0] == "final"


@pytest.mark.parametrize("argv, fragment", [
    (["--depth", "0"], "depth"),
    (["--alpha", "-1"], "alpha"),
    (["--alpha", "abc"], "alpha"),
    (["--log10-loss", "5"], "not below the starting loss"),
    (["--rtol", "1"], "rtol"),
    (["--checkpoints", "-1,,-2"], "--checkpoints"),
    (["--dataset", "no_such_set"], "unknown dataset"),
    (["--dataset", "two_points", "--param", "bogus=1"], "bogus"),
    (["--param", "seed=1"], "--dataset"),
    (["--dataset", "orthogonal", "--param", "depth=3"], "--depth"),
    (["--data", "missing_file.csv"], "missing_file.csv"),
])
def test_run_invalid_input(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("extprec: error:") and fragment in err


def test_labels_not_plus_minus_one(capsys, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,0.5,1\n0.9,1,0\n")
    code, out, err = run(capsys, "--data", str(path))
    assert code == 2 and "labels must be +1 or -1" in err


def test_bad_files(capsys, tmp_path):
    npz = tmp_path / "data.npz"
    np.savez(npz, A=np.eye(2))
    code, _, err = run(capsys, "--data", str(npz))
    assert code == 2 and "'X' and 'y'" in err
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2,1\n1,1\n")
    code, _, err = run(capsys, "--data", str(ragged))
    assert code == 2 and "line 2" in err
    text = tmp_path / "data.txt"
    text.write_text("1 2 1\n")
    code, _, err = run(capsys, "--data", str(text))
    assert code == 2 and ".txt" in err


def test_argparse_errors_return_2(capsys):
    code, out, err = run(capsys, "--t", "5", "--log10-loss", "-3")
    assert code == 2 and "not allowed with" in err
    code, out, err = run(capsys, "--depth", "two")
    assert code == 2 and "--depth" in err
    assert main([]) == 2
    capsys.readouterr()


def test_help_documents_every_option_and_the_formats(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--dataset", "--param", "--data", "--depth", "--alpha", "--loss",
                   "--reduction", "--log10-loss", "--t", "--checkpoints", "--rtol",
                   "--max-steps", ".npz", ".csv", "precision exhausted"):
        assert option in out


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"extprec {extprec.__version__}" in out
    for name in ("Python", "numpy", "scipy", "numba", "mpmath", "gmpy2", "python-flint",
                 "float64 (Numba)"):
        assert name in out


def test_parse_params_and_top_entries():
    assert parse_params(["a=1", "b=2.5", "c=x", "d=1e3"]) == {"a": 1, "b": 2.5, "c": "x",
                                                            "d": 1000.0}
    import mpmath

    vector = np.array([mpmath.mpf(v) for v in ("0.1", "-3", "2", "1e-400")], dtype=object)
    assert top_entries(vector, 3) == "1:-3.0  2:2.0  0:0.1"


def test_python_dash_m_subprocess():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-m", "extprec", "run", "--log10-loss", "-10"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "status: reached" in result.stdout
    result = subprocess.run([sys.executable, "-m", "extprec", "info"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 0 and "mpmath" in result.stdout
