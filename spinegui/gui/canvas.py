"""The X-ray view: image, boxes, handles and Cobb lines, with zoom, pan and corrections.

Editing gestures are read straight from the view's viewport (an event filter)
instead of through pyqtgraph's scene events. pyqtgraph starts a drag only
after the mouse travelled 5 screen pixels or 0.5 s, and rate-limits mouse
moves; both make small corrections imprecise. Here a press within
``GRAB_RADIUS_PX`` *screen* pixels of a handle starts the drag at once, and
everything else (left-drag pan, wheel zoom) goes on to pyqtgraph untouched.

A drag changes the drawn landmarks live and repaints only around that one
vertebra; the single ``cornerMoved``/``vertebraMoved`` signal on release is
what the review session turns into one undoable, durable edit
(``editing.connect_canvas``). The gestures themselves are in ``canvas_input``.

Coordinates: landmark (x, y) is in original-image pixels with pixel centres
on integers (the OpenCV/NumPy convention), so the image item sits at
(-0.5, -0.5).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from spinegui.core.curves import CurveSet
from spinegui.core.templates import get_template
from spinegui.gui.canvas_input import GRAB_RADIUS_PX, CanvasInputMixin
from spinegui.gui.canvas_tools import CanvasTools
from spinegui.gui.cobb_overlay import CobbOverlay
from spinegui.gui.overlay import LAYERS, LandmarkOverlay, to_device

__all__ = ["GRAB_RADIUS_PX", "XrayCanvas"]

_INVERTED_LUT = np.arange(255, -1, -1, dtype=np.uint8)
HELP_TEXT = (
    "Drag a corner, or the ring in a vertebra's centre, to correct it.\n"
    "Click a handle or a box, then use the arrow keys to move it by 1 pixel (Shift: 10).\n"
    "Mouse wheel: zoom. Drag empty image: pan. Right-drag: brightness and contrast."
)


MIN_VIEW_PX = 12.0
"""Closest zoom: this many image pixels across the view (a corner and its neighbours)."""


class XrayCanvas(CanvasInputMixin, QWidget):
    """Shows one X-ray with its landmarks and lets the user correct them."""

    cursorMoved = Signal(float, float)
    zoomChanged = Signal(float)
    cornerMoved = Signal(int, int, object, object)
    vertebraMoved = Signal(int, object, object)
    selectionChanged = Signal(int, int)
    levelsChanged = Signal(float, float)
    endsPicked = Signal(int, int)
    """(upper, lower): two end vertebrae clicked with the "ends" tool."""
    rulerDrawn = Signal(float, float, float, float)
    """(x0, y0, x1, y1) image pixels: a line drawn with the ruler tool."""
    toolMessage = Signal(str)
    """What the active tool wants clicked next ("" when it ended)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsView(background="k")
        self.viewbox = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setCentralItem(self.viewbox)
        self.image_item = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
        self.image_item.setPos(-0.5, -0.5)
        self.overlay = LandmarkOverlay()
        self.cobb_overlay = CobbOverlay()
        for item in (self.image_item, self.overlay, self.cobb_overlay):
            self.viewbox.addItem(item, ignoreBounds=item is not self.image_item)
        self.overlay.set_avoid(self._label_obstacles)
        self.cobb_overlay.set_taken(self.overlay.taken_rects)
        self.tools = CanvasTools(self)
        self.viewbox.enableAutoRange(enable=False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.setFocusProxy(self.view)
        self.view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.view.setToolTip(HELP_TEXT)
        self.view.viewport().setMouseTracking(True)
        self.view.viewport().installEventFilter(self)
        self.view.installEventFilter(self)

        self._size: tuple[int, int] | None = None  # (width, height)
        self._levels = (0.0, 1.0)
        self._inverted = False
        self._spacing_mm: tuple[float, float] | None = None
        self._selection = (-1, -1)
        self._drag = None  # a canvas_input._Drag while the mouse holds something
        self._click_pos: QPointF | None = None
        self._fitted = False
        self._zoom = math.nan
        self._names: tuple[str, ...] = ()
        self._reader_pairs: tuple[tuple[int, int], ...] = ()
        self._cobb_source = "truth"
        self.viewbox.sigTransformChanged.connect(self._on_transform)
        self.viewbox.sigRangeChangedManually.connect(self._on_user_zoom)
        self.viewbox.sigResized.connect(self._on_resized)

    # ------------------------------------------------------------------ image

    def set_image(
        self,
        pixels: np.ndarray,
        levels: tuple[float, float],
        spacing_mm: tuple[float, float] | None = None,
    ) -> None:
        """Show an X-ray and fit it; landmarks, selection and Cobb lines are cleared.

        float32/uint16/uint8 C-contiguous arrays are shown without a copy
        (pyqtgraph's fast path); anything else is converted once.
        """
        arr = np.asarray(pixels)
        if arr.ndim != 2:
            raise ValueError(f"Expected a grey image (H, W), got shape {arr.shape}.")
        if arr.dtype not in (np.float32, np.uint16, np.uint8):
            arr = arr.astype(np.float32)
        arr = np.ascontiguousarray(arr)
        self._cancel_drag()
        self.tools.cancel()
        self.set_ground_truth(None)
        self.set_prediction(None)
        self.set_curves(None, None)
        self.select(-1, -1)
        self.overlay.set_hover(None)
        self._levels = _ordered(levels)
        self._spacing_mm = None if spacing_mm is None else tuple(spacing_mm)
        self._size = (arr.shape[1], arr.shape[0])
        self.image_item.setImage(arr, autoLevels=False, levels=self._levels)
        # Zoom stops where it stops helping: MIN_VIEW_PX image pixels across at the
        # closest, the image at a quarter of the view at the farthest.
        far = 4.0 * max(self._size)
        self.viewbox.setLimits(
            minXRange=MIN_VIEW_PX, minYRange=MIN_VIEW_PX, maxXRange=far, maxYRange=far
        )
        self.fit()

    def clear(self) -> None:
        """Show nothing (no image open)."""
        self._cancel_drag()
        self.tools.cancel()
        self.image_item.clear()
        self._size = None
        self.set_ground_truth(None)
        self.set_prediction(None)
        self.set_curves(None, None)
        self.select(-1, -1)
        self.overlay.set_hover(None)

    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the shown image in pixels, or None."""
        return self._size

    def spacing_mm(self) -> tuple[float, float] | None:
        return self._spacing_mm

    def set_spacing(self, spacing_mm: tuple[float, float] | None) -> None:
        """(row, col) millimetres per pixel of the shown image (a ruler was drawn, say)."""
        self._spacing_mm = None if spacing_mm is None else tuple(spacing_mm)

    def set_levels(self, low: float, high: float) -> None:
        """Window the image to [low, high] (image units); emits levelsChanged."""
        self._levels = _ordered((low, high))
        self.image_item.setLevels(self._levels)
        self.levelsChanged.emit(*self._levels)

    def levels(self) -> tuple[float, float]:
        return self._levels

    def set_inverted(self, inverted: bool) -> None:
        """Show bone dark instead of bright (some readers prefer film-like display)."""
        self._inverted = bool(inverted)
        self.image_item.setLookupTable(_INVERTED_LUT if self._inverted else None)

    def inverted(self) -> bool:
        return self._inverted

    # -------------------------------------------------------------- zoom, pan

    def fit(self) -> None:
        """Show the whole image, and keep it fitted on resize until the user zooms."""
        if self._size is None:
            return
        w, h = self._size
        self.viewbox.setRange(QRectF(-0.5, -0.5, w, h), padding=0.02)
        self._fitted = True
        self.viewbox.updateMatrix()  # emits zoomChanged now rather than at the next paint

    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        px = self.viewbox.viewPixelSize()[0]
        return 1.0 / px if px else math.nan

    def set_zoom(self, zoom: float, centre: tuple[float, float] | None = None) -> None:
        """Zoom to ``zoom`` screen px per image px around ``centre`` (default: view centre)."""
        rect = self.viewbox.viewRect()
        cx, cy = centre if centre is not None else (rect.center().x(), rect.center().y())
        w, h = self.viewbox.width() / zoom, self.viewbox.height() / zoom
        self.viewbox.setRange(QRectF(cx - w / 2, cy - h / 2, w, h), padding=0.0)
        self._fitted = False
        self.viewbox.updateMatrix()

    def image_to_viewport(self, x: float, y: float) -> QPointF:
        """Where image pixel (x, y) is on the view's viewport (for tests and tools)."""
        p = to_device(np.array([x, y], dtype=np.float64), self._to_viewport())
        return QPointF(float(p[0]), float(p[1]))

    def viewport_to_image(self, pos: QPointF) -> tuple[float, float]:
        inverse, ok = self._to_viewport().inverted()
        if not ok:
            return (math.nan, math.nan)
        p = inverse.map(QPointF(pos))
        return (p.x(), p.y())

    def _to_viewport(self):
        self.viewbox.updateMatrix()  # pyqtgraph defers it after a range change
        return self.overlay.deviceTransform(self.view.viewportTransform())

    def _on_transform(self) -> None:
        z = self.zoom()
        if not math.isclose(z, self._zoom, rel_tol=1e-9):
            self._zoom = z
            self.zoomChanged.emit(z)

    def _on_user_zoom(self, *_args) -> None:
        self._fitted = False

    def _on_resized(self, *_args) -> None:
        """A fitted image stays fitted; otherwise the zoom stays, as in other image viewers."""
        if self._fitted:
            self.fit()
        elif self._size is not None and math.isfinite(self._zoom):
            centre = self.viewbox.viewRect().center()
            self.set_zoom(self._zoom, (centre.x(), centre.y()))

    # -------------------------------------------------------------- landmarks

    def set_template(self, template_name: str) -> None:
        """Label the boxes with this template's vertebra names (C7, T1, ...)."""
        self._names = get_template(template_name).vertebrae
        self.overlay.set_labels(self._names)

    def set_ground_truth(self, points: np.ndarray | None) -> None:
        """Show the truth (green); keeps the selection when it still exists."""
        self._cancel_drag()
        self.overlay.set_points("truth", points)
        self._after_points_changed()

    def ground_truth(self) -> np.ndarray | None:
        """Copy of the truth as drawn (including a correction not yet stored)."""
        return _copy(self.overlay.points("truth"))

    def set_prediction(self, points: np.ndarray | None, spread: np.ndarray | None = None) -> None:
        """Show a prediction (red, dashed); ``spread`` (V, 4) px feeds the uncertainty layer."""
        self._cancel_drag()
        self.overlay.set_points("prediction", points)
        self.overlay.set_spread(spread if points is not None else None)
        self._after_points_changed()

    def prediction(self) -> np.ndarray | None:
        return _copy(self.overlay.points("prediction"))

    def set_curves(
        self,
        truth: CurveSet | None,
        prediction: CurveSet | None,
        reader_pairs: tuple[tuple[int, int], ...] = (),
    ) -> None:
        """Draw these curves on the truth and the prediction as shown (None: no lines)."""
        self._reader_pairs = tuple(reader_pairs)
        self.cobb_overlay.set_curves("truth", truth, self.overlay.points("truth"))
        self.cobb_overlay.set_curves("prediction", prediction, self.overlay.points("prediction"))
        self._update_cobb_shown()

    def set_cobb_source(self, source: str) -> None:
        """Whose Cobb lines are drawn: "truth", "prediction" or "both".

        Only visible layers get lines: with the truth hidden its lines go too,
        and the prediction's are drawn instead, so lines always belong to
        boxes on screen.
        """
        if source not in ("truth", "prediction", "both"):
            raise ValueError(f"Unknown Cobb line source {source!r}.")
        self._cobb_source = source
        self._update_cobb_shown()

    def cobb_source(self) -> str:
        return self._cobb_source

    def _update_cobb_shown(self) -> None:
        available = [
            s
            for s in ("truth", "prediction")
            if self.overlay.layer_visible(s) and self.overlay.points(s) is not None
        ]
        wanted = ("truth", "prediction") if self._cobb_source == "both" else (self._cobb_source,)
        shown = [s for s in available if s in wanted] or available[:1]
        self.cobb_overlay.set_shown(tuple(shown))
        self.overlay.update()  # vertebra labels make way for the lines now drawn

    def _label_obstacles(self) -> np.ndarray:
        if not self.cobb_overlay.isVisible():
            return np.empty((0, 2, 2))
        return self.cobb_overlay.segments()

    def set_layer_visible(self, name: str, visible: bool) -> None:
        """Show or hide "truth", "prediction", "labels", "cobb", "handles" or "uncertainty"."""
        if name not in LAYERS:
            raise ValueError(f"Unknown layer {name!r}; use one of {LAYERS}.")
        if name == "cobb":
            self.cobb_overlay.setVisible(bool(visible))
            self.overlay.update()
        else:
            self.overlay.set_layer_visible(name, visible)
        self.overlay.set_hover(None)
        self._update_cobb_shown()

    def layer_visible(self, name: str) -> bool:
        if name == "cobb":
            return self.cobb_overlay.isVisible()
        return self.overlay.layer_visible(name)

    def editable_layer(self) -> str | None:
        """The layer edits apply to: the truth, or the prediction while there is no truth.

        Editing the prediction never changes it: the first edit starts the
        truth as a copy of it (the EditController stores both in one undo step).
        """
        if self.overlay.points("truth") is not None:
            return "truth"
        if self.overlay.points("prediction") is not None:
            return "prediction"
        return None

    def _interactive_layer(self) -> str | None:
        """The editable layer, if the user can see it and its handles."""
        layer = self.editable_layer()
        if layer is None or not self.overlay.layer_visible(layer):
            return None
        return layer if self.overlay.layer_visible("handles") else None

    def _after_points_changed(self) -> None:
        self.overlay.set_handles_layer(self.editable_layer())
        pts = self.overlay.points(self.editable_layer()) if self.editable_layer() else None
        if pts is None or self._selection[0] >= len(pts):
            self.select(-1, -1)

    # ------------------------------------------------------------------ tools

    def start_picking_ends(self) -> bool:
        """Let the next two box clicks choose a curve's end vertebrae (``endsPicked``)."""
        return self.tools.start("ends")

    def start_ruler(self) -> bool:
        """Let the next left-drag draw a calibration line (``rulerDrawn``)."""
        return self.tools.start("ruler")

    def shown_points(self) -> np.ndarray | None:
        """The landmarks a click refers to: the truth when shown, else the prediction."""
        for layer in ("truth", "prediction"):
            pts = self.overlay.points(layer)
            if pts is not None and self.overlay.layer_visible(layer):
                return pts
        return None

    def box_under(self, pos: QPointF) -> int:
        """The shown vertebra whose box contains viewport ``pos`` (any layer on screen), or -1."""
        pts = self.shown_points()
        return -1 if pts is None else self._box_containing(pts, pos)

    # -------------------------------------------------------------- selection

    def select(self, v: int, c: int) -> None:
        """Select corner ``c`` of vertebra ``v`` (c == -1: the whole vertebra; v == -1: none)."""
        sel = (int(v), int(c)) if v >= 0 else (-1, -1)
        if sel != self._selection:
            self._selection = sel
            self.overlay.set_selection(*sel)
            self.selectionChanged.emit(*sel)

    def selection(self) -> tuple[int, int]:
        return self._selection


def _ordered(levels) -> tuple[float, float]:
    low, high = (float(v) for v in levels)
    if high < low:
        low, high = high, low
    if high - low < 1e-6 * max(1.0, abs(high)):
        high = low + max(1e-6, 1e-6 * abs(low))
    return low, high


def _copy(points: np.ndarray | None) -> np.ndarray | None:
    return None if points is None else points.copy()
