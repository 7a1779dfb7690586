"""Sweeps: the grid, the store, executors (a real Dask LocalCluster), kill and resume."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

import extprec
from extprec import sweep

REPO = Path(__file__).resolve().parent.parent
LEVELS = ("-1", "-10", "-1e4")


def small_grid(**kwargs):
    sources = [sweep.DatasetSource("two_points"),
               sweep.DatasetSource("sparse_teacher", {"n_samples": 6, "n_features": 5,
                                                      "seed": 1})]
    return sweep.Grid(sources, kwargs.pop("depths", [2, 3]), kwargs.pop("alphas", ["0.01", "1"]),
                      kwargs.pop("levels", LEVELS), **kwargs)


def without_timings(results: bytes) -> dict:
    """A results document without its wall-clock seconds (the only part that may differ
    between two runs of the same cell)."""
    document = json.loads(results)
    cost = document["stats"]["cost"]
    del cost["seconds"]
    cost.get("control", {}).pop("seconds", None)  # the control run's log (verify=True)
    return document


def test_grid_cells_are_the_product_and_keys_their_descriptions():
    grid = small_grid()
    cells = grid.cells()
    assert len(cells) == 2 * 2 * 2
    assert len({cell.key for cell in cells}) == len(cells)
    again = small_grid().cells()
    assert [c.key for c in again] == [c.key for c in cells]  # keys are stable
    assert small_grid(rtol=1e-9).cells()[0].key != cells[0].key  # ... and complete
    arguments = cells[0].solve_arguments()
    assert arguments["log10_loss"] == "-1e4" and arguments["checkpoints"] == ["-1", "-10"]


def test_serial_sweep_records_every_level_and_resumes_with_nothing_to_do(tmp_path):
    store = tmp_path / "sweep.sqlite"
    seen = []
    summary = sweep.run(small_grid(depths=[2]), store,
                        on_result=lambda cell, result, done, total: seen.append((done, total)))
    assert (summary.total, summary.already_done, summary.computed, summary.errors) == (4, 0, 4, 0)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    rows = sweep.load(store)
    assert len(rows) == 4
    for row in rows:
        assert row.outcome == sweep.OUTCOME_DONE and row.run_id == summary.run_id
        trajectory = row.trajectory
        assert isinstance(trajectory, extprec.Trajectory) and trajectory.status == "reached"
        levels = [state.log10_loss for state in trajectory.checkpoints]
        # landed on each level to far better than the tolerance (relative 1e-10)
        for level, wanted in zip(levels, (-1, -10, -1e4)):
            assert abs(level - wanted) <= 1e-12 * abs(wanted)
        assert trajectory.stats["cost"]["steps"][-1] <= trajectory.n_steps
    # the same grid again: nothing to compute; a larger grid: only the new cells
    again = sweep.run(small_grid(depths=[2]), store)
    assert (again.already_done, again.computed) == (4, 0)
    larger = sweep.run(small_grid(depths=[2, 3]), store)
    assert (larger.total, larger.already_done, larger.computed) == (8, 4, 4)


def test_local_cluster_sweep_equals_the_serial_sweep(tmp_path, capsys):
    """The same cells on a dask.distributed LocalCluster of 2 worker processes (through the
    API and through `extprec sweep --scheduler ADDRESS`) and in this process give the same
    results documents (all exact values, statuses, step counts and cost logs; only the
    wall-clock seconds differ)."""
    distributed = pytest.importorskip("distributed")  # in the test extra: never skipped in CI
    from extprec.cli import main

    grid = small_grid()
    serial = sweep.run(grid, tmp_path / "serial.sqlite")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        clustered = sweep.run(grid, tmp_path / "cluster.sqlite", executor=client.get_executor())
        code = main(["sweep", "--store", str(tmp_path / "cli.sqlite"), "--scheduler",
                     cluster.scheduler_address, "--dataset", "two_points", "--alphas", "0.01,1",
                     "--depths", "2,3", "--log10-losses", ",".join(LEVELS)])
        out = capsys.readouterr().out
    assert code == 0 and f"Dask scheduler {cluster.scheduler_address}" in out
    assert serial.computed == clustered.computed == 8
    stores = [sweep.Store(tmp_path / name) for name in ("serial.sqlite", "cluster.sqlite",
                                                        "cli.sqlite")]
    results_a, results_b, results_cli = (store.raw_results() for store in stores)
    for store in stores:
        store.close()
    assert results_a.keys() == results_b.keys() and len(results_a) == 8
    for key in results_a:
        assert without_timings(results_a[key]) == without_timings(results_b[key])
    assert len(results_cli) == 4 and results_cli.keys() <= results_a.keys()
    for key in results_cli:
        assert without_timings(results_cli[key]) == without_timings(results_a[key])


def test_process_pool_sweep_equals_the_serial_sweep(tmp_path):
    grid = small_grid(depths=[2])
    sweep.run(grid, tmp_path / "serial.sqlite")
    with ProcessPoolExecutor(max_workers=2) as pool:
        sweep.run(grid, tmp_path / "pool.sqlite", executor=pool)
    with sweep.Store(tmp_path / "serial.sqlite") as a, sweep.Store(tmp_path / "pool.sqlite") as b:
        results_a, results_b = a.raw_results(), b.raw_results()
    assert results_a.keys() == results_b.keys()
    assert all(without_timings(results_a[k]) == without_timings(results_b[k]) for k in results_a)


def _finished(store_path):
    try:
        with sqlite3.connect(store_path, timeout=30) as db:
            return {key: (run_id, bytes(results)) for key, run_id, results in
                    db.execute("SELECT key, run_id, results FROM cells")}
    except sqlite3.OperationalError:  # not created yet
        return {}


def test_a_killed_sweep_resumes_without_recomputing_finished_cells(tmp_path):
    """SIGKILL a serial sweep in a subprocess after some cells are stored; the resumed sweep
    computes exactly the missing cells and leaves every stored row as it was (same invocation
    id, same bytes)."""
    store = tmp_path / "sweep.sqlite"
    argv = ["sweep", "--store", str(store), "--workers", "1", "--dataset", "two_points",
            "--dataset", "orthogonal", "--alphas", "1e-3,0.01,0.1,1,10", "--depths", "2,3",
            "--log10-losses", "-1,-1e20"]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen([sys.executable, "-m", "extprec", *argv], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(_finished(store)) < 3 and time.monotonic() < deadline:
            assert process.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    before = _finished(store)
    total = 2 * 5 * 2
    assert 3 <= len(before) < total, "kill the sweep while cells are still missing"

    from extprec.cli import main
    assert main(argv + ["--quiet"]) == 0
    after = _finished(store)
    assert len(after) == total
    for key, row in before.items():
        assert after[key] == row  # not recomputed
    new_runs = {run_id for key, (run_id, _) in after.items() if key not in before}
    assert len(new_runs) == 1 and new_runs.isdisjoint(run for run, _ in before.values())


def test_failed_cells_are_recorded_and_not_recomputed(tmp_path, monkeypatch):
    import extprec.driver

    def failing_solve(*args, **kwargs):
        raise FloatingPointError("overflow in the model")

    monkeypatch.setattr(extprec.driver, "solve", failing_solve)
    store = tmp_path / "sweep.sqlite"
    summary = sweep.run(small_grid(depths=[2], alphas=["1"]), store)
    assert (summary.computed, summary.errors) == (2, 2)
    rows = sweep.load(store)
    assert all(row.outcome == sweep.OUTCOME_ERROR and row.trajectory is None for row in rows)
    assert all(row.error == "FloatingPointError: overflow in the model" for row in rows)
    assert sweep.run(small_grid(depths=[2], alphas=["1"]), store).computed == 0


def test_bad_grids_and_stores_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one value in alphas"):
        sweep.Grid([sweep.DatasetSource("two_points")], [2], [], ["-1"])
    with pytest.raises(ValueError, match=r"sweep cell two_points D=2 alpha=1: .*not below the "
                                         r"starting loss"):
        sweep.Grid([sweep.DatasetSource("two_points")], [2], ["1"], ["5"]).check()
    with pytest.raises(ValueError, match="sweep cell .*alpha"):
        sweep.Grid([sweep.DatasetSource("two_points")], [2], ["-1"], ["-1"]).check()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    with pytest.raises(ValueError, match="is not an extprec sweep store"):
        sweep.Store(text)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(ValueError, match="is not an extprec sweep store"):
        sweep.Store(other)
    with pytest.raises(ValueError, match="is a directory"):
        sweep.Store(tmp_path)
    with pytest.raises(FileNotFoundError, match="no sweep store"):
        sweep.load(tmp_path / "missing.sqlite")
    newer = tmp_path / "newer.sqlite"
    sweep.Store(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'format_version'")
    with pytest.raises(ValueError, match="format version 99, newer"):
        sweep.Store(newer)


def test_array_sources_are_keyed_by_their_data():
    import numpy as np

    X = np.array([[1.0, 0.5], [0.9, 1.0]])
    a = sweep.ArraySource("a.npz", X, [1, 1])
    b = sweep.ArraySource("a.npz", X + np.array([[0, 1e-12], [0, 0]]), [1, 1])
    assert a.digest != b.digest
    assert sweep.ArraySource("b.npz", X.copy(), [1.0, 1.0]).digest == a.digest
    result = sweep.run_cell(sweep.Cell(a, 2, "1", ("-5",)))
    assert result.outcome == sweep.OUTCOME_DONE
    loaded = extprec.results_io.loads(result.results)
    assert (loaded.problem.X == X).all() and loaded.status == "reached"
