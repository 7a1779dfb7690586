"""Figures of trajectories and sweeps (matplotlib, imported only when a figure is drawn).

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no global state,
no display needed); :func:`save` writes it::

    from extprec import plotting
    plotting.save(plotting.precision_and_cost([traj]), "cost.png")

Install matplotlib with ``pip install 'extprec[plot]'``. The x axis of every figure is
log10(log10(1/epsilon)) for the training loss L = epsilon (theory.md s.5: the approach to the
limits is slow in log(1/epsilon)), which stays readable from L = 1e-1 (-1) to
L = 10^(-10^1000) (3). The limit diagnostics drawn are the States' own
(:mod:`extprec.limits.diagnostics`); this module computes no distance or regime.
"""

from __future__ import annotations

import math
import os

import mpmath

from .progress import log10_sigma

_CONTEXT = mpmath.MPContext()  # 53 bits, never changed

# Figure size in inches and resolution of saved PNGs.
FIGSIZE = (7.0, 6.0)
DPI = 120


def _figure(figsize=FIGSIZE, **subplot_kw):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("extprec figures need matplotlib; install it with "
                          "pip install 'extprec[plot]'") from None
    return Figure(figsize=figsize, layout="constrained", **subplot_kw)


def save(figure, path) -> None:
    """Write ``figure`` to ``path`` (format from the suffix, e.g. .png) at :data:`DPI`."""
    figure.savefig(os.fspath(path), dpi=DPI)


