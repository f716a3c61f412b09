"""Transfer metrics (verify.transfer): gap and map arithmetic by hand, the penalty fit on synthetic data."""

import math

import numpy as np
import pytest

from verify.transfer import (CAI_RATIO_GAPS, CAI_RATIO_LENGTHS, TransferInputError, attention_difference,
                             cai_ratio_points, gap_metric_correlation, generalization_gap, map_difference,
                             penalty_model, ratio_window_penalty_fit, transfer_band)


LENGTHS = list(range(1, 9))


def test_gap_is_zero_when_curves_coincide():
    curve = [1, 1, 1, 1, 0.5, 0.2, 0.1, 0.0]
    assert generalization_gap(curve, curve, LENGTHS, (4, 8)) == 0.0


def test_gap_is_the_mean_absolute_difference_inside_the_band_only():
    main = [1, 1, 1, 1, 0.5, 0.0, 0.0, 0.0]
    aux = [0, 0, 0, 1, 1.0, 1.0, 0.5, 0.9]  # differences before the band must not count
    # band (4, 8]: lengths 5..8, |1-.5| + |1-0| + |.5-0| + |.9-0| = 2.9 over 4 lengths
    assert generalization_gap(main, aux, LENGTHS, (4, 8)) == pytest.approx(2.9 / 4)
    # the band is (lower, upper]: length 4 is outside, length 6 inside
    assert generalization_gap(main, aux, LENGTHS, (5, 6)) == pytest.approx(1.0)


def test_gap_is_one_when_main_fails_where_aux_succeeds():
    main = [1, 1, 0, 0, 0, 0, 0, 0]
    aux = [1] * 8
    assert generalization_gap(main, aux, LENGTHS, transfer_band(2, 8)) == 1.0


def test_band_is_symmetric_in_which_task_is_longer_and_empty_on_the_diagonal():
    assert transfer_band(16, 32) == transfer_band(32, 16) == (16, 32)
    assert generalization_gap([1] * 8, [0] * 8, LENGTHS, transfer_band(8, 8)) == 0.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(main_curve=[1] * 7), "one value per evaluated length"),
    (dict(aux_curve=[1.5] * 8), r"outside \[0, 1\]"),
    (dict(main_curve=[math.nan] * 8), "NaN"),
    (dict(band=(8, 4)), "reversed"),
    (dict(band=(8, 12)), "no evaluated length"),
])
def test_gap_refuses_bad_input_with_one_line(kwargs, match):
    args = dict(main_curve=[1] * 8, aux_curve=[0] * 8, lengths=LENGTHS, band=(4, 8)) | kwargs
    with pytest.raises(TransferInputError, match=match) as err:
        generalization_gap(**args)
    assert "\n" not in str(err.value)


def _synthetic(saturation, rate, noise, seed=0):
    rng = np.random.default_rng(seed)
    octaves = np.array([0.5, 1, 1.5, 2, 3, 4, 5, 6] * 3)
    ratios = 2.0 ** np.where(np.arange(len(octaves)) % 2, octaves, -octaves)  # both sides of the window
    gaps = np.clip(penalty_model(octaves, saturation, rate) + rng.normal(0, noise, len(octaves)), 0, 1)
    return ratios, gaps


def test_fit_recovers_known_parameters_within_its_standard_errors():
    ratios, gaps = _synthetic(0.85, 0.6, noise=0.02)
    fit = ratio_window_penalty_fit(ratios, gaps)
    assert abs(fit.saturation - 0.85) < 3 * fit.saturation_se + 0.01
    assert abs(fit.rate - 0.6) < 3 * fit.rate_se + 0.01
    assert fit.rate_se < 0.1 and fit.saturation_se < 0.05
    assert fit.preferred == "penalty" and fit.r_squared > 0.95


