"""The review window: worklist on the left, the X-ray in the centre, numbers on the right.

Wiring only. The review rules live in a Qt-free ``ReviewSession`` (the open
project, the shown image, navigation, status rules, undo); the canvas is
connected to it by ``editing.connect_canvas``, exactly as the tests connect
it; predictions are asked for and routed by ``PredictionController``; menus
and the toolbar are built by ``menus``; file commands live in
``file_actions`` and the window's size in ``window_layout``. This class
creates the parts, connects their signals and keeps the side panels in step
with the session's changes.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMainWindow, QStackedWidget, QVBoxLayout, QWidget

from spinegui.core.errors import SpineguiError
from spinegui.core.review import Change, ReviewSession
from spinegui.core.review.session import ENTRIES, HISTORY, IMAGE, PROJECT, STATUS
from spinegui.core.store import Project
from spinegui.gui import menus, window_layout
from spinegui.gui.actions import build_actions
from spinegui.gui.dialogs import NoticeBar, show_error
from spinegui.gui.editing import REDRAW, connect_canvas
from spinegui.gui.file_actions import FileActionsMixin
from spinegui.gui.inspector import InspectorPanel
from spinegui.gui.levels import LevelsPanel
from spinegui.gui.prediction import PredictionController
from spinegui.gui.review_actions import ReviewActionsMixin
from spinegui.gui.settings import Settings
from spinegui.gui.welcome import WelcomeView
from spinegui.gui.worklist import WorklistPanel

WATCH_INTERVAL_MS = 3000
"""How often an open window looks for other windows' commits to this project."""


