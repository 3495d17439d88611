"""Accuracy metrics for predicted landmarks and Cobb angles.

The names and definitions are the ones the paper and the AASCE challenge
report (mean landmark error, Pearson r of coordinates, one-way ANOVA, SMAPE
of Cobb angles), so numbers from the training monitor, the benchmark scripts
and the model cards can be set beside the published ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from spinegui.core.errors import LandmarkError
from spinegui.core.geometry import as_corners


@dataclass(frozen=True)
class LandmarkErrorReport:
    """Euclidean corner errors, averaged several ways.

    Pixel fields are always set; the ``_mm`` fields are None unless a pixel
    spacing was given. Per-vertebra values average over images and corners,
    per-image values over vertebrae and corners.
    """

    mean_px: float
    median_px: float
    per_vertebra_px: np.ndarray
    per_image_px: np.ndarray
    mean_mm: float | None = None
    median_mm: float | None = None
    per_vertebra_mm: np.ndarray | None = None
    per_image_mm: np.ndarray | None = None


@dataclass(frozen=True)
class AnovaResult:
    """One-way ANOVA statistic and p-value."""

    f: float
    p: float


def landmark_error(
    pred, true, spacing_mm: tuple[float, float] | float | None = None
) -> LandmarkErrorReport:
    """Distances between predicted and true corners, in pixels and optionally mm.

    ``pred``/``true``: (V, 4, 2) for one image or (N, V, 4, 2) for N images,
    in pixels of the original images. ``spacing_mm`` is mm per pixel as
    (row, col), i.e. (y, x) as DICOM PixelSpacing gives it, or one number for
    square pixels; with anisotropic pixels the distance is taken after scaling
    each axis, not by scaling the pixel distance.
    """
    p, t = _batched_pair(pred, true)
    delta = p - t
    px = np.hypot(delta[..., 0], delta[..., 1])
    report = _summarise(px)
    if spacing_mm is None:
        return LandmarkErrorReport(*report)
    row_mm, col_mm = _spacing(spacing_mm)
    mm = np.hypot(delta[..., 0] * col_mm, delta[..., 1] * row_mm)
    return LandmarkErrorReport(*report, *_summarise(mm))


def pearson_r(pred, true) -> float:
    """Pearson correlation of all coordinates, x and y pooled (the paper's metric).

    Pooling x and y rewards getting the overall layout right more than local
    precision (a spine is tall, so y spans far more than x); it is what the
    paper reports (0.95 with MSE + BPD, 0.92 with MSE alone). NaN when either
    side has no spread, as for a single point.
    """
    p, t = _batched_pair(pred, true)
    p, t = p.ravel(), t.ravel()
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        return float("nan")
    return float(np.corrcoef(p, t)[0, 1])


def smape(pred_angles, true_angles) -> float:
    """Symmetric mean absolute percentage error of Cobb angles, in percent (AASCE score).

    100 / N * sum_i( sum_j |a_ij - b_ij| / sum_j (a_ij + b_ij) ) over N images
    and their 3 angles. Angles are non-negative, so a zero denominator means
    both sides measured a perfectly straight spine: that image counts as 0%
    error rather than dividing by zero.
    """
    a = np.atleast_2d(np.asarray(pred_angles, dtype=np.float64))
    b = np.atleast_2d(np.asarray(true_angles, dtype=np.float64))
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"angle arrays must both be (N, 3); got {a.shape} and {b.shape}")
    if (a < 0).any() or (b < 0).any():
        raise ValueError("Cobb angles are non-negative; SMAPE is undefined for negative angles")
    num = np.abs(a - b).sum(axis=1)
    den = (a + b).sum(axis=1)
    per_image = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(100.0 * per_image.mean())


def landmark_anova(pred, true) -> AnovaResult:
    """One-way ANOVA between the predicted and the true coordinates.

    The paper does not say what its ANOVA groups are; the reading taken here
    is two groups, every predicted coordinate and every true coordinate (x and
    y pooled, as for Pearson r). The test then asks whether the two groups'
    means differ, i.e. whether predictions are offset overall; a large p means
    no detectable overall difference. It says nothing about per-landmark
    accuracy: predictions shuffled between vertebrae score the same.
    """
    p, t = _batched_pair(pred, true)
    result = stats.f_oneway(p.ravel(), t.ravel())
    return AnovaResult(f=float(result.statistic), p=float(result.pvalue))


def _batched_pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as (N, V, 4, 2), checked to match and to be finite."""
    p, t = as_corners(pred), as_corners(true)
    if p.shape != t.shape:
        raise LandmarkError(
            f"Predicted landmarks have shape {p.shape} but the ground truth has {t.shape}.",
            "Compare landmarks of the same spine template and the same images.",
        )
    if p.ndim == 3:
        p, t = p[None], t[None]
    if p.ndim != 4:
        raise LandmarkError(
            f"Expected landmarks shaped (V, 4, 2) or (N, V, 4, 2), got {p.shape}.",
            "Stack one (V, 4, 2) array per image.",
        )
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise LandmarkError(
            "Landmarks contain missing or infinite values, so errors cannot be measured.",
            "Complete or remove the affected images before computing metrics.",
        )
    return p, t


def _spacing(spacing_mm) -> tuple[float, float]:
    """(row, col) mm per pixel from a pair or from one number for square pixels."""
    values = np.asarray(spacing_mm, dtype=np.float64).ravel()
    if values.size == 1:
        values = np.repeat(values, 2)
    if values.size != 2 or not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"pixel spacing must be positive mm per pixel, got {spacing_mm!r}")
    return float(values[0]), float(values[1])


def _summarise(dist: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(mean, median, per-vertebra, per-image) of (N, V, 4) distances."""
    return (
        float(dist.mean()),
        float(np.median(dist)),
        dist.mean(axis=(0, 2)),
        dist.mean(axis=(1, 2)),
    )
