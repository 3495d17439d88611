"""Window/level: brightness and contrast of the X-ray, with a histogram to aim by.

16-bit and DICOM radiographs use only part of their value range, and bone
detail lives in a narrow window; clinicians expect to set centre and width
the way their PACS viewer does. Values are in the image's own units, so
the window shown matches DICOM's window centre/width.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

SLIDER_STEPS = 1000
HISTOGRAM_BINS = 128


class Histogram(QWidget):
    """Log-scaled grey-value histogram with the current window shaded."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(50)
        self.counts = np.zeros(0)
        self.range = (0.0, 1.0)
        self.window = (0.0, 1.0)
        self.setToolTip("How many pixels have each grey value; the shaded band is the window shown")

    def set_data(self, counts: np.ndarray, value_range: tuple[float, float]) -> None:
        self.counts = np.log1p(counts.astype(float))
        self.range = value_range
        self.update()

    def set_window(self, lo: float, hi: float) -> None:
        self.window = (lo, hi)
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        w, h = self.width(), self.height()
        p.fillRect(0, 0, w, h, QColor("#202020"))
        lo, hi = self.range
        span = (hi - lo) or 1.0
        x0 = (self.window[0] - lo) / span * w
        x1 = (self.window[1] - lo) / span * w
        p.fillRect(int(x0), 0, max(1, int(x1 - x0)), h, QColor(80, 140, 220, 90))
        if self.counts.size and self.counts.max() > 0:
            heights = self.counts / self.counts.max() * (h - 2)
            path = QPainterPath(QPointF(0, h))
            for i, v in enumerate(heights):
                path.lineTo(QPointF(i / len(heights) * w, h - v))
            path.lineTo(QPointF(w, h))
            p.fillPath(path, QColor("#bdbdbd"))
        p.setPen(QPen(QColor("#4a90e2"), 1))
        p.drawLine(int(x0), 0, int(x0), h)
        p.drawLine(int(x1), 0, int(x1), h)
        p.end()


class LevelsPanel(QWidget):
    """Centre/width sliders, invert and reset; emits the resulting (low, high) levels."""

    levelsChanged = Signal(float, float)
    invertedChanged = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._range = (0.0, 1.0)
        self._default = (0.0, 1.0)
        self._quiet = False
        self.histogram = Histogram()
        self.centre = self._slider("Window centre: brightness (drag left for a brighter image)")
        self.width_ = self._slider("Window width: contrast (narrower means more contrast)")
        self.invert = QCheckBox("Invert (bone dark)")
        self.invert.setToolTip("Show the image as a negative (I)")
        self.reset = QPushButton("Reset")
        self.reset.setToolTip("Back to the window stored with the image")
        form = QFormLayout()
        form.addRow("Brightness", self.centre)
        form.addRow("Contrast", self.width_)
        bottom = QHBoxLayout()
        bottom.addWidget(self.invert)
        bottom.addStretch(1)
        bottom.addWidget(self.reset)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.histogram)
        layout.addLayout(form)
        layout.addLayout(bottom)
        self.centre.valueChanged.connect(self._sliders_moved)
        self.width_.valueChanged.connect(self._sliders_moved)
        self.invert.toggled.connect(self.invertedChanged)
        self.reset.clicked.connect(self.reset_levels)
        self.setEnabled(False)

    def _slider(self, tip: str) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal)
        s.setRange(0, SLIDER_STEPS)
        s.setToolTip(tip)
        return s

    def set_image(self, pixels: np.ndarray, levels: tuple[float, float]) -> None:
        """Take the value range and histogram of a new image and its default window."""
        step = max(1, int(np.sqrt(pixels.size / 250_000)))
        sample = pixels[::step, ::step]
        finite = sample[np.isfinite(sample)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        self._range = (min(lo, levels[0]), max(hi, levels[1]))
        counts, _ = np.histogram(finite, bins=HISTOGRAM_BINS, range=self._range)
        self.histogram.set_data(counts, self._range)
        self._default = (float(levels[0]), float(levels[1]))
        self.setEnabled(True)
        self.set_levels(*self._default)

    def set_levels(self, lo: float, hi: float) -> None:
        lo_r, hi_r = self._range
        span = hi_r - lo_r
        self._quiet = True
        try:
            self.centre.setValue(round(((lo + hi) / 2 - lo_r) / span * SLIDER_STEPS))
            self.width_.setValue(round((hi - lo) / span * SLIDER_STEPS))
        finally:
            self._quiet = False
        self.histogram.set_window(lo, hi)

    def levels(self) -> tuple[float, float]:
        lo_r, hi_r = self._range
        span = hi_r - lo_r
        centre = lo_r + self.centre.value() / SLIDER_STEPS * span
        width = max(1, self.width_.value()) / SLIDER_STEPS * span
        return centre - width / 2, centre + width / 2

    def reset_levels(self) -> None:
        self.set_levels(*self._default)
        self.levelsChanged.emit(*self._default)

    def _sliders_moved(self) -> None:
        if self._quiet:
            return
        lo, hi = self.levels()
        self.histogram.set_window(lo, hi)
        self.levelsChanged.emit(lo, hi)
