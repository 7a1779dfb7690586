"""Tests of extprec.datasets: determinism, teacher labels, separability, documented answers."""

import numpy as np
import pytest
from scipy.optimize import linprog

from extprec import datasets
from extprec.problem import Problem


def test_sparse_teacher_is_deterministic_by_seed():
    first = datasets.sparse_teacher_data(10, 8, 2, seed=7)
    again = datasets.sparse_teacher_data(10, 8, 2, seed=7)
    other = datasets.sparse_teacher_data(10, 8, 2, seed=8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("seed", range(5))
def test_labels_match_a_sparse_teacher_with_clear_margins(seed):
    X, y, teacher = datasets.sparse_teacher_data(30, 12, 3, seed=seed)
    assert X.shape == (30, 12) and y.shape == (30,)
    assert (teacher[3:] == 0).all() and (teacher[:3] != 0).all()
    margins = y * (X @ teacher)
    assert (margins >= datasets.TEACHER_MIN_RELATIVE_MARGIN * np.linalg.norm(teacher)).all()


def test_sparse_teacher_problem_is_separable_and_passes_kwargs():
    problem = datasets.sparse_teacher(15, 6, 2, seed=3, depth=3, alpha="1e-10", loss="logistic")
    X, y, _ = datasets.sparse_teacher_data(15, 6, 2, seed=3)
    np.testing.assert_array_equal(problem.X, X)
    np.testing.assert_array_equal(problem.y, y)
    assert (problem.depth, problem.loss) == (3, "logistic")
    assert problem.separability().separable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_active": 0}, "n_active must satisfy"), ({"n_active": 60}, "n_active must satisfy"),
     ({"n_samples": 0}, "n_samples must be >= 1")],
)
def test_sparse_teacher_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.sparse_teacher_data(**kwargs)


def test_default_problem():
    """The documented default: sparse_teacher(20, 50, 3, seed=0), D = 2, alpha = 1."""
    problem = datasets.default_problem()
    reference = datasets.sparse_teacher(20, 50, 3, seed=0)
    np.testing.assert_array_equal(problem.X, reference.X)
    np.testing.assert_array_equal(problem.y, reference.y)
    assert (problem.depth, problem.alpha_exact, problem.loss, problem.reduction) == (
        2, 1, "exp", "sum")
    assert problem.separability().separable
    assert datasets.default_problem(depth=3, alpha="0.1").depth == 3


def test_single_sample():
    problem = datasets.single_sample([1.0, -2.0], label=-1, depth=3)
    np.testing.assert_array_equal(problem.signed_X, [[-1.0, 2.0]])
    assert problem.depth == 3
    with pytest.raises(ValueError, match="one feature vector"):
        datasets.single_sample([[1.0, 2.0]])
    with pytest.raises(ValueError, match="labels must be"):
        datasets.single_sample([1.0], label=0)


def test_two_points_documented_max_margin_predictors():
    """l1 max margin (10/11, 2/11) with both support vectors; l2 max margin x1/||x1||^2."""
    problem = datasets.two_points()
    Z = problem.signed_X
    # l1: min sum(b+ + b-) s.t. Z (b+ - b-) >= 1, b+- >= 0.
    result = linprog(np.ones(4), A_ub=-np.c_[Z, -Z], b_ub=-np.ones(2), method="highs")
    beta_l1 = result.x[:2] - result.x[2:]
    np.testing.assert_allclose(beta_l1, [10 / 11, 2 / 11], atol=1e-12)
    np.testing.assert_allclose(Z @ beta_l1, [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(-result.ineqlin.marginals, [2 / 11, 10 / 11], atol=1e-12)
    # l2: the single-constraint optimum x1/||x1||^2 is feasible, hence optimal.
    beta_l2 = Z[0] / (Z[0] @ Z[0])
    np.testing.assert_allclose(beta_l2, [0.8, 0.4], atol=1e-15)
    assert Z[1] @ beta_l2 == pytest.approx(1.12)


def test_orthogonal_known_answers():
    problem = datasets.orthogonal(4, depth=1)
    np.testing.assert_array_equal(problem.signed_X, np.eye(4))
    assert problem.separability().margin == pytest.approx(1.0, abs=1e-9)


def test_registry_builds_by_name():
    assert set(datasets.GENERATORS) == {"sparse_teacher", "two_points", "orthogonal"}
    assert isinstance(datasets.make("orthogonal", n=2, alpha="1e-3"), Problem)
    problem = datasets.make("sparse_teacher", n_samples=5, n_features=4, n_active=1, seed=1)
    assert problem.n_samples == 5


def test_registry_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="unknown dataset 'xor'; choose one of orthogonal, "
                                         "sparse_teacher, two_points"):
        datasets.make("xor")
