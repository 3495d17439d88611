"""Vertebra boxes, midlines, endplates and tilts from corner landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from spinegui.core import geometry
from spinegui.core.errors import LandmarkError


def rotated_box(centre, width, height, tilt_deg) -> np.ndarray:
    """TL, TR, BL, BR of a width x height box whose right end is raised by tilt_deg."""
    t = np.radians(tilt_deg)
    along = np.array([np.cos(t), -np.sin(t)])  # left -> right on screen, y down
    down = np.array([np.sin(t), np.cos(t)])  # top -> bottom
    c = np.asarray(centre, float)
    hw, hh = width / 2, height / 2
    return np.array(
        [
            c - hw * along - hh * down,
            c + hw * along - hh * down,
            c - hw * along + hh * down,
            c + hw * along + hh * down,
        ]
    )


@pytest.fixture
def two_boxes() -> np.ndarray:
    # Vertebra 0 axis-aligned, vertebra 1 a trapezoid (wedged) so edges differ.
    return np.array(
        [
            [[10, 20], [50, 20], [10, 50], [50, 50]],
            [[12, 60], [48, 64], [10, 90], [50, 90]],
        ],
        dtype=float,
    )


def test_box_polygon_walks_round_the_vertebra(two_boxes):
    poly = geometry.box_polygons(two_boxes)
    assert poly.shape == (2, 4, 2)
    np.testing.assert_array_equal(poly[0], [[10, 20], [50, 20], [50, 50], [10, 50]])
    # A walk round a convex box turns the same way at every corner.
    edges = np.roll(poly, -1, axis=1) - poly
    nxt = np.roll(edges, -1, axis=1)
    turns = edges[..., 0] * nxt[..., 1] - edges[..., 1] * nxt[..., 0]
    assert (turns > 0).all()


def test_centres_are_corner_means(two_boxes):
    np.testing.assert_allclose(geometry.centres(two_boxes), [[30, 35], [30, 76]])


def test_midline_joins_left_and_right_edge_midpoints(two_boxes):
    lines = geometry.midlines(two_boxes)
    assert lines.shape == (2, 2, 2)
    np.testing.assert_allclose(lines[0], [[10, 35], [50, 35]])
    np.testing.assert_allclose(lines[1], [[11, 75], [49, 77]])
    np.testing.assert_allclose(geometry.midline_vectors(two_boxes), [[40, 0], [38, 2]])


def test_endplates_are_top_and_bottom_edges(two_boxes):
    np.testing.assert_array_equal(geometry.upper_endplates(two_boxes)[1], [[12, 60], [48, 64]])
    np.testing.assert_array_equal(geometry.lower_endplates(two_boxes)[1], [[10, 90], [50, 90]])


@pytest.mark.parametrize("tilt", [-35.0, -5.0, 0.0, 12.5, 40.0])
def test_tilt_is_positive_when_the_right_end_is_higher(tilt):
    box = rotated_box((100, 200), 40, 30, tilt)
    right_end_higher = geometry.midlines(box[None])[0, 1, 1] < geometry.midlines(box[None])[0, 0, 1]
    assert geometry.tilts(box[None])[0] == pytest.approx(tilt)
    assert right_end_higher == (tilt > 0)


def test_batches_go_through_the_same_code():
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 500, size=(3, 5, 4, 2))
    for fn in (geometry.box_polygons, geometry.centres, geometry.midlines, geometry.tilts):
        stacked = np.stack([fn(image) for image in batch])
        np.testing.assert_allclose(fn(batch), stacked)


def test_unsigned_input_does_not_wrap():
    box = rotated_box((300, 300), 60, 40, 20).round()
    expected = geometry.midline_vectors(box[None])
    np.testing.assert_allclose(geometry.midline_vectors(box[None].astype(np.uint16)), expected)
    assert expected[0, 1] < 0  # the case where uint16 arithmetic would wrap


@pytest.mark.parametrize("shape", [(3, 2, 2), (5, 4, 3), (8,), (5, 4)])
def test_wrong_shapes_are_refused_with_a_hint(shape):
    with pytest.raises(LandmarkError) as info:
        geometry.midlines(np.zeros(shape))
    assert info.value.hint
