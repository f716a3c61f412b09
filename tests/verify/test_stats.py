"""Binomial intervals, t and bootstrap intervals across seeds, exact permutation and rank-trend tests."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from verify.stats import (bootstrap_difference_interval, bootstrap_mean_interval, permutation_test, rank_trend_test,
                          t_interval, wilson_interval)

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


def test_permutation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="alternative"):
        permutation_test([1, 2], [3, 4], "bigger")
    with pytest.raises(ValueError, match="at least one value"):
        permutation_test([], [3, 4])


def test_t_interval_hand_computed():
    # mean 0.5, s = 0.1, n = 3: half-width t(2, 0.975) * 0.1 / sqrt(3) = 4.302653 * 0.057735 = 0.248414
    lo, hi = t_interval([0.4, 0.5, 0.6])
    assert (lo, hi) == pytest.approx((0.5 - 0.248414, 0.5 + 0.248414), abs=1e-6)
    # wider than the seeds' min-max, which is what a 3-seed bootstrap band collapses to
    assert lo < 0.4 and hi > 0.6
    # n = 2 with values 0 and 1: mean 0.5, s = 0.70711, t(1, 0.975) = 12.7062 -> half-width 6.3531
    assert t_interval([0.0, 1.0]) == pytest.approx((0.5 - 6.353102, 0.5 + 6.353102), abs=1e-5)
    assert t_interval([0.0, 1.0], bounds=(0.0, 1.0)) == (0.0, 1.0)


def test_t_interval_degenerate_cases_and_confidence():
    assert t_interval([0.7]) == (0.7, 0.7)
    assert t_interval([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3))
    lo, hi = t_interval([])
    assert math.isnan(lo) and math.isnan(hi)
    vals = [0.1, 0.4, 0.35, 0.8, 0.6]
    lo90, hi90 = t_interval(vals, 0.90)
    lo99, hi99 = t_interval(vals, 0.99)
    assert lo99 < lo90 < np.mean(vals) < hi90 < hi99


def test_rank_trend_perfectly_monotone_four_points():
    # 4! = 24 orderings, exactly one reaches rho = 1 (and one rho = -1)
    rho, p = rank_trend_test([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.9], "greater")
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / 24)
    rho, p = rank_trend_test([1, 2, 3, 4], [0.9, 0.5, 0.3, 0.1], "less")
    assert rho == pytest.approx(-1.0) and p == pytest.approx(1 / 24)
    assert rank_trend_test([1, 2, 3, 4], [0.9, 0.5, 0.3, 0.1])[1] == pytest.approx(2 / 24)
    assert rank_trend_test([1, 2, 3, 4], [0.9, 0.5, 0.3, 0.1], "greater")[1] == pytest.approx(1.0)


def test_rank_trend_three_points_and_ties():
    # x = 1,2,3 against y ranks 1,3,2: rho = 0.5; the 6 orderings give rho 1, .5, .5, -.5, -.5, -1
    rho, p = rank_trend_test([1, 2, 3], [1, 3, 2], "greater")
    assert rho == pytest.approx(0.5) and p == pytest.approx(3 / 6)
    # tied x (two k values, two seeds each): x ranks 1.5,1.5,3.5,3.5 against y ranks 1..4:
    # rho = 4 / sqrt(4 * 5); of the 6 distinct arrangements of x only the observed one is that high
    rho, p = rank_trend_test([1, 1, 2, 2], [0.1, 0.2, 0.3, 0.4], "greater")
    assert rho == pytest.approx(4 / math.sqrt(20)) and p == pytest.approx(1 / 6)


def test_rank_trend_matches_brute_force_over_all_orderings():
    rng = np.random.default_rng(5)
    for n in (5, 6, 7):
        x = rng.integers(1, 4, n).astype(float)  # ties in x, as k values repeated over seeds
        y = rng.random(n).round(1)  # and possibly in y
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        rho, p = rank_trend_test(x, y, "two-sided")
        assert rho == pytest.approx(stats.spearmanr(x, y)[0])
        null = np.array([stats.spearmanr(np.array(perm), y)[0] for perm in itertools.permutations(x)])
        assert p == pytest.approx(np.mean(np.abs(null) >= abs(rho) - 1e-9))


def test_rank_trend_degenerate_and_large():
    assert all(math.isnan(v) for v in rank_trend_test([1, 2, 3], [0.5, 0.5, 0.5]))
    assert all(math.isnan(v) for v in rank_trend_test([1], [0.5]))
    with pytest.raises(ValueError, match="equally long"):
        rank_trend_test([1, 2, 3], [1, 2])
    # 12 distinct points: 12! orderings, so a seeded Monte Carlo estimate (repeatable)
    x = np.arange(12.0)
    y = x + np.random.default_rng(1).normal(0, 2, 12)
    rho, p = rank_trend_test(x, y)
    assert rho > 0.7 and 0 < p < 0.05
    assert rank_trend_test(x, y) == (rho, p)
