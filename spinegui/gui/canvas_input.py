"""Mouse and keys on the X-ray: grabbing handles, dragging, nudging, right-drag levels.

Read straight from the view's viewport (an event filter on the canvas)
instead of through pyqtgraph's scene events: pyqtgraph starts a drag only
after 5 screen pixels or 0.5 s and rate-limits moves, which makes small
corrections imprecise. A press within ``GRAB_RADIUS_PX`` screen pixels of a
handle starts the drag at once; anything else (left-drag pan, wheel zoom)
goes on to pyqtgraph. Part of ``XrayCanvas``; split out to keep modules short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QCursor, QKeyEvent, QMouseEvent, QPolygonF

from spinegui.core.curves import measure_curves
from spinegui.core.geometry import BOX_ORDER
from spinegui.gui.overlay import nearest_handle, to_device

GRAB_RADIUS_PX = 8.0
"""How close (screen pixels) a press must be to a handle to grab it, at any zoom."""
NUDGE_STEP = 1.0
NUDGE_STEP_SHIFT = 10.0
LEVELS_DRAG_PX = 250.0
"""Right-drag distance (screen pixels) that changes the window width by a factor e."""
_ARROWS = {
    Qt.Key.Key_Left: (-1.0, 0.0),
    Qt.Key.Key_Right: (1.0, 0.0),
    Qt.Key.Key_Up: (0.0, -1.0),
    Qt.Key.Key_Down: (0.0, 1.0),
}


@dataclass
class _Drag:
    kind: str  # "corner", "vertebra" or "levels"
    press_pos: QPointF
    v: int = -1
    c: int = -1
    press_xy: np.ndarray | None = None
    start: np.ndarray | None = None  # the vertebra's (4, 2) corners at press
    started_truth: bool = False  # this drag made the truth from the prediction
    start_levels: tuple[float, float] = (0.0, 1.0)


class CanvasInputMixin:
    """The canvas's gestures; relies on its overlay, tools, selection and signals."""

    def nudge(self, dx: float, dy: float) -> bool:
        """Move the selection by (dx, dy) image pixels as one finished edit (arrow keys)."""
        v, c = self._selection
        layer = self._interactive_layer()
        if v < 0 or layer is None or self._drag is not None:
            return False
        started = self._begin_edit_on(layer)
        pts = self.overlay.points("truth")
        before = pts[v].copy()
        if c >= 0:
            pts[v, c] += (dx, dy)
        else:
            pts[v] += (dx, dy)
        self.overlay.vertebra_moved("truth", v, before)
        if not self._emit_edit(v, c, before, pts[v]):
            self._undo_begin(started)
        return True

    # ------------------------------------------------------------------ input

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.view and event.type() == QEvent.Type.KeyPress:
            return self._key(event)
        if obj is self.view and event.type() == QEvent.Type.ShortcutOverride:
            if self._is_nudge_key(event) and self._selection[0] >= 0:
                event.accept()  # arrows nudge the selection rather than trigger a menu shortcut
                return True
            return False
        if obj is not self.view.viewport():
            return False
        kind = event.type()
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            return self._press(event)
        if kind == QEvent.Type.MouseMove:
            return self._move(event)
        if kind == QEvent.Type.MouseButtonRelease:
            return self._release(event)
        if kind == QEvent.Type.Leave:
            self.overlay.set_hover(None)
            self.cursorMoved.emit(math.nan, math.nan)
        return False

    @staticmethod
    def _is_nudge_key(event: QKeyEvent) -> bool:
        """A plain or Shift arrow; Ctrl/Alt arrows belong to the window's shortcuts."""
        extra = event.modifiers() & ~(
            Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier
        )
        return Qt.Key(event.key()) in _ARROWS and extra == Qt.KeyboardModifier.NoModifier

    def _key(self, event: QKeyEvent) -> bool:
        key = Qt.Key(event.key())
        if self._is_nudge_key(event):
            shift = event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            step = NUDGE_STEP_SHIFT if shift else NUDGE_STEP
            ux, uy = _ARROWS[key]
            return self.nudge(ux * step, uy * step)
        if key == Qt.Key.Key_Escape:
            if self.tools.key_escape():
                return True
            if self._drag is not None:
                self._cancel_drag()
            else:
                self.select(-1, -1)
            return True
        return False

    def _press(self, event: QMouseEvent) -> bool:
        if self._drag is not None or self._size is None:
            return self._drag is not None
        pos = event.position()
        self.view.setFocus(Qt.FocusReason.MouseFocusReason)
        if self.tools.press(event):
            return True
        if event.button() == Qt.MouseButton.RightButton:
            self._drag = _Drag("levels", pos, start_levels=self._levels)
            return True
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        hit = self.handle_at(pos)
        if hit is None:
            self._click_pos = pos
            return False
        v, c = hit
        started = self._begin_edit_on(self._interactive_layer())
        self.select(v, c)
        self._drag = _Drag(
            "corner" if c >= 0 else "vertebra",
            pos,
            v,
            c,
            press_xy=np.array(self.viewport_to_image(pos)),
            start=self.overlay.points("truth")[v].copy(),
            started_truth=started,
        )
        self.view.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        return True

    def _move(self, event: QMouseEvent) -> bool:
        pos = event.position()
        self._emit_cursor(pos)
        if self.tools.move(event):
            return True
        drag = self._drag
        if drag is None:
            if event.buttons() == Qt.MouseButton.NoButton:
                self._hover(pos)
            return False
        if drag.kind == "levels":
            self._drag_levels(drag, pos)
        else:
            self._drag_landmarks(drag, pos)
        return True

    def _release(self, event: QMouseEvent) -> bool:
        if self._drag is None and self.tools.release(event):
            return True
        drag = self._drag
        if drag is None:
            click, self._click_pos = self._click_pos, None
            if click is not None and _distance(click, event.position()) < 3:
                v = self.box_at(event.position())  # a plain click selects a box, or nothing
                self.select(v, -1)
            return False
        wanted = Qt.MouseButton.RightButton if drag.kind == "levels" else Qt.MouseButton.LeftButton
        if event.button() != wanted:
            return True
        if drag.kind != "levels":
            # No live Cobb here: the session measures the stored result once, right after.
            self._drag_landmarks(drag, event.position(), live=False)
        self._drag = None
        self._hover(event.position())
        if drag.kind == "levels":
            return True
        after = self.overlay.points("truth")[drag.v]
        if not self._emit_edit(drag.v, drag.c, drag.start, after):
            self._undo_begin(drag.started_truth)
        return True

    def _drag_landmarks(self, drag: _Drag, pos: QPointF, live: bool = True) -> None:
        delta = np.array(self.viewport_to_image(pos)) - drag.press_xy
        if not np.isfinite(delta).all():
            return
        pts = self.overlay.points("truth")
        old = pts[drag.v].copy()
        if drag.c >= 0:
            pts[drag.v, drag.c] = drag.start[drag.c] + delta
        else:
            pts[drag.v] = drag.start + delta
        self.overlay.vertebra_moved("truth", drag.v, old)
        if live:
            self._live_cobb(pts)

    def _live_cobb(self, pts: np.ndarray) -> None:
        """Cobb lines follow a drag, so the angle a correction makes is seen before release.

        About 0.2 ms per move; on release the session measures the stored truth once.
        """
        if not self.layer_visible("cobb") or self._size is None or not self._names:
            return
        curves = measure_curves(pts, self._size[1], self._names, self._reader_pairs)
        if curves.result is not None:  # else a corner sits on its partner: keep the last lines
            self.cobb_overlay.set_curves("truth", curves, pts)

    def _drag_levels(self, drag: _Drag, pos: QPointF) -> None:
        """Right-drag: right widens the window (less contrast), down darkens (raises the level)."""
        low, high = drag.start_levels
        width, centre = high - low, (low + high) / 2
        dx, dy = pos.x() - drag.press_pos.x(), pos.y() - drag.press_pos.y()
        new_width = width * math.exp(dx / LEVELS_DRAG_PX)
        new_centre = centre + dy * width / (2 * LEVELS_DRAG_PX)
        self.set_levels(new_centre - new_width / 2, new_centre + new_width / 2)

    def _cancel_drag(self) -> None:
        """Put a half-done drag back where it started; nothing is emitted."""
        drag, self._drag = self._drag, None
        if drag is None:
            return
        if drag.kind == "levels":
            self.set_levels(*drag.start_levels)
            return
        pts = self.overlay.points("truth")
        if pts is not None:
            old = pts[drag.v].copy()
            pts[drag.v] = drag.start
            self.overlay.vertebra_moved("truth", drag.v, old)
        self._undo_begin(drag.started_truth)

    # ---------------------------------------------------------------- helpers

    def handle_at(self, pos: QPointF) -> tuple[int, int] | None:
        """(v, c) of the handle within GRAB_RADIUS_PX of viewport ``pos``; c == -1: centre."""
        layer = self._interactive_layer()
        if layer is None:
            return None
        dev = to_device(self.overlay.points(layer), self._to_viewport())
        return nearest_handle(dev, dev.mean(axis=1), (pos.x(), pos.y()), GRAB_RADIUS_PX)

    def box_at(self, pos: QPointF) -> int:
        """Index of the editable vertebra whose box contains viewport ``pos``, or -1."""
        layer = self._interactive_layer()
        if layer is None:
            return -1
        return self._box_containing(self.overlay.points(layer), pos)

    def _box_containing(self, points: np.ndarray, pos: QPointF) -> int:
        dev = to_device(points, self._to_viewport())
        for v, quad in enumerate(dev[:, BOX_ORDER, :]):
            if np.isfinite(quad).all():
                polygon = QPolygonF([QPointF(x, y) for x, y in quad])
                if polygon.containsPoint(QPointF(pos), Qt.FillRule.OddEvenFill):
                    return v
        return -1

    def _begin_edit_on(self, layer: str | None) -> bool:
        """Make sure a truth exists to edit; True when it was just copied from the prediction."""
        if layer != "prediction":
            return False
        self.overlay.set_points("truth", self.overlay.points("prediction").copy())
        self.overlay.set_handles_layer("truth")
        return True

    def _undo_begin(self, started: bool) -> None:
        if started:
            self.overlay.set_points("truth", None)
            self.overlay.set_handles_layer(self.editable_layer())

    def _emit_edit(self, v: int, c: int, before: np.ndarray, after: np.ndarray) -> bool:
        """Emit the finished edit; False when nothing actually moved."""
        if c >= 0:
            if np.array_equal(before[c], after[c]):
                return False
            self.cornerMoved.emit(v, c, before[c].copy(), after[c].copy())
        else:
            if np.array_equal(before, after):
                return False
            self.vertebraMoved.emit(v, before.copy(), after.copy())
        return True

    def _emit_cursor(self, pos: QPointF) -> None:
        x, y = self.viewport_to_image(pos)
        w, h = self._size or (0, 0)
        if not (-0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5):
            x = y = math.nan
        self.cursorMoved.emit(x, y)

    def _hover(self, pos: QPointF) -> None:
        hit = self.handle_at(pos)
        self.overlay.set_hover(hit)
        if hit is None:
            shape = Qt.CursorShape.CrossCursor if self._size else Qt.CursorShape.ArrowCursor
        elif hit[1] < 0:
            shape = Qt.CursorShape.SizeAllCursor
        else:
            shape = Qt.CursorShape.PointingHandCursor
        self.view.viewport().setCursor(QCursor(shape))


def _distance(a: QPointF, b: QPointF) -> float:
    return math.hypot(a.x() - b.x(), a.y() - b.y())
