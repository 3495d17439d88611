"""Cobb angles by the AASCE 2019 challenge rules.

The challenge scored entries with the organisers' MATLAB script (``angleCal``
with ``isS``; the widely copied Python port is ``cobb_angle_calc``/``is_S``).
Our numbers must be comparable with the published ones, so this module follows
that script's rules exactly, including its quirks, and is tested against the
angles shipped with the AASCE training labels:

- A vertebra's direction is its midline (left-edge midpoint to right-edge
  midpoint). The angle between two vertebrae is the angle between those
  vectors, *not* folded into [0, 90]: a vertebra with swapped left/right
  corners yields an angle above 90 degrees, as in the labels. Cosines are
  rounded to 8 decimals before ``arccos`` as in the script (the Python port's
  clip to [0, 1] is a porting change; it misses 3 of the 481 label angles).
- The main angle is the largest angle over all pairs. Its end vertebrae are
  the first such pair in row-major order (lowest upper index), matching
  MATLAB's ``max`` tie-breaking.
- The spine is an "S" when the endplate midpoints (upper and lower endplate of
  every vertebra, cranial to caudal, except the last two) lie strictly on both
  sides of the line from the first to the last of them. The script writes
  this as signed ratios, which divide by zero on a vertical line; the cross
  product used here has the same sign and no division.
- Not S: angle 2 is between the top vertebra and the upper end vertebra,
  angle 3 between the lower end vertebra and the bottom vertebra.
- S, main curve high (the lower-endplate midpoints of its two end vertebrae
  lie on average higher on the image than its middle row): angle 2 is the largest angle between
  the upper end vertebra and any vertebra above it, angle 3 the largest
  between the lower end vertebra and any vertebra below it.
- S, main curve low: angle 2 is the largest angle between the upper end
  vertebra and any vertebra above it, angle 3 the largest between *that*
  vertebra and any vertebra above it. (So in this case angle 3 lies above
  angle 2; the challenge's column order is kept regardless.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinegui.core.errors import LandmarkError, SpineguiError
from spinegui.core.geometry import as_corners, lower_endplates, midline_vectors, upper_endplates

COSINE_DECIMALS = 8
"""The reference script rounds cosines to this many decimals before arccos."""


@dataclass(frozen=True)
class CobbResult:
    """Three Cobb angles in degrees and the end vertebrae of each.

    ``angles`` are in the AASCE column order (main/proximal-thoracic,
    main-thoracic, thoracolumbar/lumbar). ``pairs[k]`` holds the (upper,
    lower) 0-based vertebra indices whose midlines form ``angles[k]``, so a
    viewer can draw the lines; a pair (i, i) with angle 0 means the rule found
    no curve in that region.
    """

    angles: tuple[float, float, float]
    pairs: tuple[tuple[int, int], ...]
    s_curve: bool

    @property
    def main(self) -> float:
        """The largest angle between any two vertebrae."""
        return self.angles[0]

    @property
    def main_pair(self) -> tuple[int, int]:
        """End vertebrae of the main curve."""
        return self.pairs[0]


def cobb_angles(points: np.ndarray, image_height: float | None = None) -> CobbResult:
    """Cobb angles of one spine by the AASCE 2019 rules (see the module docstring).

    ``points``: (V, 4, 2) landmarks, or the flat AASCE (4V, 2) layout.
    ``image_height`` in pixels only decides, for S-shaped spines, whether the
    main curve counts as high or low. Without it the vertical middle of the
    landmarks (min y + max y) stands in for the image height: AASCE images are
    cropped around the spine (the image middle lies at 46-64% of the spine's
    extent, median 52%), and the choice keeps the result invariant to
    translation and scale. With that substitute 468 of the 481 AASCE training
    labels are reproduced exactly; with the true height all 481 are.
    """
    p = _one_spine(points)
    if image_height is None:
        height = float(p[..., 1].min() + p[..., 1].max())
    else:
        height = float(image_height)
        if not np.isfinite(height) or height <= 0:
            raise ValueError(f"image_height must be a positive number, got {image_height!r}")

    angles = _pairwise_angles(midline_vectors(p))
    last = len(p) - 1
    upper, lower = (int(i) for i in np.unravel_index(np.argmax(angles), angles.shape))
    pairs = [(upper, lower)]

    upper_mid = upper_endplates(p).mean(axis=-2)
    lower_mid = lower_endplates(p).mean(axis=-2)
    s_curve = _is_s_curve(np.stack([upper_mid, lower_mid], axis=1).reshape(-1, 2))

    if not s_curve:
        pairs += [(0, upper), (lower, last)]
    else:
        above_upper = _most_tilted(angles, upper, 0, upper + 1)
        pairs.append((above_upper, upper))
        if lower_mid[upper, 1] + lower_mid[lower, 1] < height:
            pairs.append((lower, _most_tilted(angles, lower, lower, last + 1)))
        else:
            pairs.append((_most_tilted(angles, above_upper, 0, above_upper + 1), above_upper))

    values = tuple(float(np.degrees(angles[i, j])) for i, j in pairs)
    return CobbResult(angles=values, pairs=tuple(pairs), s_curve=s_curve)


def angle_between(points, upper: int, lower: int) -> float:
    """The Cobb angle in degrees between two chosen vertebrae, by the same rules.

    For end vertebrae a reader picks: the midlines, cosine rounding and the
    unfolded angle are those of ``cobb_angles``, so a reader's choice of the
    end vertebrae the rules found gives the rules' angle exactly.
    """
    p = _one_spine(points)
    n = len(p)
    if not (0 <= int(upper) < n and 0 <= int(lower) < n):
        raise LandmarkError(
            f"End vertebrae {upper} and {lower} are outside the {n} vertebrae of this spine.",
            "Choose two vertebrae of the image.",
        )
    vec = midline_vectors(p[[int(upper), int(lower)]])
    return float(np.degrees(_pairwise_angles(vec)[0, 1]))


def _one_spine(points) -> np.ndarray:
    """(V, 4, 2) float landmarks of one image, checked for what Cobb angles need."""
    arr = np.asarray(points)
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] % 4 == 0:
        arr = arr.reshape(-1, 4, 2)
    p = as_corners(arr)
    if p.ndim != 3 or p.shape[0] < 2:
        raise LandmarkError(
            f"Cobb angles need the landmarks of at least two vertebrae of one image; "
            f"got shape {p.shape}.",
            "Pass one image's landmarks shaped (vertebrae, 4, 2).",
        )
    bad = ~np.isfinite(p).all(axis=(1, 2))
    if bad.any():
        raise LandmarkError(
            f"Landmarks of vertebra {_numbers(bad)} are missing or infinite.",
            "Place all four corners of every vertebra before measuring Cobb angles.",
        )
    vec = midline_vectors(p)
    flat = np.hypot(vec[:, 0], vec[:, 1]) == 0
    if flat.any():
        raise LandmarkError(
            f"Vertebra {_numbers(flat)} has its left and right edge midpoints on the "
            "same spot, so its tilt is undefined.",
            "Drag that vertebra's corners apart so its left and right edges are distinct.",
        )
    return p


def _numbers(mask: np.ndarray) -> str:
    """1-based positions from the top, as people count vertebrae on screen."""
    return ", ".join(f"#{i + 1}" for i in np.flatnonzero(mask)) + " (counting from the top)"


def _pairwise_angles(vectors: np.ndarray) -> np.ndarray:
    """(V, V) angles in radians between midline vectors, exactly symmetric.

    Written elementwise rather than as a matrix product so that [i, j] and
    [j, i] are bit-identical; the end-vertebra choice depends on that.
    """
    x, y = vectors[:, 0], vectors[:, 1]
    dot = x[:, None] * x[None, :] + y[:, None] * y[None, :]
    norm = np.hypot(x, y)
    cosine = np.round(dot / (norm[:, None] * norm[None, :]), COSINE_DECIMALS)
    return np.arccos(np.clip(cosine, -1.0, 1.0))


def _most_tilted(angles: np.ndarray, row: int, start: int, stop: int) -> int:
    """Index in [start, stop) of the vertebra at the largest angle to ``row`` (first wins)."""
    return start + int(np.argmax(angles[row, start:stop]))


def _is_s_curve(endplate_midpoints: np.ndarray) -> bool:
    """True when the midpoints fall strictly on both sides of the first-to-last chord."""
    first, last = endplate_midpoints[0], endplate_midpoints[-1]
    chord = first - last
    rel = endplate_midpoints[:-2] - last
    side = rel[:, 1] * chord[0] - rel[:, 0] * chord[1]
    return bool((side > 0).any() and (side < 0).any())


def safe_cobb(points, image_height) -> tuple[CobbResult | None, str]:
    """Cobb angles, or None and the reason, for displays that must not fail.

    While a person edits, a vertebra can be momentarily degenerate (a corner
    dragged onto its partner); a view then shows the reason instead of angles.
    """
    if points is None:
        return None, "no landmarks"
    try:
        return cobb_angles(points, image_height=image_height), ""
    except (SpineguiError, ValueError) as exc:
        return None, getattr(exc, "message", str(exc))
