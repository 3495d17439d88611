"""Landmarks of one image and their validation.

Canonical layout: float64 array of shape (V, 4, 2); per vertebra the corners
TL, TR, BL, BR as seen on the image; (x, y) in pixels of the original image,
x to the right, y down. Flattening gives the AASCE (4V, 2) layout.

Validation never raises for anatomical oddities; it returns a list of
``LandmarkProblem`` so importers can report label noise instead of dropping
records. ``as_landmarks`` raises only for data that cannot be landmarks at all
(wrong count, NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinegui.core.errors import LandmarkError
from spinegui.core.templates import CORNERS, SpineTemplate, get_template


@dataclass(frozen=True)
class LandmarkProblem:
    """One finding of ``validate``; ``vertebra`` is an index or None."""

    kind: str  # "outside", "crossed_lr", "crossed_tb", "order"
    vertebra: int | None
    message: str


MAX_COORDINATE = 1e6
"""No landmark lies a million pixels from an image's origin: the largest image
loaded is 100 megapixels, so its longest plausible side is far below that. A
bigger coordinate (1e300 from a broken exporter) is a damaged file, and
accepting it would turn every angle and error computed from it into NaN."""

TALL_FACTOR = 4.0
"""A vertebra this many times the median height is a labelling error, not anatomy."""


def as_landmarks(points, template: str | SpineTemplate) -> np.ndarray:
    """Coerce (V,4,2), (4V,2) or flat (8V,) AASCE-ordered points to (V,4,2).

    Raises LandmarkError for a wrong count, values that are not numbers,
    non-finite values or coordinates beyond ``MAX_COORDINATE``: the cases no
    downstream code can work with.
    """
    t = get_template(template)
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise LandmarkError(
            f"Landmarks for template {t.name} must be numbers; got {type(points).__name__} "
            "values that are not.",
            "Check that the file holds x, y pixel coordinates.",
        ) from None
    if arr.size != t.n_outputs:
        raise LandmarkError(
            f"Expected {t.n_landmarks} landmarks ({t.n_vertebrae} vertebrae x 4 "
            f"corners) for template {t.name}, got {arr.size / 2:g}.",
            "Check that the file was made for this spine template.",
        )
    arr = arr.reshape(t.n_vertebrae, 4, 2)
    if not np.all(np.isfinite(arr)):
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(arr))[:, 0]})
        names = ", ".join(t.vertebrae[i] for i in bad)
        raise LandmarkError(
            f"Landmarks contain missing or infinite values (vertebrae {names}).",
            "Re-annotate those vertebrae or re-export the file.",
        )
    if np.abs(arr).max() > MAX_COORDINATE:
        bad = sorted({int(i) for i in np.argwhere(np.abs(arr) > MAX_COORDINATE)[:, 0]})
        names = ", ".join(t.vertebrae[i] for i in bad)
        raise LandmarkError(
            f"Landmark coordinates of vertebrae {names} lie more than {MAX_COORDINATE:g} "
            "pixels from the image: the file is damaged.",
            "Re-export the file; coordinates are pixels of the original image.",
        )
    return arr.copy()


def to_flat(points: np.ndarray) -> np.ndarray:
    """(V,4,2) -> AASCE (4V,2)."""
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


def to_normalized(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels -> fractions of the image size, pixel-centre convention (same shape).

    The centre of pixel column i sits at x = i, so the image spans -0.5 .. W - 0.5
    and a fraction is (x + 0.5) / W. This is the convention under which a
    whole-image resize (cv2.resize) keeps every landmark on the content it
    marks, so the network's coordinates map back to the original exactly.
    """
    return (np.asarray(points, dtype=np.float64) + 0.5) / np.array([width, height], float)


def from_normalized(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fractions -> pixels; the inverse of ``to_normalized``."""
    return np.asarray(points, dtype=np.float64) * np.array([width, height], float) - 0.5


def vertebra_centres(points: np.ndarray) -> np.ndarray:
    """(..., V, 2) mean of the four corners; works for one image or a batch."""
    return np.asarray(points, dtype=np.float64).mean(axis=-2)


def validate(
    points: np.ndarray,
    template: str | SpineTemplate,
    image_size: tuple[int, int] | None = None,
    margin: float = 0.05,
) -> list[LandmarkProblem]:
    """Report everything implausible about valid-shaped landmarks.

    ``image_size`` is (width, height); points more than ``margin`` of the
    image size outside it are reported. Crossed corners and vertebrae out of
    cranial-to-caudal order are reported per vertebra.
    """
    t = get_template(template)
    p = as_landmarks(points, t)
    problems: list[LandmarkProblem] = []
    if image_size is not None:
        w, h = image_size
        mx, my = margin * w, margin * h
        for v in range(t.n_vertebrae):
            for c in range(4):
                x, y = p[v, c]
                if x < -mx or x > w + mx or y < -my or y > h + my:
                    problems.append(
                        LandmarkProblem(
                            "outside",
                            v,
                            f"{t.vertebrae[v]} {CORNERS[c]} at ({x:.0f}, {y:.0f}) "
                            f"lies outside the {w} x {h} image.",
                        )
                    )
    for v in range(t.n_vertebrae):
        tl, tr, bl, br = p[v]
        if tl[0] >= tr[0] or bl[0] >= br[0]:
            problems.append(
                LandmarkProblem(
                    "crossed_lr",
                    v,
                    f"{t.vertebrae[v]}: a left corner lies right of its right corner.",
                )
            )
        if tl[1] >= bl[1] or tr[1] >= br[1]:
            problems.append(
                LandmarkProblem(
                    "crossed_tb",
                    v,
                    f"{t.vertebrae[v]}: a bottom corner lies above its top corner.",
                )
            )
    cy = vertebra_centres(p)[:, 1]
    for v in range(1, t.n_vertebrae):
        if cy[v] <= cy[v - 1]:
            problems.append(
                LandmarkProblem(
                    "order",
                    v,
                    f"{t.vertebrae[v]} lies above {t.vertebrae[v - 1]}: vertebrae are "
                    "out of cranial-to-caudal order.",
                )
            )
    return problems


def repair_order(points: np.ndarray) -> tuple[np.ndarray, bool]:
    """Sort vertebrae cranial to caudal by centre height.

    Returns (points, changed). The repair is only offered when the sort is
    unambiguous: no two vertebra centres within a quarter of the median
    vertebra height of each other, and no vertebra implausibly tall (more than
    ``TALL_FACTOR`` times the median: its corners belong to two places, as in
    an AASCE record whose L5 spans the whole image, and sorting its centre
    would move it into the middle of the spine). Otherwise the input comes
    back unchanged with changed=False, for a person to decide.

    Crossed corners are deliberately not repaired automatically: sorting a
    vertebra's corners by image height "repairs" correct, steeply tilted
    vertebrae (over 400 of them in the AASCE data), so they are only reported.
    """
    p = np.asarray(points, dtype=np.float64)
    cy = vertebra_centres(p)[:, 1]
    order = np.argsort(cy, kind="stable")
    if np.array_equal(order, np.arange(len(cy))):
        return p.copy(), False
    heights = np.ptp(p[:, :, 1], axis=1)
    median = float(np.median(heights))
    gaps = np.diff(np.sort(cy))
    if (gaps.size and gaps.min() < 0.25 * median) or np.any(heights > TALL_FACTOR * median):
        return p.copy(), False
    return p[order].copy(), True
