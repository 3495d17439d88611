"""One-off pointer tools on the X-ray: picking two end vertebrae, drawing a ruler.

While a tool is active it takes the left mouse button and Esc; everything
else (wheel zoom, right-drag levels) works as usual. The tool reports what
was picked through the canvas's signals and ends itself; the status bar says
what to click next (``toolMessage``).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QMouseEvent

RULER_COLOUR = (0, 230, 255)


class CanvasTools:
    """The active tool of one canvas ("ends", "ruler" or none)."""

    def __init__(self, canvas) -> None:
        self.canvas = canvas
        self.kind: str | None = None
        self.picked: list[int] = []
        self._start: tuple[float, float] | None = None
        self.line = pg.PlotCurveItem(
            pen=pg.mkPen(RULER_COLOUR, width=2, style=Qt.PenStyle.DashLine)
        )
        self.line.setZValue(30)
        self.line.hide()
        canvas.viewbox.addItem(self.line, ignoreBounds=True)

    # ----------------------------------------------------------------- control

    def start(self, kind: str) -> bool:
        c = self.canvas
        if c.image_size() is None:
            return False
        if kind == "ends" and c.shown_points() is None:
            c.toolMessage.emit("There are no boxes to choose end vertebrae from yet.")
            return False
        self.cancel(quiet=True)
        self.kind = kind
        c.view.viewport().setCursor(Qt.CursorShape.CrossCursor)
        c.toolMessage.emit(
            "Click the upper end vertebra of the curve (Esc cancels)."
            if kind == "ends"
            else "Drag a line over something of known length (Esc cancels)."
        )
        return True

    def cancel(self, quiet: bool = False, keep_line: bool = False) -> None:
        was = self.kind
        self.kind, self.picked, self._start = None, [], None
        if not keep_line:
            self.line.hide()
        if was is not None and not quiet:
            self.canvas.toolMessage.emit("")

    def hide_line(self) -> None:
        """Take away a drawn ruler line, kept on screen while its length was asked."""
        self.line.hide()

    # ------------------------------------------------------------------ events

    def press(self, event: QMouseEvent) -> bool:
        if self.kind is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        c = self.canvas
        pos = event.position()
        if self.kind == "ends":
            v = c.box_under(pos)
            if v < 0:
                c.toolMessage.emit("Click inside a vertebra's box (Esc cancels).")
                return True
            if v not in self.picked:
                self.picked.append(v)
                c.select(v, -1)
            if len(self.picked) == 2:
                upper, lower = sorted(self.picked)
                self.cancel()
                c.endsPicked.emit(upper, lower)
            else:
                c.toolMessage.emit("Now click the lower end vertebra (Esc cancels).")
            return True
        self._start = c.viewport_to_image(pos)
        self._draw(self._start)
        return True

    def move(self, event: QMouseEvent) -> bool:
        if self.kind != "ruler" or self._start is None:
            return False
        self._draw(self.canvas.viewport_to_image(event.position()))
        return True

    def release(self, event: QMouseEvent) -> bool:
        if self.kind is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        if self.kind == "ruler" and self._start is not None:
            end = self.canvas.viewport_to_image(event.position())
            (x0, y0), (x1, y1) = self._start, end
            self._draw(end)
            self.cancel(keep_line=True)  # the reader sees the line while typing its length
            if all(math.isfinite(v) for v in (x0, y0, x1, y1)):
                self.canvas.rulerDrawn.emit(x0, y0, x1, y1)
        return True

    def _draw(self, end) -> None:
        (x0, y0), (x1, y1) = self._start, end
        self.line.setData([x0, x1], [y0, y1])
        self.line.show()

    def key_escape(self) -> bool:
        if self.kind is None:
            return False
        self.cancel()
        return True
