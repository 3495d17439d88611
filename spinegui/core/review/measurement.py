"""What the panels, the image, the exports and the report say about one image's spine.

Computed once per change and shared: the canvas draws ``truth`` and
``prediction`` curves, the inspector lists ``rows`` and ``vertebrae``, the
worklist shows ``main_angle``, the report prints them all. One Cobb
computation per set of landmarks, however many views show it.

Errors are given in pixels, in millimetres where the image has a pixel size
(DICOM spacing or a ruler), and relative to the vertebra's own width, which
is what the "large error" highlight uses: a fixed number of pixels means
something else on a 500-pixel thumbnail than on a 4000-pixel film.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spinegui.core.calibration import Spacing
from spinegui.core.curves import Curve, CurveSet
from spinegui.core.geometry import lower_endplates, tilts, upper_endplates

LARGE_ERROR_FRACTION = 0.15
"""A prediction missing the truth by more than this share of the vertebra's width is flagged.

On the AASCE films (vertebrae about 60-80 px wide at their 1000-1500 px
height) this is the former 10-pixel threshold; unlike it, it means the same
on every image size."""


@dataclass(frozen=True)
class VertebraRow:
    name: str
    tilt_deg: float | None
    error_px: float | None
    error_mm: float | None
    error_fraction: float | None
    """Mean corner error divided by the vertebra's width (truth box)."""
    uncertainty_px: float | None
    uncertainty_mm: float | None

    @property
    def large_error(self) -> bool:
        return self.error_fraction is not None and self.error_fraction > LARGE_ERROR_FRACTION


@dataclass(frozen=True)
class CurveRow:
    """One named curve, as measured on the truth and on the prediction."""

    name: str
    truth: Curve | None
    prediction: Curve | None

    @property
    def chosen_by_reader(self) -> bool:
        return any(c is not None and c.chosen_by_reader for c in (self.truth, self.prediction))

    @property
    def difference(self) -> float | None:
        """Prediction minus truth, degrees (None unless both were measured)."""
        if self.truth is None or self.prediction is None:
            return None
        return self.prediction.angle - self.truth.angle


@dataclass(frozen=True, eq=False)
class Measurement:
    names: tuple[str, ...]
    truth: CurveSet
    prediction: CurveSet
    rows: tuple[CurveRow, ...]
    vertebrae: tuple[VertebraRow, ...]
    spacing: Spacing | None

    def main_angle(self) -> tuple[float | None, str | None]:
        """(degrees, "truth" or "prediction"): the largest curve, of the truth when there is one."""
        for source, curve_set in (("truth", self.truth), ("prediction", self.prediction)):
            if curve_set.main_angle is not None:
                return curve_set.main_angle, source
        return None, None


def curve_rows(truth: CurveSet, prediction: CurveSet) -> tuple[CurveRow, ...]:
    """Truth and prediction curves side by side, matched by name, top to bottom."""
    t, p = truth.by_name(), prediction.by_name()
    names = sorted(
        set(t) | set(p), key=lambda n: (t[n] if n in t else p[n]).upper + 0.5 * (n not in t)
    )
    return tuple(CurveRow(n, t.get(n), p.get(n)) for n in names)


def _widths(points: np.ndarray) -> np.ndarray:
    """Each vertebra's width: the mean length of its two endplates, px."""
    up, low = upper_endplates(points), lower_endplates(points)
    length = np.hypot(*(up[..., 1, :] - up[..., 0, :]).T) + np.hypot(
        *(low[..., 1, :] - low[..., 0, :]).T
    )
    return length / 2.0


def vertebra_rows(
    names: Sequence[str], truth, prediction, spread, spacing: Spacing | None
) -> tuple[VertebraRow, ...]:
    """Tilt of the truth (else the prediction), prediction error and spread per vertebra."""
    shown = truth if truth is not None else prediction
    tilt = tilts(shown) if shown is not None else None
    error = error_mm = fraction = None
    if truth is not None and prediction is not None:
        delta = np.asarray(prediction, float) - np.asarray(truth, float)
        error = np.linalg.norm(delta, axis=-1).mean(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = error / _widths(np.asarray(truth, float))
        if spacing is not None:
            scaled = delta * (spacing.col_mm, spacing.row_mm)
            error_mm = np.linalg.norm(scaled, axis=-1).mean(axis=-1)
    unc = None if spread is None else np.asarray(spread, float).mean(axis=-1)

    def at(values, i) -> float | None:
        return None if values is None or not np.isfinite(values[i]) else float(values[i])

    return tuple(
        VertebraRow(
            name,
            at(tilt, i),
            at(error, i),
            at(error_mm, i),
            at(fraction, i),
            at(unc, i),
            None if unc is None or spacing is None else float(unc[i] * spacing.mean_mm),
        )
        for i, name in enumerate(names)
    )


def combine(
    names: Sequence[str],
    truth_curves: CurveSet,
    prediction_curves: CurveSet,
    truth,
    prediction,
    spread,
    spacing: Spacing | None,
) -> Measurement:
    """Put the two curve sets and the per-vertebra figures together (no Cobb computed here)."""
    return Measurement(
        names=tuple(names),
        truth=truth_curves,
        prediction=prediction_curves,
        rows=curve_rows(truth_curves, prediction_curves),
        vertebrae=vertebra_rows(names, truth, prediction, spread, spacing),
        spacing=spacing,
    )
