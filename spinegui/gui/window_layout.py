"""The window's frame: docks, status bar, which commands are enabled, and its size.

The size rule (bug: a fixed 1400 x 900 window put the right panel and the
status bar off a 1366 x 768 screen): a first start fills most of the
available screen area, and a restored size and position are clamped to the
screen the window is on now, which may be smaller than the one it was saved
on (a laptop away from its monitor).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QDockWidget, QLabel, QProgressBar, QPushButton, QWidget

FIRST_SIZE = (1400, 900)
"""Preferred first size on a large screen."""
FIRST_SHARE = 0.92
"""On a smaller screen, the share of its available area a first start takes."""
FRAME_ALLOWANCE = (16, 40)
"""Width and height a window manager's frame may add (title bar, borders), px."""


def set_icon(window) -> None:
    from spinegui.core.paths import resources_dir

    path = resources_dir() / "icons" / "spinegui.svg"
    if path.is_file():
        window.setWindowIcon(QIcon(str(path)))


def _dock(window, title: str, widget: QWidget, area) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(f"dock_{title}")
    dock.setWidget(widget)
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
    )
    window.addDockWidget(area, dock)
    return dock


def add_docks(window) -> dict[str, QDockWidget]:
    """Images left; measurements (tabbed with retraining) and brightness right."""
    left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
    docks = {
        "worklist": _dock(window, "Images", window.worklist, left),
        "inspector": _dock(window, "Measurements", window.inspector, right),
        "levels": _dock(window, "Brightness / contrast", window.levels, right),
    }
    retrain = window.retrain
    retrain.setObjectName("dock-retrain")
    window.addDockWidget(right, retrain)
    # Tabbed with the measurements: the curves and the before/after table need height.
    window.tabifyDockWidget(docks["inspector"], retrain)
    docks["inspector"].raise_()
    docks["retrain"] = retrain
    window.resizeDocks([docks["worklist"]], [330], Qt.Orientation.Horizontal)
    window.resizeDocks([docks["inspector"]], [380], Qt.Orientation.Horizontal)
    return docks


def build_status_bar(window) -> None:
    bar = window.statusBar()
    window.cursor_label = QLabel()
    window.cursor_label.setToolTip("Pointer position on the X-ray (pixels, and mm when known)")
    window.zoom_label = QLabel()
    window.zoom_label.setToolTip("Screen pixels per X-ray pixel; F fits the image")
    window.model_label = QLabel("No model")
    window.model_label.setToolTip("The model that draws the red boxes, and where it runs")
    window.progress = QProgressBar()
    window.progress.setMaximumWidth(180)
    window.progress.setFormat("Predicting %v / %m")
    window.progress.setToolTip("Predicting every image; you can keep working meanwhile")
    window.cancel_button = QPushButton("Cancel")
    window.cancel_button.setToolTip("Stop predicting; finished images keep their boxes (Esc)")
    window.progress.hide()
    window.cancel_button.hide()
    for w in (
        window.cursor_label,
        window.zoom_label,
        window.progress,
        window.cancel_button,
        window.model_label,
    ):
        bar.addPermanentWidget(w)


def fit_rect(rect: QRect, available: QRect) -> QRect:
    """``rect`` moved and shrunk as little as needed to lie inside ``available``."""
    width = min(rect.width(), available.width())
    height = min(rect.height(), available.height())
    x = min(max(rect.x(), available.x()), available.right() + 1 - width)
    y = min(max(rect.y(), available.y()), available.bottom() + 1 - height)
    return QRect(x, y, width, height)


def first_rect(available: QRect) -> QRect:
    """A first start: the preferred size, or most of a smaller screen, centred."""
    width = min(FIRST_SIZE[0], int(available.width() * FIRST_SHARE))
    height = min(FIRST_SIZE[1], int(available.height() * FIRST_SHARE))
    rect = QRect(0, 0, width, height)
    rect.moveCenter(available.center())
    return rect


def restore_geometry(window) -> None:
    """Last session's layout, clamped to the screen now; else a first-start size that fits."""
    geometry, state = window.settings.window_geometry(), window.settings.window_state()
    screen = window.screen() or QGuiApplication.primaryScreen()
    available = screen.availableGeometry()
    if geometry is not None and window.restoreGeometry(geometry):
        frame = window.frameGeometry()
        extra_w, extra_h = frame.width() - window.width(), frame.height() - window.height()
        if window.windowHandle() is None or not window.isVisible():
            extra_w, extra_h = FRAME_ALLOWANCE  # not shown yet: the frame is not known
        inner = QRect(
            available.x(), available.y(), available.width() - extra_w, available.height() - extra_h
        )
        window.setGeometry(fit_rect(window.geometry(), inner))
    else:
        window.setGeometry(first_rect(available))
    if state is not None:
        window.restoreState(state)


IMAGE_ACTIONS = (
    "accept",
    "accept_all",
    "reviewed_next",
    "mark_in_review",
    "mark_not_started",
    "pick_ends",
    "clear_ends",
    "calibrate",
    "remove_calibration",
    "export_png",
    "export_png_full",
    "export_pdf",
    "fit",
    "invert",
    "predict",
)
PROJECT_ACTIONS = ("next", "previous", "find", "close_project", "predict_all")


def update_enabled(window) -> None:
    a = window.actions_
    s = window.session
    has_project = s.project is not None
    has_image = s.state is not None and s.image is not None
    for key in IMAGE_ACTIONS:
        a[key].setEnabled(has_image)
    for key in PROJECT_ACTIONS:
        a[key].setEnabled(has_project)
    a["predict_all"].setEnabled(has_project and not window.prediction.batch_running)
    if has_image:
        a["clear_ends"].setEnabled(bool(s.state.curve_ends))
        a["remove_calibration"].setEnabled(s.state.image_ruler is not None)
