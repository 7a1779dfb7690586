"""Parameter sweeps: a grid of runs, any executor, one resumable results store.

A sweep is a grid over problem sources (built-in datasets with parameters such as seeds, or
data arrays) x depth x alpha; each cell is one run of :func:`extprec.solve` down to the lowest
of the sweep's loss levels, with a checkpoint at every level (one run per cell gives every
level, which costs no more than the deepest one alone)::

    from extprec import sweep
    grid = sweep.Grid(sources=[sweep.DatasetSource("two_points")], depths=[2, 3],
                      alphas=["1e-3", "1e-1", "1"], log10_losses=["-1", "-10", "-1e10"])
    summary = sweep.run(grid, "sweep.sqlite")              # local processes
    with distributed.Client("tcp://scheduler:8786") as client:   # or a Dask cluster
        sweep.run(grid, "sweep.sqlite", executor=client.get_executor())
    for row in sweep.load("sweep.sqlite"):
        row.cell, row.trajectory                          # a Trajectory with its States

The executor is anything with ``submit(fn, *args)`` returning ``concurrent.futures.Future``
objects (``ProcessPoolExecutor``, ``ThreadPoolExecutor``, ``distributed.Client.get_executor()``);
without one the cells run one after the other in this process. Workers only compute: they
return the results-file bytes of :func:`extprec.results_io.dumps`, and this process writes
them to the store, so the workers need no shared filesystem.

The store is one SQLite file (the standard library's ``sqlite3``: each finished cell is one
committed transaction, so a killed sweep loses only the cells that were running). A cell is
keyed by the SHA-256 of its canonical JSON description (:meth:`Cell.description`), so running
the same grid again (or a larger grid that contains it) computes only the cells the store does
not hold. Each row also keeps the id of the invocation that computed it and its seconds.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from itertools import product

import numpy as np

STORE_FORMAT = "extprec-sweep"
STORE_FORMAT_VERSION = 1
OUTCOME_DONE = "done"
OUTCOME_ERROR = "error"  # the computation failed (RuntimeError, ArithmeticError)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,          -- SHA-256 of the cell description
    description TEXT NOT NULL,     -- canonical JSON of the cell (Cell.description)
    outcome TEXT NOT NULL,         -- 'done' or 'error'
    results BLOB,                  -- extprec-results JSON (extprec.results_io), when done
    error TEXT,                    -- what failed, when outcome = 'error'
    seconds REAL NOT NULL,         -- wall-clock seconds of the run on its worker
    run_id TEXT NOT NULL           -- the invocation of run() that computed the cell
);
"""


# -- the grid ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSource:
    """A built-in dataset of :mod:`extprec.datasets` with generator parameters."""

    name: str
    params: tuple = ()  # sorted (key, value) pairs

    def __init__(self, name, params=None):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", tuple(sorted(dict(params or {}).items())))

    def description(self) -> dict:
        return {"dataset": self.name, "params": dict(self.params)}

    def label(self) -> str:
        shown = ",".join(f"{k}={v}" for k, v in self.params)
        return self.name + (f"({shown})" if shown else "")

    def problem(self, **problem_kwargs):
        from . import datasets

        return datasets.make(self.name, **dict(self.params), **problem_kwargs)


