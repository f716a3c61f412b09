"""Transfer metrics for "extrapolation by association" (Cai et al., NeurIPS 2025): numbers only.

Pure numpy/scipy, no torch and no training: what a transfer suite computes from curves and maps
it has already measured.

* ``generalization_gap``: the paper's scalar in [0, 1] between the main task's and the auxiliary
  task's exact-match-vs-length curves, as formalised here (the paper's exact formula is not given);
* ``ratio_window_penalty_fit``: the "A+B better than B" penalty model fitted to gaps over
  aux/main length ratios, beside a constant model, so "the penalty model holds" can be judged;
* ``map_difference`` and ``attention_difference``: the two head-reuse metrics of Cai et al.'s
  Appendix B (docs/theory.md §8.5.2);
* ``gap_metric_correlation``: whether a smaller gap goes with a smaller head-reuse metric across
  checkpoints (Spearman's rho with the exact permutation p-value of ``verify.stats.rank_trend_test``);
* ``CAI_RATIO_GAPS``: the paper's own ratio sweep, to set ours beside theirs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import curve_fit

from .stats import rank_trend_test

#: Cai et al. (NeurIPS 2025, arXiv 2506.09251), Figure 10: mean generalization gap over 3 seeds of
#: reverse addition (main) trained with no-carry + carry-only (aux), main and aux training lengths
#: each in CAI_RATIO_LENGTHS; key (main length, aux length).  Values as reconstructed from the
#: extracted figure text, docs/theory.md §8.5.1 (two digits; the diagonal is 0 by
#: construction in the paper).
CAI_RATIO_LENGTHS = (4, 8, 16, 32, 64, 128, 256)
_CAI_ROWS = (
    (0.00, 0.41, 0.65, 0.78, 0.78, 0.78, 0.75),
    (0.28, 0.00, 0.27, 0.74, 0.91, 0.91, 0.89),
    (0.60, 0.03, 0.00, 0.23, 0.67, 0.90, 0.95),
    (0.90, 0.72, 0.15, 0.00, 0.16, 0.34, 0.87),
    (0.95, 0.87, 0.72, 0.09, 0.00, 0.04, 0.66),
    (0.94, 0.95, 0.91, 0.36, 0.04, 0.00, 0.34),
    (0.91, 0.94, 0.93, 0.87, 0.63, 0.20, 0.00),
)
CAI_RATIO_GAPS: dict[tuple[int, int], float] = {
    (main, aux): _CAI_ROWS[i][k] for i, main in enumerate(CAI_RATIO_LENGTHS) for k, aux in enumerate(CAI_RATIO_LENGTHS)}
CAI_RATIO_SOURCE = ("Cai, Lee, Schwarzschild, Oymak & Papailiopoulos, 'Extrapolation by Association', NeurIPS 2025, "
                    "Figure 10 (values reconstructed from the figure text, docs/theory.md §8.5.1)")

#: a fitted penalty model is preferred over a constant gap when its AIC is lower by at least this
#: (the usual "substantial support" difference; fixed here, before any of our sweeps ran)
AIC_PREFERENCE = 2.0


class TransferInputError(ValueError):
    """Curves, maps or sweep points that cannot be compared as given; the message names the fix."""


def _finite(values, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise TransferInputError(f"{what} holds a NaN or infinite value; pass measured values only")
    return arr


def _accuracy_curve(values, what: str, size: int) -> np.ndarray:
    arr = _finite(values, what)
    if arr.shape != (size,):
        raise TransferInputError(f"{what} has shape {arr.shape}; it needs one value per evaluated length ({size})")
    if np.any((arr < 0) | (arr > 1)):
        raise TransferInputError(f"{what} has values outside [0, 1]; pass exact match as a fraction")
    return arr


# ------------------------------------------------------------------------ generalization gap


def transfer_band(main_train_max: int, aux_train_max: int) -> tuple[int, int]:
    """The band of lengths one task is trained on and the other is not: (lower, upper], lower the
    shorter training maximum, upper the longer one (empty when they are equal)."""
    return min(main_train_max, aux_train_max), max(main_train_max, aux_train_max)


def generalization_gap(main_curve: Sequence[float], aux_curve: Sequence[float], lengths: Sequence[int],
                       band: tuple[int, int]) -> float:
    """Cai et al.'s generalization gap, as formalised here: a scalar in [0, 1], 0 when the curves coincide.

    ``main_curve[i]`` and ``aux_curve[i]`` are the exact match (fraction) of the main and the
    auxiliary task at ``lengths[i]``, measured on one model trained on both.  With ``band =
    (lower, upper)`` (normally ``transfer_band(main_train_max, aux_train_max)``), the gap is

        gap = mean over the evaluated lengths L with lower < L <= upper of |aux(L) − main(L)|,

    the mean absolute difference of exact match over the lengths that one task was trained on and
    the other was not.  With the auxiliary trained longer this is how far the main task falls short
    of the auxiliary's extrapolation in the transfer band; with it trained shorter, how far the
    auxiliary falls short of the main.  The paper describes its gap only as a [0, 1] scalar built from
    the difference of the two curves with 0 on the diagonal (docs/theory.md §8.5.1); its exact formula is
    not known, so compare shapes, not third digits, with ``CAI_RATIO_GAPS``.  An empty band
    (``lower == upper``: equal training lengths) gives 0, as the paper's diagonal does by construction.
    """
    lengths_arr = _finite(lengths, "lengths")
    if lengths_arr.ndim != 1:
        raise TransferInputError(f"lengths has shape {lengths_arr.shape}; pass one length per curve point")
    main = _accuracy_curve(main_curve, "main_curve", len(lengths_arr))
    aux = _accuracy_curve(aux_curve, "aux_curve", len(lengths_arr))
    lower, upper = band
    if lower > upper:
        raise TransferInputError(f"band ({lower}, {upper}) is reversed; pass (shorter training max, longer one)")
    if lower == upper:
        return 0.0
    inside = (lengths_arr > lower) & (lengths_arr <= upper)
    if not inside.any():
        raise TransferInputError(f"no evaluated length lies in the band ({lower}, {upper}]; evaluate the curves at "
                                 f"lengths {lower + 1}..{upper}")
    return float(np.mean(np.abs(aux[inside] - main[inside])))


# ------------------------------------------------------------------------ ratio-window penalty


def uncovered_octaves(ratios: Sequence[float]) -> np.ndarray:
    """|log2(aux length / main length)|: the doublings of length one task is trained on and the other is not."""
    arr = _finite(ratios, "ratios")
    if np.any(arr <= 0):
        raise TransferInputError("ratios must be positive (aux training length / main training length)")
    return np.abs(np.log2(arr))


def penalty_model(u: np.ndarray, saturation: float, rate: float) -> np.ndarray:
    """gap(u) = saturation · (1 − exp(−rate · u)), u = uncovered octaves."""
    return saturation * (1.0 - np.exp(-rate * u))


@dataclass(frozen=True)
class PenaltyFit:
    """The penalty model fitted by least squares, beside a constant gap fitted to the same points."""

    saturation: float  # the gap the penalty approaches far outside the window
    rate: float  # lambda: how fast the penalty grows per uncovered octave
    saturation_se: float  # standard errors from the fit's covariance (nan where it is singular)
    rate_se: float
    rss: float  # residual sum of squares of the penalty model
    constant: float  # the constant model's gap (the mean)
    constant_rss: float
    r_squared: float  # 1 − rss / constant_rss: the variance the penalty explains beyond a constant
    aic: float
    constant_aic: float
    points: int
    note: str = ""

    @property
    def preferred(self) -> str:
        """"penalty" when its AIC beats the constant model's by at least AIC_PREFERENCE, else "constant"."""
        return "penalty" if self.constant_aic - self.aic >= AIC_PREFERENCE else "constant"

    def ratio_window(self, level: float) -> tuple[float, float] | None:
        """Aux/main ratios within which the fitted gap stays at or below ``level`` (Cai et al. state
        [0.5, 2]); None when the fitted gap never exceeds ``level`` (no window: any ratio)."""
        if self.saturation <= level or self.rate <= 0:
            return None
        octaves = -math.log(1.0 - level / self.saturation) / self.rate
        return 2.0 ** -octaves, 2.0 ** octaves

    def summary(self) -> str:
        return (f"gap = {self.saturation:.3f}(±{self.saturation_se:.3f}) · (1 − exp(−{self.rate:.3f}(±{self.rate_se:.3f}) "
                f"· |log2 ratio|)), {self.points} points, R² vs constant {self.r_squared:.3f}, AIC {self.aic:.1f} vs "
                f"constant {self.constant_aic:.1f}: {self.preferred} preferred" + (f" ({self.note})" if self.note else ""))


