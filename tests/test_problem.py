"""Tests of extprec.problem: validation, exact alpha, separability, loss infimum, t = 0 values."""

import decimal
import math
import pickle
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extprec.problem import SEPARABILITY_RTOL, Problem

X2 = [[1.0, 0.5], [0.9, 1.0]]
Y2 = [1, -1]
XOR_X = [[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]
XOR_Y = [1, -1, -1, 1]


def assert_gordan(problem, weights):
    """lambda >= 0, sum lambda = 1, X~^T lambda ~ 0: a proof that no beta separates."""
    assert weights.shape == (problem.n_samples,)
    assert (weights >= 0).all()
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    scale = np.abs(problem.X).max()
    assert np.abs(problem.signed_X.T @ weights).max() <= SEPARABILITY_RTOL * scale


# --- validation: every error names the problem and the fix -----------------------------------


@pytest.mark.parametrize(
    ("X", "y", "error", "match"),
    [
        ([1.0, 2.0], [1], ValueError, r"X must be 2-D.*reshape"),
        (np.zeros((0, 2)), [], ValueError, r"at least one sample"),
        (np.zeros((2, 0)), [1, 1], ValueError, r"at least one sample and one feature"),
        ([[1.0, 2.0], [3.0]], [1, 1], ValueError, r"rectangular.*same length"),
        ([[1.0, np.nan], [np.inf, 1.0]], [1, 1], ValueError, r"X contains 2 non-finite.*\(0, 1\)"),
        ([[1j, 0.0]], [1], TypeError, r"X must be real.*numpy.real"),
        ([["a", "b"]], [1], TypeError, r"X must contain real numbers.*dtype=float"),
        ([[object(), 1.0]], [1], TypeError, r"not convertible to float"),
        (X2, [1, 1, 1], ValueError, r"one label per row of X \(length 2\).*ravel"),
        (X2, [[1], [1]], ValueError, r"y must be 1-D"),
        (X2, [1, np.nan], ValueError, r"y contains 1 non-finite.*index 1"),
        (X2, [0, 1], ValueError, r"labels must be \+1 or -1; got \{0\}; map your classes"),
        (X2, [2, 0.5], ValueError, r"got \{0.5, 2\}"),
    ],
)
def test_data_validation(X, y, error, match):
    with pytest.raises(error, match=match):
        Problem(X, y)


@pytest.mark.parametrize(
    ("depth", "error", "match"),
    [
        (True, TypeError, "depth must be an integer"),
        ("2", TypeError, "depth must be an integer"),
        (2.5, ValueError, "depth must be an integer.*depth=2"),
        (0, ValueError, "depth=1 for the linear model"),
    ],
)
def test_depth_validation(depth, error, match):
    with pytest.raises(error, match=match):
        Problem(X2, Y2, depth=depth)


def test_integral_depth_is_accepted_as_int():
    assert Problem(X2, Y2, depth=3.0).depth == 3
    assert type(Problem(X2, Y2, depth=np.int64(1)).depth) is int


@pytest.mark.parametrize(
    ("alpha", "error", "match"),
    [
        (0, ValueError, "alpha must be > 0"),
        (-1.5, ValueError, "alpha must be > 0"),
        ("-1e-3", ValueError, "alpha must be > 0"),
        (math.inf, ValueError, "alpha must be finite"),
        (math.nan, ValueError, "alpha must be finite"),
        ("inf", ValueError, "alpha must be finite"),
        (decimal.Decimal("NaN"), ValueError, "alpha must be finite"),
        (mpmath.mpf("inf"), ValueError, "alpha must be finite"),
        ("tiny", ValueError, "not a decimal number; write it like"),
        (True, TypeError, "got the bool"),
        (None, TypeError, "decimal string such as"),
        (1 + 2j, TypeError, "decimal string such as"),
    ],
)
def test_alpha_validation(alpha, error, match):
    with pytest.raises(error, match=match):
        Problem(X2, Y2, alpha=alpha)


@pytest.mark.parametrize(
    ("shape", "error", "match"),
    [
        ([1.0, 2.0, 3.0], ValueError, r"vector of length d=2.*got an array of shape \(3,\)"),
        (2.0, ValueError, r"pair \(u_plus, u_minus\)"),
        (([1.0, 1.0], [1.0, 1.0], [1.0, 1.0]), ValueError, r"shape \(3, 2\)"),
        (([1.0, 1.0], [1.0]), ValueError, "shape must be a rectangular array"),
        ([1.0, 0.0], ValueError, "shape entries must be > 0"),
        (([1.0, 1.0], [1.0, -2.0]), ValueError, "shape entries must be > 0"),
        ([1.0, np.inf], ValueError, "shape contains 1 non-finite"),
    ],
)
def test_shape_validation(shape, error, match):
    with pytest.raises(error, match=match):
        Problem(X2, Y2, shape=shape)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss": "hinge"}, r"loss must be one of 'exp', 'logistic'; got 'hinge'"),
        ({"loss": None}, r"loss must be one of"),
        ({"reduction": "max"}, r"reduction must be one of 'sum', 'mean'; got 'max'"),
    ],
)
def test_loss_and_reduction_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Problem(X2, Y2, **kwargs)


