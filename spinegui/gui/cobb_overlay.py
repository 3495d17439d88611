"""Cobb angle lines on their end vertebrae, with the values written beside them.

The angle is measured between vertebra midlines (see spinegui.core.cobb), so
those are the lines drawn, extended past the box as a clinician would extend
endplates on film. Each angle has its own colour AND dash pattern, so the
three stay apart for colour-blind users and against the red/green boxes.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen

from spinegui.core.cobb import CobbResult
from spinegui.core.geometry import as_corners, midlines
from spinegui.gui.overlay import HALO_COLOR, to_device

ANGLE_NAMES = ("Main", "#2", "#3")
ANGLE_STYLES = (
    (QColor(255, 214, 60), Qt.PenStyle.SolidLine, 2.4),
    (QColor(80, 200, 255), Qt.PenStyle.DashDotLine, 1.8),
    (QColor(230, 120, 255), Qt.PenStyle.DotLine, 1.8),
)
LINE_EXTENSION = 1.0
"""Each midline is drawn this many of its own lengths past either end."""
MIN_ANGLE_DEG = 0.05
"""Below this the rule found no curve in that region: nothing to draw."""
TEXT_GAP_PX = 14.0
TEXT_REACH_PX = 260.0
"""Screen pixels right of the spine that the angle texts may reach."""


class CobbOverlay(pg.GraphicsObject):
    """Draws a CobbResult over the landmarks it was computed from."""

    def __init__(self) -> None:
        super().__init__()
        self._result: CobbResult | None = None
        self._points: np.ndarray | None = None
        self._bounds = QRectF()
        self._font = QFont()
        self._font.setPixelSize(14)
        self._font.setBold(True)
        self.setZValue(20)

    def set_cobb(self, result: CobbResult | None, points: np.ndarray | None) -> None:
        self.prepareGeometryChange()
        if result is None or points is None:
            self._result, self._points = None, None
            self._bounds = QRectF()
        else:
            self._result, self._points = result, as_corners(points)
            self._bounds = self._compute_bounds()
        self.update()

    def drawn_angles(self) -> list[tuple[str, float, tuple[int, int]]]:
        """(name, degrees, end vertebrae) of each angle actually drawn."""
        if self._result is None:
            return []
        out = []
        for name, angle, (upper, lower) in zip(
            ANGLE_NAMES, self._result.angles, self._result.pairs, strict=False
        ):
            if upper != lower and angle >= MIN_ANGLE_DEG:
                out.append((name, float(angle), (int(upper), int(lower))))
        return out

    def _compute_bounds(self) -> QRectF:
        pts = self._points.reshape(-1, 2)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if pts.size == 0:
            return QRectF()
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        # Extended lines reach about one box width past the spine; the text a fixed
        # number of screen pixels further, which is a different size at each zoom.
        px = self.pixelLength(pg.Point(1, 0)) if self.getViewBox() is not None else None
        pad = 3.0 * float(np.max(hi - lo)) + TEXT_REACH_PX * float(px or 1.0)
        return QRectF(lo[0] - pad, lo[1] - pad, hi[0] - lo[0] + 2 * pad, hi[1] - lo[1] + 2 * pad)

    def viewTransformChanged(self) -> None:
        if self._points is not None:
            self.prepareGeometryChange()
            self._bounds = self._compute_bounds()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, *_args) -> None:
        if self._result is None or self._points is None:
            return
        transform = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setFont(self._font)
        lines = to_device(midlines(self._points), transform)  # (V, 2, 2)
        right_edge = to_device(self._points, transform)[..., 0].max(axis=1)
        drawn: set[int] = set()
        for k, (name, angle, (upper, lower)) in enumerate(self.drawn_angles()):
            color, style, width = ANGLE_STYLES[ANGLE_NAMES.index(name)]
            pen = QPen(color, width, style)
            pen.setCosmetic(True)
            painter.setPen(pen)
            for v in (upper, lower):
                if v not in drawn:  # a vertebra shared by two curves keeps the first colour
                    self._paint_extended(painter, lines[v])
                    drawn.add(v)
            x = float(max(right_edge[upper], right_edge[lower])) + TEXT_GAP_PX + 30.0 * (k > 0)
            y = float((lines[upper, :, 1].mean() + lines[lower, :, 1].mean()) / 2)
            self._paint_text(painter, QPointF(x, y), f"{name} {angle:.1f}°", color)
        painter.restore()

    @staticmethod
    def _paint_extended(painter: QPainter, line: np.ndarray) -> None:
        a, b = line
        if not np.isfinite(line).all():
            return
        d = (b - a) * LINE_EXTENSION
        p, q = a - d, b + d
        painter.drawLine(QPointF(*p), QPointF(*q))

    @staticmethod
    def _paint_text(painter: QPainter, at: QPointF, text: str, color: QColor) -> None:
        metrics = painter.fontMetrics()
        base = QPointF(at.x(), at.y() + metrics.ascent() / 2 - 1)
        painter.setPen(HALO_COLOR)
        for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1), (1, 1), (-1, -1)):
            painter.drawText(base + QPointF(dx, dy), text)
        painter.setPen(color)
        painter.drawText(base, text)
