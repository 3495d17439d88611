"""Millimetres for every image: DICOM pixel spacing, or a ruler the reader draws.

PNG and JPEG X-rays carry no pixel size, so a distance on them means nothing
to a clinician. A calibration is one line drawn over something of known
length (a ruler on the film, a calibration ball, a known implant) and that
length in millimetres. It is kept for one image, or for the whole project when
all its images come from one device at one distance.

Which spacing applies, most specific first:

1. a ruler drawn on this image (it measured the film as it is);
2. the pixel spacing recorded with the image (from its DICOM header, or
   given when it was imported);
3. a ruler drawn for the whole project.

A DICOM spacing is usually the detector's (ImagerPixelSpacing), about 10 %
larger than the patient's anatomy; a ruler over a calibration object at the
spine measures the anatomy, which is why it wins over the DICOM value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from spinegui.core.errors import SpineguiError

MIN_RULER_PX = 10.0
"""A shorter line cannot be placed precisely enough to calibrate a whole film."""
MAX_MM_PER_PX = 5.0
"""Coarser than 5 mm per pixel is no radiograph: most likely a wrong length was typed."""


class CalibrationError(SpineguiError):
    """A ruler that cannot give a pixel size."""


@dataclass(frozen=True)
class Calibration:
    """Millimetres per pixel from a line of known length drawn on an image."""

    mm_per_px: float
    length_mm: float
    line: tuple[float, float, float, float]
    """(x0, y0, x1, y1) in image pixels: where the ruler was drawn."""

    @classmethod
    def from_line(cls, x0: float, y0: float, x1: float, y1: float, length_mm: float):
        """Check the ruler and derive the pixel size; raises CalibrationError when unusable."""
        length_px = math.hypot(x1 - x0, y1 - y0)
        values = (x0, y0, x1, y1, length_mm)
        if not all(math.isfinite(float(v)) for v in values):
            raise CalibrationError(
                "The calibration line or its length is not a number.",
                "Draw the line again and type its length in millimetres.",
            )
        if length_mm <= 0:
            raise CalibrationError(
                f"A calibration length must be positive, not {length_mm:g} mm.",
                "Type the real length of what the line covers, in millimetres.",
            )
        if length_px < MIN_RULER_PX:
            raise CalibrationError(
                f"The calibration line is only {length_px:.1f} pixels long.",
                f"Draw it over at least {MIN_RULER_PX:.0f} pixels; longer lines are more precise.",
            )
        mm_per_px = float(length_mm) / length_px
        if mm_per_px > MAX_MM_PER_PX:
            raise CalibrationError(
                f"{length_mm:g} mm over {length_px:.0f} pixels would be {mm_per_px:.1f} mm per "
                "pixel, far coarser than any radiograph.",
                "Check the length you typed (millimetres, not centimetres or inches).",
            )
        return cls(mm_per_px, float(length_mm), (float(x0), float(y0), float(x1), float(y1)))

    def to_json(self) -> dict[str, Any]:
        return {"mm_per_px": self.mm_per_px, "length_mm": self.length_mm, "line": list(self.line)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        return cls(float(data["mm_per_px"]), float(data["length_mm"]), tuple(data["line"]))


@dataclass(frozen=True)
class Spacing:
    """(row, col) millimetres per pixel and where the figure comes from, in words."""

    row_mm: float
    col_mm: float
    source: str

    @property
    def mean_mm(self) -> float:
        return (self.row_mm + self.col_mm) / 2.0

    def describe(self) -> str:
        """'0.143 mm per pixel (DICOM pixel spacing)'."""
        if math.isclose(self.row_mm, self.col_mm, rel_tol=1e-6):
            size = f"{self.row_mm:.3f} mm per pixel"
        else:
            size = f"{self.col_mm:.3f} × {self.row_mm:.3f} mm per pixel"
        return f"{size} ({self.source})"


RULER_ON_IMAGE = "ruler drawn on this image"
DICOM_SPACING = "pixel spacing recorded with the image"
RULER_FOR_PROJECT = "ruler drawn for the whole project"


def effective_spacing(
    dicom_mm: tuple[float, float] | None,
    image_ruler: Calibration | None,
    project_ruler: Calibration | None,
) -> Spacing | None:
    """The pixel size to measure this image with (see the module docstring), or None."""
    if image_ruler is not None:
        return Spacing(image_ruler.mm_per_px, image_ruler.mm_per_px, RULER_ON_IMAGE)
    if dicom_mm is not None:
        return Spacing(float(dicom_mm[0]), float(dicom_mm[1]), DICOM_SPACING)
    if project_ruler is not None:
        return Spacing(project_ruler.mm_per_px, project_ruler.mm_per_px, RULER_FOR_PROJECT)
    return None
