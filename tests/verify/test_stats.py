"""Binomial intervals, bootstrap intervals and exact permutation tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.stats import bootstrap_difference_interval, bootstrap_mean_interval, permutation_test, wilson_interval

Z95 = 1.959963984540054  # standard normal 0.975 quantile


def wilson_reference(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval written from the textbook form (roots of the score-test quadratic)."""
    p = k / n
    A = 1 + z * z / n
    B = -(2 * p + z * z / n)
    C = p * p
    disc = math.sqrt(max(0.0, B * B - 4 * A * C))
    return (-B - disc) / (2 * A), (-B + disc) / (2 * A)


@pytest.mark.parametrize(
    "k, n, lo, hi",
    [
        (0, 10, 0.0, 0.2775),
        (1, 10, 0.0179, 0.4042),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_wilson_known_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 5000), data=st.data())
def test_wilson_matches_quadratic_form(n, data):
    k = data.draw(st.integers(0, n), label="k")
    lo, hi = wilson_interval(k, n)
    ref_lo, ref_hi = wilson_reference(k, n)
    assert lo == pytest.approx(ref_lo, abs=1e-9)
    assert hi == pytest.approx(ref_hi, abs=1e-9)
    # contains the observed rate (up to float rounding: at k = 0 the lower end can be ~1e-17)
    assert 0.0 <= lo <= k / n + 1e-12 and k / n - 1e-12 <= hi <= 1.0


def test_wilson_confidence_and_sample_size():
    lo95, hi95 = wilson_interval(30, 100, 0.95)
    lo99, hi99 = wilson_interval(30, 100, 0.99)
    assert lo99 < lo95 and hi99 > hi95
    lo_big, hi_big = wilson_interval(300, 1000, 0.95)
    assert hi_big - lo_big < hi95 - lo95
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_bootstrap_degenerate_and_empty():
    assert bootstrap_mean_interval([0.7]) == (0.7, 0.7)
    assert bootstrap_mean_interval([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3))
    lo, hi = bootstrap_mean_interval([])
    assert math.isnan(lo) and math.isnan(hi)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=10), seed=st.integers(0, 1000))
def test_bootstrap_interval_contains_mean_and_is_in_range(values, seed):
    lo, hi = bootstrap_mean_interval(values, resamples=2000, seed=seed)
    mean = float(np.mean(values))
    assert min(values) - 1e-12 <= lo <= mean + 1e-12
    assert mean - 1e-12 <= hi <= max(values) + 1e-12


def test_bootstrap_is_seeded_and_narrows_with_confidence():
    vals = [0.1, 0.4, 0.35, 0.8, 0.6]
    assert bootstrap_mean_interval(vals, seed=3) == bootstrap_mean_interval(vals, seed=3)
    lo90, hi90 = bootstrap_mean_interval(vals, confidence=0.90)
    lo99, hi99 = bootstrap_mean_interval(vals, confidence=0.99)
    assert lo99 <= lo90 and hi99 >= hi90 and (hi99 - lo99) > (hi90 - lo90)


def test_bootstrap_difference_interval():
    lo, hi = bootstrap_difference_interval([0.9, 0.95, 1.0], [0.1, 0.15, 0.2])
    assert 0.7 <= lo <= 0.8 <= hi <= 0.9  # the observed difference is 0.8
    lo, hi = bootstrap_difference_interval([0.5, 0.5], [0.5, 0.5])
    assert lo == pytest.approx(0.0) and hi == pytest.approx(0.0)


def test_permutation_exact_three_vs_three():
    high, low = [0.9, 0.95, 1.0], [0.1, 0.2, 0.3]
    assert permutation_test(high, low, "greater") == pytest.approx(1 / 20)
    assert permutation_test(low, high, "greater") == pytest.approx(1.0)
    assert permutation_test(high, low, "less") == pytest.approx(1.0)
    assert permutation_test(low, high, "less") == pytest.approx(1 / 20)
    assert permutation_test(high, low, "two-sided") == pytest.approx(2 / 20)
    same = [0.5, 0.5, 0.5]
    assert permutation_test(same, same, "two-sided") == pytest.approx(1.0)
    assert permutation_test([0.2, 0.4, 0.6], [0.2, 0.4, 0.6], "two-sided") == pytest.approx(1.0)


def test_permutation_partial_overlap():
    # a = {3, 4, 5}, b = {1, 2, 6}: mean difference 1; splits with difference >= 1 are
    # {3,4,5}, {2,4,6}, {3,4,6}, {3,5,6}, {4,5,6}, {2,5,6}, {1,5,6} = 7 of 20
    assert permutation_test([3, 4, 5], [1, 2, 6], "greater") == pytest.approx(7 / 20)


def test_permutation_large_groups_use_sampling():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 1.0, 15)
    b = rng.normal(0.0, 1.0, 15)  # C(30, 15) > 50 000: Monte Carlo branch
    p = permutation_test(a, b, "greater")
    assert 0.0 <= p < 0.05
    assert permutation_test(b, a, "greater") > 0.95
