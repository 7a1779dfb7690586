"""The research workflow on the command line: run --out/--figure, sweep, plot, info."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import extprec
from extprec import datasets, sweep
from extprec.cli import main

REPO = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ENV = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def subprocess_cli(*argv, timeout=180):
    return subprocess.run([sys.executable, "-m", "extprec", *argv], capture_output=True,
                          text=True, env=ENV, timeout=timeout)


def test_run_out_writes_the_trajectory_the_api_computes(capsys, tmp_path):
    """The results file of `extprec run --out` holds the States `extprec.solve` gives for the
    same problem, bit for bit, and the cost log of the run."""
    out = tmp_path / "run.json"
    code, stdout, err = cli(capsys, "run", "--dataset", "two_points", "--alpha", "0.01",
                            "--log10-loss", "-1e20", "--checkpoints", "-1,-1e10",
                            "--out", str(out))
    assert code == 0, err
    assert f"results: {out}" in stdout
    loaded = extprec.load(out)
    direct = extprec.solve(datasets.two_points(alpha="0.01"), log10_loss="-1e20",
                           checkpoints=["-1", "-1e10"])
    assert loaded.status == direct.status == "reached"
    assert len(loaded.checkpoints) == len(direct.checkpoints) == 3
    for a, b in zip(loaded.checkpoints, direct.checkpoints):
        assert a.sigma == b.sigma and a.log10_t == b.log10_t
        assert all(u == v for u, v in zip(a.beta_normalized, b.beta_normalized))
    cost = loaded.stats["cost"]
    assert cost["bits"][0] == 53 and cost["bits"][-1] == loaded.final.precision_bits
    assert cost["steps"] == sorted(cost["steps"]) and cost["steps"][-1] <= loaded.n_steps
    assert cost["seconds"] == sorted(cost["seconds"])


def test_run_figure_and_plot_redraw_it(capsys, tmp_path):
    out, figure, again = tmp_path / "run.json", tmp_path / "run.png", tmp_path / "again.png"
    code, stdout, err = cli(capsys, "run", "--dataset", "two_points", "--log10-loss", "-1e3",
                            "--out", str(out), "--figure", str(figure), "--no-progress")
    assert code == 0, err
    assert figure.read_bytes()[:8] == PNG_MAGIC
    code, stdout, err = cli(capsys, "plot", str(out), "--out", str(again))
    assert code == 0, err
    assert "(run, 1 run(s)" in stdout and again.read_bytes()[:8] == PNG_MAGIC


def test_run_shape_option(capsys):
    code, out, err = cli(capsys, "run", "--dataset", "two_points", "--shape", "1,2",
                         "--shape-minus", "0.5", "--log10-loss", "-5", "--no-progress")
    assert code == 0, err
    code, out, err = cli(capsys, "run", "--dataset", "two_points", "--shape", "1,2,3")
    assert code == 2 and "--shape has 3 values but the problem has d = 2" in err
    code, out, err = cli(capsys, "run", "--dataset", "two_points", "--shape", "1,-2")
    assert code == 2 and "--shape" in err and "> 0" in err


@pytest.mark.parametrize("argv, fragment", [
    (["--out", "no_such_dir/run.json"], "does not exist"),
    (["--figure", "."], "is a directory"),
])
def test_run_bad_output_paths_are_refused_before_running(capsys, argv, fragment):
    code, out, err = cli(capsys, "run", "--log10-loss", "-5", *argv)
    assert code == 2 and fragment in err and out == ""


def test_interrupted_run_saves_nothing_and_says_so(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(extprec, "solve", interrupted)
    out = tmp_path / "run.json"
    code, stdout, err = cli(capsys, "run", "--log10-loss", "-5", "--out", str(out))
    assert code == 130 and "interrupted; nothing was saved" in err
    assert not out.exists()


def test_sweep_command_runs_the_grid_and_resumes(capsys, tmp_path):
    store = tmp_path / "s.sqlite"
    argv = ["sweep", "--store", str(store), "--dataset", "two_points", "--dataset",
            "sparse_teacher", "--param", "n_samples=5", "--param", "n_features=4",
            "--seeds", "0,1", "--alphas", "0.1,1", "--depths", "2", "--log10-losses",
            "-1,-1e3", "--workers", "1"]
    code, out, err = cli(capsys, *argv)
    assert code == 2 and "two_points has no parameter 'n_samples'" in err
    argv[4:6] = []  # drop --dataset two_points
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    assert "4 cells (2 sources x 1 depths x 2 alphas)" in out
    assert out.count(": reached (") == 4
    assert "done: 4 cells, 0 already in the store, 4 computed (0 failed)" in out
    rows = sweep.load(store)
    assert sorted((r.cell["source"]["params"]["seed"], r.cell["alpha"]) for r in rows) == [
        (0, "0.1"), (0, "1"), (1, "0.1"), (1, "1")]
    assert all([float(s.log10_loss) for s in r.trajectory.checkpoints] == pytest.approx(
        [-1, -1e3], rel=1e-12) for r in rows)
    code, out, err = cli(capsys, *argv)
    assert code == 0 and "4 already in the store, 0 computed" in out


def test_sweep_on_data_files_with_two_local_processes(capsys, tmp_path):
    data = tmp_path / "train.npz"
    np.savez(data, X=np.array([[1.0, 0.5], [0.9, 1.0]]), y=np.array([1, 1]))
    store = tmp_path / "s.sqlite"
    code, out, err = cli(capsys, "sweep", "--store", str(store), "--data", str(data),
                         "--alphas", "0.1,1", "--log10-losses", "-10", "--workers", "2")
    assert code == 0, err
    assert "2 local processes" in out
    rows = sweep.load(store)
    reference = extprec.solve(datasets.two_points(alpha="1"), log10_loss=-10)
    row = next(r for r in rows if r.cell["alpha"] == "1")
    assert row.cell["source"]["data"] == str(data)
    assert row.trajectory.final.sigma == reference.final.sigma


@pytest.mark.parametrize("argv, fragment", [
    (["--log10-losses", "-1", "--alphas", "1,,2"], "--alphas must be comma-separated"),
    (["--log10-losses", "-1", "--depths", "two"], "--depths must be comma-separated integers"),
    (["--log10-losses", "-1", "--depths", "0"], "--depths must be integers >= 1"),
    (["--log10-losses", "5"], "not below the starting loss"),
    (["--log10-losses", "-1", "--alphas", "-1"], "sweep cell"),
    (["--log10-losses", "-1", "--seeds", "1"], "--seeds makes one source per seed"),
    (["--log10-losses", "-1", "--param", "seed=1"], "give at least one --dataset"),
    (["--log10-losses", "-1", "--dataset", "nope"], "unknown dataset"),
    (["--log10-losses", "-1", "--scheduler", "tcp://127.0.0.1:1"], "cannot connect"),
])
def test_sweep_bad_input(capsys, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.setattr("extprec.cli.SCHEDULER_TIMEOUT", 2)
    code, out, err = cli(capsys, "sweep", "--store", str(tmp_path / "s.sqlite"), *argv)
    assert code == 2, (out, err)
    assert err.startswith("extprec: error:") and fragment in err


def test_sweep_refuses_a_store_that_is_not_one(capsys, tmp_path):
    foreign = tmp_path / "notes.sqlite"
    foreign.write_text("hello\n" * 200)
    code, out, err = cli(capsys, "sweep", "--store", str(foreign), "--log10-losses", "-1")
    assert code == 2 and "is not an extprec sweep store" in err
    assert foreign.read_text() == "hello\n" * 200  # left untouched


def test_plot_refuses_missing_corrupt_and_foreign_files(capsys, tmp_path):
    png = str(tmp_path / "f.png")
    code, out, err = cli(capsys, "plot", str(tmp_path / "missing.json"), "--out", png)
    assert code == 2 and "no such file" in err
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "extprec-results", "format_version": 1, "checkp')
    code, out, err = cli(capsys, "plot", str(corrupt), "--out", png)
    assert code == 2 and "not valid JSON" in err
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": 1}))
    code, out, err = cli(capsys, "plot", str(foreign), "--out", png)
    assert code == 2 and "not an extprec results file" in err
    assert not Path(png).exists()


def test_info_lists_accelerations_and_workflow_packages(capsys):
    code, out, err = cli(capsys, "info")
    assert code == 0
    assert "gmpy2:" in out and "active" in out and "python-flint:" in out
    for name in ("matplotlib:", "dask distributed:", "tqdm:", "arb (python-flint)"):
        assert name in out


def test_help_explains_every_option_of_the_new_commands(capsys):
    for command, options in (
            ("sweep", ("--store", "--dataset", "--param", "--seeds", "--data", "--depths",
                       "--alphas", "--log10-losses", "--loss", "--reduction", "--shape",
                       "--rtol", "--max-steps", "--workers", "--scheduler", "--quiet",
                       "resum")),
            ("plot", ("RESULTS", "--out", "--kind", "phase", "limits", "depth", "cost")),
            ("run", ("--out", "--figure", "--no-progress", "--shape", "--shape-minus",
                     "lower bound", "130"))):
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        for option in options:
            assert option in out, (command, option)


def test_sweep_and_plot_in_real_subprocesses(tmp_path):
    """`python -m extprec sweep` then `python -m extprec plot` of its store: the phase
    diagram of the quick start."""
    store, figure = tmp_path / "phase.sqlite", tmp_path / "phase.png"
    result = subprocess_cli("sweep", "--store", str(store), "--dataset", "two_points",
                            "--alphas", "0.1,10", "--log10-losses", "-1,-100", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "done: 2 cells" in result.stdout
    result = subprocess_cli("plot", str(store), "--out", str(figure))
    assert result.returncode == 0, result.stderr
    assert "(phase, 2 run(s)" in result.stdout
    assert figure.read_bytes()[:8] == PNG_MAGIC