# --- stored values and immutability ----------------------------------------------------------


def test_arrays_are_read_only_float_copies():
    X = np.array(X2)
    problem = Problem(X, np.array(Y2))
    X[0, 0] = 99.0
    assert problem.X[0, 0] == 1.0
    np.testing.assert_array_equal(problem.signed_X, [[1.0, 0.5], [-0.9, -1.0]])
    for array in (problem.X, problem.y, problem.signed_X, problem.u_plus, problem.u_minus):
        assert array.dtype == np.float64
        assert not array.flags.writeable
    assert (problem.n_samples, problem.n_features) == (2, 2)


def test_problem_is_immutable_and_pickles():
    problem = Problem(X2, Y2, depth=3, alpha="1e-400", shape=([1.0, 2.0], [2.0, 1.0]))
    with pytest.raises(AttributeError, match="immutable"):
        problem.depth = 2
    with pytest.raises(AttributeError, match="immutable"):
        del problem.alpha_exact
    copy = pickle.loads(pickle.dumps(problem))
    assert copy.alpha_exact == problem.alpha_exact
    np.testing.assert_array_equal(copy.u_minus, problem.u_minus)
    assert repr(copy) == repr(problem)


def test_repr_is_short_and_shows_extreme_alpha():
    problem = Problem(X2, Y2, alpha="1e-5000", loss="logistic")
    assert repr(problem) == (
        "Problem(n_samples=2, n_features=2, depth=2, alpha=1e-5000, shape=ones, "
        "loss='logistic', reduction='sum')"
    )


def test_shape_forms():
    """One vector means u+ = u-; a pair sets them separately."""
    balanced = Problem(X2, Y2, shape=[2.0, 3.0])
    np.testing.assert_array_equal(balanced.u_plus, [2.0, 3.0])
    assert balanced.balanced_shape
    pair = Problem(X2, Y2, shape=([2.0, 3.0], [2.0, 1.0]))
    np.testing.assert_array_equal(pair.u_minus, [2.0, 1.0])
    assert not pair.balanced_shape
    assert Problem(X2, Y2).balanced_shape


# --- exact alpha -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha", "exact"),
    [
        (3, Fraction(3)),
        (np.int64(3), Fraction(3)),
        (0.1, Fraction(0.1)),
        (np.float32(0.5), Fraction(1, 2)),
        (Fraction(1, 3), Fraction(1, 3)),
        (decimal.Decimal("0.1"), Fraction(1, 10)),
        ("0.1", Fraction(1, 10)),
        ("1e-300", Fraction(1, 10**300)),
        (mpmath.mpf(2) ** -2000, Fraction(1, 2**2000)),
    ],
)
def test_alpha_is_stored_exactly(alpha, exact):
    assert Problem(X2, Y2, alpha=alpha).alpha_exact == exact


def test_extreme_alpha_from_strings():
    """Strings are exact: log(1e-5000) = -5000 log 10; float(alpha) under/overflows."""
    small = Problem(X2, Y2, alpha="1e-5000")
    assert small.log_alpha == pytest.approx(-5000 * math.log(10), rel=1e-12)
    assert small.alpha == 0.0
    large = Problem(X2, Y2, alpha="1e5000")
    assert large.log_alpha == pytest.approx(5000 * math.log(10), rel=1e-12)
    assert large.alpha == math.inf