def _aic(rss: float, points: int, parameters: int) -> float:
    # Gaussian least-squares AIC; a perfect fit is floored so the logarithm stays finite
    return points * math.log(max(rss, 1e-12) / points) + 2 * parameters


def ratio_window_penalty_fit(ratios: Sequence[float], gaps: Sequence[float]) -> PenaltyFit:
    """Fit the "A+B better than B" model to generalization gaps over aux/main length ratios.

    The model, as formalised here ("Why is A+B Better Than B?", docs/theory.md §8.7, states a penalty
    exponential in the length the auxiliary does not cover, without a form we could read):

        gap(ratio) = A · (1 − exp(−λ · u)),   u = |log2(aux length / main length)|,

    u the octaves of length one task is trained on and the other is not, measured on a log scale
    because Cai et al.'s sweep (and window [0.5, 2]) is geometric.  A in [0, 1] is the gap far
    outside the window, λ ≥ 0 the rate; gap(1) = 0.  Fitted with ``scipy.optimize.curve_fit``
    (bounded least squares), with standard errors from its covariance.  Beside it: the constant
    model gap = mean; ``r_squared`` is the variance the penalty explains beyond it and
    ``preferred`` compares Gaussian AICs (2 parameters vs 1).

    Refuses (``TransferInputError``) fewer than 3 points, a single ratio distance, gaps outside
    [0, 1], and a constant series of gaps: there is no ratio effect to fit in it.
    """
    u = uncovered_octaves(ratios)
    g = _finite(gaps, "gaps")
    if u.ndim != 1 or g.shape != u.shape:
        raise TransferInputError(f"ratios and gaps must be equally long 1-D sequences, got {u.shape} and {g.shape}")
    if len(g) < 3:
        raise TransferInputError(f"{len(g)} points cannot fit a 2-parameter model against a constant; give at least 3")
    if np.any((g < 0) | (g > 1)):
        raise TransferInputError("gaps must lie in [0, 1] (generalization_gap's range)")
    if np.ptp(g) == 0:
        raise TransferInputError(f"the gaps are constant ({g[0]:g} at every ratio): there is no ratio effect to fit; "
                                 "report the constant instead")
    if np.ptp(u) == 0:
        raise TransferInputError("every ratio is equally far from 1: sweep at least two ratio distances")
    start = (float(np.clip(g.max(), 1e-3, 1.0)), 1.0)
    params, cov = curve_fit(penalty_model, u, g, p0=start, bounds=([0.0, 0.0], [1.0, np.inf]), maxfev=20_000)
    saturation, rate = (float(v) for v in params)
    errors = np.sqrt(np.diag(cov)) if np.all(np.isfinite(cov)) else np.full(2, np.nan)
    notes = [] if np.all(np.isfinite(errors)) else ["covariance singular: standard errors undefined"]
    if saturation >= 1.0 - 1e-6:
        notes.append("saturation at its bound 1: its standard error is not a confidence statement")
    note = "; ".join(notes)
    rss = float(np.sum((g - penalty_model(u, saturation, rate)) ** 2))
    constant = float(g.mean())
    constant_rss = float(np.sum((g - constant) ** 2))
    return PenaltyFit(saturation, rate, float(errors[0]), float(errors[1]), rss, constant, constant_rss,
                      1.0 - rss / constant_rss, _aic(rss, len(g), 2), _aic(constant_rss, len(g), 1), len(g), note)


