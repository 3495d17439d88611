"""A retrain's progress: status, bar and time left, live loss curves, the trainer's log.

The curves live inside the panel's scroll area. A plot that took the mouse
wheel would trap it there (the panel would not scroll while the pointer is
over a plot), so the plots are fixed (nothing to zoom: the axes follow the
data) and the wheel goes on to scroll the panel. Log axes label only their
powers of ten, which keeps tick labels apart in a narrow dock.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QApplication,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from spinegui.gui.retrain_run import LOSSES, RetrainRun
from spinegui.gui.retrain_settings import hint

TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#d95f02"
STEP_COLOUR = (150, 150, 150, 120)
PLOT_TITLES = {"mse": "Position error (MSE)", "bpd": "Shape error (BPD)", "total": "Total loss"}
PLOT_HEIGHT = 170


def format_eta(seconds: float | None) -> str:
    """'about 2 min 10 s left' - a rough figure reads better than a precise one."""
    if seconds is None or not math.isfinite(seconds):
        return "estimating time left…"
    s = round(seconds)
    if s < 60:
        return f"about {max(s, 1)} s left"
    if s < 3600:
        return f"about {s // 60} min {s % 60:02d} s left"
    return f"about {s // 3600} h {(s % 3600) // 60:02d} min left"


def _num(value, fmt: str = ".4g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, fmt)


class _WheelToScrollArea(QObject):
    """Sends wheel events over a plot to the scroll area around the panel."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.target = None

    def eventFilter(self, _obj, event) -> bool:
        if event.type() != QEvent.Type.Wheel:
            return False
        if self.target is not None:
            QApplication.sendEvent(self.target.verticalScrollBar(), event)
        return True


class RetrainProgressBox(QGroupBox):
    """Shown once a run starts; reads the ``RetrainRun`` it is given."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Progress", parent)
        layout = QVBoxLayout(self)
        self.status_label = QLabel("Not started.")
        self.status_label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFormat("%p%")
        self.eta_label = QLabel("")
        layout.addWidget(self.status_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.eta_label)
        layout.addWidget(
            hint(
                "Lower is better in all three plots. If the training line falls but the "
                "validation line rises, the model is memorising rather than learning; the "
                "epoch with the best validation result is the one kept."
            )
        )
        legend = QLabel(
            f'<span style="color:{TRAIN_COLOUR}"><b>━━ training&nbsp;images</b></span>'
            f' &nbsp; <span style="color:{VAL_COLOUR}"><b>╍╍ validation&nbsp;images</b>'
            '</span> &nbsp; <span style="color:#999">── each&nbsp;learning&nbsp;step</span>'
        )
        legend.setWordWrap(True)
        layout.addWidget(legend)
        self._wheel = _WheelToScrollArea(self)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        for key in LOSSES:
            w = self._plot(PLOT_TITLES[key])
            self.curves[key] = {
                "step": w.plot([], [], pen=pg.mkPen(STEP_COLOUR, width=1)),
                "train": w.plot(
                    [],
                    [],
                    pen=pg.mkPen(TRAIN_COLOUR, width=2),
                    symbol="o",
                    symbolSize=5,
                    symbolBrush=TRAIN_COLOUR,
                ),
                "val": w.plot(
                    [],
                    [],
                    pen=pg.mkPen(VAL_COLOUR, width=2, style=Qt.PenStyle.DashLine),
                    symbol="s",
                    symbolSize=5,
                    symbolBrush=VAL_COLOUR,
                ),
            }
            self.plots[key] = w
            layout.addWidget(w)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(3000)
        self.log_view.setMinimumHeight(90)
        self.log_view.setPlaceholderText("Messages from the training run appear here.")
        layout.addWidget(QLabel("Log"))
        layout.addWidget(self.log_view)

    def _plot(self, title: str) -> pg.PlotWidget:
        w = pg.PlotWidget()
        w.setBackground("w")
        w.setTitle(title, color="#222", size="9pt")
        w.setLabel("bottom", "epoch")
        w.setLogMode(y=True)
        w.showGrid(x=True, y=True, alpha=0.2)
        w.setFixedHeight(PLOT_HEIGHT)  # the panel scrolls; a plot that grew would hide it
        w.setMenuEnabled(False)
        w.setMouseEnabled(x=False, y=False)
        w.hideButtons()
        for side in ("left", "bottom"):
            # Labels only at the main tick level: powers of ten on the log axis.
            w.getAxis(side).setStyle(maxTickLevel=0, maxTextLevel=0, tickTextOffset=4)
        w.getAxis("left").setWidth(44)
        w.viewport().installEventFilter(self._wheel)
        return w

    def scroll_with(self, area) -> None:
        """The scroll area the mouse wheel over a plot scrolls."""
        self._wheel.target = area

    # ----------------------------------------------------------------- updates

    def reset(self) -> None:
        for curves in self.curves.values():
            for item in curves.values():
                item.setData([], [])
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.status_label.setText("Not started.")
        self.eta_label.setText("")

    def log(self, line: str) -> None:
        self.log_view.appendPlainText(line)

    def show_event(self, run: RetrainRun, event) -> None:
        """Bring the bar, the curves and the log up to date with one trainer event."""
        kind = getattr(event, "kind", None)
        if kind == "start":
            run.epochs = max(1, int(event.epochs))
            run.steps_per_epoch = max(1, int(event.steps_per_epoch))
            self.progress_bar.setRange(0, 1000)
            self.status_label.setText(
                f"Training on {event.device}: {event.train_images} training and "
                f"{event.val_images} validation images, up to {event.epochs} epochs."
            )
        elif kind == "step":
            done = (event.epoch - 1) * event.steps_per_epoch + event.step
            total = max(1, event.epochs * event.steps_per_epoch)
            self.progress_bar.setValue(int(1000 * done / total))
            self.eta_label.setText(
                f"Epoch {event.epoch} of {event.epochs} - {format_eta(event.eta_s)}"
            )
            x = event.epoch - 1 + event.step / max(1, event.steps_per_epoch)
            for key in LOSSES:
                self._add(run, "step", key, x, getattr(event, key))
        elif kind == "epoch":
            self.progress_bar.setValue(int(1000 * event.epoch / max(1, event.epochs)))
            self.eta_label.setText(
                f"Epoch {event.epoch} of {event.epochs} done - {format_eta(event.eta_s)}"
            )
            val = event.val or {}
            for key in LOSSES:
                self._add(run, "train", key, event.epoch, getattr(event, key))
                self._add(run, "val", key, event.epoch, val.get(key))
            line = f"Epoch {event.epoch}/{event.epochs}: training loss {_num(event.total)}"
            if val:
                line += (
                    f", validation loss {_num(val.get('total'))}, landmark error "
                    f"{_num(val.get('mean_px'), '.1f')} px, "
                    f"Cobb SMAPE {_num(val.get('smape'), '.1f')}%"
                )
            if event.best:
                line += " - best so far, kept"
            self.log(line)
        elif kind == "end":
            self.log(event.message)
            if event.status in ("completed", "early_stopped"):
                self.progress_bar.setValue(1000)
                self.status_label.setText("Measuring both models on the validation images…")
                self.eta_label.setText("")
        elif kind == "comparison":
            for note in event.notes:
                self.log(note)

    def _add(self, run: RetrainRun, series: str, key: str, x: float, y) -> None:
        if run.add_point(series, key, x, y):
            self.curves[key][series].setData(*run.points[series][key])

    def finished(self, text: str) -> None:
        self.progress_bar.setRange(0, 1000)
        self.status_label.setText(text)
        self.eta_label.setText("")