def test_log_alpha_mp_at_any_precision():
    """log_alpha_mp is accurate at 400 bits, including alpha = 1 + 1e-40 (near 1).

    The reference runs at 1000 bits, where rounding alpha = 1 + 1e-40 costs no accuracy in log.
    """
    ctx, reference = mpmath.MPContext(), mpmath.MPContext()
    ctx.prec, reference.prec = 400, 1000
    for text in ("1e-5000", "2.5", "1.0000000000000000000000000000000000000001", "0.7"):
        problem = Problem(X2, Y2, alpha=text)
        expected = ctx.mpf(reference.log(reference.mpf(text)))
        assert abs(problem.log_alpha_mp(ctx) / expected - 1) < ctx.mpf(2) ** -390
        assert problem.log_alpha == pytest.approx(float(expected), rel=1e-15)
    assert mpmath.mp.prec == 53


# --- separability ----------------------------------------------------------------------------


def test_separable_certificate():
    problem = Problem(X2, Y2)
    result = problem.separability()
    assert result.separable
    assert (problem.signed_X @ result.certificate >= 1 - 1e-9).all()
    assert result.margin > 0
    assert "linearly separable" in result.message
    assert problem.separability() is result


def test_orthonormal_margin_is_one():
    """X = I, y = 1: the l_inf-normalized max margin is attained by beta = 1 and equals 1."""
    result = Problem(np.eye(4), np.ones(4)).separability()
    assert result.margin == pytest.approx(1.0, abs=1e-9)


def test_xor_is_not_separable_with_gordan_certificate():
    problem = Problem(XOR_X, XOR_Y)
    result = problem.separability()
    assert not result.separable
    assert result.margin == 0.0
    assert_gordan(problem, result.certificate)
    assert "not linearly separable" in result.message


def test_separability_is_scale_invariant():
    """Tiny features: the tolerance is relative to max|X|, so the verdict does not change."""
    assert Problem(np.array(X2) * 1e-12, Y2).separability().separable
    problem = Problem(np.array(XOR_X) * 1e-12, XOR_Y)
    assert not problem.separability().separable
    assert_gordan(problem, problem.separability().certificate)


@st.composite
def teacher_problems(draw):
    """Small random problems separable by construction: labels of a random teacher."""
    n = draw(st.integers(1, 6))
    d = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    teacher = rng.standard_normal(d)
    X = rng.standard_normal((n, d))
    X = X[np.abs(X @ teacher) > 1e-3 * np.linalg.norm(teacher)]
    if X.shape[0] == 0:
        X = teacher[None, :]
    return Problem(X, np.sign(X @ teacher)), teacher


