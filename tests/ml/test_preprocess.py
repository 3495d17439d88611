"""Resizing to the network and the landmark normalisation that undoes it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from spinegui.core.errors import ImageLoadError
from spinegui.ml.preprocess import denormalize_points, normalize_points, to_network_input
from spinegui.ml.presets import Preset, get_preset


def blob(h: int, w: int, x: float, y: float, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)).astype(np.float32)


def centroid(img: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return np.array([(xx * img).sum(), (yy * img).sum()]) / img.sum()


def test_to_network_input_shape_dtype_and_area_interpolation():
    rng = np.random.default_rng(0)
    image = rng.random((301, 157), dtype=np.float32)
    out = to_network_input(image, "tiny")
    assert out.shape == (64, 32)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    expected = cv2.resize(image, (32, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(out, expected)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_to_network_input_enlarges_small_images_and_accepts_a_channel_axis():
    image = np.linspace(0, 1, 40 * 20, dtype=np.float32).reshape(40, 20, 1)
    out = to_network_input(image, get_preset("tiny"))
    assert out.shape == (64, 32)
    assert out[0, 0] < out[-1, -1]


def test_to_network_input_rejects_colour_and_nan():
    with pytest.raises(ImageLoadError, match="single-channel"):
        to_network_input(np.zeros((100, 50, 3), np.float32), "tiny")
    bad = np.zeros((100, 50), np.float32)
    bad[3, 4] = np.nan
    with pytest.raises(ImageLoadError, match="NaN"):
        to_network_input(bad, "tiny")


@pytest.mark.parametrize(("width", "height"), [(1001, 2503), (157, 301), (33, 97)])
def test_round_trip_through_network_pixels_is_exact(width, height):
    rng = np.random.default_rng(width)
    points = rng.uniform([0, 0], [width - 1, height - 1], size=(17, 4, 2))
    p = get_preset("fast")
    norm = normalize_points(points, width, height)
    at_net = denormalize_points(norm, p.width, p.height)
    back = denormalize_points(normalize_points(at_net, p.width, p.height), width, height)
    np.testing.assert_allclose(back, points, rtol=0, atol=1e-9)


def test_normalised_coords_follow_image_content_through_the_resize():
    """A blob at (x, y) in the original lands where the normalisation says.

    This pins the half-pixel convention: with plain x / W the shrunk blob sits
    about 0.4 network pixels away from the prediction.
    """
    width, height = 157, 301
    preset = Preset("t", 64, 32)
    x, y = 101.3, 57.8
    small = to_network_input(blob(height, width, x, y, sigma=8.0), preset)
    expected = denormalize_points(normalize_points([x, y], width, height), 32, 64)
    np.testing.assert_allclose(centroid(small), expected, atol=0.05)
    plain = np.array([x * 32 / width, y * 64 / height])
    assert np.abs(centroid(small) - plain).max() > 0.2


def test_normalisation_range_and_mirror_symmetry():
    w, h = 40, 20
    corners = np.array([[-0.5, -0.5], [w - 0.5, h - 0.5]])
    np.testing.assert_allclose(normalize_points(corners, w, h), [[0, 0], [1, 1]])
    x = np.array([[3.0, 7.0]])
    mirrored = np.array([[w - 1 - 3.0, 7.0]])
    assert normalize_points(mirrored, w, h)[0, 0] == pytest.approx(
        1 - normalize_points(x, w, h)[0, 0]
    )
