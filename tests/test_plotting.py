"""Figures draw what the trajectories hold (data of the artists, not pixels), lazily."""

import subprocess
import sys

import mpmath
import numpy as np
import pytest

import extprec
from extprec import datasets, plotting
from extprec.progress import CostLog

pytest.importorskip("matplotlib")  # in the test extra: never skipped in CI

LEVELS = ["-1", "-10", "-100", "-1e4"]


@pytest.fixture(scope="module")
def runs():
    """two_points (D = 2) at two alphas and D = 3, with their cost logs."""
    out = []
    for depth, alpha in ((2, "0.1"), (2, "10"), (3, "10")):
        log = CostLog()
        trajectory = extprec.solve(datasets.two_points(alpha=alpha, depth=depth),
                                   log10_loss=LEVELS[-1], checkpoints=LEVELS[:-1], progress=log)
        trajectory.stats["cost"] = log.as_dict()
        out.append(trajectory)
    return out


def _lines(axis):
    return [line for line in axis.get_lines() if len(line.get_xdata()) > 2]


def test_distance_figure_draws_the_states_distances(runs):
    figure = plotting.distance_to_limits(runs)
    top, bottom = figure.axes
    for axis, limit in ((top, "l1"), (bottom, "l2")):
        lines = _lines(axis)
        assert len(lines) == len(runs)
        for line, trajectory in zip(lines, runs):  # runs are already in (depth, alpha) order
            states = trajectory.checkpoints
            # x = log10 log10(1/epsilon): log10 of 1, 10, 100, 1e4
            assert line.get_xdata() == pytest.approx([0, 1, 2, 4], abs=1e-12)
            floor = 10.0 ** -states[0].digits
            wanted = [max(float(s.distance[limit]), floor) for s in states]
            assert list(line.get_ydata()) == wanted
    labels = [line.get_label() for line in _lines(top)]
    assert labels == ["D = 2, alpha = 0.1", "D = 2, alpha = 10.0", "D = 3, alpha = 10.0"]


def test_phase_diagram_places_every_state_by_regime(runs):
    figure = plotting.phase_diagram(runs)
    assert [axis.get_title() for axis in figure.axes] == ["D = 2", "D = 3"]
    for axis, depth in zip(figure.axes, (2, 3)):
        drawn = {}
        for collection in axis.collections:
            for x, y in collection.get_offsets():
                drawn[(round(float(x), 9), round(float(y), 9))] = collection.get_label()
        expected = {}
        for trajectory in runs:
            if trajectory.problem.depth != depth:
                continue
            y = float(mpmath.log10(mpmath.mpf(trajectory.problem.alpha_exact.numerator)
                                   / trajectory.problem.alpha_exact.denominator))
            for state in trajectory.checkpoints:
                x = float(mpmath.log10(-state.log10_loss))
                expected[(round(x, 9), round(y, 9))] = state.regime
        assert drawn == expected
        # the mu = 1 guide: log10 log10(1/eps) = D log10 alpha - log10 ln 10
        guide = [line for line in axis.get_lines() if line.get_linestyle() == "--"][0]
        xs, ys = guide.get_xdata(), guide.get_ydata()
        assert np.allclose(xs, depth * np.asarray(ys) - np.log10(np.log(10)))


def test_precision_and_cost_draws_the_cost_log(runs):
    figure = plotting.precision_and_cost(runs[:1])
    bits_axis, steps_axis, seconds_axis = figure.axes
    cost = runs[0].stats["cost"]
    shift = np.log10(np.log(10))
    bits_line = bits_axis.get_lines()[0]
    assert np.allclose(bits_line.get_xdata(), np.array(cost["log10_sigma"]) - shift)
    assert list(bits_line.get_ydata()) == cost["bits"]
    assert list(steps_axis.get_lines()[0].get_ydata()) == cost["steps"]


def test_overview_and_fallback_without_cost_log(runs, tmp_path):
    plain = extprec.solve(datasets.two_points(), log10_loss=-100)  # no cost log
    cost = plotting.cost_along(plain)
    assert cost["steps"] == [] and cost["bits"] == [s.precision_bits for s in
                                                    plain.checkpoints if s.log10_loss < 0]
    path = tmp_path / "overview.png"
    plotting.save(plotting.run_overview(runs[1]), path)
    from matplotlib.image import imread

    height, width = imread(path).shape[:2]
    assert (width, height) == (7 * plotting.DPI, 8 * plotting.DPI)


def test_overview_of_non_separable_data_says_there_is_no_limit():
    problem = extprec.Problem([[1.0], [1.0]], [1, -1])
    trajectory = extprec.solve(problem, t=10)
    figure = plotting.run_overview(trajectory)
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts == ["data not linearly separable: no max-margin limits"]


def test_matplotlib_and_dask_are_imported_only_when_used():
    code = ("import sys, extprec, extprec.cli, extprec.plotting, extprec.sweep; "
            "print(sorted(m for m in ('matplotlib', 'distributed', 'tqdm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
