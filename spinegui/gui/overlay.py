"""All vertebra boxes, corner handles and labels as ONE graphics item.

One item instead of one pyqtgraph ROI per corner (pyqtgraph #1068: about 4 s
to create 150 handles) keeps opening an image and dragging instant. Everything
is painted in device (screen) pixels: the landmarks are mapped through the
painter's transform once per paint, then lines, handles and text are drawn
untransformed, so widths, handle sizes and fonts stay the same at any zoom.

Ground truth is green and solid, the prediction red and dashed, so the two
differ in more than hue for colour-blind users. Handles are hollow squares and
the centre handle an unfilled ring: nothing covers the corner or the endplate
being judged. The model's uncertainty is its own layer, drawn beside each
predicted vertebra (off the bone), as a mark whose size and colour both grow
with the uncertainty.

Vertebra labels sit left of their box; a label that would cross a Cobb line
or another label moves up or down, or is left out (the panel lists them all).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen, QPolygonF, QStaticText, QTransform

from spinegui.core.geometry import BOX_ORDER
from spinegui.gui.label_layout import LabelPlacer, vertical_candidates

LAYERS = ("truth", "prediction", "labels", "cobb", "handles", "uncertainty")
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
UNCERTAINTY_GAP_PX = 10.0
"""Screen pixels between a predicted box's right edge and its uncertainty mark."""
UNCERTAINTY_LEVELS = (
    (0.075, 2.5, QColor(120, 200, 255)),
    (0.15, 4.0, QColor(255, 170, 40)),
    (float("inf"), 5.5, QColor(255, 60, 200)),
)
"""(spread as a share of the vertebra's width up to, mark radius px, colour): low, some, high.

The top band starts where a prediction error is flagged as large (see
``spinegui.core.review.measurement.LARGE_ERROR_FRACTION``)."""
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
        self._font.setBold(True)
        self.set_style_scale(1.0)
        self._avoid = lambda: []
        self._texts: dict[tuple[str, int], QStaticText] = {}
        self.drawn_labels: list[tuple[str, tuple[float, float, float, float]]] = []
        """(text, screen rectangle) of each vertebra label at the last paint."""
        self.uncertainty_marks: list[tuple[int, float, float, float]] = []
        """(vertebra, x, y, radius) in screen pixels of each uncertainty mark at the last paint."""
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

    def set_style_scale(self, k: float) -> None:
        """Line widths, handle and text sizes times ``k`` (exports at full resolution)."""
        self.k = float(k)
        self._font.setPixelSize(max(1, round(12 * self.k)))
        self.update()

    def set_avoid(self, segments) -> None:
        """A function giving (N, 2, 2) image-space line segments labels must not cross."""
        self._avoid = segments
        self.update()

    def taken_rects(self) -> list[tuple[float, float, float, float]]:
        """Screen rectangles of the last paint's vertebra names and uncertainty marks."""
        marks = [(x - r, y - r, x + r, y + r) for _, x, y, r in self.uncertainty_marks]
        return [rect for _, rect in self.drawn_labels] + marks

    def spread(self) -> np.ndarray | None:
        return self._spread

    def labels(self) -> tuple[str, ...]:
        return self._labels

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
            self._paint_boxes(painter, dev, color, dashed, layer == self._handles_on)
            if layer == self._handles_on and self._visible["handles"]:
                self._paint_handles(painter, dev, color)
        self.uncertainty_marks = []
        shown = self._visible["uncertainty"] and self._spread is not None
        if shown and self._points["prediction"] is not None:
            self._paint_uncertainty(painter, transform)
        self.drawn_labels = []
        if self._visible["labels"] and self._labels:
            self._paint_labels(painter, transform)
        painter.restore()

    def _paint_boxes(self, painter, dev, color, dashed, editable) -> None:
        sel_v = self._selection[0] if editable else -1
        painter.setBrush(Qt.BrushStyle.NoBrush)
        k = self.k
        normal = _pen(color, LINE_WIDTH * k, dashed)
        selected = _pen(color, SELECTED_LINE_WIDTH * k, dashed)
        for v, quad in enumerate(dev[:, BOX_ORDER, :]):
            if not np.isfinite(quad).all():
                continue
            painter.setPen(selected if v == sel_v else normal)
            painter.drawPolygon(QPolygonF([QPointF(x, y) for x, y in quad]))

    def _paint_handles(self, painter, dev, color) -> None:
        """Hollow squares: the corner under the handle stays visible; the chosen one is filled."""
        sel_v, sel_c = self._selection
        k = self.k
        half = HANDLE_SIZE * k / 2
        halo = _pen(QColor(0, 0, 0, 170), 3.6 * k)
        ring = _pen(color, 1.8 * k)
        hover_ring = _pen(QColor(Qt.GlobalColor.white), 2.0 * k)
        for v, corners in enumerate(dev):
            for c, (x, y) in enumerate(corners):
                if not (np.isfinite(x) and np.isfinite(y)):
                    continue
                chosen = (v, c) == (sel_v, sel_c)
                hovered = self._hover == (v, c)
                grow = 2.0 * k if (chosen or hovered) else 0.0
                side = 2 * (half + grow)
                square = QRectF(x - half - grow, y - half - grow, side, side)
                painter.setBrush(QBrush(SELECTED_COLOR) if chosen else Qt.BrushStyle.NoBrush)
                painter.setPen(halo)
                painter.drawRect(square)
                painter.setPen(hover_ring if hovered and not chosen else ring)
                painter.drawRect(square)
            centre = corners.mean(axis=0)
            if np.isfinite(centre).all():
                self._paint_centre_handle(painter, centre, v, color)

    def _paint_centre_handle(self, painter, centre, v, color) -> None:
        """A ring with a cross: reads as "grab here to move the whole vertebra"."""
        chosen = self._selection == (v, -1)
        hovered = self._hover == (v, -1)
        r = self.k * (CENTRE_HANDLE_SIZE / 2 + (1.5 if (chosen or hovered) else 0.0))
        ring = SELECTED_COLOR if chosen else (QColor(Qt.GlobalColor.white) if hovered else color)
        x, y = float(centre[0]), float(centre[1])
        painter.setBrush(Qt.BrushStyle.NoBrush)  # no fill: the bone stays visible through it
        painter.setPen(_pen(ring, 1.6 * self.k))
        painter.drawEllipse(QPointF(x, y), r, r)
        inset = 2 * self.k
        painter.drawLine(QPointF(x - r + inset, y), QPointF(x + r - inset, y))
        painter.drawLine(QPointF(x, y - r + inset), QPointF(x, y + r - inset))

    def _paint_uncertainty(self, painter, transform) -> None:
        """A mark right of each predicted box: bigger and warmer the less sure the model is."""
        pts = self._points["prediction"]
        dev = to_device(pts, transform)
        width = (np.hypot(*(pts[:, 1] - pts[:, 0]).T) + np.hypot(*(pts[:, 3] - pts[:, 2]).T)) / 2
        share = self._spread.mean(axis=1) / np.where(width > 0, width, np.nan)
        right = (dev[:, 1] + dev[:, 3]) / 2  # TR, BR: the right edge's middle
        k = self.k
        outline = _pen(QColor(0, 0, 0, 200), 1.2 * k)
        for v, ((x, y), value) in enumerate(zip(right, share, strict=True)):
            if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(value)):
                continue
            radius, colour = next((r * k, c) for top, r, c in UNCERTAINTY_LEVELS if value <= top)
            cx = float(max(dev[v, 1, 0], dev[v, 3, 0])) + UNCERTAINTY_GAP_PX * k + radius
            painter.setPen(outline)
            painter.setBrush(QBrush(colour))
            painter.drawEllipse(QPointF(cx, float(y)), radius, radius)
            self.uncertainty_marks.append((v, cx, float(y), radius))

    def _paint_labels(self, painter, transform) -> None:
        """Names left of each box, from the truth when shown (it is what users edit).

        Placed off the Cobb lines and off each other: moved up or down by a
        label height when needed, left out when no place is free.
        """
        truth, pred = self._points["truth"], self._points["prediction"]
        pts = truth if truth is not None and self._visible["truth"] else pred
        if pts is None:
            return
        dev = to_device(pts, transform)
        left_mid = (dev[:, 0] + dev[:, 2]) / 2  # TL, BL
        avoid = np.asarray(self._avoid(), dtype=np.float64).reshape(-1, 2, 2)
        segments = to_device(avoid, transform).reshape(-1, 4) if avoid.size else []
        device = painter.device()
        bounds = (
            None if device is None else (0.0, 0.0, float(device.width()), float(device.height()))
        )
        placer = LabelPlacer(segments, bounds=bounds)
        painter.setFont(self._font)
        metrics = painter.fontMetrics()
        height = metrics.height()
        for v, (x, y) in enumerate(left_mid):
            if v >= len(self._labels) or not (np.isfinite(x) and np.isfinite(y)):
                continue
            text = self._labels[v]
            static = self._static_text(text)
            width = static.size().width() + 2
            left = float(x) - LABEL_GAP * self.k - width
            candidates = (
                r
                for shift in (0.0, 0.6 * width, 1.2 * width)
                for r in vertical_candidates(left - shift, float(y), width, height, steps=1)
            )
            rect = placer.place(candidates)
            if rect is None:
                continue
            top_left = QPointF(rect[0] + 1, rect[1] + (height - static.size().height()) / 2)
            painter.setPen(HALO_COLOR)
            for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                painter.drawStaticText(top_left + QPointF(dx * self.k, dy * self.k), static)
            painter.setPen(LABEL_COLOR)
            painter.drawStaticText(top_left, static)
            self.drawn_labels.append((text, rect))

    def _static_text(self, text: str) -> QStaticText:
        """Laid out once per name and size: labels are repainted on every drag frame."""
        key = (text, self._font.pixelSize())
        static = self._texts.get(key)
        if static is None:
            static = QStaticText(text)
            static.prepare(QTransform(), self._font)
            self._texts[key] = static
        return static
