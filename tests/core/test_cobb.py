"""Cobb angles by the AASCE rules on synthetic spines built from known tilts."""

from __future__ import annotations

import numpy as np
import pytest

from spinegui.core.cobb import CobbResult, cobb_angles
from spinegui.core.errors import LandmarkError

BOX_W, BOX_H, PITCH = 40.0, 30.0, 40.0


def spine(tilts_deg, x_offsets=None) -> np.ndarray:
    """(V, 4, 2) rectangles stacked down the image, each tilted as given.

    A positive tilt raises the vertebra's right end (geometry.tilts convention),
    so the angle between vertebrae i and j is |tilt_i - tilt_j|.
    """
    t = np.radians(np.asarray(tilts_deg, float))
    n = len(t)
    x = np.zeros(n) if x_offsets is None else np.asarray(x_offsets, float)
    centres = np.stack([200.0 + x, 100.0 + PITCH * np.arange(n)], axis=1)
    along = np.stack([np.cos(t), -np.sin(t)], axis=1)[:, None, :]
    down = np.stack([np.sin(t), np.cos(t)], axis=1)[:, None, :]
    sx = np.array([-1, 1, -1, 1])[None, :, None] * BOX_W / 2
    sy = np.array([-1, -1, 1, 1])[None, :, None] * BOX_H / 2
    return centres[:, None, :] + sx * along + sy * down


def bow(n: int, amplitude: float, periods: float) -> np.ndarray:
    """Sideways displacement: half a period is a C, a full period an S."""
    return amplitude * np.sin(np.linspace(0, 2 * np.pi * periods, n))


# A C-curve: most tilted vertebrae 4 (+15) and 10 (-22), so the main angle is 37.
C_TILTS = [2, 4, 8, 12, 15, 10, 3, -5, -12, -18, -22, -17, -10, -5, -2, 0, 1]

# An S with its biggest curve low: 10 (+18) against 14 (-20), 38 degrees; above it
# 5 (-8) is most tilted against 10 (26 degrees), and above that 2 (+12) against 5 (20).
S_TILTS = [0, 6, 12, 6, -2, -8, -4, 2, 8, 14, 18, 10, 0, -10, -20, -12, -4]


def test_straight_spine_has_no_curve():
    result = cobb_angles(spine(np.zeros(17)))
    assert result.angles == (0.0, 0.0, 0.0)
    assert not result.s_curve


def test_c_curve_main_angle_and_end_vertebrae():
    result = cobb_angles(spine(C_TILTS, bow(17, 30, 0.5)), image_height=1000)
    assert not result.s_curve
    assert result.main == pytest.approx(37.0, abs=1e-4)
    assert result.main_pair == (4, 10)
    # Not S: the other two angles run from each end vertebra to the spine's ends.
    assert result.pairs == ((4, 10), (0, 4), (10, 16))
    np.testing.assert_allclose(result.angles, [37.0, 13.0, 23.0], atol=1e-4)


def test_main_angle_is_the_largest_of_all_pairs():
    tilts = np.random.default_rng(1).uniform(-25, 25, size=17)
    result = cobb_angles(spine(tilts))
    assert result.main == pytest.approx(np.ptp(tilts), abs=1e-4)
    assert {tilts[i] for i in result.main_pair} == {tilts.max(), tilts.min()}


def test_s_curve_low_main_curve_looks_above_twice():
    points = spine(S_TILTS, bow(17, 30, 1.0))
    result = cobb_angles(points, image_height=2 * 300.0)  # image middle at y=300, curve lower
    assert result.s_curve
    assert result.pairs == ((10, 14), (5, 10), (2, 5))
    np.testing.assert_allclose(result.angles, [38.0, 26.0, 20.0], atol=1e-4)


def test_s_curve_high_main_curve_looks_above_and_below():
    points = spine(S_TILTS, bow(17, 30, 1.0))
    result = cobb_angles(points, image_height=4000.0)  # image middle far below the spine
    assert result.s_curve
    # Above the upper end vertebra as before; below the lower one: 14 (-20) vs 16 (-4).
    assert result.pairs == ((10, 14), (5, 10), (14, 16))
    np.testing.assert_allclose(result.angles, [38.0, 26.0, 16.0], atol=1e-4)


