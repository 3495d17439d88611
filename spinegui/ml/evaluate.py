"""Accuracy of a model on annotated images, always next to the "mean shape" baseline.

Why the baseline: landmark errors in pixels mean little on their own (an
AASCE image is ~2400 px tall; synthetic phantoms differ again), and Pearson r
of coordinates is high for any output shaped roughly like a spine, because
y spans the whole image. Predicting the average training spine for every
image, stretched to the image size, is what a network that learnt nothing
image-specific would do; a model is only useful by the margin it beats that.

The baseline's mean shape is taken from the model's own training data when
the checkpoint records it (``meta["mean_shape"]``, written by ``train``);
otherwise from the evaluation data itself, which flatters the baseline
slightly (it has seen the test answers on average) and is noted in the report.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from spinegui.core.templates import get_template
from spinegui.ml.data import DataError, LandmarkData
from spinegui.ml.events import json_safe

__all__ = ["EvaluationReport", "Figures", "evaluate", "figures"]


@dataclass
class Figures:
    """The paper's and the challenge's numbers for one set of predictions."""

    name: str
    n_images: int
    mean_px: float
    median_px: float
    per_vertebra_px: list[float]
    pearson_r: float | None
    smape: float | None
    anova_f: float | None
    anova_p: float | None
    mean_mm: float | None = None
    median_mm: float | None = None
    per_vertebra_mm: list[float] | None = None
    n_mm_images: int = 0
    n_smape_images: int = 0
    """Images whose predicted and true Cobb angles could both be measured."""
    cobb_mae: float | None = None
    """Main Cobb angle, mean absolute error in degrees (over ``n_smape_images``)."""
    within5: float | None = None
    """Share (0-1) of images whose main angle is within 5 degrees of the truth."""
    within10: float | None = None
    cobb_bias: float | None = None
    """Mean of predicted minus true main angle (negative: curves read too small)."""
    cobb_loa: list[float] | None = None
    """Bland-Altman 95 % limits of agreement of the main angle, degrees."""
    cobb_slope: float | None = None
    """Least-squares slope of predicted against true main angle (1 = no pull to the mean)."""
    cobb_intercept: float | None = None
    tilt_deg: float | None = None
    """Mean absolute vertebra tilt error, degrees."""
    per_vertebra_tilt_deg: list[float] | None = None
    main_pred: list[float] = field(default_factory=list)
    """Predicted main angle per scored image (for plots), degrees."""
    main_true: list[float] = field(default_factory=list)


@dataclass
class EvaluationReport:
    model: Figures
    baseline: Figures
    template: str
    model_version: str
    data_source: str
    baseline_note: str
    tta: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def format_table(self) -> str:
        """A plain-text table for the terminal; model and baseline side by side."""
        m, b = self.model, self.baseline
        lines = [
            f"Model {self.model_version} on {self.data_source} "
            f"({m.n_images} images, template {self.template}, TTA {'on' if self.tta else 'off'})",
            "",
            f"{'':28}{'model':>14}{'mean shape':>14}",
        ]

        def row(label: str, a, c, fmt: str = "{:.2f}") -> None:
            lines.append(f"{label:28}{_fmt(a, fmt):>14}{_fmt(c, fmt):>14}")

        row("Main Cobb angle error (deg)", m.cobb_mae, b.cobb_mae)
        row("  within 5 deg (%)", _pct(m.within5), _pct(b.within5), "{:.1f}")
        row("  within 10 deg (%)", _pct(m.within10), _pct(b.within10), "{:.1f}")
        row("  bias, pred - true (deg)", m.cobb_bias, b.cobb_bias, "{:+.2f}")
        row("  slope, pred vs true", m.cobb_slope, b.cobb_slope, "{:.3f}")
        if m.cobb_loa:
            lines.append(
                f"{'  limits of agreement (deg)':28}"
                f"{m.cobb_loa[0]:>+7.1f} to {m.cobb_loa[1]:+.1f}".rstrip()
            )
        row("Vertebra tilt error (deg)", m.tilt_deg, b.tilt_deg)
        row("Mean landmark error (px)", m.mean_px, b.mean_px)
        row("Median landmark error (px)", m.median_px, b.median_px)
        if m.n_mm_images:
            suffix = "" if m.n_mm_images == m.n_images else f" [{m.n_mm_images} img]"
            row(f"Mean error (mm){suffix}", m.mean_mm, b.mean_mm)
            row(f"Median error (mm){suffix}", m.median_mm, b.median_mm)
        else:
            lines.append(f"{'Error in mm':28}{'no pixel spacing known':>28}")
        row("Pearson r (coordinates)", m.pearson_r, b.pearson_r, "{:.4f}")
        smape_label = "Cobb angle SMAPE (%)"
        if m.n_smape_images != m.n_images:
            smape_label += f" [{m.n_smape_images} img]"
        row(smape_label, m.smape, b.smape)
        row("ANOVA F", m.anova_f, b.anova_f, "{:.4g}")
        row("ANOVA p", m.anova_p, b.anova_p, "{:.4g}")
        lines += [
            "",
            "Per vertebra: corner error (px) and tilt error (deg)",
            f"{'':28}{'model px':>14}{'model deg':>14}{'mean-shape px':>15}",
        ]
        names = get_template(self.template).vertebrae
        tilts = m.per_vertebra_tilt_deg or [None] * len(names)
        for name, a, t, c in zip(names, m.per_vertebra_px, tilts, b.per_vertebra_px, strict=True):
            lines.append(
                f"{'  ' + name:28}{_fmt(a, '{:.2f}'):>14}{_fmt(t, '{:.2f}'):>14}"
                f"{_fmt(c, '{:.2f}'):>15}"
            )
        lines += ["", f"Baseline: {self.baseline_note}"]
        lines += [
            "ANOVA: one-way, predicted vs true coordinates pooled (the paper's test); "
            "a large p means no detectable overall offset, not per-landmark accuracy."
        ]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


def _pct(share: float | None) -> float | None:
    return None if share is None else 100.0 * share


def _fmt(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value)


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _spacing_pair(spacing) -> tuple[float, float] | None:
    if spacing is None:
        return None
    values = np.asarray(spacing, dtype=np.float64).ravel()
    if values.size == 1:
        values = np.repeat(values, 2)
    if values.size != 2 or not (np.isfinite(values).all() and (values > 0).all()):
        return None
    return float(values[0]), float(values[1])


def figures(
    name: str,
    pred_px: np.ndarray,
    true_px: np.ndarray,
    heights: list[int],
    spacings: list | None = None,
) -> Figures:
    """All figures for (N, V, 4, 2) predictions against the truth, original pixels."""
    from spinegui.core.metrics import (
        compare_cobb,
        landmark_anova,
        landmark_error,
        pearson_r,
        tilt_errors,
    )

    report = landmark_error(pred_px, true_px)
    # A degenerate prediction (an untrained net puts every corner on one spot)
    # has no Cobb angle; such images are left out of the angle figures and counted.
    cobb = compare_cobb(pred_px, true_px, heights)
    smape_value = cobb.smape
    smape_value = _finite_or_none(smape_value) if smape_value is not None else None
    tilt = tilt_errors(pred_px, true_px)
    anova = landmark_anova(pred_px, true_px)
    fig = Figures(
        name=name,
        n_images=len(pred_px),
        mean_px=float(report.mean_px),
        median_px=float(report.median_px),
        per_vertebra_px=[float(v) for v in report.per_vertebra_px],
        pearson_r=_finite_or_none(pearson_r(pred_px, true_px)),
        smape=smape_value,
        anova_f=_finite_or_none(anova.f),
        anova_p=_finite_or_none(anova.p),
        n_smape_images=len(cobb.kept),
        tilt_deg=float(tilt.mean_deg),
        per_vertebra_tilt_deg=[float(v) for v in tilt.per_vertebra_deg],
        main_pred=[float(v) for v in cobb.pred[:, 0]],
        main_true=[float(v) for v in cobb.true[:, 0]],
    )
    main = cobb.main
    if main is not None:
        fig.cobb_mae = main.mae
        fig.within5, fig.within10 = main.within[5.0], main.within[10.0]
        fig.cobb_bias = main.bias
        fig.cobb_loa = [float(v) for v in main.loa]
        fig.cobb_slope, fig.cobb_intercept = main.slope, main.intercept
    # Pixel spacing differs per image, so mm distances are computed per image
    # and pooled over the images that have one.
    spacings = spacings or [None] * len(pred_px)
    mm_dists = []
    for p, t, s in zip(pred_px, true_px, spacings, strict=True):
        pair = _spacing_pair(s)
        if pair is None:
            continue
        row_mm, col_mm = pair
        d = p - t
        mm_dists.append(np.hypot(d[..., 0] * col_mm, d[..., 1] * row_mm))
    if mm_dists:
        mm = np.stack(mm_dists)
        fig.mean_mm = float(mm.mean())
        fig.median_mm = float(np.median(mm))
        fig.per_vertebra_mm = [float(v) for v in mm.mean(axis=(0, 2))]
        fig.n_mm_images = len(mm_dists)
    return fig


def evaluate(
    predictor,
    data: LandmarkData,
    *,
    tta: bool = False,
    mean_shape: np.ndarray | None = None,
    batch_size: int = 8,
) -> EvaluationReport:
    """Run ``predictor`` on ``data`` (cached at the model's input size) and score it."""
    from spinegui.ml.preprocess import denormalize_points

    if len(data) == 0:
        raise DataError("There are no annotated images to evaluate on.", "Check the data path.")
    if data.template != predictor.template:
        raise DataError(
            f"The data uses template {data.template} but the model predicts {predictor.template}.",
            "Evaluate a model made for this template.",
        )
    if tuple(data.input_hw) != tuple(predictor.data_hw):
        raise DataError(
            f"The data was cached at {data.input_hw}, the model expects {predictor.data_hw}.",
            "Build the dataset with the model's preset.",
        )
    notes = list(data.notes)
    sizes = [(s.width, s.height) for s in data.samples]
    preds = predictor.predict_resized(data.images(), sizes, tta=tta, batch_size=batch_size)
    pred_px = np.stack([p.landmarks for p in preds])
    true_px = np.stack([s.landmarks for s in data.samples])
    heights = [s.height for s in data.samples]
    spacings = [s.spacing_mm for s in data.samples]

    v = get_template(data.template).n_vertebrae
    recorded = predictor.meta.get("mean_shape")
    if mean_shape is not None:
        shape = np.asarray(mean_shape, dtype=np.float64).reshape(v, 4, 2)
        note = "mean shape given by the caller."
    elif recorded is not None and np.asarray(recorded).size == v * 8:
        shape = np.asarray(recorded, dtype=np.float64).reshape(v, 4, 2)
        n_train = (predictor.meta.get("train_config") or {}).get("train_images")
        note = (
            "every image gets the mean landmarks of the model's "
            f"{n_train or ''} training images (normalised), stretched to its size."
        ).replace("  ", " ")
    else:
        shape = data.mean_shape()
        note = (
            "the model does not record its training data's mean shape, so the mean of "
            "the evaluation images themselves is used (this flatters the baseline)."
        )
    base_px = np.stack([denormalize_points(shape, w, h) for w, h in sizes])
    return EvaluationReport(
        model=figures("model", pred_px, true_px, heights, spacings),
        baseline=figures("mean shape", base_px, true_px, heights, spacings),
        template=data.template,
        model_version=predictor.version,
        data_source=data.source or "data",
        baseline_note=note,
        tta=tta,
        notes=notes,
    )