def test_fit_recovers_noise_free_parameters_exactly():
    ratios, gaps = _synthetic(0.7, 1.3, noise=0.0)
    fit = ratio_window_penalty_fit(ratios, gaps)
    assert fit.saturation == pytest.approx(0.7, abs=1e-5) and fit.rate == pytest.approx(1.3, abs=1e-4)
    # the window where the fitted gap stays <= 0.35 = half the saturation: |log2 r| <= ln 2 / 1.3
    lo, hi = fit.ratio_window(0.35)
    assert math.log2(hi) == pytest.approx(math.log(2) / 1.3, rel=1e-4) and lo == pytest.approx(1 / hi)


def test_fit_prefers_the_constant_model_on_gaps_without_a_ratio_effect():
    rng = np.random.default_rng(3)
    ratios, _ = _synthetic(0.8, 0.5, 0.0)
    gaps = np.clip(0.5 + rng.normal(0, 0.05, len(ratios)), 0, 1)  # noise around a constant
    assert ratio_window_penalty_fit(ratios, gaps).preferred == "constant"


@pytest.mark.parametrize("ratios, gaps, match", [
    ([0.5, 2, 4], [0.3, 0.3, 0.3], "constant"),
    ([0.5, 2], [0.1, 0.2], "at least 3"),
    ([2, 0.5, 2], [0.1, 0.2, 0.3], "equally far"),
    ([2, 4, 8], [0.1, 0.2, 1.3], r"\[0, 1\]"),
    ([0, 4, 8], [0.1, 0.2, 0.3], "positive"),
])
def test_fit_refuses_what_it_cannot_fit(ratios, gaps, match):
    with pytest.raises(TransferInputError, match=match):
        ratio_window_penalty_fit(ratios, gaps)


def test_cai_table_is_complete_zero_on_the_diagonal_and_favours_the_penalty():
    assert len(CAI_RATIO_GAPS) == len(CAI_RATIO_LENGTHS) ** 2
    assert all(CAI_RATIO_GAPS[(m, m)] == 0 for m in CAI_RATIO_LENGTHS)
    assert CAI_RATIO_GAPS[(16, 32)] == 0.23 and CAI_RATIO_GAPS[(256, 4)] == 0.91  # row = main, column = aux
    ratios, gaps = cai_ratio_points()
    assert len(ratios) == 42
    fit = ratio_window_penalty_fit(ratios, gaps)
    assert fit.preferred == "penalty"  # their sweep does show a ratio effect


def test_map_difference_is_the_mean_absolute_difference():
    a = np.zeros((2, 3))
    b = np.array([[0.6, 0, 0], [0, -0.3, 0]])
    assert map_difference(a, b) == pytest.approx(0.9 / 6)
    assert map_difference(b, b) == 0.0
    assert map_difference(a, b) == map_difference(b, a)


def test_attention_difference_sums_over_heads_and_entries():
    a = np.zeros((2, 3, 3))  # heads × queries × keys
    b = a.copy()
    b[0, 1, 0], b[1, 2, 2] = 0.25, 0.5
    assert attention_difference(a, b) == pytest.approx(0.75)


def test_metrics_refuse_mismatched_or_malformed_maps():
    with pytest.raises(TransferInputError, match="shapes"):
        map_difference(np.zeros((6, 6)), np.zeros((6, 5)))
    with pytest.raises(TransferInputError, match="2 dimensions"):
        map_difference(np.zeros(6), np.zeros(6))
    with pytest.raises(TransferInputError, match="NaN"):
        attention_difference(np.full((2, 2), np.nan), np.zeros((2, 2)))


def test_gap_metric_correlation_is_the_exact_rank_test():
    rho, p = gap_metric_correlation([0.1, 0.2, 0.4, 0.8], [1.0, 2.0, 3.0, 4.0])
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / 24)
    rho, p = gap_metric_correlation([0.8, 0.4, 0.2, 0.1], [1.0, 2.0, 3.0, 4.0])
    assert rho == pytest.approx(-1.0) and p == pytest.approx(1.0)
