"""Landmark and Cobb-angle metrics on hand-computable cases and against scipy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from spinegui.core.errors import LandmarkError
from spinegui.core.metrics import (
    AnovaResult,
    LandmarkErrorReport,
    landmark_anova,
    landmark_error,
    pearson_r,
    smape,
)

SHIFT_3_4 = np.array([3.0, 4.0])  # a 5 px displacement


@pytest.fixture
def truth() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.uniform(0, 1000, size=(5, 4, 2))


# --- landmark_error -------------------------------------------------------------------


def test_uniform_3_4_shift_is_5_px_everywhere(truth):
    report = landmark_error(truth + SHIFT_3_4, truth)
    assert isinstance(report, LandmarkErrorReport)
    assert report.mean_px == pytest.approx(5.0)
    assert report.median_px == pytest.approx(5.0)
    np.testing.assert_allclose(report.per_vertebra_px, np.full(5, 5.0))
    np.testing.assert_allclose(report.per_image_px, [5.0])
    assert report.mean_mm is None
    assert report.per_vertebra_mm is None


def test_one_wrong_corner_shows_in_its_vertebra_only(truth):
    pred = truth.copy()
    pred[1, 0] += [6.0, 8.0]  # 10 px off
    report = landmark_error(pred, truth)
    np.testing.assert_allclose(report.per_vertebra_px, [0, 2.5, 0, 0, 0])
    assert report.mean_px == pytest.approx(10.0 / 20)
    assert report.median_px == 0.0


def test_batch_reports_per_image(truth):
    pred = np.stack([truth, truth + SHIFT_3_4])
    report = landmark_error(pred, np.stack([truth, truth]))
    np.testing.assert_allclose(report.per_image_px, [0.0, 5.0])
    np.testing.assert_allclose(report.per_vertebra_px, np.full(5, 2.5))
    assert report.mean_px == pytest.approx(2.5)
    assert report.median_px == pytest.approx(2.5)


def test_anisotropic_spacing_scales_each_axis(truth):
    # dx = 3 px at 0.5 mm (columns), dy = 4 px at 2 mm (rows): hypot(1.5, 8).
    report = landmark_error(truth + SHIFT_3_4, truth, spacing_mm=(2.0, 0.5))
    expected = np.hypot(1.5, 8.0)
    assert report.mean_mm == pytest.approx(expected)
    assert report.median_mm == pytest.approx(expected)
    np.testing.assert_allclose(report.per_vertebra_mm, np.full(5, expected))
    np.testing.assert_allclose(report.per_image_mm, [expected])
    assert report.mean_px == pytest.approx(5.0)


def test_square_spacing_as_one_number(truth):
    report = landmark_error(truth + SHIFT_3_4, truth, spacing_mm=0.1)
    assert report.mean_mm == pytest.approx(0.5)


@pytest.mark.parametrize("spacing", [0.0, -1.0, (1.0, 2.0, 3.0), float("nan")])
def test_impossible_spacing_is_refused(truth, spacing):
    with pytest.raises(ValueError):
        landmark_error(truth, truth, spacing_mm=spacing)


def test_mismatched_shapes_are_a_landmark_error(truth):
    with pytest.raises(LandmarkError) as info:
        landmark_error(truth[:4], truth)
    assert info.value.hint


def test_missing_values_are_a_landmark_error(truth):
    pred = truth.copy()
    pred[2, 3, 0] = np.nan
    with pytest.raises(LandmarkError):
        landmark_error(pred, truth)


# --- pearson_r ------------------------------------------------------------------------


def test_pearson_matches_scipy_on_pooled_coordinates(truth):
    rng = np.random.default_rng(4)
    pred = np.stack([truth, truth]) + rng.normal(0, 40, size=(2, 5, 4, 2))
    true = np.stack([truth, truth])
    expected = stats.pearsonr(pred.ravel(), true.ravel()).statistic
    assert pearson_r(pred, true) == pytest.approx(expected)
    assert 0.9 < pearson_r(pred, true) < 1.0


def test_pearson_ignores_scale_and_offset(truth):
    assert pearson_r(2.0 * truth + 7.0, truth) == pytest.approx(1.0)


def test_pearson_of_constant_prediction_is_nan(truth):
    assert np.isnan(pearson_r(np.full_like(truth, 3.0), truth))


# --- smape ----------------------------------------------------------------------------


def test_smape_hand_computed():
    # Row 1: |20-10| / (30 + 20) = 20 %; row 2: exact, 0 %.
    assert smape([[20, 10, 0], [5, 5, 5]], [[10, 10, 0], [5, 5, 5]]) == pytest.approx(10.0)


def test_smape_is_symmetric_and_accepts_one_image():
    a, b = [30.0, 12.0, 4.0], [25.0, 14.0, 0.0]
    assert smape(a, b) == pytest.approx(smape(b, a))
    assert smape(a, b) == pytest.approx(100 * (5 + 2 + 4) / (55 + 26 + 4))


def test_smape_all_zero_row_counts_as_perfect_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert smape([[0, 0, 0], [10, 0, 0]], [[0, 0, 0], [0, 0, 0]]) == pytest.approx(50.0)


@pytest.mark.parametrize(
    "pred, true",
    [
        ([[1, 2, 3]], [[1, 2]]),
        ([[-1, 2, 3]], [[1, 2, 3]]),
        (np.ones((2, 2, 3)), np.ones((2, 2, 3))),
    ],
)
def test_smape_refuses_malformed_angles(pred, true):
    with pytest.raises(ValueError):
        smape(pred, true)


# --- landmark_anova -------------------------------------------------------------------


def test_anova_hand_computed():
    # Groups [0,1]*8 and [1,2]*8: SSB = 4 (df 1), SSW = 4 (df 14), so F = 14.
    true = np.tile([0.0, 1.0], 4).reshape(1, 4, 2)
    result = landmark_anova(true + 1.0, true)
    assert isinstance(result, AnovaResult)
    assert result.f == pytest.approx(14.0)
    assert result.p == pytest.approx(stats.f.sf(14.0, 1, 14))


def test_anova_matches_scipy_and_sees_no_difference_for_identical_sets(truth):
    rng = np.random.default_rng(5)
    pred = truth + rng.normal(0, 5, size=truth.shape)
    expected = stats.f_oneway(pred.ravel(), truth.ravel())
    result = landmark_anova(pred, truth)
    assert result.f == pytest.approx(expected.statistic)
    assert result.p == pytest.approx(expected.pvalue)
    assert landmark_anova(truth, truth).p == pytest.approx(1.0)
    assert landmark_anova(truth + 500.0, truth).p < 1e-3


# --- clinician figures ------------------------------------------------------------------


def test_angle_agreement_on_hand_computable_angles():
    from spinegui.core.metrics import angle_agreement

    true = np.array([10.0, 20.0, 30.0, 40.0])
    pred = np.array([12.0, 14.0, 33.0, 50.0])  # errors +2, -6, +3, +10
    ag = angle_agreement(pred, true)
    assert ag.n == 4
    assert ag.mae == pytest.approx(21 / 4)
    assert ag.within[5.0] == pytest.approx(0.5) and ag.within[10.0] == pytest.approx(1.0)
    assert ag.bias == pytest.approx(9 / 4)
    sd = np.std([2, -6, 3, 10], ddof=1)
    assert ag.loa == pytest.approx((9 / 4 - 1.96 * sd, 9 / 4 + 1.96 * sd))
    slope, intercept = np.polyfit(true, pred, 1)
    assert ag.slope == pytest.approx(slope) and ag.intercept == pytest.approx(intercept)


def test_pull_toward_the_average_shows_as_a_slope_below_one():
    from spinegui.core.metrics import angle_agreement

    true = np.array([5.0, 15.0, 30.0, 60.0])
    ag = angle_agreement(0.8 * true + 3.0, true)
    assert ag.slope == pytest.approx(0.8) and ag.intercept == pytest.approx(3.0)


def test_angle_agreement_without_spread_has_no_slope_and_rejects_bad_input():
    from spinegui.core.metrics import angle_agreement

    assert angle_agreement([10.0, 11.0], [10.0, 10.0]).slope is None
    with pytest.raises(ValueError):
        angle_agreement([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        angle_agreement([np.nan], [1.0])


def _box(cx, cy, tilt_deg, w=40.0, h=20.0):
    """One vertebra (4, 2) TL, TR, BL, BR tilted counter-clockwise on screen."""
    a = np.radians(tilt_deg)
    right = np.array([np.cos(a), -np.sin(a)]) * w / 2  # y down: CCW lifts the right end
    down = np.array([np.sin(a), np.cos(a)]) * h / 2
    c = np.array([cx, cy])
    return np.stack([c - right - down, c + right - down, c - right + down, c + right + down])


def test_tilt_errors_per_vertebra_in_degrees_wrapped():
    from spinegui.core.metrics import tilt_errors

    true = np.stack([_box(0, 0, 0), _box(0, 50, 10), _box(0, 100, 179)])
    pred = np.stack([_box(5, 3, 4), _box(0, 50, 10), _box(0, 100, -179)])
    report = tilt_errors(pred, true)
    np.testing.assert_allclose(report.per_vertebra_deg, [4.0, 0.0, 2.0], atol=1e-9)
    assert report.mean_deg == pytest.approx(2.0)
    np.testing.assert_allclose(report.per_image_deg, [2.0])


def test_compare_cobb_skips_degenerate_predictions_and_scores_the_rest():
    from spinegui.core.cobb import cobb_angles
    from spinegui.core.metrics import compare_cobb

    spine = np.stack([_box(0, 50 * i, t) for i, t in enumerate([0, 10, 20, 10, 0, -10])])
    flat = np.zeros_like(spine)  # every corner on one spot: no angle
    res = compare_cobb(np.stack([spine, flat]), np.stack([spine, spine]), [400, 400])
    assert res.kept == [0] and res.n_skipped == 1
    assert res.pred[0, 0] == pytest.approx(cobb_angles(spine, image_height=400).main)
    assert res.main.mae == pytest.approx(0.0, abs=1e-9) and res.smape == pytest.approx(0.0)