@settings(max_examples=40, deadline=None)
@given(teacher_problems())
def test_teacher_labelled_data_are_separable(problem_and_teacher):
    """Certificate margins >= 1, and the margin is at least the teacher's (l_inf-normalized)."""
    problem, teacher = problem_and_teacher
    result = problem.separability()
    assert result.separable
    assert (problem.signed_X @ result.certificate >= 1 - 1e-9).all()
    teacher_margin = (problem.signed_X @ teacher).min() / np.abs(teacher).max()
    assert result.margin >= teacher_margin - 1e-8 * np.abs(problem.X).sum(axis=1).max()
    assert problem.infimum_log_loss() == -math.inf


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_sample_and_its_opposite_are_not_separable(d, seed):
    """Adding -x_1 with label y_1 makes any data non-separable; the certificate proves it."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3, d))
    y = rng.choice([-1.0, 1.0], 3)
    problem = Problem(np.vstack([X, -X[:1]]), np.r_[y, y[0]])
    result = problem.separability()
    assert not result.separable
    assert_gordan(problem, result.certificate)


# --- infimum of the loss ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "reduction", "expected"),
    [
        ("exp", "sum", math.log(2)),  # min_b e^-b + e^b = 2 at b = 0
        ("exp", "mean", 0.0),
        ("logistic", "sum", math.log(2 * math.log(2))),  # 2 softplus(0)
        ("logistic", "mean", math.log(math.log(2))),
    ],
)
def test_infimum_closed_form(loss, reduction, expected):
    """x and -x with the same label in 1-D: the infimum is attained at beta = 0."""
    problem = Problem([[1.5], [-1.5]], [1, 1], loss=loss, reduction=reduction)
    assert problem.infimum_log_loss() == pytest.approx(expected, abs=1e-12)


def test_infimum_not_attained_when_part_is_separable():
    """A third, separable sample (0, 1) adds nothing to the infimum: log 2, or log(2/3) mean."""
    X = [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]
    assert Problem(X, [1, 1, 1]).infimum_log_loss() == pytest.approx(math.log(2), abs=1e-12)
    mean = Problem(X, [1, 1, 1], reduction="mean")
    assert mean.infimum_log_loss() == pytest.approx(math.log(2 / 3), abs=1e-12)


def test_infimum_xor():
    """XOR: margins cancel in pairs, so the minimum is at beta = 0: log 4."""
    assert Problem(XOR_X, XOR_Y).infimum_log_loss() == pytest.approx(math.log(4), abs=1e-12)


def test_infimum_of_separable_data_is_minus_infinity():
    assert Problem(X2, Y2).infimum_log_loss() == -math.inf


# --- initial quantities ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "reduction", "expected"),
    [
        ("exp", "sum", math.log(3)),
        ("exp", "mean", 0.0),
        ("logistic", "sum", math.log(3 * math.log(2))),
        ("logistic", "mean", math.log(math.log(2))),
    ],
)
def test_initial_log_loss_balanced(loss, reduction, expected):
    """u+ = u- gives beta(0) = 0, so every margin is 0."""
    problem = Problem(np.eye(3), [1, -1, 1], depth=3, loss=loss, reduction=reduction)
    assert problem.initial_log_loss() == pytest.approx(expected, abs=1e-14)
    sign, log_abs = problem.initial_beta_log()
    assert (sign == 0).all() and (log_abs == -math.inf).all()


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_initial_beta_unbalanced(depth):
    """beta(0) = (alpha u+)^D - (alpha u-)^D; for D = 1 it is alpha (u+ - u-)."""
    u_plus, u_minus = np.array([2.0, 1.0, 1.0]), np.array([1.0, 3.0, 1.0])
    problem = Problem(np.eye(3), [1, 1, -1], depth=depth, alpha=0.5, shape=(u_plus, u_minus))
    expected = (0.5 * u_plus) ** depth - (0.5 * u_minus) ** depth
    np.testing.assert_allclose(problem.initial_beta(), expected, rtol=1e-14)
    margins = problem.signed_X @ expected
    assert problem.initial_log_loss() == pytest.approx(math.log(np.exp(-margins).sum()), rel=1e-14)


def test_initial_beta_nearly_balanced_has_no_cancellation():
    """u+ = 1 + 2^-40, u- = 1: beta = alpha^2 (2^-39 + 2^-80) to full relative accuracy."""
    problem = Problem([[1.0]], [1], alpha=3, shape=([1 + 2.0**-40], [1.0]))
    assert problem.initial_beta()[0] == pytest.approx(9 * (2.0**-39 + 2.0**-80), rel=1e-15)


def test_initial_quantities_at_extreme_alpha():
    """alpha = 1e-5000, D = 2, u+ = 2, u- = 1: log beta = 2 log alpha + log 3; L(0) ~ N."""
    problem = Problem([[1.0], [2.0]], [1, 1], alpha="1e-5000", shape=([2.0], [1.0]))
    sign, log_abs = problem.initial_beta_log()
    assert sign[0] == 1
    assert log_abs[0] == pytest.approx(-10000 * math.log(10) + math.log(3), rel=1e-14)
    assert problem.initial_beta()[0] == 0.0
    assert problem.initial_log_loss() == pytest.approx(math.log(2), abs=1e-15)
    huge = Problem([[1.0], [2.0]], [1, 1], alpha="1e200", shape=([2.0], [1.0]))
    assert huge.initial_beta()[0] == math.inf
    assert huge.initial_log_loss() == -math.inf  # every margin is +inf in float64