def cai_ratio_points(include_diagonal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(aux/main ratios, gaps) of ``CAI_RATIO_GAPS``; the diagonal (0 by construction) left out by default."""
    keys = [k for k in CAI_RATIO_GAPS if include_diagonal or k[0] != k[1]]
    return np.array([aux / main for main, aux in keys]), np.array([CAI_RATIO_GAPS[k] for k in keys])


# ------------------------------------------------------------------------ head reuse (Appendix B)


def _same_shape(a, b, what: str, ndim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    x, y = _finite(a, f"{what} a"), _finite(b, f"{what} b")
    if x.shape != y.shape:
        raise TransferInputError(f"{what}s have shapes {x.shape} and {y.shape}; compare maps of one model "
                                 "at equal shapes")
    if ndim is not None and x.ndim != ndim:
        raise TransferInputError(f"{what}s need {ndim} dimensions, got {x.ndim}")
    if x.size == 0:
        raise TransferInputError(f"{what}s are empty")
    return x, y


def map_difference(map_a, map_b) -> float:
    """Mean absolute difference of two layers × heads mean-ablation maps (each entry: the accuracy
    drop when that head's output is replaced by its batch mean), Cai et al. Appendix B."""
    x, y = _same_shape(map_a, map_b, "ablation map", ndim=2)
    return float(np.mean(np.abs(x - y)))


def attention_difference(att_a, att_b) -> float:
    """Summed entry-wise absolute difference of two tasks' attention matrices (heads × queries × keys,
    or with a leading layer axis), summed over heads and entries, Cai et al. Appendix B."""
    x, y = _same_shape(att_a, att_b, "attention array")
    if x.ndim < 2:
        raise TransferInputError(f"attention arrays need at least 2 dimensions (queries × keys), got {x.ndim}")
    return float(np.sum(np.abs(x - y)))


def gap_metric_correlation(gaps: Sequence[float], metric: Sequence[float]) -> tuple[float, float]:
    """Spearman's rho of a head-reuse metric against the gap across checkpoints, with the one-sided
    exact permutation p-value that a smaller metric goes with a smaller gap (``rank_trend_test``)."""
    return rank_trend_test(metric, gaps, alternative="greater")
