"""Cobb angle lines on their end vertebrae, with each curve's name and angle beside them.

The angle is measured between vertebra midlines (see spinegui.core.cobb), so
those are the lines drawn, extended past the box as a clinician extends
endplates on film. Curves are named by their apex (spinegui.core.curves) and
coloured by region; the ground truth's lines are solid and the prediction's
dashed, so neither colour nor dashes alone carry the meaning, and every line
pair has its name written beside it. Labels are placed so that they sit on
no line and on no other label (``label_layout``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen

from spinegui.core.curves import Curve, CurveSet
from spinegui.core.geometry import as_corners, midlines
from spinegui.gui.label_layout import LabelPlacer, vertical_candidates
from spinegui.gui.overlay import HALO_COLOR, to_device

REGION_COLOURS = {
    "PT": QColor(80, 200, 255),
    "MT": QColor(255, 214, 60),
    "TL": QColor(235, 120, 255),
}
SETS = ("truth", "prediction")
LINE_WIDTH = {"truth": 2.2, "prediction": 1.8}
MAJOR_EXTRA_WIDTH = 0.8
PREDICTION_DASHES = [6.0, 4.0]
LINE_EXTENSION = 1.0
"""Each midline is drawn this many of its own lengths past either end."""
TEXT_GAP_PX = 26.0
"""Screen pixels between the spine's right edge and a label (room for uncertainty marks)."""
MIN_DRAWN_DEG = 5.0
"""Curves smaller than this are listed in the panel but get no lines on the image: below
the 10° that defines scoliosis they are noise in the landmarks, and their lines only hide
the ones that matter."""
TEXT_REACH_PX = 320.0
"""Screen pixels right of the spine that the labels may reach."""


def label_text(by_set: dict[str, Curve]) -> str:
    """Two lines: the curve's name, then its angle (the model's beside the truth's if shown).

    'Main thoracic\n42.1° · model 39.8°'; two short lines fit beside a spine
    where one long one would run off the picture.
    """
    truth, pred = by_set.get("truth"), by_set.get("prediction")
    first = truth or pred
    ends = "reader's ends" if first.chosen_by_reader else ""
    if truth is not None and pred is not None:
        mark = f" ({ends})" if ends else ""
        return f"{first.name}\n{truth.angle:.1f}°{mark} · model {pred.angle:.1f}°"
    if truth is not None:
        return f"{first.name}\n{truth.angle:.1f}°" + (f" ({ends})" if ends else "")
    return f"{first.name}\n{pred.angle:.1f}° (model" + (f", {ends})" if ends else ")")


