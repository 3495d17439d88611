"""Accuracy metrics for predicted landmarks and Cobb angles.

The names and definitions are the ones the paper and the AASCE challenge
report (mean landmark error, Pearson r of coordinates, one-way ANOVA, SMAPE
of Cobb angles), so numbers from the training monitor, the benchmark scripts
and the model cards can be set beside the published ones.

Next to them, the figures a clinician signs off by (``angle_agreement``,
``tilt_errors``): how far the main Cobb angle is from the expert's in degrees,
how often it is within the ~5 degrees two readers differ by, whether the model
reads curves systematically too small or too large (bias, and the slope of
predicted against true angle: a slope below 1 means large curves are
under-read), and how well each vertebra's tilt is found, which is what the
angle is built from. SMAPE and pixel errors cannot say any of this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinegui.core.cobb import cobb_angles
from spinegui.core.errors import LandmarkError, SpineguiError
from spinegui.core.geometry import as_corners, tilts

WITHIN_DEG = (5.0, 10.0)
"""Agreement thresholds: ~5 degrees is the spread between two human readers."""


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


@dataclass(frozen=True)
class AngleAgreement:
    """How predicted angles (one per image, degrees) agree with the true ones.

    ``within`` maps each threshold of ``WITHIN_DEG`` to the share (0-1) of
    images whose absolute error is at most that many degrees. ``bias`` is the
    mean of predicted minus true (negative: curves read too small); ``slope``
    and ``intercept`` fit predicted = slope x true + intercept by least
    squares, None when the true angles do not vary. ``loa`` are the
    Bland-Altman 95 % limits of agreement, bias -/+ 1.96 SD of the differences.
    """

    n: int
    mae: float
    within: dict[float, float]
    bias: float
    sd: float
    loa: tuple[float, float]
    slope: float | None
    intercept: float | None


def angle_agreement(pred_deg, true_deg) -> AngleAgreement:
    """Agreement figures for one angle per image (e.g. the main Cobb angle)."""
    p = np.asarray(pred_deg, dtype=np.float64).ravel()
    t = np.asarray(true_deg, dtype=np.float64).ravel()
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"need matching non-empty angle lists; got {p.shape} and {t.shape}")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("angles must be finite")
    diff = p - t
    sd = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
    bias = float(diff.mean())
    slope = intercept = None
    if np.ptp(t) > 0:
        slope_v, intercept_v = np.polyfit(t, p, 1)
        slope, intercept = float(slope_v), float(intercept_v)
    return AngleAgreement(
        n=int(p.size),
        mae=float(np.abs(diff).mean()),
        within={d: float((np.abs(diff) <= d).mean()) for d in WITHIN_DEG},
        bias=bias,
        sd=sd,
        loa=(bias - 1.96 * sd, bias + 1.96 * sd),
        slope=slope,
        intercept=intercept,
    )


@dataclass(frozen=True)
class TiltErrorReport:
    """Absolute differences of vertebra tilts (degrees), averaged over images."""

    mean_deg: float
    per_vertebra_deg: np.ndarray
    per_image_deg: np.ndarray


def tilt_errors(pred, true) -> TiltErrorReport:
    """|predicted - true| midline tilt per vertebra (see ``geometry.tilts``), in degrees.

    Differences are wrapped into [-180, 180) first, so a tilt of 179 against
    -179 degrees counts as 2, not 358.
    """
    p, t = _batched_pair(pred, true)
    d = (tilts(p) - tilts(t) + 180.0) % 360.0 - 180.0
    err = np.abs(d)
    return TiltErrorReport(
        mean_deg=float(err.mean()),
        per_vertebra_deg=err.mean(axis=0),
        per_image_deg=err.mean(axis=1),
    )


@dataclass(frozen=True)
class CobbComparison:
    """Cobb angles of the images where both the prediction and the truth have them.

    ``pred``/``true`` are (M, 3) degrees in the AASCE column order, ``kept``
    the indices of those M images; a degenerate prediction (an untrained
    network puts every corner on one spot) has no angle and is left out, so
    ``n_skipped`` says how many were.
    """

    pred: np.ndarray
    true: np.ndarray
    kept: list[int]
    n_skipped: int

    @property
    def smape(self) -> float | None:
        return smape(self.pred, self.true) if len(self.kept) else None

    @property
    def main(self) -> AngleAgreement | None:
        """Agreement of the main (largest) angle, the one a report leads with."""
        return angle_agreement(self.pred[:, 0], self.true[:, 0]) if len(self.kept) else None


def compare_cobb(pred_px, true_px, heights) -> CobbComparison:
    """Cobb angles of (N, V, 4, 2) predictions and truths, image by image."""
    pa, ta, kept = [], [], []
    for i, (p, t, h) in enumerate(zip(pred_px, true_px, heights, strict=True)):
        try:
            a = cobb_angles(p, image_height=h).angles
            b = cobb_angles(t, image_height=h).angles
        except (SpineguiError, ValueError):
            continue
        pa.append(a)
        ta.append(b)
        kept.append(i)
    shape = (len(kept), 3)
    return CobbComparison(
        np.asarray(pa, dtype=np.float64).reshape(shape),
        np.asarray(ta, dtype=np.float64).reshape(shape),
        kept,
        len(heights) - len(kept),
    )


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
    from scipy import stats  # imported here: scipy costs the window's start-up ~0.25 s

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
