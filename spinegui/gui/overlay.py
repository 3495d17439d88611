"""All vertebra boxes, corner handles and labels as ONE graphics item.

One item instead of one pyqtgraph ROI per corner (pyqtgraph #1068: about 4 s
to create 150 handles) keeps opening an image and dragging instant. Everything
is painted in device (screen) pixels: the landmarks are mapped through the
painter's transform once per paint, then lines, handles and text are drawn
untransformed, so widths, handle sizes and fonts stay the same at any zoom.

Ground truth is green and solid, the prediction red and dashed, so the two
differ in more than hue for colour-blind users.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen, QPolygonF, QTransform

from spinegui.core.geometry import BOX_ORDER

LAYERS = ("truth", "prediction", "labels", "cobb", "handles")
"""Layer names the canvas can show or hide (``cobb`` is drawn by CobbOverlay)."""

TRUTH_COLOR = QColor(60, 220, 90)
PREDICTION_COLOR = QColor(255, 70, 70)
SELECTED_COLOR = QColor(255, 210, 40)
LABEL_COLOR = QColor(235, 245, 255)
HALO_COLOR = QColor(0, 0, 0, 200)

LINE_WIDTH = 1.6
SELECTED_LINE_WIDTH = 2.6
HANDLE_SIZE = 7.0
"""Side of a corner handle in screen pixels: big enough to see, small enough not to hide bone."""
CENTRE_HANDLE_SIZE = 8.0
LABEL_GAP = 8.0
PAINT_MARGIN_PX = 70.0
"""Screen pixels around the landmarks that labels and handles may reach."""


def to_device(points: np.ndarray, transform: QTransform) -> np.ndarray:
    """Map (..., 2) item coordinates through an affine QTransform, vectorised."""
    x, y = points[..., 0], points[..., 1]
    out = np.empty(points.shape, dtype=np.float64)
    out[..., 0] = transform.m11() * x + transform.m21() * y + transform.dx()
    out[..., 1] = transform.m12() * x + transform.m22() * y + transform.dy()
    return out


def nearest_handle(
    corners_px: np.ndarray, centres_px: np.ndarray, pos: tuple[float, float], radius: float
) -> tuple[int, int] | None:
    """The handle nearest to ``pos`` within ``radius`` (all in screen pixels), or None.

    Returns (v, c) for a corner and (v, -1) for a vertebra's centre handle.
    Corners win ties: they are what users aim at most, and a centre handle
    sits on no landmark.
    """
    p = np.asarray(pos, dtype=np.float64)
    best: tuple[float, tuple[int, int]] | None = None
    if corners_px.size:
        d = np.hypot(*(corners_px - p).transpose(2, 0, 1))
        d = np.where(np.isfinite(d), d, np.inf)
        v, c = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[v, c] <= radius:
            best = (float(d[v, c]), (int(v), int(c)))
    if centres_px.size:
        d = np.hypot(*(centres_px - p).T)
        d = np.where(np.isfinite(d), d, np.inf)
        v = int(np.argmin(d))
        if d[v] <= radius and (best is None or d[v] < best[0]):
            best = (float(d[v]), (v, -1))
    return None if best is None else best[1]


def _pen(color: QColor, width: float, dashed: bool = False) -> QPen:
    pen = QPen(color, width)
    pen.setCosmetic(True)
    pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
    if dashed:
        pen.setDashPattern([4.0, 3.0])
    return pen


class LandmarkOverlay(pg.GraphicsObject):
    """Truth and prediction boxes, handles on the editable layer, vertebra labels."""

    def __init__(self) -> None:
        super().__init__()
        self._points: dict[str, np.ndarray | None] = {"truth": None, "prediction": None}
        self._spread: np.ndarray | None = None
        self._visible = dict.fromkeys(LAYERS, True)
        self._labels: tuple[str, ...] = ()
        self._handles_on: str | None = None
        self._selection = (-1, -1)
        self._hover: tuple[int, int] | None = None
        self._bounds = QRectF()
        self._font = QFont()
        self._font.setPixelSize(12)
        self._font.setBold(True)
        self.setZValue(10)

    # ------------------------------------------------------------------ state

    def set_points(self, layer: str, points: np.ndarray | None) -> None:
        """Show (V,4,2) landmarks of "truth" or "prediction"; None removes them."""
        self._points[layer] = None if points is None else np.array(points, dtype=np.float64)
        self._geometry_changed()

    def points(self, layer: str) -> np.ndarray | None:
        """The array being drawn (live: the canvas moves corners in it while dragging)."""
        return self._points[layer]

    def set_spread(self, spread: np.ndarray | None) -> None:
        self._spread = None if spread is None else np.asarray(spread, dtype=np.float64)
        self.update()

    def set_labels(self, names) -> None:
        self._labels = tuple(names)
        self.update()

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        self._visible[layer] = bool(visible)
        self.update()

    def layer_visible(self, layer: str) -> bool:
        return self._visible[layer]

    def set_handles_layer(self, layer: str | None) -> None:
        """Which layer carries handles: the one the user edits."""
        self._handles_on = layer
        self.update()

    def set_selection(self, v: int, c: int) -> None:
        self._selection = (v, c)
        self.update()

    def set_hover(self, hit: tuple[int, int] | None) -> None:
        if hit != self._hover:
            self._hover = hit
            self.update()

    def box_count(self, layer: str) -> int:
        """Boxes actually drawn on ``layer``: hidden layers and missing vertebrae count 0."""
        pts = self._points.get(layer)
        if pts is None or not self._visible[layer]:
            return 0
        return int(np.isfinite(pts).all(axis=(1, 2)).sum())

    def vertebra_moved(self, layer: str, v: int, old_corners: np.ndarray) -> None:
        """Repaint only around one vertebra's old and new position (the cheap live redraw)."""
        new = self._points[layer][v]
        both = np.concatenate([old_corners, new])
        both = both[np.isfinite(both).all(axis=1)]
        if both.size == 0:
            return
        pad = PAINT_MARGIN_PX * self._pixel_size()
        lo, hi = both.min(axis=0) - pad, both.max(axis=0) + pad
        rect = QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
        if not self._bounds.contains(rect):
            self._geometry_changed()
        self.update(rect)

    # --------------------------------------------------------------- geometry

    def _pixel_size(self) -> float:
        """Item units per screen pixel (1 before the item is in a view)."""
        px = self.pixelLength(pg.Point(1, 0)) if self.getViewBox() is not None else None
        return float(px) if px else 1.0

    def _geometry_changed(self) -> None:
        self.prepareGeometryChange()
        self._bounds = self._compute_bounds()
        self.update()

    def _compute_bounds(self) -> QRectF:
        arrays = [p.reshape(-1, 2) for p in self._points.values() if p is not None]
        if not arrays:
            return QRectF()
        pts = np.concatenate(arrays)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if pts.size == 0:
            return QRectF()
        pad = PAINT_MARGIN_PX * self._pixel_size()
        lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
        return QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])

    def viewTransformChanged(self) -> None:
        # The screen-pixel margin is a different item-space size at each zoom.
        self._geometry_changed()

    def boundingRect(self) -> QRectF:
        return self._bounds

    # ------------------------------------------------------------------ paint

    def paint(self, painter: QPainter, *_args) -> None:
        transform = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        for layer, color, dashed in (
            ("prediction", PREDICTION_COLOR, True),
            ("truth", TRUTH_COLOR, False),
        ):
            pts = self._points[layer]
            if pts is None or not self._visible[layer]:
                continue
            dev = to_device(pts, transform)
            if layer == "prediction" and self._spread is not None:
                self._paint_spread(painter, dev, pts, transform)
            self._paint_boxes(painter, dev, color, dashed, layer == self._handles_on)
            if layer == self._handles_on and self._visible["handles"]:
                self._paint_handles(painter, dev, color)
        if self._visible["labels"] and self._labels:
            self._paint_labels(painter, transform)
        painter.restore()

    def _paint_boxes(self, painter, dev, color, dashed, editable) -> None:
        sel_v = self._selection[0] if editable else -1
        painter.setBrush(Qt.BrushStyle.NoBrush)
        normal, selected = _pen(color, LINE_WIDTH, dashed), _pen(color, SELECTED_LINE_WIDTH, dashed)
        for v, quad in enumerate(dev[:, BOX_ORDER, :]):
            if not np.isfinite(quad).all():
                continue
            painter.setPen(selected if v == sel_v else normal)
            painter.drawPolygon(QPolygonF([QPointF(x, y) for x, y in quad]))

    def _paint_handles(self, painter, dev, color) -> None:
        sel_v, sel_c = self._selection
        half = HANDLE_SIZE / 2
        outline = _pen(QColor(0, 0, 0, 180), 1.0)
        fill = QBrush(color)
        for v, corners in enumerate(dev):
            for c, (x, y) in enumerate(corners):
                if not (np.isfinite(x) and np.isfinite(y)):
                    continue
                chosen = (v, c) == (sel_v, sel_c)
                hovered = self._hover == (v, c)
                grow = 2.0 if (chosen or hovered) else 0.0
                painter.setPen(outline)
                painter.setBrush(QBrush(SELECTED_COLOR) if chosen else fill)
                if hovered and not chosen:
                    painter.setBrush(QBrush(Qt.GlobalColor.white))
                side = 2 * (half + grow)
                painter.drawRect(QRectF(x - half - grow, y - half - grow, side, side))
            centre = corners.mean(axis=0)
            if np.isfinite(centre).all():
                self._paint_centre_handle(painter, centre, v, color)

    def _paint_centre_handle(self, painter, centre, v, color) -> None:
        """A ring with a cross: reads as "grab here to move the whole vertebra"."""
        chosen = self._selection == (v, -1)
        hovered = self._hover == (v, -1)
        r = CENTRE_HANDLE_SIZE / 2 + (1.5 if (chosen or hovered) else 0.0)
        ring = SELECTED_COLOR if chosen else (QColor(Qt.GlobalColor.white) if hovered else color)
        x, y = float(centre[0]), float(centre[1])
        painter.setBrush(QBrush(QColor(0, 0, 0, 110)))
        painter.setPen(_pen(ring, 1.6))
        painter.drawEllipse(QPointF(x, y), r, r)
        painter.drawLine(QPointF(x - r + 2, y), QPointF(x + r - 2, y))
        painter.drawLine(QPointF(x, y - r + 2), QPointF(x, y + r - 2))

    def _paint_spread(self, painter, dev, pts, transform) -> None:
        """One faint circle per predicted corner, radius = the model's spread (image px)."""
        scale = float(np.hypot(transform.m11(), transform.m12()))
        color = QColor(PREDICTION_COLOR)
        color.setAlpha(60)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        for (x, y), s in zip(dev.reshape(-1, 2), self._spread.reshape(-1), strict=False):
            r = s * scale
            if np.isfinite(x) and np.isfinite(y) and np.isfinite(r) and r >= 1.0:
                painter.drawEllipse(QPointF(x, y), r, r)

    def _paint_labels(self, painter, transform) -> None:
        """Names left of each box, from the truth when shown (it is what users edit)."""
        truth, pred = self._points["truth"], self._points["prediction"]
        pts = truth if truth is not None and self._visible["truth"] else pred
        if pts is None:
            return
        dev = to_device(pts, transform)
        left_mid = (dev[:, 0] + dev[:, 2]) / 2  # TL, BL
        painter.setFont(self._font)
        metrics = painter.fontMetrics()
        height = metrics.height()
        for v, (x, y) in enumerate(left_mid):
            if v >= len(self._labels) or not (np.isfinite(x) and np.isfinite(y)):
                continue
            text = self._labels[v]
            width = metrics.horizontalAdvance(text) + 2
            rect = QRectF(x - LABEL_GAP - width, y - height / 2, width, height)
            painter.setPen(HALO_COLOR)
            for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                painter.drawText(rect.translated(dx, dy), Qt.AlignmentFlag.AlignRight, text)
            painter.setPen(LABEL_COLOR)
            painter.drawText(rect, Qt.AlignmentFlag.AlignRight, text)