def to_png(figure) -> bytes:
    """The PNG bytes of ``figure`` (for ``IPython.display.Image`` in notebooks)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def run_label(trajectory) -> str:
    """A short legend label: depth, alpha, loss and the size of the problem."""
    problem = trajectory.problem
    return (f"D={problem.depth}, alpha={_alpha_text(problem)}, {problem.loss} "
            f"(N={problem.n_samples}, d={problem.n_features})")


def cost_along(trajectory) -> dict:
    """``{"log10_sigma", "bits", "steps", "seconds"}`` lists along a run.

    From the cost log of the run (``stats["cost"]``, written by ``extprec run`` and sweeps,
    see :class:`extprec.progress.CostLog`). A trajectory without one falls back to its
    States with L < 1: their sigma and precision, with no steps or seconds (empty lists).
    """
    cost = trajectory.stats.get("cost")
    if cost:
        return {key: list(cost[key]) for key in ("log10_sigma", "bits", "steps", "seconds")}
    states = _resolved_states(trajectory)
    return {"log10_sigma": [log10_sigma(s.sigma) for s in states],
            "bits": [int(s.precision_bits) for s in states], "steps": [], "seconds": []}


def accuracy_axis(state) -> float:
    """log10(log10(1/L)) of a State (needs L < 1): the x axis of the limit figures."""
    return float(_CONTEXT.log10(-_CONTEXT.mpf(state.log10_loss)))


_LOG10_LN10 = math.log10(math.log(10.0))  # log10 sigma - log10 log10(1/L)
ACCURACY_LABEL = r"$\log_{10}\log_{10}(1/\epsilon)$  (training loss $L = \epsilon$)"


def _resolved_states(trajectory) -> list:
    """Checkpoints (and the final State) with L < 1, in order of accuracy."""
    states = list(trajectory.checkpoints)
    if trajectory.final is not None and all(s is not trajectory.final for s in states):
        states.append(trajectory.final)
    return [s for s in states if s.log10_loss < 0]


def _distance_curve(trajectory, limit):
    """``(x, distance, floor)`` along a run. A distance is rounded to an absolute resolution of
    10^-digits (:mod:`extprec.limits.diagnostics`), so a zero is drawn at that floor."""
    xs, ds, floors = [], [], []
    for state in _resolved_states(trajectory):
        distances = state.distance
        if limit not in distances or state.regime is None:
            continue
        floor = 10.0 ** -max(1, state.digits)
        xs.append(accuracy_axis(state))
        ds.append(max(float(distances[limit]), floor))
        floors.append(floor)
    return xs, ds, floors


def _distance_panel(axis, trajectories, limit, label):
    floors = []
    for index, trajectory in enumerate(trajectories):
        xs, ds, floor = _distance_curve(trajectory, limit)
        if xs:
            axis.plot(xs, ds, "o-", ms=3, color=f"C{index % 10}", label=label(trajectory))
            floors += floor
    _resolution_line(axis, floors)
    axis.set_yscale("log")
    axis.grid(True, alpha=0.3)
    axis.set_ylabel(f"distance to {LIMIT_NAMES[limit]}")


def _resolution_line(axis, floors):
    """The distance below which the States cannot resolve (10^-digits), dotted."""
    if floors:
        axis.axhline(max(floors), color="0.5", lw=0.8, ls=":", label="resolution (10^-digits)")


def _by_depth_and_alpha(trajectories) -> list:
    return sorted(trajectories, key=lambda t: (t.problem.depth, t.problem.alpha_exact))


LIMIT_NAMES = {"l1": "l1 max margin (rich)", "l2": "l2 max margin (kernel)",
               "q_mu": r"argmin $Q_\mu$"}


def alpha_label(trajectory) -> str:
    return f"alpha = {_alpha_text(trajectory.problem)}"


def _alpha_text(problem) -> str:
    alpha = problem.alpha_exact
    return mpmath.nstr(_CONTEXT.mpf(alpha.numerator) / alpha.denominator, 3)


def depth_and_alpha_label(trajectory) -> str:
    return f"D = {trajectory.problem.depth}, alpha = {_alpha_text(trajectory.problem)}"


def distance_to_limits(trajectories, limits=("l1", "l2"), label=None, title=None):
    """Relative distance of beta / min margin to the limits against log10 log10(1/epsilon).

    The "ridiculous accuracy" picture (theory.md s.5): one panel per limit (``"l1"``,
    ``"l2"``, ``"q_mu"``; the q_mu distance costs one Q_mu solve per State), one curve per
    trajectory in order of depth and alpha, labelled by ``label(trajectory)`` (default: its
    alpha, and its depth when the depths differ). Distances are the States' diagnostics
    (``State.distance``), drawn on a log scale down to the resolution of the States.
    """
    trajectories = _by_depth_and_alpha(trajectories)
    if label is None:
        one_depth = len({t.problem.depth for t in trajectories}) == 1
        label = alpha_label if one_depth else depth_and_alpha_label
    figure = _figure(figsize=(9.0, 2.6 * len(limits) + 0.6))
    axes = figure.subplots(len(limits), 1, sharex=True, squeeze=False)[:, 0]
    for axis, limit in zip(axes, limits):
        _distance_panel(axis, trajectories, limit, label)
    axes[0].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1].set_xlabel(ACCURACY_LABEL)
    axes[0].set_title(title or "Distance to the limits against the training accuracy")
    return figure


def depth_comparison(trajectories, title=None):
    """Distance to the rich limit against log10 log10(1/epsilon), one curve per run, labelled
    by depth (and alpha): deeper networks approach it at a power of mu, D = 2 only like a
    logarithm (theory.md s.5, "speed of approach")."""
    return distance_to_limits(trajectories, limits=("l1",), label=depth_and_alpha_label,
                              title=title or "Depth and the approach to the rich limit")


REGIME_COLORS = {"kernel": "C0", "intermediate": "C1", "rich": "C2", None: "0.75"}


def phase_diagram(trajectories, title=None):
    """Regimes over the (training accuracy, alpha) plane, one panel per depth.

    Every resolved State of every trajectory is one square at (log10 log10(1/epsilon),
    log10 alpha), coloured by ``State.regime`` (kernel, intermediate, rich; grey: not
    separated). Dashed: ``alpha^D = log(1/epsilon)``, i.e. ``mu = alpha^D / log(1/epsilon) = 1``
    (theory.md s.5: the ratio that controls the regime).
    """
    by_depth = {}
    for trajectory in trajectories:
        by_depth.setdefault(trajectory.problem.depth, []).append(trajectory)
    depths = sorted(by_depth)
    figure = _figure(figsize=(4.2 * len(depths) + 1.0, 4.2))
    axes = figure.subplots(1, len(depths), sharey=True, squeeze=False)[0]
    for axis, depth in zip(axes, depths):
        points = {}
        for trajectory in by_depth[depth]:
            y = float(_CONTEXT.log10(_CONTEXT.mpf(trajectory.problem.alpha_exact.numerator)
                                     / trajectory.problem.alpha_exact.denominator))
            for state in _resolved_states(trajectory):
                points.setdefault(state.regime, []).append((accuracy_axis(state), y))
        all_points = [p for group in points.values() for p in group]
        for regime, group in points.items():
            xs, ys = zip(*group)
            axis.scatter(xs, ys, marker="s", s=90, color=REGIME_COLORS[regime],
                         label=regime or "not separated", edgecolors="none")
        if all_points:
            ys = [p[1] for p in all_points]
            grid = [min(ys), max(ys)]
            # mu = 1: log10 log(1/eps) = D log10 alpha, so log10 log10(1/eps) = D y - log10 ln 10
            axis.plot([depth * y - _LOG10_LN10 for y in grid], grid, "k--", lw=1,
                      label=r"$\alpha^D = \log(1/\epsilon)$")
            xs = [p[0] for p in all_points]
            axis.set_xlim(min(xs) - 0.3, max(xs) + 0.3)
        axis.set_title(f"D = {depth}")
        axis.set_xlabel(ACCURACY_LABEL)
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel(r"$\log_{10}\alpha$")
    handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: _LEGEND_ORDER.get(labels[i], 9))
    axes[-1].legend([handles[i] for i in order], [labels[i] for i in order], fontsize="small",
                    loc="lower right")
    figure.suptitle(title or "Kernel, intermediate and rich regimes")
    return figure


_LEGEND_ORDER = {"kernel": 0, "intermediate": 1, "rich": 2, "not separated": 3}


def precision_and_cost(trajectories, title=None):
    """Precision in use and cost along one or more runs, against log10 log10(1/epsilon).

    Three panels sharing the x axis: working precision in bits (53 is float64; the
    multiprecision precision grows like 2 log2 sigma, README "Precision"), accepted steps so
    far, and wall-clock seconds so far (log scales). Checkpoints are marked on the top panel.
    """
    figure = _figure()
    top, middle, bottom = figure.subplots(3, 1, sharex=True)
    _cost_panels(top, middle, bottom, trajectories)
    top.legend(fontsize="small", loc="upper left")
    top.set_title(title or "Precision and cost along the run")
    return figure


def _cost_panels(bits_axis, steps_axis, seconds_axis, trajectories):
    for index, trajectory in enumerate(trajectories):
        color = f"C{index % 10}"
        cost = cost_along(trajectory)
        xs = [x - _LOG10_LN10 for x in cost["log10_sigma"]]
        bits_axis.step(xs, cost["bits"], where="post", color=color, label=run_label(trajectory))
        states = _resolved_states(trajectory)
        bits_axis.plot([accuracy_axis(s) for s in states], [s.precision_bits for s in states],
                       "o", ms=3, color=color)
        if cost["steps"]:
            steps_axis.plot(xs, cost["steps"], color=color)
            seconds_axis.plot(xs, [max(t, 1e-4) for t in cost["seconds"]], color=color)
    bits_axis.set_ylabel("precision (bits)")
    bits_axis.axhline(53, color="0.6", lw=0.8, ls=":")
    steps_axis.set_ylabel("accepted steps")
    steps_axis.set_yscale("log")
    seconds_axis.set_ylabel("seconds")
    seconds_axis.set_yscale("log")
    seconds_axis.set_xlabel(ACCURACY_LABEL)
    for axis in (bits_axis, steps_axis, seconds_axis):
        axis.grid(True, alpha=0.3)


def run_overview(trajectory, title=None):
    """One run at a glance: distances to the l1 and l2 limits (when the data are separable)
    above the precision, steps and seconds, all against log10 log10(1/epsilon)."""
    figure = _figure(figsize=(7.0, 8.0))
    limits_axis, bits_axis, steps_axis, seconds_axis = figure.subplots(4, 1, sharex=True)
    if trajectory.problem.separability().separable:
        floors = []
        for limit, style in (("l1", "o-"), ("l2", "s-")):
            xs, ds, floor = _distance_curve(trajectory, limit)
            limits_axis.plot(xs, ds, style, ms=3, label=LIMIT_NAMES[limit])
            floors += floor
        _resolution_line(limits_axis, floors)
        limits_axis.set_yscale("log")
        limits_axis.legend(fontsize="small")
    else:
        limits_axis.text(0.5, 0.5, "data not linearly separable: no max-margin limits",
                         ha="center", va="center", transform=limits_axis.transAxes)
    limits_axis.set_ylabel("relative distance")
    limits_axis.grid(True, alpha=0.3)
    _cost_panels(bits_axis, steps_axis, seconds_axis, [trajectory])
    limits_axis.set_title(title or f"{run_label(trajectory)}: {trajectory.status}")
    return figure


__all__ = ["accuracy_axis", "alpha_label", "cost_along", "depth_and_alpha_label",
           "depth_comparison",
           "distance_to_limits", "phase_diagram", "precision_and_cost", "run_label",
           "run_overview", "save", "to_png"]
