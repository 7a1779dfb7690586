"""Determinism: the same inputs give bit-identical results files.

Two separate processes that differ in everything that must not matter (the hash seed, which
permutes set and dict-of-str iteration orders, and the thread counts of OpenMP, OpenBLAS, MKL
and Numba) must write byte-identical ``extprec.save`` files, and so must two solves in one
process. Checked for a run that stays in float64 and for one that hands over to the
multiprecision (arb) integrator. The files hold every mpf exactly (``extprec.results_io``), so
byte equality is bit equality of every reported number, of the step counts and of the
evaluation counters. (Without one BLAS thread in the float64 integrator, the N = 200, d = 3000
run below differs between 1 and 2 threads in the last bits of its States.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import extprec

# name -> (dataset, its parameters, stop level, backends the run must use)
RUNS = {
    "float64": ("sparse_teacher", {}, "-1e3", ["float64"]),  # default problem, float64 only
    "handover": ("two_points", {}, "-1e30", ["float64", "arb"]),  # float64, then arb
    # N = 200, d = 3000: OpenBLAS threads the kernel-matrix dgemm (N x 512 blocks), whose
    # low bits then depend on the thread count unless the integrator pins one BLAS thread
    "large": ("sparse_teacher", {"n_samples": 200, "n_features": 3000}, "-3", ["float64"]),
}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
# Environments of the two processes: hash seed and thread counts differ between them.
ENVIRONMENTS = [
    {"PYTHONHASHSEED": "0", **{name: "1" for name in THREAD_VARIABLES}},
    {"PYTHONHASHSEED": "4242", **{name: "2" for name in THREAD_VARIABLES}},
]
SCRIPT = textwrap.dedent("""
    import json
    import sys
    import extprec
    dataset, params, level, path = sys.argv[1:5]
    traj = extprec.solve(extprec.datasets.make(dataset, **json.loads(params)), log10_loss=level)
    extprec.save(traj, path)
    print(traj.status, [backend for backend, _ in traj.stats["segments"]])
""")


def _solve_in_subprocess(dataset, params, level, path, environment):
    env = {**os.environ, **environment}
    done = subprocess.run([sys.executable, "-c", SCRIPT, dataset, json.dumps(params), level,
                           str(path)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.split(maxsplit=1)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_results_files_are_identical_across_processes(run, tmp_path):
    """Same problem and call in two processes with different PYTHONHASHSEED and thread
    counts: status "reached" on the expected backends, and byte-identical results files."""
    dataset, params, level, backends = RUNS[run]
    files = []
    for i, environment in enumerate(ENVIRONMENTS):
        path = tmp_path / f"run{i}.json"
        status, used = _solve_in_subprocess(dataset, params, level, path, environment)
        assert status == "reached"
        assert used.strip() == repr(backends)
        files.append(path.read_bytes())
    assert files[0] == files[1]


@pytest.mark.parametrize("run", sorted(RUNS))
def test_results_files_are_identical_within_a_process(run, tmp_path):
    """Two solves of separately built but equal problems in one process, with a solve of the
    other run's problem in between, give byte-identical files (no state such as warm caches
    or a changed precision leaks from one solve into the next)."""
    dataset, params, level, _ = RUNS[run]
    other, other_params, other_level, _ = next(v for k, v in RUNS.items() if k != run)
    files = []
    for i in range(2):
        traj = extprec.solve(extprec.datasets.make(dataset, **params), log10_loss=level)
        path = tmp_path / f"run{i}.json"
        extprec.save(traj, path)
        files.append(path.read_bytes())
        extprec.solve(extprec.datasets.make(other, **other_params), log10_loss=other_level)
    assert files[0] == files[1]
