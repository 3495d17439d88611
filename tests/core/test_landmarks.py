"""Landmark arrays: coercion, conversions, validation and repairs."""

from __future__ import annotations

import numpy as np
import pytest

from spinegui.core.errors import LandmarkError
from spinegui.core.landmarks import (
    as_landmarks,
    from_normalized,
    repair_order,
    to_flat,
    to_normalized,
    validate,
    vertebra_centres,
)

TEMPLATE = "T1-L5"
V = 17


def level_spine(n: int = V) -> np.ndarray:
    """n axis-aligned 40 x 30 boxes, 10 px apart, starting at (100, 100)."""
    top = 100.0 + 40.0 * np.arange(n)
    corners = np.array([[0, 0], [40, 0], [0, 30], [40, 30]], float)
    return corners[None] + np.stack([np.full(n, 100.0), top], axis=1)[:, None, :]


def tilted_box(centre, tilt_deg, width=40.0, height=30.0) -> np.ndarray:
    """A correctly labelled box (TL, TR, BL, BR) whose right end is raised by tilt_deg."""
    t = np.radians(tilt_deg)
    along, down = np.array([np.cos(t), -np.sin(t)]), np.array([np.sin(t), np.cos(t)])
    sx = np.array([-1, 1, -1, 1])[:, None] * width / 2
    sy = np.array([-1, -1, 1, 1])[:, None] * height / 2
    return np.asarray(centre, float) + sx * along + sy * down


# --- as_landmarks and conversions -------------------------------------------------------


def test_all_aasce_layouts_give_the_same_array():
    p = level_spine()
    for layout in (p, p.reshape(-1, 2), p.ravel(), p.tolist()):
        np.testing.assert_array_equal(as_landmarks(layout, TEMPLATE), p)


def test_as_landmarks_returns_an_independent_float_copy():
    p = level_spine().astype(np.uint16)
    out = as_landmarks(p, TEMPLATE)
    assert out.dtype == np.float64
    out[0, 0, 0] = -1
    assert p[0, 0, 0] == 100


def test_wrong_count_names_the_template():
    with pytest.raises(LandmarkError) as info:
        as_landmarks(level_spine(18), TEMPLATE)
    assert "T1-L5" in info.value.message
    assert "72" in info.value.message  # what it got, in landmarks
    assert info.value.hint


def test_missing_values_name_the_vertebrae():
    p = level_spine()
    p[3, 1, 0] = np.nan
    p[16, 0, 1] = np.inf
    with pytest.raises(LandmarkError) as info:
        as_landmarks(p, TEMPLATE)
    assert "T4" in info.value.message and "L5" in info.value.message
    assert "T5" not in info.value.message


def test_flat_and_normalised_round_trips():
    p = level_spine()
    assert to_flat(p).shape == (4 * V, 2)
    np.testing.assert_array_equal(to_flat(p).reshape(V, 4, 2), p)
    n = to_normalized(p, 800, 2000)
    assert n[0, 0, 0] == pytest.approx(100.5 / 800) and n[0, 0, 1] == pytest.approx(100.5 / 2000)
    # The image's outer edges are 0 and 1: pixel centres run from 0 to W - 1.
    np.testing.assert_allclose(to_normalized(np.array([[-0.5, 1999.5]]), 800, 2000), [[0, 1]])
    np.testing.assert_allclose(from_normalized(n, 800, 2000), p)


def test_vertebra_centres():
    np.testing.assert_allclose(vertebra_centres(level_spine(2)), [[120, 115], [120, 155]])


# --- validate ---------------------------------------------------------------------------


def test_clean_spine_has_no_problems():
    assert validate(level_spine(), TEMPLATE, image_size=(400, 1000)) == []


def test_tilted_but_correct_vertebrae_are_not_problems():
    p = np.stack([tilted_box((200, 100 + 50 * i), 45 - 5 * i) for i in range(V)])
    assert validate(p, TEMPLATE) == []


def test_point_outside_the_image_is_reported_with_margin():
    p = level_spine()
    p[2, 1] = [430.0, 190.0]  # 400 px wide image, 5 % margin = 20 px
    problems = validate(p, TEMPLATE, image_size=(400, 1000))
    assert [(pr.kind, pr.vertebra) for pr in problems] == [("outside", 2)]
    p[2, 1] = [415.0, 190.0]  # within the margin
    assert validate(p, TEMPLATE, image_size=(400, 1000)) == []


def test_swapped_corners_are_reported_by_kind():
    p = level_spine()
    p[4] = p[4][[1, 0, 2, 3]]  # TL <-> TR
    p[9] = p[9][[2, 3, 0, 1]]  # top <-> bottom
    kinds = {(pr.kind, pr.vertebra) for pr in validate(p, TEMPLATE)}
    assert kinds == {("crossed_lr", 4), ("crossed_tb", 9)}


def test_vertebra_out_of_order_is_reported():
    p = level_spine()
    p[[5, 12]] = p[[12, 5]]
    problems = [pr for pr in validate(p, TEMPLATE) if pr.kind == "order"]
    assert {pr.vertebra for pr in problems} == {6, 12}
    assert all("order" in pr.message for pr in problems)


# --- repair_order -----------------------------------------------------------------------


def test_repair_order_sorts_a_misplaced_vertebra():
    p = level_spine()
    shuffled = p[[0, 1, 16, *range(2, 16)]]
    fixed, changed = repair_order(shuffled)
    assert changed
    np.testing.assert_array_equal(fixed, p)


def test_repair_order_leaves_ordered_spines_alone():
    p = level_spine()
    fixed, changed = repair_order(p)
    assert not changed
    np.testing.assert_array_equal(fixed, p)


def test_repair_order_declines_when_a_vertebra_spans_two_places():
    p = level_spine()
    p[16, :2] = p[0, :2] - [0.0, 10.0]  # L5's top corners drawn above T1
    p[[15, 16]] = p[[16, 15]]
    fixed, changed = repair_order(p)
    assert not changed
    np.testing.assert_array_equal(fixed, p)


def test_vertebra_centres_of_a_batch():
    batch = np.stack([level_spine(2), level_spine(2) + 10.0])
    np.testing.assert_allclose(vertebra_centres(batch)[1], vertebra_centres(level_spine(2)) + 10)


def test_repair_order_declines_when_two_vertebrae_overlap():
    p = level_spine()
    p[7] = p[6] + [0.0, 2.0]  # a duplicate placed almost on top of its neighbour
    p[[6, 7]] = p[[7, 6]]
    fixed, changed = repair_order(p)
    assert not changed
    np.testing.assert_array_equal(fixed, p)
