"""The review window: worklist on the left, the X-ray in the centre, numbers on the right.

Wiring only: the canvas (XrayCanvas) draws and reports drags, the
EditController turns them into undoable, durable edits, the
InferenceService predicts in its own thread, and this window routes their
signals and keeps the side panels in step. File handling (open, add, drop,
export) lives in ``file_actions.FileActionsMixin`` to keep this module short.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QIcon, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.cobb import safe_cobb
from spinegui.core.errors import SpineguiError
from spinegui.core.imageio import LoadedImage, load_image
from spinegui.core.store import Project
from spinegui.core.templates import get_template
from spinegui.gui import timing
from spinegui.gui.actions import build_actions
from spinegui.gui.dialogs import NoticeBar, ShortcutsDialog, show_about, show_error
from spinegui.gui.file_actions import FileActionsMixin
from spinegui.gui.inspector import InspectorPanel
from spinegui.gui.levels import LevelsPanel
from spinegui.gui.settings import Settings
from spinegui.gui.welcome import WelcomeView
from spinegui.gui.worklist import WorklistEntry, WorklistPanel, mean_spread

LAYER_ACTIONS = {
    "truth": "layer_truth",
    "prediction": "layer_prediction",
    "labels": "layer_labels",
    "cobb": "layer_cobb",
    "handles": "layer_handles",
}
TOOLBAR_LABELS = {
    "previous": "◀ Previous",
    "next": "Next ▶",
    "accept": "Accept vertebra",
    "accept_all": "Accept all",
    "reviewed_next": "✓ Reviewed, next",
    "fit": "Fit",
    "invert": "Invert",
    "predict_all": "Predict all",
}
"""Short toolbar labels; menus keep the full wording."""
NO_MODEL_NOTE = (
    "No model yet: red predicted boxes cannot be drawn. You can still place and correct "
    "landmarks by hand. Train a model with 'spinegui train' (or wait for the shipped model)."
)


class MainWindow(FileActionsMixin, QMainWindow):
    """One window per process; holds at most one open project."""

    imageShown = Signal(int)
    predictionDrawn = Signal(int)

    def __init__(self, settings: Settings | None = None, *, inference=None, inbox=None) -> None:
        super().__init__()
        from spinegui.gui.canvas import XrayCanvas

        self.settings = settings or Settings()
        self.inbox = inbox
        self.project: Project | None = None
        self.editor = None
        self.current_id: int | None = None
        self.image: LoadedImage | None = None
        self.waiting_for: int | None = None
        """Image id whose prediction is being computed for display, if any."""
        self._loaded_model: Path | None = None
        self._batch_running = False

        self.setWindowTitle("spinegui")
        self.setAcceptDrops(True)
        icon = _app_icon()
        if icon is not None:
            self.setWindowIcon(icon)
        self.undo_stack = QUndoStack(self)
        self.actions_ = build_actions(self)

        self.canvas = XrayCanvas()
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

        self.worklist = WorklistPanel()
        self.inspector = InspectorPanel()
        self.levels = LevelsPanel()
        self.docks = {
            "worklist": self._dock("Images", self.worklist, Qt.DockWidgetArea.LeftDockWidgetArea),
            "inspector": self._dock(
                "Measurements", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea
            ),
            "levels": self._dock(
                "Brightness / contrast", self.levels, Qt.DockWidgetArea.RightDockWidgetArea
            ),
        }
        from spinegui.gui.retrain_panel import RetrainPanel

        self.retrain = RetrainPanel(self)
        self.retrain.setObjectName("dock-retrain")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.retrain)
        # Tabbed with the measurements: the curves and the before/after table need height.
        self.tabifyDockWidget(self.docks["inspector"], self.retrain)
        self.docks["inspector"].raise_()
        self.docks["retrain"] = self.retrain
        self.resizeDocks([self.docks["worklist"]], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["inspector"]], [360], Qt.Orientation.Horizontal)
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self.inference = inference if inference is not None else _make_inference(self)
        self._connect_inference()
        self._restore_layout()
        self._show_welcome()

    # ------------------------------------------------------------------ layout

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.cursor_label = QLabel()
        self.cursor_label.setToolTip("Pointer position on the X-ray (pixels, and mm when known)")
        self.zoom_label = QLabel()
        self.zoom_label.setToolTip("Screen pixels per X-ray pixel; F fits the image")
        self.model_label = QLabel("No model")
        self.model_label.setToolTip("The model that draws the red boxes, and where it runs")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setFormat("Predicting %v / %m")
        self.progress.setToolTip("Predicting every image; you can keep working meanwhile")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop predicting; finished images keep their boxes (Esc)")
        self.progress.hide()
        self.cancel_button.hide()
        for w in (
            self.cursor_label,
            self.zoom_label,
            self.progress,
            self.cancel_button,
            self.model_label,
        ):
            bar.addPermanentWidget(w)

    def _build_menus(self) -> None:
        a = self.actions_
        # Menu entries name the change ("Undo Move T5 corner"); the toolbar keeps short labels
        # so its buttons do not jump around, and says the same in its tooltips.
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcuts(["Ctrl+Z"])
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts(["Ctrl+Shift+Z", "Ctrl+Y"])
        a["undo"], a["redo"] = undo, redo
        st = self.undo_stack
        a["undo_button"] = self._short_twin(
            "Undo", "Ctrl+Z", st.undo, st.canUndoChanged, st.undoTextChanged
        )
        a["redo_button"] = self._short_twin(
            "Redo", "Ctrl+Shift+Z", st.redo, st.canRedoChanged, st.redoTextChanged
        )
        mb = self.menuBar()
        menus = {
            "&File": [
                "open_project",
                "new_project",
                "recent",
                None,
                "add_files",
                "add_folder",
                "open_demo",
                None,
                "export_png",
                "export_pdf",
                None,
                "close_project",
                "quit",
            ],
            "&Edit": ["undo", "redo", None, "accept", "accept_all"],
            "&Review": [
                "reviewed_next",
                "mark_in_review",
                "mark_not_started",
                None,
                "next",
                "previous",
                "find",
            ],
            "&View": ["fit", "invert", None, *LAYER_ACTIONS.values(), None, "docks"],
            "&Model": ["predict", "predict_all", "cancel_predictions"],
            "&Help": ["shortcuts", "about"],
        }
        for title, keys in menus.items():
            menu = mb.addMenu(title)
            menu.setToolTipsVisible(True)
            for key in keys:
                if key is None:
                    menu.addSeparator()
                elif key == "recent":
                    self.recent_menu = menu.addMenu("Open &recent")
                    self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
                elif key == "docks":
                    panels = menu.addMenu("&Panels")
                    for dock in self.docks.values():
                        panels.addAction(dock.toggleViewAction())
                else:
                    menu.addAction(a[key])
        for act in a.values():
            self.addAction(act)  # shortcuts work even while a menu bar is hidden
        tb = QToolBar("Main")
        tb.setObjectName("toolbar_main")
        for key in (
            "previous",
            "next",
            None,
            "undo_button",
            "redo_button",
            None,
            "accept",
            "accept_all",
            "reviewed_next",
            None,
            "fit",
            "invert",
            None,
            "predict_all",
        ):
            if key is None:
                tb.addSeparator()
            else:
                a[key].setIconText(TOOLBAR_LABELS.get(key, a[key].iconText()))
                tb.addAction(a[key])
        self.addToolBar(tb)
        self.toolbar = tb
        for name, key in LAYER_ACTIONS.items():
            a[key].setChecked(self.settings.layer_visible(name))
        a["cancel_predictions"].setEnabled(False)

    def _short_twin(self, text: str, keys: str, slot, can_signal, text_signal) -> QAction:
        """A fixed-label undo/redo button for the toolbar; its tooltip names the change."""
        twin = QAction(text, self)
        twin.setEnabled(False)
        twin.setToolTip(f"Nothing to {text.lower()}")
        can_signal.connect(twin.setEnabled)
        text_signal.connect(
            lambda what: twin.setToolTip(
                f"{text} {what} ({keys})" if what else f"Nothing to {text.lower()}"
            )
        )
        twin.triggered.connect(slot)
        return twin

    def _connect(self) -> None:
        a = self.actions_
        self.retrain.modelAdopted.connect(self._model_adopted)
        triggered = {
            "open_project": self.choose_project,
            "new_project": self.choose_new_project,
            "add_files": self.choose_files,
            "add_folder": self.choose_folder,
            "open_demo": self.open_demo,
            "export_png": self.choose_export_png,
            "export_pdf": self.choose_export_pdf,
            "close_project": self.close_project,
            "quit": self.close,
            "accept": self.accept_selected,
            "accept_all": self.accept_all,
            "reviewed_next": self.mark_reviewed_and_next,
            "mark_in_review": lambda: self.set_status("in_review"),
            "mark_not_started": lambda: self.set_status("not_started"),
            "next": lambda: self.go(+1),
            "previous": lambda: self.go(-1),
            "find": self._focus_search,
            "fit": self.canvas.fit,
            "predict": lambda: self.request_prediction(force=True),
            "predict_all": self.predict_all,
            "cancel_predictions": self.cancel_predictions,
            "shortcuts": lambda: ShortcutsDialog(self).exec(),
            "about": lambda: show_about(self),
        }
        for key, slot in triggered.items():
            a[key].triggered.connect(slot)
        a["invert"].toggled.connect(self._set_inverted)
        for name, key in LAYER_ACTIONS.items():
            a[key].toggled.connect(lambda on, n=name: self._set_layer(n, on))
        self.cancel_button.clicked.connect(self.cancel_predictions)

        w = self.welcome
        w.openDemo.connect(self.open_demo)
        w.openProject.connect(self.choose_project)
        w.newProject.connect(self.choose_new_project)
        w.openFiles.connect(self.choose_files)
        w.recentChosen.connect(self.open_project)

        self.worklist.imageSelected.connect(self.show_image)
        self.inspector.vertebraClicked.connect(lambda v: self.canvas.select(v, -1))
        self.levels.levelsChanged.connect(self.canvas.set_levels)
        self.levels.invertedChanged.connect(a["invert"].setChecked)

        c = self.canvas
        c.cursorMoved.connect(self._show_cursor)
        c.zoomChanged.connect(lambda z: self.zoom_label.setText(f"Zoom {z * 100:.0f}%"))
        c.cornerMoved.connect(self._corner_moved)
        c.vertebraMoved.connect(self._vertebra_moved)
        c.selectionChanged.connect(self._selection_changed)
        c.levelsChanged.connect(self.levels.set_levels)

    def _connect_inference(self) -> None:
        s = self.inference
        s.predictionReady.connect(self._prediction_ready)
        s.failed.connect(self._prediction_failed)
        s.modelLoaded.connect(self._model_loaded)
        s.batchProgress.connect(self._batch_progress)
        s.batchFinished.connect(self._batch_finished)

    def _restore_layout(self) -> None:
        geometry, state = self.settings.window_geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        if state is not None:
            self.restoreState(state)

    # ------------------------------------------------------------- project life

    def set_project(self, project: Project | None) -> None:
        """Show a project (or the welcome page); the window owns and closes it."""
        if self._batch_running:
            self.cancel_predictions()
        old, self.project = self.project, project
        self.retrain.set_project(project)
        self.undo_stack.clear()
        self.current_id = None
        self.image = None
        self.waiting_for = None
        if old is not None and old is not project:
            old.close()
        if project is None:
            self.editor = None
            self._show_welcome()
            return
        from spinegui.gui.editing import EditController

        self.editor = EditController(project, self.undo_stack)
        self.editor.landmarksChanged.connect(self._landmarks_changed)
        self.editor.statusChanged.connect(self._status_changed)
        self.editor.editFailed.connect(self._edit_failed)
        self.settings.add_recent_project(project.folder)
        self.stack.setCurrentIndex(1)
        for dock in self.docks.values():
            dock.show()
        self.setWindowTitle(f"{project.folder.name} — spinegui")
        self.refresh_worklist()
        self._update_model_label()
        ids = self.worklist.visible_ids()
        if ids:
            self.show_image(ids[0])
        else:
            self.canvas.clear()
            self.inspector.clear()
            if self.worklist.entries():  # the list's filter, kept from before, hides them all
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
        self.model_label.setText("No project open")
        self._update_enabled()

    def refresh_worklist(self) -> None:
        if self.project is None:
            self.worklist.set_entries([])
            return
        self.worklist.set_entries([self._entry(rec) for rec in self.project.images()])
        self.worklist.select_image(self.current_id)

    def _entry(self, rec) -> WorklistEntry:
        pred = self.project.prediction(rec.id)
        return WorklistEntry(
            rec.id,
            rec.path.name,
            rec.status,
            rec.has_ground_truth,
            mean_spread(pred.spread) if pred is not None else None,
            pred is not None,
        )

    def _refresh_entry(self, image_id: int) -> None:
        rec = self.project.image(image_id)
        e = self._entry(rec)
        self.worklist.update_entry(
            image_id,
            status=e.status,
            has_truth=e.has_truth,
            uncertainty=e.uncertainty,
            has_prediction=e.has_prediction,
        )

    # ------------------------------------------------------------ showing images

    def show_image(self, image_id: int) -> bool:
        """Open an image of the project; returns False (after telling the user) if it fails."""
        if self.project is None:
            return False
        rec = self.project.image(image_id)
        self.current_id = image_id
        self.worklist.select_image(image_id)
        self.notice.hide()
        try:
            self.image = load_image(rec.path)
        except SpineguiError as exc:
            self.image = None
            self.canvas.clear()
            self.inspector.clear()
            self.statusBar().showMessage(f"Could not open {rec.path.name}: {exc.message}")
            self.notice.show_message(f"{rec.path.name} cannot be shown: {exc.message}", "warning")
            show_error(self, "Could not open the X-ray", exc)
            self._update_enabled()
            return False
        self.canvas.set_template(rec.template)
        self.canvas.set_image(self.image.pixels, self.image.levels, self.image.spacing_mm)
        self.levels.set_image(self.image.pixels, self.image.levels)
        self.canvas.set_inverted(self.actions_["invert"].isChecked())
        self._draw_landmarks()
        self.canvas.fit()
        self.setWindowTitle(f"{rec.path.name} — {self.project.folder.name} — spinegui")
        self.statusBar().showMessage(
            f"Showing {rec.path.name} ({rec.width} × {rec.height} px)", 4000
        )
        if self.image.sha256 != rec.sha256:
            # Loading hashed the file anyway, so this check costs nothing.
            self.notice.show_message(
                f"{rec.path.name} has changed on disk since it was added to the project: "
                "its landmarks were placed on a different image. Check them before relying "
                "on them, or put the original file back.",
                "warning",
            )
        self.request_prediction()
        self._update_enabled()
        self.imageShown.emit(image_id)
        return True

    def _draw_landmarks(self, prediction=None) -> None:
        """Redraw truth, prediction, Cobb lines and the inspector from the store."""
        rec = self.project.image(self.current_id)
        truth = self.project.ground_truth(self.current_id)
        pred = prediction if prediction is not None else self.project.prediction(self.current_id)
        pts, spread = (pred.points, pred.spread) if pred is not None else (None, None)
        self.canvas.set_ground_truth(truth)
        self.canvas.set_prediction(pts, spread)
        shown = truth if truth is not None else pts
        result, _ = safe_cobb(shown, rec.height)
        self.canvas.set_cobb(result, shown if result is not None else None)
        self.inspector.show_landmarks(
            get_template(rec.template).vertebrae, truth, pts, spread, rec.height
        )

    def go(self, step: int) -> int | None:
        target = self.worklist.neighbour(step)
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

    def _focus_search(self) -> None:
        self.docks["worklist"].show()
        self.worklist.search.setFocus()
        self.worklist.search.selectAll()

    # ----------------------------------------------------------------- editing

    def _corner_moved(self, v: int, c: int, before, after) -> None:
        if self.editor is not None and self.current_id is not None:
            self.editor.move_corner(
                self.current_id, v, c, before, after, prediction=self.canvas.prediction()
            )

    def _vertebra_moved(self, v: int, before, after) -> None:
        if self.editor is not None and self.current_id is not None:
            self.editor.move_vertebra(
                self.current_id, v, before, after, prediction=self.canvas.prediction()
            )

    def _edit_failed(self, message: str, hint: str) -> None:
        """A refused edit: the controller has already redrawn what the store holds."""
        self.statusBar().showMessage(f"Not saved: {message}", 10000)
        show_error(self, "The change was not saved", message, hint)

    def accept_selected(self) -> None:
        v, _ = self.canvas.selection()
        if v < 0:
            self.statusBar().showMessage(
                "Select a vertebra first: click its box, or a row of the table.", 5000
            )
            return
        self._accept(v)

    def accept_all(self) -> None:
        self._accept(None)

    def _accept(self, vertebra: int | None) -> None:
        if self.editor is None or self.current_id is None:
            return
        pred = self.project.prediction(self.current_id)
        if pred is None:
            self.statusBar().showMessage("There is no prediction (red boxes) to accept yet.", 5000)
            return
        self.editor.accept_prediction(self.current_id, pred.points, vertebra)

    def set_status(self, status: str) -> None:
        if self.editor is not None and self.current_id is not None:
            self.editor.set_status(self.current_id, status)

    def mark_reviewed_and_next(self) -> None:
        if self.editor is None or self.current_id is None:
            return
        reviewed = self.current_id
        target = self.worklist.neighbour(+1)
        self.editor.set_status(reviewed, "reviewed")
        name = self.project.image(reviewed).path.name
        if target is not None and target != reviewed:
            self.show_image(target)
            self.statusBar().showMessage(f"{name} marked reviewed.", 5000)
        else:
            left = sum(e.status != "reviewed" for e in self.worklist.entries())
            self.statusBar().showMessage(
                f"{name} marked reviewed. That was the last image of the list"
                + (f"; {left} image(s) still to review." if left else "; all images reviewed."),
                8000,
            )

    def _landmarks_changed(self, image_id: int) -> None:
        if image_id != self.current_id:
            self.show_image(image_id)  # undo/redo on another image: show what changes
        else:
            self._draw_landmarks()
        rec = self.project.image(image_id)
        if rec.status == "not_started":
            self.project.set_status(image_id, "in_review")
        self._refresh_entry(image_id)
        self.retrain.refresh()

    def _status_changed(self, image_id: int, _status: str) -> None:
        self._refresh_entry(image_id)
        self.retrain.refresh()
        # Status edits are made on the shown image; another image means undo/redo.
        if image_id != self.current_id:
            self.show_image(image_id)

    def _selection_changed(self, v: int, _c: int) -> None:
        self.inspector.select_vertebra(v)
        self._update_enabled()

    # ----------------------------------------------------------------- display

    def _set_layer(self, name: str, on: bool) -> None:
        self.canvas.set_layer_visible(name, on)
        self.settings.set_layer_visible(name, on)

    def _set_inverted(self, on: bool) -> None:
        self.canvas.set_inverted(on)
        if self.levels.invert.isChecked() != on:
            self.levels.invert.setChecked(on)

    def _show_cursor(self, x: float, y: float) -> None:
        if math.isnan(x) or math.isnan(y):
            self.cursor_label.setText("")
            return
        text = f"x {x:.0f}, y {y:.0f} px"
        if self.image is not None and self.image.spacing_mm is not None:
            row_mm, col_mm = self.image.spacing_mm
            text += f" ({x * col_mm:.1f}, {y * row_mm:.1f} mm)"
        self.cursor_label.setText(text)

    def _update_enabled(self) -> None:
        a = self.actions_
        has_project = self.project is not None
        has_image = has_project and self.current_id is not None and self.image is not None
        for key in (
            "accept",
            "accept_all",
            "reviewed_next",
            "mark_in_review",
            "mark_not_started",
            "export_png",
            "export_pdf",
            "fit",
            "invert",
            "predict",
        ):
            a[key].setEnabled(has_image)
        for key in ("next", "previous", "find", "close_project", "predict_all"):
            a[key].setEnabled(has_project)
        a["predict_all"].setEnabled(has_project and not self._batch_running)

    # --------------------------------------------------------------- inference

    def _active_model(self):
        return None if self.project is None else self.project.active_model()

    def _update_model_label(self) -> None:
        model = self._active_model()
        if model is None:
            self.model_label.setText("No model yet")
            self.model_label.setToolTip(NO_MODEL_NOTE)
        elif not model.path.is_file():
            self.model_label.setText(f"Model {model.version}: file missing")
            self.model_label.setToolTip(f"{model.path} is missing; predictions are off.")
        else:
            self.model_label.setText(f"Model {model.version}")
            self.model_label.setToolTip(f"{model.path}\nLoads when the first prediction runs.")

    def _ensure_model(self) -> bool:
        """Point the worker at the active model; False (and a note) when there is none."""
        model = self._active_model()
        if model is None or not model.path.is_file():
            if self.current_id is not None and self.project.prediction(self.current_id) is None:
                self.notice.show_message(NO_MODEL_NOTE)
            return False
        if self._loaded_model != model.path:
            self.inference.set_model(
                model.path, version=model.version, expected_template=self.project.template.name
            )
            self._loaded_model = model.path
            self.model_label.setText(f"Model {model.version} (loading…)")
        return True

    def request_prediction(self, force: bool = False) -> None:
        if self.project is None or self.current_id is None:
            return
        if not force and self.project.prediction(self.current_id) is not None:
            return
        if not self._ensure_model():
            return
        self.waiting_for = self.current_id
        path = self.project.image(self.current_id).path
        self.inference.request(self.current_id, path, self.image)
        self.statusBar().showMessage("Predicting landmarks…")

    def predict_all(self) -> None:
        if self.project is None or not self._ensure_model():
            if self.project is not None:
                self.statusBar().showMessage("No model to predict with.", 5000)
            return
        items = [
            (r.id, r.path) for r in self.project.images() if self.project.prediction(r.id) is None
        ]
        if not items:
            self.statusBar().showMessage("Every image already has a prediction.", 5000)
            return
        self._batch_running = True
        self.progress.setRange(0, len(items))
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.actions_["cancel_predictions"].setEnabled(True)
        self._update_enabled()
        self.inference.predict_all(items)

    def cancel_predictions(self) -> None:
        if self._batch_running:
            self.inference.cancel_batch()
            self.statusBar().showMessage("Cancelling predictions…")

    def _prediction_ready(self, result) -> None:
        if self.project is None:
            return
        try:
            from spinegui.gui.inference import store_result

            if not store_result(self.project, result):
                return  # an image of the previously open project: not ours to draw
        except SpineguiError as exc:
            self._prediction_failed(result.image_id, exc.message)
            return
        self._refresh_entry(result.image_id)
        model = self._active_model()
        if result.image_id != self.current_id or model is None:
            return  # stored, not drawn: the user has moved on
        if self.waiting_for == result.image_id:
            self.waiting_for = None
            took = (
                f"{result.seconds * 1000:.0f} ms"
                if result.seconds < 1
                else f"{result.seconds:.1f} s"
            )
            self.statusBar().showMessage(f"Prediction ready ({took}).", 4000)
        self._draw_landmarks()
        timing.mark("first_prediction_drawn")
        self.predictionDrawn.emit(result.image_id)

    def _prediction_failed(self, image_id: int, message: str) -> None:
        if image_id == self.waiting_for or image_id == -1:
            self.waiting_for = None
        self.statusBar().showMessage(f"Prediction failed: {message}", 10000)
        if image_id == -1 or image_id == self.current_id:
            self.notice.show_message(f"Prediction failed: {message}", "warning")
        if image_id == -1:
            self._loaded_model = None  # let the next request try to load it again

    def _model_adopted(self, version: str, _path: str) -> None:
        """A retrained (or rolled-back) model became active: predict again with it."""
        self._update_model_label()
        self.notice.show_message(
            f"Model {version} is now active. Predictions are being refreshed with it."
        )
        if self.current_id is not None:
            self._draw_landmarks()
        self.request_prediction()
        self.predict_all()

    def _model_loaded(self, version: str, device: str) -> None:
        self.model_label.setText(f"Model {version} · {device}")

    def _batch_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _batch_finished(self, completed: bool) -> None:
        if self.inference.batch_running:
            return  # a replaced batch ended; the one that replaced it is still running
        self._batch_running = False
        self.progress.hide()
        self.cancel_button.hide()
        self.actions_["cancel_predictions"].setEnabled(False)
        self._update_enabled()
        self.statusBar().showMessage(
            "All images predicted." if completed else "Predictions cancelled; finished ones kept.",
            8000,
        )

    def is_settled(self) -> bool:
        """True when nothing the user is waiting to see is still being computed."""
        return self.waiting_for is None and not self._batch_running

    # ------------------------------------------------------------------- close

    def closeEvent(self, event) -> None:
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.retrain.shutdown()
        self.inference.shutdown()
        if self.project is not None:
            self.project.close()
            self.project = None
        super().closeEvent(event)


def _make_inference(parent):
    from spinegui.gui.inference import InferenceService

    return InferenceService(parent)


def _app_icon() -> QIcon | None:
    from spinegui.core.paths import resources_dir

    path = resources_dir() / "icons" / "spinegui.svg"
    return QIcon(str(path)) if path.is_file() else None