def test_without_image_height_the_spines_middle_decides():
    points = spine(S_TILTS, bow(17, 30, 1.0))
    # Main curve (vertebrae 10-14) lies in the lower half of the spine: the low rule.
    assert cobb_angles(points).pairs == ((10, 14), (5, 10), (2, 5))
    # Upside down (y mirrored) the same curve sits in the upper half.
    flipped = points.copy()
    flipped[..., 1] = 2000 - flipped[..., 1]
    flipped = flipped[::-1][:, [2, 3, 0, 1]]  # re-order cranial to caudal, TL/TR on top
    assert cobb_angles(flipped).pairs[2] != cobb_angles(flipped, image_height=100.0).pairs[2]
    assert cobb_angles(flipped).pairs == cobb_angles(flipped, image_height=1e6).pairs


@pytest.mark.parametrize("shift, scale", [((0, 0), 3.0), ((-150.5, 730.25), 1.0), ((40, 9), 0.2)])
def test_invariant_to_translation_and_scale(shift, scale):
    rng = np.random.default_rng(7)
    points = spine(S_TILTS, bow(17, 30, 1.0)) + rng.normal(0, 1.5, size=(17, 4, 2))
    before = cobb_angles(points)
    after = cobb_angles(points * scale + np.asarray(shift))
    assert after.pairs == before.pairs
    assert after.s_curve == before.s_curve
    np.testing.assert_allclose(after.angles, before.angles, atol=1e-5)


def test_equally_tilted_vertebrae_resolve_to_the_topmost_pair():
    result = cobb_angles(spine([0, 10, 0, 10, 0, 10]))
    assert result.main == pytest.approx(10.0, abs=1e-4)
    assert result.main_pair == (0, 1)


def test_swapped_left_right_corners_give_an_obtuse_angle_like_the_reference():
    points = spine(np.zeros(17))
    points[5] = points[5][[1, 0, 3, 2]]
    result = cobb_angles(points)
    assert result.main == pytest.approx(180.0)
    assert 5 in result.main_pair


def test_flat_aasce_layout_and_integer_input_agree_with_float_boxes():
    points = spine(C_TILTS, bow(17, 30, 0.5)).round()
    expected = cobb_angles(points)
    assert cobb_angles(points.reshape(-1, 2)) == expected
    assert cobb_angles(points.astype(np.uint16)) == expected


def test_result_is_frozen():
    result = cobb_angles(spine(C_TILTS))
    assert isinstance(result, CobbResult)
    with pytest.raises(AttributeError):
        result.angles = (1.0, 2.0, 3.0)


def test_zero_length_midline_is_a_clear_error():
    points = spine(C_TILTS)
    points[3] = points[3].mean(axis=0)  # all four corners on one spot
    with pytest.raises(LandmarkError) as info:
        cobb_angles(points)
    assert "#4" in info.value.message
    assert info.value.hint


def test_missing_corner_is_a_clear_error():
    points = spine(C_TILTS)
    points[16, 2] = np.nan
    with pytest.raises(LandmarkError, match="#17"):
        cobb_angles(points)


@pytest.mark.parametrize("shape", [(1, 4, 2), (2, 17, 4, 2), (6, 2)])
def test_inputs_that_are_not_one_spine_are_refused(shape):
    with pytest.raises(LandmarkError):
        cobb_angles(np.ones(shape))


@pytest.mark.parametrize("height", [0.0, -5.0, float("nan")])
def test_impossible_image_height_is_refused(height):
    with pytest.raises(ValueError):
        cobb_angles(spine(C_TILTS), image_height=height)


def test_safe_cobb_gives_a_reason_instead_of_raising():
    from spinegui.core.cobb import safe_cobb

    assert safe_cobb(None, 100) == (None, "no landmarks")
    flat = np.zeros((17, 4, 2))  # every corner on one point: no midline to measure
    result, why = safe_cobb(flat, 100)
    assert result is None and why
