"""Statistics for verdicts: binomial intervals per length, intervals across seeds, permutation tests.

With the 2-5 seeds a CPU suite affords, a percentile bootstrap of the mean is little more than the
seeds' min-max, so ``t_interval`` (Student t over seeds) is the honest interval of a mean; the
bootstrap stays for the difference of two groups.  Comparisons are permutation tests, exact
(every relabelling enumerated) whenever that is at most ``MAX_EXACT`` relabellings: with few seeds
an asymptotic p-value has no basis.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Sequence

import numpy as np
from scipy import stats

#: enumerate a permutation test exactly up to this many relabellings; sample beyond it
MAX_EXACT = 50_000
#: relabellings drawn (with a fixed seed) when exact enumeration is too large
MONTE_CARLO_RESAMPLES = 20_000


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


def t_interval(values: Sequence[float], confidence: float = 0.95,
               bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """Student-t interval of the mean across seeds: mean ± t(n−1) · s / √n.

    One value gives ``(v, v)`` (there is no spread to estimate: callers say "1 seed, no interval");
    no values give ``(nan, nan)``.  ``bounds`` clips the interval to a quantity's range (an accuracy
    lies in [0, 1], while t with 2 degrees of freedom easily reaches past it).
    """
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return (math.nan, math.nan)
    mean = float(v.mean())
    if len(v) == 1:
        lo = hi = mean
    else:
        half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
        lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = min(max(lo, bounds[0]), bounds[1]), min(max(hi, bounds[0]), bounds[1])
    return lo, hi


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def permutation_test(a: Sequence[float], b: Sequence[float], alternative: str = "greater") -> float:
    """p-value of mean(a) − mean(b) under exchangeability of the two groups' values.

    ``alternative`` is "greater" (a > b), "less" or "two-sided" (twice the smaller one-sided
    p-value, capped at 1).  Exact (every split of the pooled values enumerated, by
    ``scipy.stats.permutation_test``) when there are at most ``MAX_EXACT`` splits, else
    ``MONTE_CARLO_RESAMPLES`` random splits with a fixed seed.  With 3 vs 3 seeds the smallest
    attainable one-sided p-value is 1/20 = 0.05.
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be greater, less or two-sided, got {alternative!r}")
    x, y = np.asarray(a, float), np.asarray(b, float)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("permutation_test needs at least one value in each group")
    exact = math.comb(len(x) + len(y), len(x)) <= MAX_EXACT
    result = stats.permutation_test((x, y), _mean_difference, permutation_type="independent", vectorized=True,
                                    n_resamples=np.inf if exact else MONTE_CARLO_RESAMPLES,
                                    alternative=alternative, rng=np.random.default_rng(0))
    return float(min(1.0, result.pvalue))


def _distinct_arrangements(values: np.ndarray) -> Iterator[np.ndarray]:
    """Every distinct ordering of a multiset (tied values are not told apart), each once."""
    distinct, counts = np.unique(values, return_counts=True)
    n = len(values)

    def place(group: int, free: tuple[int, ...], out: np.ndarray) -> Iterator[np.ndarray]:
        if group == len(distinct):
            yield out.copy()
            return
        for chosen in itertools.combinations(free, counts[group]):
            out[list(chosen)] = distinct[group]
            rest = tuple(i for i in free if i not in chosen)
            yield from place(group + 1, rest, out)

    yield from place(0, tuple(range(n)), np.empty(n))


def rank_trend_test(x: Sequence[float], y: Sequence[float], alternative: str = "two-sided") -> tuple[float, float]:
    """Spearman's rho between ``x`` and ``y`` with a permutation p-value, as ``(rho, p)``.

    Rho is the Pearson correlation of average ranks (ties allowed).  The null pairs ``y`` with
    every ordering of ``x`` equally likely.  Orderings that differ only among tied x values give
    the same rho, so the exact test enumerates the distinct arrangements of x's ranks (n! / Π c!
    of them for tie counts c: 1,680 for 3 values × 3 seeds) whenever there are at most
    ``MAX_EXACT``; beyond that it draws ``MONTE_CARLO_RESAMPLES`` orderings with a fixed seed and
    counts the observed one among them ((hits + 1) / (draws + 1)).  A perfectly monotone
    4-point series has exact one-sided p = 1/24.  Fewer than 2 points, or a constant x or y,
    gives ``(nan, nan)``: there is no rank order to test.
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be greater, less or two-sided, got {alternative!r}")
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"rank_trend_test needs two equally long sequences, got {xs.shape} and {ys.shape}")
    n = len(xs)
    rank_x, rank_y = stats.rankdata(xs), stats.rankdata(ys)
    if n < 2 or np.ptp(rank_x) == 0 or np.ptp(rank_y) == 0:
        return (math.nan, math.nan)
    centred_y = rank_y - rank_y.mean()
    scale = math.sqrt(float(((rank_x - rank_x.mean()) ** 2).sum() * (centred_y ** 2).sum()))
    rho = float((rank_x - rank_x.mean()) @ centred_y / scale)
    _, counts = np.unique(rank_x, return_counts=True)
    arrangements = math.factorial(n) // math.prod(math.factorial(int(c)) for c in counts)
    if arrangements <= MAX_EXACT:
        orderings = np.array(list(_distinct_arrangements(rank_x)))
    else:
        rng = np.random.default_rng(0)
        orderings = rng.permuted(np.tile(rank_x, (MONTE_CARLO_RESAMPLES, 1)), axis=1)
    null = (orderings - rank_x.mean()) @ centred_y / scale
    eps = 1e-9  # rho values equal up to rounding count as at least as extreme
    if alternative == "greater":
        hits = int(np.sum(null >= rho - eps))
    elif alternative == "less":
        hits = int(np.sum(null <= rho + eps))
    else:
        hits = int(np.sum(np.abs(null) >= abs(rho) - eps))
    p = hits / len(null) if arrangements <= MAX_EXACT else (hits + 1) / (len(null) + 1)
    return rho, float(p)