@dataclass(frozen=True, eq=False)
class ArraySource:
    """Data arrays (e.g. read from a data file); identified by a hash of their bytes."""

    label_text: str
    X: np.ndarray
    y: np.ndarray
    digest: str = field(init=False)

    def __post_init__(self):
        X = np.ascontiguousarray(self.X, dtype=np.float64)
        y = np.ascontiguousarray(self.y, dtype=np.float64)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        sha = hashlib.sha256()
        for array in (X, y):
            sha.update(repr(array.shape).encode())
            sha.update(array.tobytes())
        object.__setattr__(self, "digest", sha.hexdigest())

    def description(self) -> dict:
        return {"data": self.label_text, "sha256": self.digest}

    def label(self) -> str:
        return self.label_text

    def problem(self, **problem_kwargs):
        from .problem import Problem

        return Problem(self.X, self.y, **problem_kwargs)


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: a problem (source, depth, alpha, ...) solved down to its levels."""

    source: object  # DatasetSource or ArraySource
    depth: int
    alpha: str
    log10_losses: tuple  # checkpoints; the run stops at the lowest
    loss: str = "exp"
    reduction: str = "sum"
    shape: tuple | None = None  # (u_plus, u_minus) tuples of floats (one: every coordinate)
    rtol: float = 1e-10
    max_steps: int = 1_000_000

    def description(self) -> dict:
        """Everything that determines the result, as plain JSON (the key is its hash)."""
        return {"source": self.source.description(), "depth": self.depth,
                "alpha": str(self.alpha), "log10_losses": [str(v) for v in self.log10_losses],
                "loss": self.loss, "reduction": self.reduction,
                "shape": None if self.shape is None else [list(u) for u in self.shape],
                "rtol": self.rtol, "max_steps": self.max_steps}

    @property
    def key(self) -> str:
        return hashlib.sha256(_canonical(self.description()).encode()).hexdigest()

    def label(self) -> str:
        return f"{self.source.label()} D={self.depth} alpha={self.alpha}"

    def problem(self):
        from .problem import Problem

        kwargs = {"depth": self.depth, "alpha": self.alpha, "loss": self.loss,
                  "reduction": self.reduction}
        problem = self.source.problem(**kwargs)
        if self.shape is None:
            return problem
        d = problem.n_features
        shape = tuple(np.full(d, u[0]) if len(u) == 1 else np.array(u) for u in self.shape)
        return Problem(problem.X, problem.y, shape=shape, **kwargs)

    def solve_arguments(self) -> dict:
        levels = sorted(self.log10_losses, key=_level_key)  # increasing sigma
        return {"log10_loss": levels[-1], "checkpoints": levels[:-1] or None,
                "rtol": self.rtol, "max_steps": self.max_steps}


@dataclass(frozen=True)
class Grid:
    """The cells of a sweep: sources x depths x alphas, each down to ``log10_losses``.

    ``shape`` is None (all ones) or ``(u_plus, u_minus)``, each d numbers or one number for
    every coordinate (sources may differ in d).
    """

    sources: tuple
    depths: tuple
    alphas: tuple
    log10_losses: tuple
    loss: str = "exp"
    reduction: str = "sum"
    shape: tuple | None = None
    rtol: float = 1e-10
    max_steps: int = 1_000_000

    def __init__(self, sources, depths, alphas, log10_losses, *, loss="exp", reduction="sum",
                 shape=None, rtol=1e-10, max_steps=1_000_000):
        values = {"sources": tuple(sources), "depths": tuple(int(d) for d in depths),
                  "alphas": tuple(str(a) for a in alphas),
                  "log10_losses": tuple(str(v) for v in log10_losses), "loss": loss,
                  "reduction": reduction,
                  "shape": None if shape is None else tuple(tuple(map(float, u))
                                                            for u in shape),
                  "rtol": float(rtol), "max_steps": int(max_steps)}
        for name, value in values.items():
            if name in ("sources", "depths", "alphas", "log10_losses") and not value:
                raise ValueError(f"a sweep needs at least one value in {name}; got none")
            object.__setattr__(self, name, value)

    def cells(self) -> list[Cell]:
        return [Cell(source, depth, alpha, self.log10_losses, self.loss, self.reduction,
                     self.shape, self.rtol, self.max_steps)
                for source, depth, alpha in product(self.sources, self.depths, self.alphas)]

    def check(self) -> None:
        """Build every cell's problem and check its arguments (no integration): bad input is
        refused before anything runs, with the cell named in the message."""
        from .driver import check_arguments

        for cell in self.cells():
            try:
                check_arguments(cell.problem(), **cell.solve_arguments())
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"sweep cell {cell.label()}: {exc}") from None


def _level_key(level):
    from .levels import LossLevel

    return LossLevel.parse(level).sort_key()


def _canonical(document) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)


# -- running a cell (on any worker) ------------------------------------------------------------
@dataclass(frozen=True)
class CellResult:
    key: str
    description: str
    outcome: str
    results: bytes | None
    error: str | None
    seconds: float


def run_cell(cell: Cell) -> CellResult:
    """Solve one cell; the trajectory comes back as results-file bytes, with its cost log
    (``stats["cost"]``, :class:`extprec.progress.CostLog`)."""
    from .driver import solve
    from .progress import CostLog
    from .results_io import dumps

    start = time.perf_counter()
    log = CostLog()
    try:
        trajectory = solve(cell.problem(), **cell.solve_arguments(), progress=log)
    except (RuntimeError, ArithmeticError) as exc:
        return CellResult(cell.key, _canonical(cell.description()), OUTCOME_ERROR, None,
                          f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
    trajectory.stats["cost"] = log.as_dict()
    return CellResult(cell.key, _canonical(cell.description()), OUTCOME_DONE,
                      dumps(trajectory), None, time.perf_counter() - start)


# -- the store ---------------------------------------------------------------------------------
class Store:
    """The SQLite results store of a sweep (module docstring). Opens or creates ``path``."""

    def __init__(self, path):
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise ValueError(f"sweep store {self.path!r} is a directory; give a file path such "
                             "as sweep.sqlite")
        existed = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        try:
            self._db = sqlite3.connect(self.path, timeout=60)
            if existed:
                self._check_format()
            else:
                with self._db:
                    self._db.executescript(_SCHEMA)
                    self._db.executemany("INSERT INTO meta VALUES (?, ?)",
                                         [("format", STORE_FORMAT),
                                          ("format_version", str(STORE_FORMAT_VERSION))])
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path!r} is not an extprec sweep store ({exc}); give a new "
                             "file name, or the store an earlier 'extprec sweep' wrote") from None

    def _check_format(self):
        try:
            meta = dict(self._db.execute("SELECT name, value FROM meta"))
        except sqlite3.DatabaseError:
            meta = {}
        if meta.get("format") != STORE_FORMAT:
            raise sqlite3.DatabaseError("no extprec-sweep format entry")
        if int(meta.get("format_version", "0")) > STORE_FORMAT_VERSION:
            raise ValueError(f"sweep store {self.path!r} has format version "
                             f"{meta['format_version']}, newer than version "
                             f"{STORE_FORMAT_VERSION} that this extprec reads; upgrade extprec")

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def finished_keys(self) -> set:
        return {key for (key,) in self._db.execute("SELECT key FROM cells")}

    def add(self, result: CellResult, run_id: str) -> None:
        with self._db:  # one transaction per cell
            self._db.execute("INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (result.key, result.description, result.outcome, result.results,
                              result.error, result.seconds, run_id))

    def rows(self) -> list["Row"]:
        from .results_io import loads

        out = []
        for key, description, outcome, results, error, seconds, run_id in self._db.execute(
                "SELECT key, description, outcome, results, error, seconds, run_id FROM cells "
                "ORDER BY rowid"):
            trajectory = (loads(bytes(results), f"cell {key[:12]} of sweep store {self.path!r}")
                          if results is not None else None)
            out.append(Row(key, json.loads(description), outcome, trajectory, error, seconds,
                           run_id))
        return out

    def raw_results(self) -> dict:
        """``{key: results bytes}`` of the finished cells (for comparisons and exports)."""
        return {key: bytes(results) for key, results in
                self._db.execute("SELECT key, results FROM cells WHERE results IS NOT NULL")}


@dataclass
class Row:
    """One finished cell of a store: its description, outcome and Trajectory."""

    key: str
    cell: dict
    outcome: str
    trajectory: object
    error: str | None
    seconds: float
    run_id: str


def load(path) -> list[Row]:
    """The finished cells of the sweep store at ``path`` (never unpickles)."""
    if not os.path.exists(os.fspath(path)):
        raise FileNotFoundError(f"no sweep store at {os.fspath(path)!r}; run 'extprec sweep "
                                "--store PATH ...' first")
    with Store(path) as store:
        return store.rows()


# -- running a sweep ---------------------------------------------------------------------------
@dataclass
class Summary:
    total: int
    already_done: int
    computed: int
    errors: int
    seconds: float
    run_id: str


def run(grid, store, executor=None, on_result=None) -> Summary:
    """Compute the cells of ``grid`` (a :class:`Grid` or a list of :class:`Cell`) that the
    store at ``store`` does not hold yet, and add each to it as soon as it finishes.

    ``executor``: see the module docstring (None: serially in this process). ``on_result``
    is called as ``on_result(cell, result, done, total)`` after each cell is stored.
    """
    start = time.perf_counter()
    if isinstance(grid, Grid):
        grid.check()
        cells = grid.cells()
    else:
        cells = list(grid)
    unique = list({cell.key: cell for cell in cells}.values())
    run_id = uuid.uuid4().hex
    with Store(store) as results:
        finished = results.finished_keys()
        pending = [cell for cell in unique if cell.key not in finished]
        done = len(unique) - len(pending)
        errors = 0

        def record(cell, result):
            nonlocal done, errors
            results.add(result, run_id)
            done += 1
            errors += result.outcome == OUTCOME_ERROR
            if on_result is not None:
                on_result(cell, result, done, len(unique))

        if executor is None:
            for cell in pending:
                record(cell, run_cell(cell))
        else:
            futures = {executor.submit(run_cell, cell): cell for cell in pending}
            try:
                for future in concurrent.futures.as_completed(futures):
                    record(futures[future], future.result())
            finally:
                for future in futures:
                    future.cancel()
    return Summary(len(unique), len(unique) - len(pending), len(pending), errors,
                   time.perf_counter() - start, run_id)


__all__ = ["ArraySource", "Cell", "DatasetSource", "Grid", "Row", "Store", "Summary", "load",
           "run", "run_cell"]
