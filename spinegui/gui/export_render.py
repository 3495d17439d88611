"""The annotated X-ray at its own resolution: what PNG exports and the PDF report show.

A grab of the view gave whatever the screen showed (the zoom, a quarter of
the pixels, the handles). This draws the whole image pixel for pixel with the
window's brightness/contrast and inversion, then the same overlay items the
canvas uses, painted once more onto the picture with their line widths and
text scaled to the image size, so a 4000-pixel film gets lines and names one
reads at that size. Handles and uncertainty marks are left out unless asked
for; a millimetre scale bar is drawn when the image has a scale.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

from spinegui.gui.cobb_overlay import SETS, CobbOverlay
from spinegui.gui.overlay import LAYERS, LandmarkOverlay

REFERENCE_HEIGHT = 1000.0
"""Image height (px) at which overlays are drawn at their on-screen size; taller: thicker."""
BAR_LENGTHS_MM = (10, 20, 50, 100, 200, 500)


def style_scale(height: int) -> float:
    return max(1.0, float(height) / REFERENCE_HEIGHT)


def grey_image(pixels: np.ndarray, levels: tuple[float, float], inverted: bool) -> QImage:
    """The X-ray windowed to ``levels`` as an 8-bit picture (RGB32 to draw colour on)."""
    low, high = levels
    scale = 255.0 / max(high - low, 1e-12)
    grey = np.clip((np.asarray(pixels, np.float32) - low) * scale, 0, 255).astype(np.uint8)
    if inverted:
        np.subtract(255, grey, out=grey)
    grey = np.ascontiguousarray(grey)
    h, w = grey.shape
    image = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8)
    return image.convertToFormat(QImage.Format.Format_RGB32)  # a copy: grey may go


def bar_length_mm(width_px: int, mm_per_px: float) -> int:
    """The longest round length that takes at most a fifth of the image's width."""
    fitting = [mm for mm in BAR_LENGTHS_MM if mm / mm_per_px <= width_px / 5]
    return fitting[-1] if fitting else BAR_LENGTHS_MM[0]


def _paint_scale_bar(painter: QPainter, w: int, h: int, mm_per_px: float, k: float) -> None:
    mm = bar_length_mm(w, mm_per_px)
    length = mm / mm_per_px
    x0, y0 = 0.04 * w, h - 0.04 * h
    thick = 4 * k
    painter.setPen(QPen(QColor(0, 0, 0, 200), 2 * k))
    painter.setBrush(QColor(255, 255, 255))
    painter.drawRect(QRectF(x0, y0 - thick, length, thick))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(1, round(14 * k)))
    painter.setFont(font)
    text_rect = QRectF(x0, y0 - thick - 22 * k, max(length, 80 * k), 20 * k)
    painter.setPen(QColor(0, 0, 0))
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        painter.drawText(
            text_rect.translated(dx * k, dy * k), Qt.AlignmentFlag.AlignLeft, f"{mm} mm"
        )
    painter.setPen(QColor(255, 255, 255))
    painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft, f"{mm} mm")


def render_annotated(canvas, *, handles: bool = False, uncertainty: bool = False) -> QImage:
    """The canvas's image and overlays at the image's full resolution.

    Layers follow the window (hidden truth stays hidden, the chosen Cobb
    lines are drawn), except handles and uncertainty, which only appear when
    asked for. Returns a null QImage when no image is shown.
    """
    pixels = canvas.image_item.image
    size = canvas.image_size()
    if pixels is None or size is None:
        return QImage()
    w, h = size
    k = style_scale(h)
    picture = grey_image(pixels, canvas.levels(), canvas.inverted())
    src = canvas.overlay
    marks = LandmarkOverlay()
    marks.set_style_scale(k)
    for layer in ("truth", "prediction"):
        marks.set_points(layer, src.points(layer))
    marks.set_spread(src.spread())
    marks.set_labels(src.labels())
    for layer in LAYERS:
        if layer != "cobb":
            marks.set_layer_visible(layer, src.layer_visible(layer))
    marks.set_layer_visible("handles", handles and src.layer_visible("handles"))
    marks.set_layer_visible("uncertainty", uncertainty and src.layer_visible("uncertainty"))
    marks.set_handles_layer(canvas.editable_layer() if handles else None)
    lines = CobbOverlay()
    lines.set_style_scale(k)
    for which in SETS:
        lines.set_curves(which, *canvas.cobb_overlay.curves(which))
    lines.set_shown(canvas.cobb_overlay.shown() if canvas.layer_visible("cobb") else ())
    marks.set_avoid(lines.segments)
    lines.set_taken(marks.taken_rects)

    painter = QPainter(picture)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.translate(0.5, 0.5)  # landmark x = i is the centre of pixel column i
        marks.paint(painter)
        lines.paint(painter)
        painter.resetTransform()
        spacing = canvas.spacing_mm()
        if spacing is not None and math.isfinite(spacing[1]) and spacing[1] > 0:
            _paint_scale_bar(painter, w, h, float(spacing[1]), k)
    finally:
        painter.end()
    return picture
