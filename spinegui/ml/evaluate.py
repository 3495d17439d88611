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

from spinegui.core.errors import SpineguiError
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
        lines += ["", "Per-vertebra mean error (px)", f"{'':28}{'model':>14}{'mean shape':>14}"]
        names = get_template(self.template).vertebrae
        for name, a, c in zip(names, m.per_vertebra_px, b.per_vertebra_px, strict=True):
            row(f"  {name}", a, c)
        lines += ["", f"Baseline: {self.baseline_note}"]
        lines += [
            "ANOVA: one-way, predicted vs true coordinates pooled (the paper's test); "
            "a large p means no detectable overall offset, not per-landmark accuracy."
        ]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


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
    from spinegui.core.cobb import cobb_angles
    from spinegui.core.metrics import landmark_anova, landmark_error, pearson_r, smape

    report = landmark_error(pred_px, true_px)
    # A degenerate prediction (an untrained net puts every corner on one spot)
    # has no Cobb angle; such images are left out of SMAPE and counted.
    pa, ta = [], []
    for p, t, h in zip(pred_px, true_px, heights, strict=True):
        try:
            a, b = cobb_angles(p, image_height=h).angles, cobb_angles(t, image_height=h).angles
        except (SpineguiError, ValueError):
            continue
        pa.append(a)
        ta.append(b)
    smape_value = _finite_or_none(smape(np.array(pa), np.array(ta))) if pa else None
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
        n_smape_images=len(pa),
    )
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
    if tuple(data.input_hw) != tuple(predictor.input_hw):
        raise DataError(
            f"The data was cached at {data.input_hw}, the model expects {predictor.input_hw}.",
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
