"""Statistics for verdicts: binomial intervals per length, bootstrap across seeds, permutation tests."""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
from scipy import stats


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (well-behaved at 0 and 1)."""
    if trials <= 0:
        return (0.0, 1.0)
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # at 0 or all successes the interval touches the boundary exactly (no rounding residue)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return lo, hi


def bootstrap_mean_interval(values: Sequence[float], confidence: float = 0.95, resamples: int = 10_000,
                            seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean across seeds (degenerate for one value)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return (math.nan, math.nan)
    if len(v) == 1:
        return (float(v[0]), float(v[0]))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(resamples, len(v)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def bootstrap_difference_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95,
                                  resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) − mean(b), resampling each group's seeds."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    diffs = (x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
             - y[rng.integers(0, len(y), size=(resamples, len(y)))].mean(axis=1))
    alpha = (1 - confidence) / 2
    return float(np.quantile(diffs, alpha)), float(np.quantile(diffs, 1 - alpha))


def permutation_test(a: Sequence[float], b: Sequence[float], alternative: str = "greater") -> float:
    """p-value of mean(a) − mean(b) under exchangeability; exact enumeration for small groups.

    ``alternative`` is "greater" (a > b), "less" or "two-sided".  With 3 vs 3 seeds the smallest
    attainable one-sided p-value is 1/20 = 0.05.
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    pooled = np.concatenate([x, y])
    observed = x.mean() - y.mean()
    k, total = len(x), len(pooled)
    if math.comb(total, k) <= 50_000:
        diffs = []
        for idx in itertools.combinations(range(total), k):
            mask = np.zeros(total, bool)
            mask[list(idx)] = True
            diffs.append(pooled[mask].mean() - pooled[~mask].mean())
        diffs = np.asarray(diffs)
    else:
        rng = np.random.default_rng(0)
        diffs = np.empty(20_000)
        for i in range(len(diffs)):
            perm = rng.permutation(pooled)
            diffs[i] = perm[:k].mean() - perm[k:].mean()
    eps = 1e-12  # ties with the observed value count as at least as extreme
    if alternative == "greater":
        return float(np.mean(diffs >= observed - eps))
    if alternative == "less":
        return float(np.mean(diffs <= observed + eps))
    return float(np.mean(np.abs(diffs) >= abs(observed) - eps))
