"""Built-in problems for the command-line interface, notebooks, benchmarks and tests.

Every generator returns a :class:`~extprec.problem.Problem`; keyword arguments ``depth``,
``alpha``, ``shape``, ``loss`` and ``reduction`` are passed through to it. Random generators are
deterministic given ``seed`` (``numpy.random.default_rng``). :data:`GENERATORS` and :func:`make`
build problems by name.
"""

from __future__ import annotations

import numpy as np

from extprec.problem import Problem

# Rows whose teacher margin |x . beta*| is below this fraction of ||beta*||_2 (the standard
# deviation of the margin) are redrawn, so that every label is well defined.
TEACHER_MIN_RELATIVE_MARGIN = 1e-3


def sparse_teacher_data(n_samples=20, n_features=50, n_active=3, seed=0):
    """Gaussian features labelled by a sparse linear teacher.

    The teacher ``beta*`` has i.i.d. N(0, 1) entries in its first ``n_active`` coordinates and
    zeros elsewhere; ``X`` has i.i.d. N(0, 1) entries, rows with
    ``|x . beta*| < TEACHER_MIN_RELATIVE_MARGIN ||beta*||_2`` are redrawn, and
    ``y = sign(X beta*)``. The data are therefore linearly separable, by ``beta*`` itself.

    Returns
    -------
    X : numpy.ndarray, shape (n_samples, n_features)
    y : numpy.ndarray, shape (n_samples,)
    teacher : numpy.ndarray, shape (n_features,)
    """
    if not 1 <= n_active <= n_features:
        raise ValueError(
            f"n_active must satisfy 1 <= n_active <= n_features={n_features}; got {n_active}"
        )
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1; got {n_samples}")
    rng = np.random.default_rng(seed)
    teacher = np.zeros(n_features)
    teacher[:n_active] = rng.standard_normal(n_active)
    threshold = TEACHER_MIN_RELATIVE_MARGIN * np.linalg.norm(teacher)
    X = rng.standard_normal((n_samples, n_features))
    tiny = np.abs(X @ teacher) < threshold
    while tiny.any():
        X[tiny] = rng.standard_normal((int(tiny.sum()), n_features))
        tiny = np.abs(X @ teacher) < threshold
    return X, np.sign(X @ teacher), teacher


def sparse_teacher(n_samples=20, n_features=50, n_active=3, seed=0, **problem_kwargs):
    """Problem from :func:`sparse_teacher_data` (separable, sparse ground truth)."""
    X, y, _ = sparse_teacher_data(n_samples, n_features, n_active, seed)
    return Problem(X, y, **problem_kwargs)


def default_problem(**problem_kwargs):
    """THE built-in default problem, used by the CLI and the benchmarks.

    ``sparse_teacher(20, 50, 3, seed=0)`` with ``depth=2``, ``alpha=1``, exponential sum loss,
    unless overridden by ``problem_kwargs`` (any :class:`~extprec.problem.Problem` keyword).
    """
    return sparse_teacher(20, 50, 3, seed=0, **{"depth": 2, "alpha": 1, **problem_kwargs})


def single_sample(x, label=1, **problem_kwargs):
    """One sample ``x`` (a vector) with ``label``; the reduced flow is exactly ``nu = tau``.

    Useful as an exact reference at any accuracy and precision (theory.md section 6, check 3).
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be one feature vector (1-D); got shape {x.shape}")
    return Problem(x[None, :], [label], **problem_kwargs)


def two_points(**problem_kwargs):
    """Two samples in two features whose l1 and l2 max-margin predictors differ.

    ``x1 = (1, 1/2)``, ``x2 = (9/10, 1)``, both labelled +1. The l1 max-margin predictor (the
    rich limit for D = 2) is ``(10/11, 2/11)`` with both samples as support vectors (dual weights
    ``(2/11, 10/11)``); the l2 max-margin predictor (the kernel limit) is ``x1 / ||x1||^2 =
    (4/5, 2/5)``, with only x1 as support vector (x2 has margin 1.12). With two samples in two
    features, both samples cannot be support vectors of both predictors unless the predictors
    coincide (both would equal ``X^{-1} 1``), so the rich limit here gains a support vector.
    """
    return Problem([[1.0, 0.5], [0.9, 1.0]], [1, 1], **problem_kwargs)


def orthogonal(n=3, **problem_kwargs):
    """``X = I_n`` with all labels +1: orthonormal samples with known answers.

    Every max-margin predictor (l1, l2, l_inf) is the all-ones vector at unit margin, every
    sample is a support vector, and the l_inf-normalized margin is 1.
    """
    return Problem(np.eye(n), np.ones(n), **problem_kwargs)


GENERATORS = {"sparse_teacher": sparse_teacher, "two_points": two_points, "orthogonal": orthogonal}


def make(name, **params):
    """Build the built-in problem ``name`` from :data:`GENERATORS` with keyword ``params``."""
    try:
        generator = GENERATORS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(sorted(GENERATORS))}"
        ) from None
    return generator(**params)
