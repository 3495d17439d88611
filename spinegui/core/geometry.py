"""Vertebra shapes derived from corner landmarks.

The overlay draws boxes and lines, Cobb angles measure midlines, and metrics
compare corners; deriving all of them here keeps the corner order (TL, TR, BL,
BR) in one place. Every function takes landmarks of shape (..., 4, 2), so one
image (V, 4, 2) and a batch (N, V, 4, 2) go through the same vectorised code.
"""

from __future__ import annotations

import numpy as np

from spinegui.core.errors import LandmarkError

TL, TR, BL, BR = 0, 1, 2, 3

BOX_ORDER = (TL, TR, BR, BL)
"""Corner indices walked round a vertebra, so a polygon drawn in this order does not cross."""


def as_corners(points) -> np.ndarray:
    """Float64 copy of landmarks shaped (..., 4, 2), or a LandmarkError saying why not.

    Integer inputs (AASCE ``.mat`` files are uint16) are converted first, so
    differences of coordinates cannot wrap around.
    """
    arr = np.array(points, dtype=np.float64)
    if arr.ndim < 2 or arr.shape[-2:] != (4, 2):
        raise LandmarkError(
            f"Landmarks must have 4 corners of (x, y) per vertebra; got shape {arr.shape}.",
            "Pass an array shaped (vertebrae, 4, 2) with corners TL, TR, BL, BR.",
        )
    return arr


def box_polygons(points) -> np.ndarray:
    """Each vertebra's quadrilateral TL-TR-BR-BL, ready to draw as a closed polygon."""
    return as_corners(points)[..., BOX_ORDER, :]


def centres(points) -> np.ndarray:
    """Mean of the four corners, shape (..., 2): where a vertebra's label goes."""
    return as_corners(points).mean(axis=-2)


def midlines(points) -> np.ndarray:
    """(..., 2, 2): midpoint of the left edge (TL-BL), then of the right edge (TR-BR).

    The Cobb angle is defined on these lines rather than on endplates, which
    makes it robust to wedged vertebrae whose two endplates disagree.
    """
    p = as_corners(points)
    left = (p[..., TL, :] + p[..., BL, :]) / 2.0
    right = (p[..., TR, :] + p[..., BR, :]) / 2.0
    return np.stack([left, right], axis=-2)


def midline_vectors(points) -> np.ndarray:
    """(..., 2): from the left-edge midpoint to the right-edge midpoint."""
    lines = midlines(points)
    return lines[..., 1, :] - lines[..., 0, :]


def upper_endplates(points) -> np.ndarray:
    """(..., 2, 2): the line TL-TR, the edge clinicians draw for a cranial end vertebra."""
    return as_corners(points)[..., (TL, TR), :]


def lower_endplates(points) -> np.ndarray:
    """(..., 2, 2): the line BL-BR, the edge clinicians draw for a caudal end vertebra."""
    return as_corners(points)[..., (BL, BR), :]


def tilts(points) -> np.ndarray:
    """Per-vertebra midline tilt in degrees, between -180 and 180.

    Sign convention: positive when the right end of the midline is higher on
    the image than its left end, i.e. counter-clockwise as seen on screen
    (y points down in pixels, so the y difference is negated). A level
    vertebra has tilt 0. Two vertebrae's tilts differ by their angle, which is
    what makes tilts a quick way to read a curve.
    """
    v = midline_vectors(points)
    return np.degrees(np.arctan2(-v[..., 1], v[..., 0]))