class MainWindow(ReviewActionsMixin, FileActionsMixin, QMainWindow):
    """One window per process; holds at most one open project."""

    imageShown = Signal(int)
    predictionDrawn = Signal(int)

    def __init__(self, settings: Settings | None = None, *, inference=None, inbox=None) -> None:
        super().__init__()
        from spinegui.gui.canvas import XrayCanvas

        self.settings = settings or Settings()
        self.inbox = inbox
        self.session = ReviewSession()
        self.setWindowTitle("spinegui")
        self.setAcceptDrops(True)
        window_layout.set_icon(self)
        self.actions_ = build_actions(self)

        self.canvas = XrayCanvas()
        self.canvas.set_cobb_source(self.settings.cobb_source())
        self.notice = NoticeBar()
        viewer = QWidget()
        vbox = QVBoxLayout(viewer)
        vbox.setContentsMargins(0, 0, 0, 0)
        vbox.setSpacing(0)
        vbox.addWidget(self.notice)
        vbox.addWidget(self.canvas, 1)
        self.welcome = WelcomeView()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(viewer)
        self.setCentralWidget(self.stack)

        self.worklist = WorklistPanel(self.session.worklist)
        self.inspector = InspectorPanel()
        self.levels = LevelsPanel()
        from spinegui.gui.retrain_panel import RetrainPanel

        self.retrain = RetrainPanel(self)
        self.docks = window_layout.add_docks(self)
        window_layout.build_status_bar(self)
        self.inference = inference if inference is not None else _make_inference(self)
        self.prediction = PredictionController(self.session, self.inference, self)
        self.toolbar = menus.install_menus(self)
        menus.connect_actions(self)
        menus.update_undo_actions(self)  # nothing to undo yet: greyed out from the start
        connect_canvas(self.canvas, self.session, on_error=self._edit_failed)
        self.session.subscribe(self._session_changed)
        self._connect()
        window_layout.restore_geometry(self)
        self._show_welcome()
        # Another window or process may edit this project: look when the window gets
        # focus and every few seconds (a cheap PRAGMA when nothing changed).
        self._watch = QTimer(self)
        self._watch.setInterval(WATCH_INTERVAL_MS)
        self._watch.timeout.connect(self.check_for_changes)
        self._watch.start()

    # ------------------------------------------------------------------ wiring

    def _connect(self) -> None:
        a = self.actions_
        self.retrain.modelAdopted.connect(
            lambda version, _path: self.prediction.model_adopted(version)
        )
        self.cancel_button.clicked.connect(self.prediction.cancel)
        p = self.prediction
        p.status.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        p.notice.connect(self.notice.show_message)
        p.modelText.connect(self._show_model)
        p.batchChanged.connect(self._batch_changed)
        p.batchProgress.connect(self._batch_progress)
        p.predictionDrawn.connect(self.predictionDrawn)

        w = self.welcome
        w.openDemo.connect(self.open_demo)
        w.openProject.connect(self.choose_project)
        w.newProject.connect(lambda: self.choose_new_project())
        w.openFiles.connect(self.choose_files)
        w.recentChosen.connect(self.open_project)

        self.worklist.imageSelected.connect(self.show_image)
        i = self.inspector
        i.vertebraClicked.connect(lambda v: self.canvas.select(v, -1))
        i.endsChosen.connect(self.choose_ends)
        i.clearEndsRequested.connect(self.clear_ends)
        i.pickEndsRequested.connect(self.pick_ends)
        i.calibrateRequested.connect(self.start_ruler)
        self.levels.levelsChanged.connect(self.canvas.set_levels)
        self.levels.invertedChanged.connect(a["invert"].setChecked)

        c = self.canvas
        c.cursorMoved.connect(self._show_cursor)
        c.zoomChanged.connect(lambda z: self.zoom_label.setText(f"Zoom {z * 100:.0f}%"))
        c.selectionChanged.connect(self._selection_changed)
        c.levelsChanged.connect(self.levels.set_levels)
        c.endsPicked.connect(self.choose_ends)
        c.rulerDrawn.connect(self.ruler_drawn)
        c.toolMessage.connect(lambda text: self.statusBar().showMessage(text, 0 if text else 1))

    def _session_changed(self, change: Change) -> None:
        s = self.session
        if ENTRIES in change:
            self.worklist.select_image(s.current_id)
            self.worklist.refresh()
        if HISTORY in change:
            menus.update_undo_actions(self)
        if IMAGE in change:
            self._image_shown()
        elif change.kinds & REDRAW and change.image_id == s.current_id:
            self.inspector.show_measurement(s.measurement())
        if STATUS in change or PROJECT in change:
            self.retrain.refresh_later()

    # ------------------------------------------------------------- project life

    @property
    def project(self) -> Project | None:
        return self.session.project

    @property
    def current_id(self) -> int | None:
        return self.session.current_id

    def set_project(self, project: Project | None) -> None:
        """Show a project (or the welcome page); the window owns and closes it."""
        self.retrain.set_project(project)
        self.session.open(project)
        self.prediction.project_changed()
        if project is None:
            self._show_welcome()
            return
        self.settings.add_recent_project(project.folder)
        self.stack.setCurrentIndex(1)
        for dock in self.docks.values():
            dock.show()
        self.setWindowTitle(f"{project.folder.name} — spinegui")
        ids = self.session.worklist.visible_ids()
        if ids:
            self.show_image(ids[0])
            return
        self.inspector.clear()
        if self.session.worklist.entries:  # the list's filter, kept from before, hides them all
            self.notice.show_message(
                "No image of this project matches the filter of the image list. Choose "
                "'All images' above the list to see them."
            )
        else:
            self.notice.show_message(
                "This project has no X-rays yet. Drop files on the window or use "
                "File > Add X-ray files (Ctrl+Shift+O)."
            )
        self._update_enabled()

    def close_project(self) -> None:
        self.set_project(None)

    def _show_welcome(self) -> None:
        self.welcome.set_recent(self.settings.recent_projects())
        self.stack.setCurrentIndex(0)
        for dock in self.docks.values():
            dock.hide()
        self.setWindowTitle("spinegui")
        self.inspector.clear()
        self._update_enabled()

    def refresh_worklist(self) -> None:
        self.session.refresh_entries()

    # ------------------------------------------------------------ showing images

    def show_image(self, image_id: int) -> bool:
        """Open an image of the project; returns False (after telling the user) if it fails."""
        if self.project is None:
            return False
        self.notice.hide()
        return self.session.show(image_id)

    def _image_shown(self) -> None:
        """The session shows another image (or none): bring the panels and title along."""
        s = self.session
        self.worklist.select_image(s.current_id)
        self.canvas.set_inverted(self.actions_["invert"].isChecked())
        if s.state is None:
            self.inspector.clear()
            self._update_enabled()
            return
        rec = s.state.record
        if s.load_error is not None:
            exc = s.load_error
            self.inspector.clear()
            self.statusBar().showMessage(f"Could not open {rec.path.name}: {exc.message}")
            self.notice.show_message(f"{rec.path.name} cannot be shown: {exc.message}", "warning")
            self._update_enabled()
            show_error(self, "Could not open the X-ray", exc)
            return
        self.levels.set_image(s.image.pixels, s.image.levels)
        self.inspector.show_measurement(s.measurement())
        self.setWindowTitle(f"{rec.path.name} — {self.project.folder.name} — spinegui")
        self.statusBar().showMessage(
            f"Showing {rec.path.name} ({rec.width} × {rec.height} px)", 4000
        )
        if s.image.sha256 != rec.sha256:
            # Loading hashed the file anyway, so this check costs nothing.
            self.notice.show_message(
                f"{rec.path.name} has changed on disk since it was added to the project: "
                "its landmarks were placed on a different image. Check them before relying "
                "on them, or put the original file back.",
                "warning",
            )
        self.prediction.request()
        self._update_enabled()
        self.imageShown.emit(rec.id)

    def go(self, step: int) -> int | None:
        target = self.session.neighbour(step)
        if target is None:
            self.statusBar().showMessage(
                "This is the last image of the list."
                if step > 0
                else "This is the first image of the list.",
                4000,
            )
            return None
        self.show_image(target)
        return target

    def focus_search(self) -> None:
        self.docks["worklist"].show()
        self.worklist.search.setFocus()
        self.worklist.search.selectAll()

    # ----------------------------------------------------------------- display

    def set_layer(self, name: str, on: bool) -> None:
        self.canvas.set_layer_visible(name, on)
        self.settings.set_layer_visible(name, on)

    def set_cobb_source(self, source: str) -> None:
        self.canvas.set_cobb_source(source)
        self.settings.set_cobb_source(source)

    def set_inverted(self, on: bool) -> None:
        self.canvas.set_inverted(on)
        if self.levels.invert.isChecked() != on:
            self.levels.invert.setChecked(on)

    def _show_cursor(self, x: float, y: float) -> None:
        if math.isnan(x) or math.isnan(y):
            self.cursor_label.setText("")
            return
        text = f"x {x:.0f}, y {y:.0f} px"
        spacing = None if self.session.state is None else self.session.state.spacing
        if spacing is not None:
            text += f" ({x * spacing.col_mm:.1f}, {y * spacing.row_mm:.1f} mm)"
        self.cursor_label.setText(text)

    def _show_model(self, text: str, tip: str) -> None:
        self.model_label.setText(text)
        self.model_label.setToolTip(tip)

    def _selection_changed(self, v: int, _c: int) -> None:
        self.inspector.select_vertebra(v)
        self._update_enabled()

    def _update_enabled(self) -> None:
        window_layout.update_enabled(self)

    # --------------------------------------------------------------- inference

    def _batch_changed(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self.actions_["cancel_predictions"].setEnabled(running)
        self._update_enabled()

    def _batch_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def check_for_changes(self) -> bool:
        """Show what another window or process committed meanwhile; True if anything."""
        try:
            changed = self.session.check_for_changes()
        except SpineguiError as exc:  # a locked or vanished file: try again next time
            self.statusBar().showMessage(f"Could not check the project: {exc.message}", 5000)
            return False
        # A dialog of this window (a PACS retrieval or send) writes through a connection
        # of its own: not "another window". Whatever it wrote is brought in all the same.
        if changed and QApplication.activeModalWidget() is None:
            self.statusBar().showMessage("Updated with changes from another window.", 5000)
        return changed

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.check_for_changes()
        super().changeEvent(event)

    def is_settled(self) -> bool:
        """True when nothing the user is waiting to see is still being computed."""
        return self.prediction.is_settled()

    # ------------------------------------------------------------------- close

    def closeEvent(self, event) -> None:
        self._watch.stop()
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.retrain.shutdown()
        self.inference.shutdown()
        self.session.close()
        super().closeEvent(event)


def _make_inference(parent):
    from spinegui.gui.inference import InferenceService

    return InferenceService(parent)
