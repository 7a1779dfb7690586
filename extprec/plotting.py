"""Figures of trajectories and sweeps (matplotlib, imported only when a figure is drawn).

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no global state,
no display needed); :func:`save` writes it::

    from extprec import plotting
    plotting.save(plotting.precision_and_cost([traj]), "cost.png")

Install matplotlib with ``pip install 'extprec[plot]'``. The x axis of run figures is
log10(sigma), sigma = log(1/L) (theory.md s.3: the accuracy clock), which stays finite and
readable from L = 1e-1 to L = 10^(-10^1000).
"""

from __future__ import annotations

import os

import mpmath

from .progress import log10_sigma

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


def run_label(trajectory) -> str:
    """A short legend label: depth, alpha, loss and the size of the problem."""
    problem = trajectory.problem
    alpha = mpmath.nstr(mpmath.mpf(problem.alpha_exact.numerator) / problem.alpha_exact.denominator,
                        3)
    return (f"D={problem.depth}, alpha={alpha}, {problem.loss} "
            f"(N={problem.n_samples}, d={problem.n_features})")


def cost_along(trajectory) -> dict:
    """``{"log10_sigma", "bits", "steps", "seconds"}`` lists along a run.

    From the cost log of the run (``stats["cost"]``, written by ``extprec run`` and sweeps,
    see :class:`extprec.progress.CostLog`). A trajectory without one falls back to its
    checkpoints: their sigma and precision, with no steps or seconds (empty lists).
    """
    cost = trajectory.stats.get("cost")
    if cost:
        return {key: list(cost[key]) for key in ("log10_sigma", "bits", "steps", "seconds")}
    states = list(trajectory.checkpoints)
    if trajectory.final is not None and trajectory.final not in states:
        states.append(trajectory.final)
    return {"log10_sigma": [log10_sigma(s.sigma) for s in states],
            "bits": [int(s.precision_bits) for s in states], "steps": [], "seconds": []}


def precision_and_cost(trajectories, title=None):
    """Precision in use and cost along one or more runs, against log10 sigma.

    Three panels sharing the x axis: working precision in bits (53 is float64; the
    multiprecision precision grows like 2 log2 sigma, README "Precision"), accepted steps so
    far, and wall-clock seconds so far (log scales). Checkpoints are marked on the top panel.
    """
    figure = _figure()
    top, middle, bottom = figure.subplots(3, 1, sharex=True)
    for index, trajectory in enumerate(trajectories):
        color = f"C{index % 10}"
        cost = cost_along(trajectory)
        label = run_label(trajectory)
        top.step(cost["log10_sigma"], cost["bits"], where="post", color=color, label=label)
        marks = [log10_sigma(s.sigma) for s in trajectory.checkpoints]
        top.plot(marks, [s.precision_bits for s in trajectory.checkpoints], "o", ms=3,
                 color=color)
        if cost["steps"]:
            middle.plot(cost["log10_sigma"], cost["steps"], color=color)
            bottom.plot(cost["log10_sigma"], [max(t, 1e-4) for t in cost["seconds"]],
                        color=color)
    top.set_ylabel("precision (bits)")
    top.axhline(53, color="0.6", lw=0.8, ls=":")
    top.legend(fontsize="small", loc="upper left")
    middle.set_ylabel("accepted steps")
    middle.set_yscale("log")
    bottom.set_ylabel("seconds")
    bottom.set_yscale("log")
    bottom.set_xlabel(r"$\log_{10}\sigma$,  $\sigma = \log(1/L)$")
    for axis in (top, middle, bottom):
        axis.grid(True, alpha=0.3)
    top.set_title(title or "Precision and cost along the run")
    return figure


__all__ = ["cost_along", "precision_and_cost", "run_label", "save"]