class CobbOverlay(pg.GraphicsObject):
    """Draws the curves of the truth and/or the prediction over their landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self._sets: dict[str, tuple[CurveSet, np.ndarray] | None] = dict.fromkeys(SETS)
        self._shown: tuple[str, ...] = ("truth",)
        self._bounds = QRectF()
        self._font = QFont()
        self._font.setBold(True)
        self.set_style_scale(1.0)
        self.drawn_labels: list[tuple[str, tuple[float, float, float, float]]] = []
        """(text, screen rectangle) of each label at the last paint, for tests and tools."""
        self.drawn_segments: list[tuple[float, float, float, float]] = []
        self._taken = lambda: []
        self.setZValue(20)

    # ------------------------------------------------------------------- state

    def set_curves(self, which: str, curves: CurveSet | None, points) -> None:
        """The curves of "truth" or "prediction", measured on ``points`` (None: none)."""
        self.prepareGeometryChange()
        if curves is None or points is None or not curves.curves:
            self._sets[which] = None
        else:
            self._sets[which] = (curves, as_corners(points))
        self._bounds = self._compute_bounds()
        self.update()

    def set_taken(self, rects) -> None:
        """A function giving screen rectangles other text already holds (vertebra labels)."""
        self._taken = rects

    def set_style_scale(self, k: float) -> None:
        """Line widths and text sizes times ``k`` (exports at full resolution)."""
        self.k = float(k)
        self._font.setPixelSize(max(1, round(14 * self.k)))
        self.update()

    def set_shown(self, which: tuple[str, ...]) -> None:
        """Whose lines are drawn: any of "truth", "prediction"."""
        self.prepareGeometryChange()
        self._shown = tuple(w for w in SETS if w in which)
        self._bounds = self._compute_bounds()
        self.update()

    def curves(self, which: str) -> tuple[CurveSet | None, np.ndarray | None]:
        """(curves, the landmarks they were measured on) of "truth" or "prediction"."""
        entry = self._sets[which]
        return (None, None) if entry is None else entry

    def shown(self) -> tuple[str, ...]:
        return tuple(w for w in self._shown if self._sets[w] is not None)

    def drawn_angles(self) -> list[tuple[str, str, float, tuple[int, int]]]:
        """(set, curve name, degrees, end vertebrae) of each curve drawn."""
        out = []
        for which in self.shown():
            curves, _ = self._sets[which]
            out += [(which, c.name, c.angle, (c.upper, c.lower)) for c in _drawn(curves)]
        return out

    def segments(self) -> np.ndarray:
        """(N, 2, 2) the drawn lines in image coordinates, for other layers' text to avoid."""
        out = []
        for which in self.shown():
            curves, points = self._sets[which]
            lines = midlines(points)
            for curve in _drawn(curves):
                for v in (curve.upper, curve.lower):
                    a, b = lines[v]
                    d = (b - a) * LINE_EXTENSION
                    out.append((a - d, b + d))
        return np.asarray(out, dtype=np.float64).reshape(-1, 2, 2)

    # ---------------------------------------------------------------- geometry

    def _compute_bounds(self) -> QRectF:
        arrays = [self._sets[w][1].reshape(-1, 2) for w in self.shown()]
        if not arrays:
            return QRectF()
        pts = np.concatenate(arrays)
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
        self.prepareGeometryChange()
        self._bounds = self._compute_bounds()

    def boundingRect(self) -> QRectF:
        return self._bounds

    # ------------------------------------------------------------------- paint

    def paint(self, painter: QPainter, *_args) -> None:
        self.drawn_labels, self.drawn_segments = [], []
        shown = self.shown()
        if not shown:
            return
        transform = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setFont(self._font)
        groups: dict[str, dict[str, Curve]] = {}
        anchors: dict[str, float] = {}
        boxes = []
        for which in shown:
            curves, points = self._sets[which]
            dev = to_device(points, transform)
            boxes.append(dev)
            lines = to_device(midlines(points), transform)  # (V, 2, 2)
            for curve in _drawn(curves):
                self._paint_curve(painter, which, curve, lines)
                groups.setdefault(curve.name, {})[which] = curve
                if curve.name not in anchors or which == "truth":
                    ends = lines[[curve.upper, curve.lower], :, 1]
                    anchors[curve.name] = float(ends.mean())
        self._paint_labels(painter, groups, anchors, boxes)
        painter.restore()

    def _paint_curve(self, painter: QPainter, which: str, curve: Curve, lines) -> None:
        pen = QPen(
            REGION_COLOURS[curve.region],
            (LINE_WIDTH[which] + MAJOR_EXTRA_WIDTH * curve.major) * self.k,
        )
        pen.setCosmetic(True)
        if which == "prediction":
            pen.setDashPattern(PREDICTION_DASHES)
        painter.setPen(pen)
        for v in (curve.upper, curve.lower):
            a, b = lines[v]
            if not np.isfinite(lines[v]).all():
                continue
            d = (b - a) * LINE_EXTENSION
            p, q = a - d, b + d
            painter.drawLine(QPointF(*p), QPointF(*q))
            self.drawn_segments.append((float(p[0]), float(p[1]), float(q[0]), float(q[1])))

    def _paint_labels(self, painter: QPainter, groups, anchors, boxes) -> None:
        """Largest curve first, so it gets its preferred place: right of the spine, else left.

        Labels keep off every drawn line and box edge, off the vertebra names and
        inside the picture; one that finds no free place is left to the panel.
        """
        quads = np.concatenate(boxes)[:, (0, 1, 3, 2), :]  # the boxes' edges: keep off bone
        edges = np.concatenate([quads, np.roll(quads, -1, axis=1)], axis=2).reshape(-1, 4)
        lines = np.asarray(self.drawn_segments, dtype=np.float64).reshape(-1, 4)
        segments = np.concatenate([lines, edges[np.isfinite(edges).all(axis=1)]])
        device = painter.device()
        bounds = (
            None if device is None else (0.0, 0.0, float(device.width()), float(device.height()))
        )
        placer = LabelPlacer(segments, self._taken(), bounds)
        metrics = painter.fontMetrics()
        gap = TEXT_GAP_PX * self.k
        spine = _Spine(np.concatenate(boxes))  # every box drawn, in screen pixels
        order = sorted(groups, key=lambda n: -max(c.angle for c in groups[n].values()))
        for name in order:
            by_set = groups[name]
            text = label_text(by_set)
            width = max(metrics.horizontalAdvance(t) for t in text.split("\n")) + 4
            height = metrics.height() * text.count("\n") + metrics.height()
            y = anchors[name]
            candidates = (
                (x, r[1], x + width, r[3])
                for side in ("right", "left")
                for r in vertical_candidates(0.0, y, width, height, steps=10)
                if (x := spine.beside(r[1], r[3], side, gap, width)) is not None
            )
            rect = placer.place(candidates)
            if rect is None:
                continue
            colour = REGION_COLOURS[next(iter(by_set.values())).region]
            self._paint_text(painter, rect, text, colour, self.k)
            self.drawn_labels.append((text, rect))

    @staticmethod
    def _paint_text(painter: QPainter, rect, text: str, color: QColor, k: float) -> None:
        box = QRectF(rect[0], rect[1], rect[2] - rect[0], rect[3] - rect[1])
        flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.setPen(HALO_COLOR)
        for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1), (1, 1), (-1, -1)):
            painter.drawText(box.translated(dx * k, dy * k), flags, text)
        painter.setPen(color)
        painter.drawText(box, flags, text)


class _Spine:
    """Each drawn box's extent on screen, to put a label just beside the spine."""

    def __init__(self, boxes: np.ndarray) -> None:
        finite = np.isfinite(boxes).all(axis=(1, 2))
        b = boxes[finite]
        self.x_min, self.x_max = b[..., 0].min(axis=1), b[..., 0].max(axis=1)
        self.y_min, self.y_max = b[..., 1].min(axis=1), b[..., 1].max(axis=1)

    def beside(self, top: float, bottom: float, side: str, gap: float, width: float):
        """Left x of a label just right (or left) of the boxes level with [top, bottom]."""
        if self.x_min.size == 0:
            return None
        level = (self.y_max >= top - gap) & (self.y_min <= bottom + gap)
        if not level.any():
            level = np.ones_like(level)
        if side == "right":
            return float(self.x_max[level].max()) + gap
        return float(self.x_min[level].min()) - 2.5 * gap - width


def _drawn(curves: CurveSet) -> list[Curve]:
    """The curves that get lines: large enough to matter, or chosen by the reader."""
    return [c for c in curves.curves if c.angle >= MIN_DRAWN_DEG or c.chosen_by_reader]
